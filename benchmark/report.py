"""`bench report`: an HTML page and a Markdown file, with figures, for a run or a set of runs.

The page must open anywhere a result folder is copied (a laptop on a train, an air-gapped
cluster), so it is one self-contained file: figures are PNG data URIs, there is no script, font
or style sheet from the network. Every figure is also saved as PNG, SVG and PDF beside it for
papers. Metrics come from each run's metrics.json; the per-sample figures (loss distributions,
cartography, ROC) read only the columns they need from samples.parquet.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import polars as pl
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import roc_curve

from benchmark import console
from benchmark.metrics import memorization
from benchmark.metrics.schema import RUN_METRICS
from benchmark.metrics.sweep import robustness, run_folders
from benchmark.results import verify
from benchmark.standings import gain_text

MAX_DETAILED = 6  # runs that get per-sample figures; more would bury the page
MAX_EPOCH_PANELS = 6
MAX_POINTS = 20_000  # cartography scatter points per run
FORMATS = ("png", "svg", "pdf")


@dataclass(frozen=True)
class Run:
    """One result folder and its metrics."""

    folder: Path
    metrics: dict[str, Any]

    @property
    def rate(self) -> float:
        return float(self.metrics.get("noise", {}).get("rate", 0.0))

    @property
    def name(self) -> str:
        m = self.metrics
        kind = m.get("noise", {}).get("kind", "label")
        return f"{m['model']}-{kind}-{self.rate:g}-seed{m.get('seed', 0)}"

    @property
    def primary(self) -> str:
        return self.metrics.get("selection", {}).get("metric", "acc")


@dataclass(frozen=True)
class Figure_:
    """A saved figure: its stem, caption and PNG bytes for embedding."""

    stem: str
    caption: str
    png: bytes


def load_runs(path: Path) -> list[Run]:
    """Every run at or under `path` that verifies (results.verify), in a stable order; one
    warning line for each that does not, and an error if none is left."""
    runs, left_out = [], 0
    for folder in run_folders(path):
        reason = verify(folder)
        if reason is not None:
            console.err.print(f"warning: {folder}: {reason}; left out", highlight=False,
                              soft_wrap=True)  # fmt: skip
            left_out += 1
            continue
        runs.append(Run(folder, json.loads((folder / "metrics.json").read_text())))
    if not runs:
        also = f" ({left_out} left out: they do not verify)" if left_out else ""
        raise ValueError(f"no run folder (with a metrics.json) at or under {path}{also}")
    return sorted(runs, key=lambda r: (r.metrics["model"], r.rate, r.metrics.get("seed", 0)))


def _save(fig: Figure, out: Path, stem: str, caption: str) -> Figure_:
    folder = out / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    (folder / f"{stem}.png").write_bytes(buf.getvalue())
    for fmt in FORMATS[1:]:
        fig.savefig(folder / f"{stem}.{fmt}", format=fmt, bbox_inches="tight")
    return Figure_(stem, caption, buf.getvalue())


def _rate_colors(rates: list[float]) -> dict[float, Any]:
    cmap = matplotlib.colormaps["viridis"]
    return {r: cmap(i / max(len(rates) - 1, 1)) for i, r in enumerate(rates)}


def fig_curves(runs: list[Run], out: Path) -> Figure_:
    """Train (given labels), test and memorization rate per epoch, one line per model and
    noise rate (mean over seeds): the memorization signature is train rising while test and
    the noisy subset part ways."""
    fig = Figure(figsize=(13, 3.8))
    axes = fig.subplots(1, 3)
    rates = sorted({r.rate for r in runs})
    colors = _rate_colors(rates)
    groups: dict[tuple[str, float], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.metrics["model"], r.rate), []).append(r)
    styles = ["-", "--", ":", "-."]
    models = sorted({m for m, _ in groups})
    for (model, rate), members in sorted(groups.items()):
        primary = members[0].primary
        epochs = [e["epoch"] for e in members[0].metrics["per_epoch"]]
        for ax, get in zip(
            axes,
            (
                lambda e, p=primary: e["train"][p],
                lambda e, p=primary: e["test"][p],
                lambda e: e["memorization_rate"],
            ),
            strict=True,
        ):
            values = np.array(
                [
                    [np.nan if get(e) is None else get(e) for e in m.metrics["per_epoch"]]
                    for m in members
                    if len(m.metrics["per_epoch"]) == len(epochs)
                ],
                dtype=np.float64,
            )
            with np.errstate(all="ignore"):
                mean = np.nanmean(values, axis=0) if values.size else np.array([])
            ax.plot(
                epochs[: mean.size],
                mean,
                styles[models.index(model) % len(styles)],
                color=colors[rate],
                marker="o",
                ms=3,
                label=f"{model} noise {rate:g}",
            )
    primary = runs[0].primary
    titles = (f"train {primary} (given labels)", f"test {primary}", "memorization rate")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=7, loc="best")
    return _save(fig, out, "curves", "Train and test score and memorization rate per epoch.")


def _detailed(runs: list[Run]) -> list[Run]:
    """Runs that get per-sample figures: one seed per model and rate, noisy rates first."""
    seen: dict[tuple[str, float], Run] = {}
    for r in runs:
        seen.setdefault((r.metrics["model"], r.rate), r)
    chosen = sorted(seen.values(), key=lambda r: (r.rate == 0, -r.rate, r.metrics["model"]))
    return chosen[:MAX_DETAILED]


def spread(epochs: list[int]) -> list[int]:
    """At most MAX_EPOCH_PANELS epochs, evenly spread from the first to the last."""
    return sorted({epochs[round(i)] for i in np.linspace(0, len(epochs) - 1, MAX_EPOCH_PANELS)})


def fig_losses(run: Run, out: Path) -> Figure_:
    """Histograms of log(1 + loss) for clean and noisy training samples at evenly spread
    epochs: noisy samples start with high loss and are pulled down as they are memorized."""
    lf = pl.scan_parquet(run.folder / "samples.parquet")
    train = (
        lf.filter(pl.col("split") == "train")
        .select("epoch", "noisy", pl.col("loss").cast(pl.Float64).log1p().alias("x"))
        .collect()
    )
    epochs = sorted(train["epoch"].unique().to_list())
    picks = spread(epochs)
    fig = Figure(figsize=(2.6 * len(picks), 2.8))
    axes = fig.subplots(1, len(picks), sharey=True)
    axes = np.atleast_1d(axes)
    x = train["x"].drop_nulls()
    bins = np.linspace(0.0, float(x.max()) if x.len() else 1.0, 30)
    for ax, epoch in zip(axes, picks, strict=True):
        at = train.filter(pl.col("epoch") == epoch)
        for noisy, color, label in ((False, "tab:blue", "clean"), (True, "tab:red", "noisy")):
            values = at.filter(pl.col("noisy") == noisy)["x"].drop_nulls().to_numpy()
            if values.size:
                ax.hist(values, bins=bins, alpha=0.55, color=color, label=label, density=True)
        ax.set_title(f"epoch {epoch}")
        ax.set_xlabel("log(1 + loss)")
    axes[0].set_ylabel("density")
    axes[-1].legend(fontsize=7)
    fig.suptitle(run.name, fontsize=9, y=1.04)
    return _save(
        fig, out, f"loss-{run.name}", f"{run.name}: training loss of clean vs noisy samples."
    )


def _samples(run: Run) -> pl.DataFrame:
    lf = pl.scan_parquet(run.folder / "samples.parquet")
    return memorization.sample_signals(memorization.train_query(lf).collect())


def fig_cartography(run: Run, samples: pl.DataFrame, out: Path) -> Figure_:
    """Dataset map (Swayamdipta et al. 2020): variability vs confidence per training sample,
    noisy samples in red; mislabelled samples gather in the hard-to-learn corner."""
    fig = Figure(figsize=(4.8, 4.2))
    ax = fig.subplots()
    shown = samples.sample(MAX_POINTS, seed=0) if samples.height > MAX_POINTS else samples
    for noisy, color, label in ((False, "tab:blue", "clean"), (True, "tab:red", "noisy")):
        part = shown.filter(pl.col("noisy") == noisy)
        ax.scatter(part["variability"], part["confidence"], s=6, alpha=0.5, c=color, label=label)
    ax.set_xlabel("variability (std of p_given over epochs)")
    ax.set_ylabel("confidence (mean p_given)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(run.name, fontsize=9)
    return _save(fig, out, f"cartography-{run.name}", f"{run.name}: cartography map.")


def fig_roc(run: Run, samples: pl.DataFrame, out: Path) -> Figure_:
    """ROC of each per-sample signal at finding the noisy samples."""
    fig = Figure(figsize=(4.8, 4.2))
    ax = fig.subplots()
    noisy = samples["noisy"].to_numpy()
    scores, _ = memorization.detection_scores(samples)
    detection = run.metrics.get("detection", {})
    if noisy.any() and not noisy.all():
        for name, score in scores.items():
            keep = np.isfinite(score)
            fpr, tpr, _ = roc_curve(noisy[keep], score[keep])
            auc = detection.get(name, {}).get("auroc")
            ax.plot(fpr, tpr, label=f"{name} (AUROC {auc:.3f})" if auc is not None else name)
        ax.legend(fontsize=7, loc="lower right")
    else:
        ax.text(0.5, 0.5, "no noisy (or no clean) samples:\nROC undefined", ha="center")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(run.name, fontsize=9)
    return _save(fig, out, f"roc-{run.name}", f"{run.name}: noisy-sample detection ROC.")


def fig_predicted_scores(run: Run, out: Path) -> Figure_ | None:
    """The study's average-predicted-score view (Rabin et al. 2023): at evenly spread epochs,
    the score of the model's own top prediction on each test sample, sorted from high to low.
    A model that generalizes is confident on many test samples; one that has memorized noise
    grows confident on train while this curve sags. None where the table has no top score."""
    lf = pl.scan_parquet(run.folder / "samples.parquet")
    if "top_score" not in lf.collect_schema().names():
        return None
    test = (
        lf.filter(pl.col("split") == "test")
        .select("epoch", pl.col("top_score").cast(pl.Float64))
        .drop_nulls()
        .collect()
    )
    epochs = sorted(test["epoch"].unique().to_list())
    if not epochs:
        return None
    picks = spread(epochs)
    cmap = matplotlib.colormaps["viridis"]
    fig = Figure(figsize=(5.2, 4.0))
    ax = fig.subplots()
    for i, epoch in enumerate(picks):
        scores = np.sort(test.filter(pl.col("epoch") == epoch)["top_score"].to_numpy())[::-1]
        share = (np.arange(scores.size) + 0.5) / scores.size
        color = cmap(i / max(len(picks) - 1, 1))
        ax.plot(share, scores, color=color, label=f"epoch {epoch} (mean {scores.mean():.3f})")
    ax.set_xlabel("test samples, sorted by score (share)")
    ax.set_ylabel("score of the top prediction")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(run.name, fontsize=9)
    return _save(
        fig, out, f"predicted-score-{run.name}",
        f"{run.name}: sorted test scores of the top prediction per epoch (average predicted "
        "score).",
    )  # fmt: skip


def fig_robustness(summary: list[dict[str, Any]], out: Path) -> Figure_:
    """Test score against noise rate, mean over seeds with 95% intervals, per model."""
    fig = Figure(figsize=(5.2, 4.0))
    ax = fig.subplots()
    for group in summary:
        pts = [p for p in group["points"] if p["mean"] is not None]
        rates = np.array([p["rate"] for p in pts])
        mean = np.array([p["mean"] for p in pts])
        low = np.array([p["mean"] if p["ci_low"] is None else p["ci_low"] for p in pts])
        high = np.array([p["mean"] if p["ci_high"] is None else p["ci_high"] for p in pts])
        area = group["area"]
        label = f"{group['model']} ({group['noise_kind']}; area {area:.3f})"
        ax.errorbar(rates, mean, yerr=[mean - low, high - mean], marker="o", capsize=3, label=label)
    metric = summary[0]["metric"] if summary else "score"
    ax.set_xlabel("noise rate")
    ax.set_ylabel(f"test {metric}")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, out, "robustness", "Test score against noise rate (mean, 95% interval).")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _run_rows(runs: list[Run]) -> tuple[list[str], list[list[str]]]:
    shown = [m for m in RUN_METRICS if m.in_report]
    header = ["run", "epoch", "test", "gap", "gap (last)", *[m.column for m in shown]]
    header += ["half epoch", "gini"]
    header += ["avg predicted score (test)", "mean p_given", "output CSR", "forgetting", "AUM"]
    header += [f"AUROC {s}" for s in memorization.SIGNALS]
    rows = []
    for r in runs:
        m = r.metrics
        det = m.get("detection", {})
        rows.append(
            [
                r.name,
                _fmt(m.get("selected_epoch")),
                _fmt(m.get("test", {}).get(r.primary)),
                _fmt(m.get("generalization_gap")),
                _fmt(m.get("generalization_gap_last")),
                *[_fmt(s.of(m)) for s in shown],
                _fmt(m.get("memorization_half_epoch")),
                _fmt(m.get("gini_train_loss")),
                _fmt((m.get("avg_predicted_score") or {}).get("test")),
                _fmt(m.get("mean_p_given")),
                _fmt(m.get("output_critical_sample_ratio")),
                _fmt(m.get("forgetting_events", {}).get("mean")),
                _fmt(m.get("aum", {}).get("mean")),
                *[_fmt(det.get(s, {}).get("auroc")) for s in memorization.SIGNALS],
            ]
        )
    return header, rows


def _robustness_rows(summary: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    header = ["model", "noise kind", "rate", "seeds", "mean", "95% interval", "drop"]
    rows = []
    for g in summary:
        for p in g["points"]:
            interval = "-" if p["ci_low"] is None else f"[{p['ci_low']:.3f}, {p['ci_high']:.3f}]"
            rows.append(
                [g["model"], g["noise_kind"], f"{p['rate']:g}", str(p["n"]), _fmt(p["mean"]),
                 interval, _fmt(p["drop"])]
            )  # fmt: skip
        rows.append([g["model"], g["noise_kind"], "area", "", _fmt(g["area"]), "", ""])
        if g.get("gain") is not None:  # the same model's label-noise-1.0 runs are here
            rows.append([g["model"], g["noise_kind"], "floor", str(g["floor"]["n"]),
                         _fmt(g["floor"]["mean"]), "gain over floor", gain_text(g)])  # fmt: skip
    return header, rows


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; margin-bottom: 1.5em; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
th { background: #f2f2f2; } td:first-child { text-align: left; }
figure { margin: 1em 0 2em; } img { max-width: 100%; }
figcaption { font-size: 0.9em; color: #555; }
"""


def write_report(path: Path, out: Path | None = None) -> tuple[Path, Path]:
    """Write report.html and report.md (and figures/) for the runs at or under `path`;
    returns the two files' paths. `out` defaults to `path/report`."""
    runs = load_runs(path)
    out = out if out is not None else path / "report"
    out.mkdir(parents=True, exist_ok=True)
    summary = robustness([r.folder for r in runs])
    figures = [fig_curves(runs, out)]
    for run in _detailed(runs):
        samples = _samples(run)
        figures += [
            fig_losses(run, out),
            fig_cartography(run, samples, out),
            fig_roc(run, samples, out),
        ]
        scores = fig_predicted_scores(run, out)
        figures += [scores] if scores else []
    figures.append(fig_robustness(summary, out))
    (out / "robustness.json").write_text(json.dumps({"robustness": summary}, indent=2))

    run_table = _run_rows(runs)
    rob_table = _robustness_rows(summary)
    what = runs[0].name if len(runs) == 1 else f"{len(runs)} runs under {path.name or path}"
    title = f"Memorization report: {what}"
    md = [f"# {title}", "", "## Runs", "", _md_table(*run_table), ""]
    md += ["## Robustness", "", _md_table(*rob_table), "", "## Figures", ""]
    for f in figures:
        md += [f"![{f.caption}](figures/{f.stem}.png)", "", f"*{f.caption}*", ""]
    md_path = out / "report.md"
    md_path.write_text("\n".join(md))

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<h2>Runs</h2>",
        _html_table(*run_table),
        "<h2>Robustness</h2>",
        _html_table(*rob_table),
        "<h2>Figures</h2>",
    ]
    for f in figures:
        data = base64.b64encode(f.png).decode("ascii")
        parts.append(
            f'<figure id="{html.escape(f.stem)}"><img alt="{html.escape(f.caption)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{html.escape(f.caption)}'
            "</figcaption></figure>"
        )
    parts.append("</body></html>")
    html_path = out / "report.html"
    html_path.write_text("\n".join(parts))
    return html_path, md_path
