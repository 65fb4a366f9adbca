"""The findings page's membership section: what a subset sweep says about memorization.

For every cell of subset units under ``RESULTS/subsets`` (one model, noise rate and seed, K
models each trained on a seeded half of the pool; ``bench sweep --subsets K``), the
counterfactual memorization of each sample, LiRA and the ranking of the cheap signals
(benchmark.metrics.counterfactual), then per model and noise rate the mean over seeds with its
95% interval: do noisy samples get memorized more than clean ones, does LiRA find more members
than the loss alone, and which cheap signal tracks counterfactual memorization best.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmark.findings import Unit, fmt, fmt_diff, provenance
from benchmark.metrics import counterfactual
from benchmark.metrics.sweep import SHARE, SIGNED, difference_interval, mean_interval
from benchmark.pooling import settings_of
from benchmark.results import SUBSETS, is_complete, verify


def cells(results: Path) -> dict[tuple, list[tuple[Path, dict, dict]]]:
    """(task, dataset, model, settings, rate, seed) -> the cell's verified subset units
    (folder, metrics.json, run.json), in subset order. The settings (epochs, subset share...:
    counterfactual.SETTINGS) are part of the key: units run with others are another
    experiment, never pooled with these."""
    found: dict[tuple, list[tuple[Path, dict, dict]]] = defaultdict(list)
    for metrics_path in sorted((results / SUBSETS).rglob("metrics.json")):
        folder = metrics_path.parent
        if not is_complete(folder) or verify(folder) is not None:
            continue
        m = json.loads(metrics_path.read_text())
        if "subset" not in m:
            continue
        run = json.loads((folder / "run.json").read_text())
        settings = settings_of(run.get("config"), counterfactual.SETTINGS)
        key = (m["task"], m["dataset"], m["model"], settings, float(m["noise"]["rate"]),
               int(m["seed"]))  # fmt: skip
        found[key].append((folder, m, run))
    return {k: sorted(v, key=lambda u: u[1]["subset"]["index"]) for k, v in found.items()}


def section(results: Path) -> list[str]:
    """The page's lines (none when ``results`` holds no subset units)."""
    from benchmark.sweep_spec import command

    every = cells(results)
    # A cell counts once all its subsets are in: as many as the fullest cell of its model has
    # (a sweep still running leaves some short).
    full: dict[tuple, int] = defaultdict(int)
    for key, units in every.items():
        full[key[:4]] = max(full[key[:4]], len(units))
    found = {k: v for k, v in every.items() if len(v) >= 2 and len(v) == full[k[:4]]}
    if not found:
        return []
    per: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for (*experiment, rate, _seed), units in sorted(found.items()):
        _, figures = counterfactual.cell([u[0] for u in units])
        per[tuple(experiment)].append({"rate": rate, **figures})
    lines = [
        "## Memorization measured directly: counterfactual memorization and LiRA",
        "",
        "Each cell below trained K models, each on its own seeded half of the training pool "
        "(the same noise on the same samples) and predicting the other half as held out. A "
        "sample's counterfactual memorization is the probability of its given label when "
        "trained on minus when held out (Feldman & Zhang 2020, who measure correctness); LiRA "
        "(Carlini et al. 2022) takes each model in turn as the target and the others as its "
        "shadow models; each "
        "cheap signal (averaged over the models that trained on the sample) is judged by its "
        "Spearman correlation with counterfactual memorization. Means over seeds with 95% "
        "intervals (docs/metrics.md defines every figure).",
    ]
    for experiment, rows in per.items():
        task, dataset, model, _ = experiment
        first = found[next(k for k in found if k[:4] == experiment)]
        config = first[0][2].get("config", {})
        rates = sorted({r["rate"] for r in rows})
        seeds = len({k[5] for k in found if k[:4] == experiment})
        k = max(r["models"] for r in rows)
        lines += ["", f"### {task}: {model} on {dataset}, {k} subset models per cell", "",
                  "Made by:", "", "```",
                  command(task, dataset, model, first[0][1]["noise"]["kind"], rates, seeds,
                          str(first[0][1]["profile"]), config, subsets=k),
                  "```", ""]  # fmt: skip
        lines += _tables(rows, rates)
        lines += ["", _lira_scale(rows)]
        units = [Unit(*u) for k, us in found.items() if k[:4] == experiment for u in us]
        lines += ["", f"Measured from {provenance(units)}."]
    return lines


def _lira_scale(rows: list[dict[str, Any]]) -> str:
    """Which log-odds LiRA's Gaussians were fitted to, in how many of the cells."""
    own = sum(r["lira_logit"] == "logit_given" for r in rows)
    if own == len(rows):
        return ("LiRA fits its Gaussians to each model's `logit_given`, the log-odds of the "
                "given label computed from its logits (docs/protocol.md).")  # fmt: skip
    return (f"LiRA fits its Gaussians to the logit of `p_given` in {len(rows) - own} of "
            f"{len(rows)} cells, whose models do not write `logit_given`: `p_given` has 6 "
            "decimals, so that logit tops out at about 13.8 (docs/metrics.md).")  # fmt: skip


def _by_rate(rows: list[dict[str, Any]], rate: float) -> list[dict[str, Any]]:
    return [r for r in rows if r["rate"] == rate]


def _tables(rows: list[dict[str, Any]], rates: list[float]) -> list[str]:
    lines = [
        "| noise | seeds | memorization, clean | memorization, noisy | noisy - clean [95%] | "
        "LiRA AUROC | LiRA TPR at 1% FPR | loss attack AUROC | loss attack TPR at 1% FPR |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for rate in rates:
        at = _by_rate(rows, rate)
        clean = [r["memorization"]["clean"]["mean"] for r in at]
        noisy = [r["memorization"]["noisy"]["mean"] for r in at]
        diff = difference_interval(noisy, clean, SIGNED)

        def figure(name: str, key: str, at: list[dict[str, Any]] = at) -> dict[str, Any]:
            return mean_interval([r[name][key]["value"] for r in at if r[name][key]["value"]
                                  is not None], SHARE)  # fmt: skip

        lines.append(
            f"| {rate:g} | {len(at)} | {fmt(mean_interval(clean, SIGNED))} | "
            f"{fmt(mean_interval(noisy, SIGNED))} | {fmt_diff(diff)} | "
            f"{fmt(figure('lira', 'auroc'))} | {fmt(figure('lira', 'tpr_at_1pct_fpr'))} | "
            f"{fmt(figure('loss_attack', 'auroc'))} | "
            f"{fmt(figure('loss_attack', 'tpr_at_1pct_fpr'))} |"
        )
        if diff["low"] is not None:
            side = ("more" if diff["low"] > 0 else "less" if diff["high"] < 0
                    else "neither more nor less (the interval includes 0)")  # fmt: skip
            verdicts.append(f"At noise {rate:g} noisy samples are memorized {side} than clean "
                            f"ones: {fmt_diff(diff)}.")  # fmt: skip
    lines += ["", "How well each cheap signal ranks the samples by counterfactual "
              "memorization (Spearman's rho, mean over seeds [95%]; negative: the signal falls "
              "as memorization rises):", "",
              "| noise | " + " | ".join(counterfactual.PROXIES) + " |",
              "|---|" + "---|" * len(counterfactual.PROXIES)]  # fmt: skip
    for rate in rates:
        at = _by_rate(rows, rate)
        cells_ = []
        best: tuple[float, str] | None = None
        for name in counterfactual.PROXIES:
            rho = mean_interval([r["proxies"][name]["value"] for r in at
                                 if r["proxies"][name]["value"] is not None],
                                SIGNED)  # fmt: skip
            cells_.append(fmt(rho, 2))
            if rho["mean"] is not None and (best is None or abs(rho["mean"]) > best[0]):
                best = (abs(rho["mean"]), name)
        lines.append(f"| {rate:g} | " + " | ".join(cells_) + " |")
        if best is not None:
            verdicts.append(f"At noise {rate:g} the signal that tracks counterfactual "
                            f"memorization best is `{best[1]}` (|rho| {best[0]:.2f}).")  # fmt: skip
    return [*lines, "", *verdicts]
