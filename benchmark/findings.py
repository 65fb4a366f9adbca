"""`bench findings`: the study's central finding, measured on every task, as a page with figures.

Rabin et al. (2023) found that at high label noise a model of code still fits its wrong
training labels while its test score collapses. This module runs that experiment (one reference
model per task, label noise at a few rates, several seeds: ordinary sweeps, so a second call
resumes or does nothing) and writes `findings.md` with one SVG figure per task: training score
against the given labels and test score per epoch at each rate, with 95% intervals over seeds,
the Gini coefficient of the training loss and the average predicted score. For each task it
states, from the intervals, whether the signature shows, and where it does not, what was
measured instead.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from benchmark.metrics.checks import scale
from benchmark.metrics.summary import fit_metric as fit_metric_of
from benchmark.metrics.sweep import (
    SHARE,
    Bounds,
    difference_interval,
    floor_rate,
    mean_interval,
    run_folders,
)
from benchmark.numbers import finite

# One reference model per task: the study's (GGNN for variable misuse, code2vec for method
# naming, a CodeBERT-style model for both Ruby tasks).
CASES: tuple[tuple[str, str], ...] = (
    ("var_misuse", "ggnn"),
    ("method_name", "code2vec"),
    ("code_to_text", "codebert"),
    ("code_search", "codebert"),
)
RATES: tuple[float, ...] = (0.0, 0.5, 1.0)
SEEDS = 3
# Okabe-Ito: told apart under the common colour blindnesses.
COLORS = ("#0072B2", "#E69F00", "#D55E00", "#009E73", "#CC79A7", "#56B4E9")
# How to read a task's figures at another profile or on another dataset: the same control.
ELSEWHERE = [
    "## The same control elsewhere",
    "",
    "A score means little without its floor. At the paper profile, or on the official "
    "CodeSearchNet Ruby data, run the same experiment and read every figure beside the floor "
    "it makes: `bench datasets prepare codesearchnet-ruby`, then `bench findings --cases "
    "code_to_text:codebert:codesearchnet-ruby,code_search:codebert:codesearchnet-ruby "
    "--profile paper --results DIR --out DIR` on a GPU. Smoothed sentence BLEU-4 on short "
    "docstrings rewards a model that writes the same generic sentence for every method "
    '("returns the ..."), so a code_to_text BLEU is evidence that a model reads the code '
    "only through its gain above the floor with an interval that excludes 0; the leaderboard "
    "and `bench report` show the floor and the gain beside every score for that reason.",
]
# Output columns whose distinct values show whether a generator reads its input.
OUTPUTS = {"method_name": "subtokens", "code_to_text": "tokens"}


@dataclass(frozen=True)
class Unit:
    """One finished unit of a case: its folder, metrics.json and run.json."""

    folder: Path
    metrics: dict[str, Any]
    run: dict[str, Any]

    @property
    def rate(self) -> float:
        return float(self.metrics["noise"]["rate"])

    @property
    def primary(self) -> str:
        return str(self.metrics["selection"]["metric"])


def parse_cases(text: str) -> list[tuple[str, str, str | None]]:
    """`task:model[:dataset],...` -> triples (dataset None: the task's offline default); a
    ValueError names a malformed item."""
    out: list[tuple[str, str, str | None]] = []
    for item in (i.strip() for i in text.split(",")):
        task, sep, rest = item.partition(":")
        model, _, dataset = rest.partition(":")
        if not (sep and task and model):
            raise ValueError(f"--cases item {item!r} is not TASK:MODEL[:DATASET]")
        out.append((task, model, dataset or None))
    if not out:
        raise ValueError("--cases names no TASK:MODEL")
    return out


def load_units(
    results: Path, task: str, model: str, dataset: str, kind: str = "label"
) -> list[Unit]:
    """Every finished unit of `model` on `task` and `dataset` with noise of `kind` under
    `results` that verifies (results.verify; one warning line for each that does not)."""
    from benchmark import console
    from benchmark.results import verify
    from benchmark.standings import shape_problem

    units = []
    for folder in run_folders(results / task) if (results / task).is_dir() else []:
        reason = verify(folder)  # first: what does not verify is not read (it may be a
        try:  # file's place taken by a folder, or a link to /dev/zero)
            if reason is None:
                metrics = json.loads((folder / "metrics.json").read_text())
                run = json.loads((folder / "run.json").read_text())
        except (OSError, ValueError, RecursionError) as e:
            reason = f"unreadable run.json ({type(e).__name__})"
        if reason is None and not isinstance(run, dict):
            reason = "run.json is not a JSON object"
        reason = reason or shape_problem(run, metrics)
        if reason is not None:
            console.err.print(f"warning: {folder}: {reason}; left out", highlight=False,
                              soft_wrap=True)  # fmt: skip
            continue
        if (metrics.get("model") != model or metrics.get("noise", {}).get("kind") != kind
                or metrics.get("dataset") != dataset):  # fmt: skip
            continue
        units.append(Unit(folder, metrics, run))
    return sorted(units, key=lambda u: (u.rate, u.metrics.get("seed", 0)))


def sweep_command(case: dict[str, Any], units: list[Unit]) -> str:
    """The `bench sweep` that makes a case's units, from what the units record."""
    from benchmark.sweep_spec import command

    config = units[0].run.get("config", {})
    profile = str(units[0].metrics.get("profile", config.get("profile", "cpu")))
    seeds = max(r["seeds"] for r in case["table"].values())
    return command(case["task"], case["dataset"], case["model"], "label", case["rates"], seeds,
                   profile, config)  # fmt: skip


def _last(unit: Unit, get: Callable[[dict], Any]) -> float | None:
    return finite(get(unit.metrics["per_epoch"][-1]))


def _values(units: list[Unit], get: Callable[[Unit], float | None]) -> list[float]:
    return [v for v in (get(u) for u in units) if v is not None and math.isfinite(v)]


def distinct_outputs(unit: Unit, column: str) -> float | None:
    """Share of distinct outputs among the test predictions of the last epoch: near 0 when a
    generator writes the same thing whatever the input."""
    lf = pl.scan_parquet(unit.folder / "samples.parquet")
    if column not in lf.collect_schema().names():
        return None
    last = unit.metrics["per_epoch"][-1]["epoch"]
    test = (
        lf.filter((pl.col("split") == "test") & (pl.col("epoch") == last))
        .select(pl.col(column).list.join(" "))
        .collect()
    )
    return test[column].n_unique() / test.height if test.height else None


def summarize_case(task: str, model: str, units: list[Unit]) -> dict[str, Any]:
    """Per rate, mean and interval over seeds of the figures the page states; and, between the
    lowest and highest rate, the test score's drop and the memorization margin."""
    by_rate: dict[float, list[Unit]] = defaultdict(list)
    for u in units:
        by_rate[u.rate].append(u)
    primary = units[0].primary
    fit_metric = fit_metric_of(units[0].metrics)
    getters: dict[str, Callable[[Unit], float | None]] = {
        "train_given_last": lambda u: _last(u, lambda e: e["train"][fit_metric]),
        "test_fit_last": lambda u: _last(u, lambda e: e["test"][fit_metric]),
        "test_last": lambda u: _last(u, lambda e: e["test"][primary]),
        "test_selected": lambda u: u.metrics["test"][primary],
        "memorization_rate_last": lambda u: u.metrics.get("memorization_rate_last"),
        "gini_last": lambda u: _last(u, lambda e: e.get("gini_train_loss")),
        "avg_predicted_score_last": lambda u: _last(
            u, lambda e: (e.get("avg_predicted_score") or {}).get("test")
        ),
    }
    if task in OUTPUTS:
        getters["distinct_test_outputs"] = lambda u: distinct_outputs(u, OUTPUTS[task])
    # the range each figure lies in, which its interval over seeds is clipped to: the task
    # metrics' own, the rest shares
    within = {name: SHARE for name in getters} | {
        "train_given_last": scale(fit_metric), "test_fit_last": scale(fit_metric),
        "test_last": scale(primary), "test_selected": scale(primary)}  # fmt: skip
    rates = sorted(by_rate)
    table = {
        rate: {name: mean_interval(_values(by_rate[rate], get), within[name])
               for name, get in getters.items()}
        | {"seeds": len(by_rate[rate])}
        for rate in rates
    }  # fmt: skip
    # the control: the task's floor rate where the sweep ran it, else the highest rate
    floor = floor_rate(task)
    low, high = rates[0], floor if floor in by_rate else rates[-1]
    drop = difference_interval(
        _values(by_rate[low], getters["test_last"]),
        _values(by_rate[high], getters["test_last"]),
        scale(primary),
    )
    fit = difference_interval(
        _values(by_rate[high], getters["train_given_last"]),
        _values(by_rate[high], getters["test_fit_last"]),
        scale(fit_metric),
    )
    return {
        "task": task,
        "model": model,
        "dataset": units[0].metrics["dataset"],
        "metric": primary,
        "fit_metric": fit_metric,
        "epochs": len(units[0].metrics["per_epoch"]),
        "rates": rates,
        "floor_rate": high,
        "table": table,
        "drop": drop,  # test at the lowest rate minus test at the floor rate, last epoch
        "fit": fit,  # train (given labels) minus test in fit_metric, floor rate, last epoch
        "collapses": drop["low"] is not None and drop["low"] > 0,
        "fits_noise": fit["low"] is not None and fit["low"] > 0,
    }


def _band(ax: Any, units: list[Unit], get: Callable[[dict], Any], within: Bounds, color: str,
          label: str) -> None:  # fmt: skip
    """Mean over seeds per epoch with its 95% interval (clipped to ``within``) as a band."""
    rows = [[get(e) for e in u.metrics["per_epoch"]] for u in units]
    width = min(len(r) for r in rows)
    values = np.array(
        [[np.nan if v is None else float(v) for v in r[:width]] for r in rows], dtype=np.float64
    )
    epochs = np.arange(1, width + 1)
    stats_ = [mean_interval(list(col[np.isfinite(col)]), within) for col in values.T]
    mean = np.array([np.nan if s["mean"] is None else s["mean"] for s in stats_])
    low = np.array(
        [m if s["ci_low"] is None else s["ci_low"] for s, m in zip(stats_, mean, strict=True)]
    )
    high = np.array(
        [m if s["ci_high"] is None else s["ci_high"] for s, m in zip(stats_, mean, strict=True)]
    )
    ax.plot(epochs, mean, color=color, marker="o", ms=3, label=label)
    ax.fill_between(epochs, low, high, color=color, alpha=0.2, linewidth=0)


def figure(case: dict[str, Any], units: list[Unit], path: Path) -> None:
    """Four panels per task, one line (and 95% band over seeds) per noise rate."""
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    metric, fm = case["metric"], case["fit_metric"]
    panels: list[tuple[str, Callable[[dict], Any], Bounds]] = [
        (f"train {fm}, given labels", lambda e: e["train"][fm], scale(fm)),
        (f"test {metric}", lambda e: e["test"][metric], scale(metric)),
        ("Gini of the training loss", lambda e: e.get("gini_train_loss"), SHARE),
        ("average predicted score (test)", lambda e: (e.get("avg_predicted_score") or {}).get(
            "test"), SHARE),
    ]  # fmt: skip
    fig = Figure(figsize=(14, 3.4), layout="constrained")
    axes = fig.subplots(1, len(panels))
    for i, rate in enumerate(case["rates"]):
        members = [u for u in units if u.rate == rate]
        for ax, (_, get, within) in zip(axes, panels, strict=True):
            _band(ax, members, get, within, COLORS[i % len(COLORS)], f"noise {rate:g}")
    for ax, (title, _, _) in zip(axes, panels, strict=True):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, title="label noise", title_fontsize=8)
    fig.suptitle(
        f"{case['task']}: {case['model']} on {case['dataset']} (mean and 95% interval over "
        "seeds)", fontsize=10,
    )  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context({"svg.hashsalt": "bench-findings", "svg.fonttype": "none"}):
        fig.savefig(path, format="svg", bbox_inches="tight", metadata={"Date": None})


def fmt(s: dict[str, Any], digits: int = 3) -> str:
    if s.get("mean") is None:
        return "-"
    out = f"{s['mean']:.{digits}f}"
    if s.get("ci_low") is not None:
        out += f" [{s['ci_low']:.{digits}f}, {s['ci_high']:.{digits}f}]"
    return out


def fmt_diff(d: dict[str, Any], digits: int = 3) -> str:
    if d["diff"] is None:
        return "-"
    out = f"{d['diff']:+.{digits}f}"
    if d["low"] is not None:
        out += f" [{d['low']:+.{digits}f}, {d['high']:+.{digits}f}]"
    return out


def verdict(case: dict[str, Any]) -> str:
    """What the intervals say about the signature, in one paragraph, with the figures."""
    lo, hi = case["rates"][0], case["floor_rate"]
    metric = case["metric"]
    t = case["table"]
    drop = (f"test {metric} at noise {lo:g} stands {fmt_diff(case['drop'])} above its floor "
            f"at noise {hi:g}")  # fmt: skip
    fm = case["fit_metric"]
    fit = (f"at noise {hi:g} training {fm} against the given labels minus test {fm} "
           f"is {fmt_diff(case['fit'])}")  # fmt: skip
    memorized = (f"memorization rate at the last epoch "
                 f"{fmt(t[hi]['memorization_rate_last'])}")  # fmt: skip
    if case["collapses"] and case["fits_noise"]:
        return (f"**The signature shows.** The {drop}, while {fit}: the model fits labels that "
                "carry nothing about the code.")  # fmt: skip
    parts = []
    if case["collapses"]:
        parts.append(f"The {drop}, but {fit}: the interval includes 0, so at this profile the "
                     f"model does not fit the noisy labels in {case['epochs']} epochs "
                     f"({memorized}).")  # fmt: skip
    else:
        parts.append(f"The {drop}: the interval includes 0, so a model trained on labels that "
                     "carry nothing about the code scores about as well on test as one trained on "
                     "the true labels. The metric has a floor that needs no reading of the "
                     "code.")  # fmt: skip
        if "distinct_test_outputs" in t[lo]:
            few = (t[hi]["distinct_test_outputs"]["mean"] or 1.0) < 0.25
            parts.append(f"Distinct test outputs at the last epoch: "
                         f"{fmt(t[lo]['distinct_test_outputs'])} of the samples at noise "
                         f"{lo:g}, {fmt(t[hi]['distinct_test_outputs'])} at {hi:g}"
                         + (f": at {hi:g} the model writes a few outputs whatever the input, "
                            "and they score close to those of the model that reads the code."
                            if few else "."))  # fmt: skip
        if case["fits_noise"]:
            parts.append(f"Meanwhile {fit}: the noise is memorized.")
        else:
            parts.append(f"Nor is the noise memorized: {fit}, so the model fits the permuted "
                         f"labels no better than unseen ones in {case['epochs']} epochs "
                         f"({memorized}).")  # fmt: skip
    return "**The signature does not show.** " + " ".join(parts)


def provenance(units: list[Unit]) -> str:
    """Date span, hardware and code version of the runs, from their run.json."""
    started = sorted(u.run.get("started", "") for u in units if u.run.get("started"))
    days = sorted({s[:10] for s in started})
    hw = sorted({f"{u.run['hardware'].get('cpu', '?')} ({u.run['hardware'].get('cores', '?')} "
                 f"cores, {u.run['hardware'].get('device', '?')})" for u in units
                 if u.run.get("hardware")})  # fmt: skip
    code = sorted({f"{u.run['code'].get('git_commit', '?')[:10]}"
                   f"{' (dirty)' if u.run['code'].get('git_dirty') else ''}" for u in units
                   if u.run.get("code")})  # fmt: skip
    return (f"runs of {' to '.join([days[0], days[-1]] if len(days) > 1 else days)} on "
            f"{', '.join(hw)}, code {', '.join(code)}")  # fmt: skip


def write_page(
    cases: list[dict[str, Any]], units: dict[tuple[str, str], list[Unit]], out: Path,
    command: str, membership: list[str] | None = None,
) -> Path:  # fmt: skip
    """findings.md and findings/<task>-<model>.svg under `out`, with ``membership``'s lines
    (benchmark.findings_membership) before the closing section; returns the page's path."""
    lines = [
        f"# The study's finding, {_measured_on(cases)}",
        "",
        "Rabin et al. (2023) found that at high label noise a neural model of code still fits "
        "its wrong training labels while its test score collapses. This page is written by",
        "",
        "```",
        command,
        "```",
        "",
        "from the results of its sweeps (label noise, the profile's epochs; each unit's epoch "
        "metrics as `bench report` reads them). Figures per task: the training score against "
        "the given (noisy) labels and the test score per epoch at each noise rate, the Gini "
        "coefficient of the training loss and the average predicted score (the mean score of "
        "the model's top prediction on test), each the mean over seeds with its 95% interval. "
        "At the floor rate the training labels carry nothing about the code: noise 1.0 where "
        "each noisy label is another sample's (method_name, code_to_text), 0.5 where labels are "
        "flipped (var_misuse's bug or no bug, code_search's match), since at 1.0 a flipped label "
        "is the truth inverted, which a model learns to answer the opposite of. The test score "
        "there is the task's floor for the model (the control that the leaderboard and `bench "
        "report` show beside every score), and the training score against the given labels is "
        "memorization. A model whose gain "
        "above the floor has an interval that includes 0 is not learning from the code. "
        "Statements use the last epoch; intervals are 95% Student-t over seeds (Welch's for "
        "differences), clipped to the range the figure lies in.",
        "",
        "| task | model | dataset | test at lowest rate | floor rate | test at the floor | "
        "gain above the floor [95%] | train (given labels) at the floor | "
        "train - test at the floor [95%] | signature |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        lo, hi = c["rates"][0], c["floor_rate"]
        t = c["table"]
        shows = "shows" if c["collapses"] and c["fits_noise"] else "does not show"
        lines.append(
            f"| {c['task']} | {c['model']} | {c['dataset']} | {fmt(t[lo]['test_last'])} | "
            f"{hi:g} | {fmt(t[hi]['test_last'])} | {fmt_diff(c['drop'])} | "
            f"{fmt(t[hi]['train_given_last'])}{_in(c)} | {fmt_diff(c['fit'])}{_in(c)} | "
            f"{shows} |"
        )
    lacks = [f"{t}:{m}" for t, m in _lacking(cases)]
    if lacks:
        lines += ["", f"Not on this page: {', '.join(lacks)}. `bench findings --cases "
                  f"{','.join(lacks)}` runs their sweeps (without `--cases`, every task's)."]
    for c in cases:
        key = (c["task"], c["model"])
        stem = f"{c['task']}-{c['model']}"
        figure(c, units[key], out / "findings" / f"{stem}.svg")
        lines += [
            "",
            f"## {c['task']} ({c['model']} on {c['dataset']}, metric `{c['metric']}`)",
            "",
            verdict(c),
            "",
            "Made by:",
            "",
            "```",
            c["command"],
            "```",
            "",
            f"![{c['task']}: train and test {c['metric']}, Gini of the training loss and "
            f"average predicted score per epoch at each noise rate](findings/{stem}.svg)",
            "",
            f"| noise | seeds | train, given labels (last epoch){_in(c)} | test (last epoch) | "
            "test (selected epoch) | memorization rate (last) | Gini of training loss "
            "(last) | avg predicted score, test (last) |"
            + (" distinct test outputs (last) |" if c["task"] in OUTPUTS else ""),
            "|---|---|---|---|---|---|---|---|" + ("---|" if c["task"] in OUTPUTS else ""),
        ]
        for rate in c["rates"]:
            r = c["table"][rate]
            row = (
                f"| {rate:g} | {r['seeds']} | {fmt(r['train_given_last'])} | "
                f"{fmt(r['test_last'])} | {fmt(r['test_selected'])} | "
                f"{fmt(r['memorization_rate_last'])} | {fmt(r['gini_last'])} | "
                f"{fmt(r['avg_predicted_score_last'])} |"
            )
            if c["task"] in OUTPUTS:
                row += f" {fmt(r['distinct_test_outputs'])} |"
            lines.append(row)  # fmt: skip
        lines += ["", f"Measured from {provenance(units[key])}."]
    if membership:
        lines += ["", *membership]
    lines += ["", *ELSEWHERE]
    out.mkdir(parents=True, exist_ok=True)
    page = out / "findings.md"
    page.write_text("\n".join(lines) + "\n")
    return page


def _lacking(cases: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The study's (task, model) cases whose task the page does not have."""
    have = {c["task"] for c in cases}
    return [(t, m) for t, m in CASES if t not in have]


def _measured_on(cases: list[dict[str, Any]]) -> str:
    """The title's claim: every study task, or the ones the page has (and which it lacks)."""
    lacks = [t for t, _ in _lacking(cases)]
    if not lacks:
        return "measured on every task"
    have = dict.fromkeys(c["task"] for c in cases)
    return f"measured on {', '.join(have)} (not on {', '.join(lacks)})"


def _in(case: dict[str, Any]) -> str:
    """Names the metric train and test are compared in, where it is not the primary one."""
    return f" ({case['fit_metric']})" if case["fit_metric"] != case["metric"] else ""


def _trained_as(unit: Unit, grid: Any) -> bool:
    """The unit was trained for the sweep's epochs, from its weights."""
    config = unit.run.get("config", {})
    return config.get("epochs") == grid.epochs and config.get("weights") == grid.weights


def collect(
    results: Path, cases: list[tuple[str, str, str | None]], grids: list[Any] | None = None
) -> tuple[list[dict], dict]:
    """The summary of each case from its units under `results` (only those of its sweep's
    grid where ``grids`` gives each case's SweepSpec: its rates, seeds and profile, which the
    page says it was written from); a ValueError names a case with no unit or a single noise
    rate, where there is nothing to compare."""
    from benchmark import console
    from benchmark.tasks import DEFAULT_DATASETS

    summaries, units = [], {}
    for i, (task, model, dataset) in enumerate(cases):
        dataset = dataset or DEFAULT_DATASETS.get(task, "")
        found = load_units(results, task, model, dataset)
        if grids is not None:
            grid = grids[i]
            inside = [u for u in found if u.rate in grid.noise_rates
                      and u.metrics.get("seed") in grid.seeds
                      and u.metrics.get("profile", grid.profile) == grid.profile
                      and _trained_as(u, grid)]  # fmt: skip
            if len(inside) < len(found):
                console.err.print(f"note: {task}:{model}: {len(found) - len(inside)} units under "
                                  f"{results} are of other noise rates, seeds, profiles, epochs "
                                  "or weights; left out", highlight=False,
                                  soft_wrap=True)  # fmt: skip
            found = inside
        if len({u.rate for u in found}) < 2:
            raise ValueError(f"{task}:{model} on {dataset or '?'} has units at fewer than two "
                             f"noise rates under {results}; run its sweep first")  # fmt: skip
        units[(task, model)] = found
        case = summarize_case(task, model, found)
        case["command"] = sweep_command(case, found)
        summaries.append(case)
    return summaries, units
