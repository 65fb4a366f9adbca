"""`bench report`: an HTML page and a Markdown file, with figures, for a run or a set of runs.

The page must open anywhere a result folder is copied (a laptop on a train, an air-gapped
cluster), so it is one self-contained file: figures are PNG data URIs, there is no script, font
or style sheet from the network. Every figure is also saved as PNG, SVG and PDF beside it for
papers. Metrics come from each run's metrics.json; the per-sample figures (loss distributions,
cartography, ROC) read only the columns they need from samples.parquet.

Membership inference gets a section of its own: the single-run attacks of the runs that have a
holdout split, and, where the folder holds the subset units of a subset sweep (``bench sweep
--subsets K``), each cell's counterfactual memorization, LiRA and proxy ranking
(benchmark.metrics.counterfactual). Subset units are trained on part of the pool, so they are
kept out of the ordinary runs' tables and figures.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import matplotlib
import numpy as np
import polars as pl
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import roc_curve

from benchmark import console
from benchmark.compare import POLARS_ERRORS, READ_ERRORS, first_line, sample_schema
from benchmark.metrics import attacks, counterfactual, membership, memorization
from benchmark.metrics.checks import scale
from benchmark.metrics.schema import RUN_METRICS
from benchmark.metrics.summary import fit_metric
from benchmark.metrics.sweep import SHARE, robustness, run_folders
from benchmark.protocol import HOLDOUT
from benchmark.report_seal import write_seal
from benchmark.results import verify
from benchmark.standings import gain_text
from benchmark.tasks import TASKS

MAX_DETAILED = 6  # runs that get per-sample figures; more would bury the page
MAX_EPOCH_PANELS = 6
MAX_POINTS = 20_000  # cartography scatter points per run
FORMATS = ("png", "svg", "pdf")
LOW_FPR = 1e-3  # log-scaled ROC axes reach down to here, or to one sample where there are more
TOP_MEMORIZED = 10  # most memorized samples listed per cell
CODE_TOKENS = 30  # of a listed sample's source
CODE_TOKEN_CHARS = 40  # of one of those tokens (a docstring is one)
# The columns of samples.parquet the per-sample figures read (memorization.train_query's).
SAMPLE_COLUMNS = ("sample_id", "split", "epoch", "noisy", "loss", "correct_given")


@dataclass(frozen=True)
class Run:
    """One result folder and its metrics; ``tagged`` where the report holds runs of several
    experiments, so that its name says which."""

    folder: Path
    metrics: dict[str, Any]
    tagged: bool = False

    @property
    def experiment(self) -> tuple[str, str, str]:
        """What its scores can be set beside: the same task, dataset and kind of noise."""
        m = self.metrics
        return str(m["task"]), str(m["dataset"]), str(m["noise"].get("kind", "label"))

    @property
    def rate(self) -> float:
        return float(self.metrics.get("noise", {}).get("rate", 0.0))

    @property
    def name(self) -> str:
        m = self.metrics
        kind = m.get("noise", {}).get("kind", "label")
        name = f"{m['model']}-{kind}-{self.rate:g}-seed{m.get('seed', 0)}"
        return f"{m['task']}-{m['dataset']}-{name}" if self.tagged else name

    @property
    def primary(self) -> str:
        return self.metrics.get("selection", {}).get("metric", "acc")


@dataclass(frozen=True)
class Cell:
    """The subset units of one cell (model, noise, seed), one per subset index, their grid
    (read once), and what counterfactual.cell_of makes of it."""

    units: list[Run]
    grid: counterfactual.Grid
    table: pl.DataFrame
    figures: dict[str, Any]

    @property
    def metrics(self) -> dict[str, Any]:
        return self.units[0].metrics

    @property
    def rate(self) -> float:
        return self.units[0].rate

    @property
    def name(self) -> str:
        return self.units[0].name  # a unit's name does not say its subset: the cell's

    @property
    def folders(self) -> list[Path]:
        return [u.folder for u in self.units]


@dataclass(frozen=True)
class Figure_:
    """A saved figure: its stem, caption and PNG bytes for embedding."""

    stem: str
    caption: str
    png: bytes


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shape_problem(run: Run) -> str | None:
    """What a verified metrics.json lacks of what the report reads, or None: metrics.checks
    vouches for its scores, not for the shape of the rest."""
    m = run.metrics
    noise, subset = m["noise"], m.get("subset")
    if not isinstance(m["model"], str) or not _integer(m["seed"]):
        return "has no model name or no seed number"
    if not (isinstance(noise, dict) and isinstance(noise.get("kind", ""), str)
            and isinstance(noise.get("rate", 0), int | float)):  # fmt: skip
        return "has no noise kind and rate"
    if not all(_integer(e.get("epoch")) for e in m.get("per_epoch", [])):
        return "has an epoch without its number in per_epoch"
    if subset is not None and not (isinstance(subset, dict) and _integer(subset.get("index"))):
        return "has a subset without its index"
    try:  # what the tables read of the rest, on this run alone
        _run_rows([run])
        if _has_holdout(run):
            _attack_rows([run])
            if not _integer(m["membership"]["last"]["epoch"]):
                return "has no last epoch in membership"
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        return f"is not as the harness writes it ({type(e).__name__}: {first_line(e)})"
    return None


def check_run(folder: Path) -> Run:
    """The run in ``folder``; ValueError naming it and the file at fault where it does not
    verify (results.verify) or lacks what the report reads (a manifest re-signed elsewhere
    vouches for the bytes, not for what they say)."""
    reason = verify(folder)
    if reason is not None:
        raise ValueError(f"{folder}: {reason}")
    run = Run(folder, json.loads((folder / "metrics.json").read_text()))  # verify parsed it
    problem = _shape_problem(run)
    if problem is not None:
        raise ValueError(f"{folder}: metrics.json {problem}")
    needs = [*SAMPLE_COLUMNS, *(["top_score"] if _has_holdout(run) else [])]
    sample_schema(folder, needs + (["p_given"] if run.metrics.get("subset") else []))
    return run


def load_runs(path: Path) -> list[Run]:
    """Every run at or under `path` that passes check_run, in a stable order; one warning
    line for each that does not, and an error if none is left. With one run there, what is
    wrong with it goes into the error instead: one line."""
    runs, reasons = [], []
    folders = run_folders(path)
    for folder in folders:
        try:
            runs.append(check_run(folder))
        except ValueError as e:
            reasons.append(str(e).removeprefix(f"{folder}: "))
            if len(folders) > 1:
                console.err.print(f"warning: {e}; left out", highlight=False, soft_wrap=True)
    if not runs:
        also = ""
        if reasons:
            why = f"; {reasons[0]}" if len(folders) == 1 else ""
            also = f" ({len(reasons)} left out: they do not verify or cannot be read{why})"
        raise ValueError(f"no run folder (with a metrics.json) at or under {path}{also}")
    return sorted(runs, key=lambda r: (r.metrics["model"], r.rate, r.metrics.get("seed", 0)))


@contextmanager
def _reading(folder: Path) -> Iterator[None]:
    """Polars' errors while a unit's samples.parquet is read, as one line naming both:
    check_run reads only the file's schema, so damage further in shows here."""
    try:
        yield
    except POLARS_ERRORS as e:
        raise ValueError(f"{folder}: samples.parquet cannot be read ({first_line(e)})") from None


def _save(fig: Figure, out: Path, stem: str, caption: str) -> Figure_:
    # A stem holds the model's name, which may be anything ('/', '..'): one plain file name.
    stem = re.sub(r"[^\w.+-]", "_", stem)
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


def fig_curves(runs: list[Run], out: Path, tag: str = "") -> Figure_:
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
    primary, fit = runs[0].primary, fit_metric(runs[0].metrics)
    for (model, rate), members in sorted(groups.items()):
        epochs = [e["epoch"] for e in members[0].metrics.get("per_epoch", [])]
        for ax, get in zip(
            axes,
            (  # a figure missing from an epoch is a gap (check_run vouches for the epochs)
                lambda e: e.get("train", {}).get(fit),
                lambda e: e.get("test", {}).get(primary),
                lambda e: e.get("memorization_rate"),
            ),
            strict=True,
        ):
            values = np.array(
                [
                    [np.nan if get(e) is None else get(e) for e in m.metrics.get("per_epoch", [])]
                    for m in members
                    if len(m.metrics.get("per_epoch", [])) == len(epochs)
                ],
                dtype=np.float64,
            )
            # All-NaN columns (no memorization rate at noise 0) plot as gaps, not warnings.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
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
    titles = (f"train {fit} (given labels)", f"test {primary}", "memorization rate")
    most = max(len(r.metrics.get("per_epoch", [])) for r in runs)
    for ax, title, within in zip(axes, titles, (scale(fit), scale(primary), SHARE),
                                 strict=True):  # fmt: skip
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_xlim(0.5, most + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # 1 epoch too
        _limits(ax, within)
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=7, loc="best")
    return _save(fig, out, f"curves{tag}", f"Train and test score and memorization rate per "
                 f"epoch{_for(runs[0]) if tag else ''}.")  # fmt: skip


def _limits(ax: Any, within: tuple[float, float]) -> None:
    """The y axis over the figure's whole range, with a margin of 2%."""
    margin = 0.02 * (within[1] - within[0])
    ax.set_ylim(within[0] - margin, within[1] + margin)


def _for(run: Run) -> str:
    task, dataset, kind = run.experiment
    return f" ({task} on {dataset}, {kind} noise)"


Detailed = TypeVar("Detailed", Run, Cell)


def _detailed(runs: list[Detailed]) -> list[Detailed]:
    """Runs (or cells) that get per-sample figures: one seed per model and rate, noisy rates
    first."""
    seen: dict[tuple[str, float], Detailed] = {}
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
    x = pl.col("loss").cast(pl.Float64).log1p().alias("x")
    rows = pl.scan_parquet(run.folder / "samples.parquet").filter(pl.col("split") == "train")
    # The epochs and the bins' reach first, then the rows of the drawn epochs alone: a paper
    # unit has tens of epochs of millions of rows.
    found = rows.select(epochs=pl.col("epoch").unique().implode(),
                        top=x.filter(x.is_finite()).max()).collect().row(0)  # fmt: skip
    picks = spread(sorted(found[0]))
    fig = Figure(figsize=(2.6 * len(picks), 2.8))
    axes = fig.subplots(1, len(picks), sharey=True)
    axes = np.atleast_1d(axes)
    train = (
        rows.filter(pl.col("epoch").is_in(picks))
        .select("epoch", "noisy", x)
        .filter(pl.col("x").is_finite())  # a diverged model's losses are not drawn
        .collect()
    )
    bins = np.linspace(0.0, float(found[1]) if found[1] is not None else 1.0, 30)
    for ax, epoch in zip(axes, picks, strict=True):
        at = train.filter(pl.col("epoch") == epoch)
        for noisy, color, label in ((False, "tab:blue", "clean"), (True, "tab:red", "noisy")):
            values = at.filter(pl.col("noisy") == noisy)["x"].to_numpy()
            if values.size:
                ax.hist(values, bins=bins, alpha=0.55, color=color, label=label, density=True)
        ax.set_title(f"epoch {epoch}")
        ax.set_xlabel("log(1 + loss)")
    axes[0].set_ylabel("density")
    if axes[-1].get_legend_handles_labels()[0]:  # none where no loss is finite
        axes[-1].legend(fontsize=7)
    fig.suptitle(run.name, fontsize=9, y=1.04)
    return _save(
        fig, out, f"loss-{run.name}", f"{run.name}: training loss of clean vs noisy samples."
    )


def _samples(run: Run) -> pl.DataFrame:
    lf = pl.scan_parquet(run.folder / "samples.parquet")
    return memorization.sample_signals(lf)


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
            if noisy[keep].all() or not noisy[keep].any():
                continue  # no finite score on one side (a diverged model's loss): no curve
            fpr, tpr, _ = roc_curve(noisy[keep], score[keep])
            auc = detection.get(name, {}).get("auroc")
            ax.plot(fpr, tpr, label=f"{name} (AUROC {auc:.3f})" if auc is not None else name)
        if ax.get_legend_handles_labels()[0]:
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
    scored = (
        lf.filter(pl.col("split") == "test")
        .select("epoch", pl.col("top_score").cast(pl.Float64))
        .drop_nulls()
    )
    epochs = sorted(scored.select(pl.col("epoch").unique()).collect()["epoch"].to_list())
    if not epochs:
        return None
    picks = spread(epochs)
    test = scored.filter(pl.col("epoch").is_in(picks)).collect()  # the drawn epochs alone
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


def fig_robustness(summary: list[dict[str, Any]], out: Path, tag: str = "") -> Figure_:
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
    _limits(ax, scale(metric))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    where = f" ({summary[0]['task']} on {summary[0]['dataset']})" if tag and summary else ""
    return _save(fig, out, f"robustness{tag}",
                 f"Test score against noise rate (mean, 95% interval){where}.")  # fmt: skip


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


# --- membership inference -----------------------------------------------------------------------


def _has_holdout(run: Run) -> bool:
    return (run.metrics.get("membership") or {}).get("nonmembers") == HOLDOUT


def _log_roc(ax: Any, curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str) -> None:
    """ROC curves of attacks (name: member and non-member scores) on log-log axes, as Carlini
    et al. 2022 draw them: what matters is the TPR at the lowest FPRs, which linear axes hide.
    The axes reach down to LOW_FPR, or to one sample where a side has more than 1 / LOW_FPR."""
    sizes = [(1, 1)]  # non-members and members of each curve drawn
    for name, (member, nonmember) in curves.items():
        fpr, tpr = membership.roc_curve(member, nonmember)
        if fpr.size:
            ax.plot(fpr, tpr, label=f"{name} (AUROC {membership.auroc(member, nonmember):.3f})")
            sizes.append((np.isfinite(nonmember).sum(), np.isfinite(member).sum()))
    low_x, low_y = (min(LOW_FPR, 1 / max(side)) for side in zip(*sizes, strict=True))
    low = min(low_x, low_y)
    ax.plot([low, 1], [low, 1], color="grey", lw=0.8, ls=":", label="chance")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(low_x, 1.15)  # past 1, or a perfect attack's curve would hide in the frame
    ax.set_ylim(low_y, 1.15)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title, fontsize=9)


def fig_membership_roc(run: Run, out: Path) -> Figure_:
    """ROC of the run's single-model attacks at its last epoch: members its training samples,
    non-members its holdout samples, the scores as metrics.json's membership section has them
    (attacks)."""
    last = run.metrics["membership"]["last"]["epoch"]
    spec = TASKS.get(run.metrics["task"])  # a plugin's task that is not installed: no zlib
    label_text = spec.label_text if spec is not None else None
    lf = pl.scan_parquet(run.folder / "samples.parquet")
    names = lf.collect_schema().names()
    columns = ["split", "loss", "noisy", "top_score"]
    columns += [c for c in (label_text, attacks.LOGPROBS) if c is not None and c in names]
    rows = (
        lf.filter((pl.col("epoch") == last) & pl.col("split").is_in(["train", HOLDOUT]))
        .select(columns)
        .collect()
    )
    member = rows["split"].to_numpy() == "train"
    curves = {name: (s[member], s[~member]) for name, s in attacks.scores(rows, label_text).items()}
    fig = Figure(figsize=(4.8, 4.2))
    _log_roc(fig.subplots(), curves, f"{run.name}, epoch {last}")
    return _save(
        fig, out, f"membership-roc-{run.name}",
        f"{run.name}: membership attacks at the last epoch (members: training samples, "
        "non-members: holdout samples), log-log ROC.",
    )  # fmt: skip


def _cells(units: list[Run]) -> tuple[list[Cell], list[str]]:
    """Subset units grouped into cells (the first folder of each subset index, should a copy
    of a sweep sit beside it), each with counterfactual.cell_of's table and figures; a line for
    each cell that cannot have them."""
    groups: dict[tuple[Any, ...], dict[int, Run]] = {}
    for u in units:
        m = u.metrics
        key = (m["task"], m["dataset"], m["model"], m.get("noise", {}).get("kind", "label"),
               u.rate, m.get("seed", 0))  # fmt: skip
        groups.setdefault(key, {}).setdefault(m["subset"]["index"], u)
    cells, notes = [], []
    for _, by_index in sorted(groups.items()):
        members = [by_index[k] for k in sorted(by_index)]
        if len(members) < 2:
            notes.append(f"{members[0].name}: one subset unit; counterfactual memorization "
                         "needs two or more")  # fmt: skip
            continue
        try:
            grid = counterfactual.read_grid([u.folder for u in members])
        except ValueError as e:
            notes.append(f"{members[0].name}: {e}")
            continue
        except POLARS_ERRORS as e:  # one of its units' samples.parquet is damaged
            notes.append(f"{members[0].name}: a samples.parquet cannot be read ({first_line(e)})")
            continue
        cells.append(Cell(members, grid, *counterfactual.cell_of(grid)))
    return cells, notes


def fig_memorization(cell: Cell, out: Path) -> Figure_:
    """Histograms of counterfactual memorization of the clean and the noisy samples of a
    cell: a noisy label can only be learnt by memorizing it, so its samples should sit
    further right."""
    fig = Figure(figsize=(4.8, 3.6))
    ax = fig.subplots()
    bins = np.linspace(-1.0, 1.0, 41)
    for noisy, color, label in ((False, "tab:blue", "clean"), (True, "tab:red", "noisy")):
        values = cell.table.filter(pl.col("noisy") == noisy)["memorization"].drop_nulls()
        if values.len():
            ax.hist(values.to_numpy(), bins=bins, alpha=0.55, color=color, density=True,
                    label=f"{label} (n {values.len()}, mean {values.mean():.3f})")  # fmt: skip
    ax.set_xlabel("counterfactual memorization (p_given in - out)")
    ax.set_ylabel("density")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"{cell.name}, {len(cell.units)} subset models", fontsize=9)
    return _save(
        fig, out, f"memorization-{cell.name}",
        f"{cell.name}: counterfactual memorization of clean vs noisy samples.",
    )  # fmt: skip


def fig_lira_roc(cell: Cell, out: Path) -> Figure_:
    """ROC of LiRA (each subset model the target, the others its shadow models) beside the
    loss attack on the same (model, sample) pairs."""
    inclusion, scores, pairs = counterfactual.attack_pairs(cell.grid)
    curves = {name: (s[inclusion & pairs], s[~inclusion & pairs]) for name, s in scores.items()}
    fig = Figure(figsize=(4.8, 4.2))
    _log_roc(fig.subplots(), curves, f"{cell.name}, {len(cell.units)} subset models")
    return _save(
        fig, out, f"lira-roc-{cell.name}",
        f"{cell.name}: LiRA vs the loss attack on the same (model, sample) pairs, log-log ROC.",
    )  # fmt: skip


def _interval(figure: dict[str, Any] | None) -> str:
    """A figure's value and its 95% interval, as metrics.json has them."""
    if figure is None or figure.get("value") is None:
        return "-"
    if figure.get("low") is None:
        return _fmt(figure["value"])
    return f"{figure['value']:.3f} [{figure['low']:.3f}, {figure['high']:.3f}]"


def _attack_rows(runs: list[Run]) -> tuple[list[str], list[list[str]]]:
    """Each run's attacks at its selected epoch, all / clean / noisy, and the confidence attack
    with test samples as non-members (the shift between splits that the holdout avoids)."""
    header = ["run", "epoch", "attack", "samples", "members", "non-members", "AUROC [95%]",
              "TPR at 1% FPR [95%]"]  # fmt: skip
    rows = []
    for r in runs:
        selected = r.metrics["membership"]["selected"]
        names = [a for a in selected if a not in ("epoch", "test_as_nonmembers")]
        found = [(a, s, selected[a][s]) for a in names for s in ("all", "clean", "noisy")]
        test = selected.get("test_as_nonmembers")
        found += [("confidence (test as non-members)", "all", test["confidence"])] if test else []
        rows += [
            [r.name, str(selected["epoch"]), attack, subset, str(f["n_members"]),
             str(f["n_nonmembers"]), _interval(f["auroc"]), _interval(f["tpr_at_1pct_fpr"])]
            for attack, subset, f in found if f is not None
        ]  # fmt: skip
    return header, rows


def _cell_rows(cells: list[Cell]) -> tuple[list[str], list[list[str]]]:
    header = ["cell", "models", "samples", "memorization clean", "memorization noisy",
              "LiRA AUROC [95%]", "LiRA TPR at 1% FPR", "loss AUROC [95%]",
              "loss TPR at 1% FPR", "pairs in / out", "LiRA's logit"]  # fmt: skip
    rows = []
    for c in cells:
        f = c.figures
        mem = f["memorization"]
        rows.append(
            [c.name, str(f["models"]), str(f["samples"]),
             f"{_fmt(mem['clean']['mean'])} (n {mem['clean']['n']})",
             f"{_fmt(mem['noisy']['mean'])} (n {mem['noisy']['n']})",
             _interval(f["lira"]["auroc"]), _interval(f["lira"]["tpr_at_1pct_fpr"]),
             _interval(f["loss_attack"]["auroc"]), _interval(f["loss_attack"]["tpr_at_1pct_fpr"]),
             f"{f['lira']['n_members']} / {f['lira']['n_nonmembers']}",
             f["lira_logit"]]
        )  # fmt: skip
    return header, rows


def _proxy_rows(cells: list[Cell]) -> tuple[list[str], list[list[str]]]:
    header = ["cell", "signal", "Spearman rho", "95% interval", "n"]
    rows = []
    for c in cells:
        for name, rho in c.figures["proxies"].items():
            interval = "-" if rho["low"] is None else f"[{rho['low']:.3f}, {rho['high']:.3f}]"
            rows.append([c.name, name, _fmt(rho["value"]), interval, str(rho["n"])])
    return header, rows


def _label(row: dict[str, Any], prefix: str) -> str:
    """A label from labels.parquet's columns of `prefix` (given_ or true_): each task names
    its own, so they are shown by name; token lists as their text."""
    parts = []
    for key, value in row.items():
        if key.startswith(prefix):
            if isinstance(value, bool):
                value = str(value).lower()
            elif value and isinstance(value, list) and all(isinstance(v, str) for v in value):
                value = " ".join(value)
            parts.append(f"{key.removeprefix(prefix)} {value}")
    return ", ".join(parts)


def _token(text: str) -> str:
    """A source token on one line, a long one (a docstring) cut short: a table cell."""
    text = " ".join(text.split())
    return text if len(text) <= CODE_TOKEN_CHARS else text[: CODE_TOKEN_CHARS - 1] + "…"


def _source(dataset: str, ids: list[str]) -> dict[str, str]:
    """The first CODE_TOKENS source tokens of each sample, from the dataset."""
    from benchmark import datasets  # builds or reads the dataset cache: only where it is shown

    rows = (
        datasets.load(dataset).samples.filter(pl.col("id").is_in(ids))
        .select("id", "source_tokens").collect()
    )  # fmt: skip
    return {
        i: " ".join(map(_token, t[:CODE_TOKENS])) + (" …" if len(t) > CODE_TOKENS else "")
        for i, t in zip(rows["id"].to_list(), rows["source_tokens"].to_list(), strict=True)
    }


def _memorized_rows(cell: Cell) -> tuple[list[str], list[list[str]], str | None]:
    """The TOP_MEMORIZED most memorized samples of a cell with their labels and code, and a
    line saying why the code is missing when the dataset cannot be read here."""
    top = cell.table.drop_nulls("memorization").sort("memorization", descending=True)
    top = top.head(TOP_MEMORIZED)
    ids = top["sample_id"].to_list()
    try:
        labels = pl.read_parquet(cell.folders[0] / "labels.parquet").filter(
            pl.col("sample_id").is_in(ids)
        )
    except READ_ERRORS as e:
        raise ValueError(f"{cell.folders[0]}: labels.parquet cannot be read "
                         f"({first_line(e)})") from None  # fmt: skip
    label_of = {r["sample_id"]: r for r in labels.to_dicts()}
    dataset = cell.metrics["dataset"]
    try:
        code, note = _source(dataset, ids), None
    except Exception as e:  # the report is still worth having without the code
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        code, note = {}, f"code not shown: dataset {dataset} could not be loaded ({reason})"
    header = ["#", "sample", "noisy", "memorization", "p_given in", "p_given out",
              "given label", "true label", "code"]  # fmt: skip
    rows = [
        [str(i), r["sample_id"], str(r["noisy"]).lower(), _fmt(r["memorization"]),
         _fmt(r["score_in"]), _fmt(r["score_out"]),
         _label(label_of.get(r["sample_id"], {}), "given_"),
         _label(label_of.get(r["sample_id"], {}), "true_"),
         code.get(r["sample_id"], "-")]
        for i, r in enumerate(top.to_dicts(), 1)
    ]  # fmt: skip
    return header, rows, note


# A piece of the page, written as Markdown and as HTML: ("h", level, text), ("p", text),
# ("table", header, rows) or ("figure", Figure_).
Block = tuple[Any, ...]


def _membership(runs: list[Run], units: list[Run], out: Path) -> list[Block]:
    """The Membership section: single-run attacks, then the subset cells; empty where there
    is neither a holdout split nor a subset unit."""
    held = [r for r in runs if _has_holdout(r)]
    blocks: list[Block] = []
    if held:
        blocks += [
            ("h", 3, "Single-run attacks"),
            ("p", "Members: each run's training samples; non-members: its holdout samples "
                  "(training-pool samples it predicts but never trains on). Figures at the "
                  "selected epoch with 95% bootstrap intervals; ROC curves at the last epoch."),
            ("table", *_attack_rows(held)),
        ]  # fmt: skip
        for r in _detailed(runs):
            if _has_holdout(r):
                with _reading(r.folder):
                    blocks.append(("figure", fig_membership_roc(r, out)))
        without = [r.name for r in runs if not _has_holdout(r)]
        blocks += [("p", f"No holdout split: {', '.join(without)}.")] if without else []
    cells, notes = _cells(units)
    if cells or notes:
        blocks += [
            ("h", 3, "Counterfactual memorization (subset units)"),
            ("p", "Each cell's subset models trained on seeded halves of the same pool: a "
                  "sample's memorization is its mean p_given when trained on minus when held "
                  "out; LiRA takes each model in turn as the target and the others as its "
                  "shadow models, beside the loss attack on the same (model, sample) pairs."),
        ]  # fmt: skip
        blocks += [("p", note) for note in notes]
    if cells:
        blocks += [("table", *_cell_rows(cells)),
                   ("h", 4, "Proxies: Spearman correlation with counterfactual memorization"),
                   ("table", *_proxy_rows(cells))]  # fmt: skip
        for c in _detailed(cells):
            header, rows, note = _memorized_rows(c)
            blocks += [
                ("h", 4, c.name),
                ("figure", fig_memorization(c, out)),
                ("figure", fig_lira_roc(c, out)),
                ("p", f"Most memorized samples (the first {CODE_TOKENS} source tokens):"),
                *([("p", note)] if note else []),
                ("table", header, rows),
            ]
    return [("h", 2, "Membership"), *blocks] if blocks else []


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")  # a code token such as `|` must not split the cell

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _md(blocks: list[Block]) -> list[str]:
    lines: list[str] = []
    for kind, *rest in blocks:
        if kind == "h":
            lines += ["#" * rest[0] + " " + rest[1], ""]
        elif kind == "p":
            lines += [rest[0], ""]
        elif kind == "table":
            lines += [_md_table(*rest), ""]
        else:
            f = rest[0]
            lines += [f"![{f.caption}](figures/{f.stem}.png)", "", f"*{f.caption}*", ""]
    return lines


def _html(blocks: list[Block]) -> list[str]:
    parts = []
    for kind, *rest in blocks:
        if kind == "h":
            parts.append(f"<h{rest[0]}>{html.escape(rest[1])}</h{rest[0]}>")
        elif kind == "p":
            parts.append(f"<p>{html.escape(rest[0])}</p>")
        elif kind == "table":
            parts.append(_html_table(*rest))
        else:
            f = rest[0]
            data = base64.b64encode(f.png).decode("ascii")
            parts.append(
                f'<figure id="{html.escape(f.stem)}"><img alt="{html.escape(f.caption)}" '
                f'src="data:image/png;base64,{data}"><figcaption>{html.escape(f.caption)}'
                "</figcaption></figure>"
            )
    return parts


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
    returns the two files' paths. `out` defaults to `path/report`. Subset units appear in the
    Membership section only. The report is made in a folder beside `out` and moved in once
    whole, so one that fails on a damaged unit leaves `out` (and the last report) as it was."""
    loaded = load_runs(path)
    out = out if out is not None else path / "report"
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file, not a folder for the report")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        _write(path, loaded, staging)
        out.mkdir(exist_ok=True)
        for name in ("figures", "robustness.json", "report.md", "report.html"):  # pages last
            made = staging / name
            if made.is_dir():
                (out / name).mkdir(exist_ok=True)
                for f in sorted(made.iterdir()):
                    f.replace(out / name / f.name)
            elif made.exists():
                made.replace(out / name)
        write_seal(out, [r.folder for r in loaded])  # what the site may publish of it
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out / "report.html", out / "report.md"


def _experiment(members: list[Run], summary: list[dict[str, Any]], out: Path,
                tag: str = "") -> list[Block]:  # fmt: skip
    """The sections of one experiment's runs and subset units, ``summary`` the robustness of
    its runs; ``tag`` tells its figures from another experiment's."""
    runs = [r for r in members if r.metrics.get("subset") is None]
    units = [r for r in members if r.metrics.get("subset") is not None]
    blocks: list[Block] = []
    if runs:
        figures = [fig_curves(runs, out, tag)]
        for chosen in _detailed(runs):
            read = _readable(chosen, runs)
            if read is None:
                continue
            run, samples = read
            with _reading(run.folder):
                figures += [
                    fig_losses(run, out),
                    fig_cartography(run, samples, out),
                    fig_roc(run, samples, out),
                ]
                scores = fig_predicted_scores(run, out)
            figures += [scores] if scores else []
        figures.append(fig_robustness(summary, out, tag))
        blocks += [("h", 2, "Runs"), ("table", *_run_rows(runs)),
                   ("h", 2, "Robustness"), ("table", *_robustness_rows(summary)),
                   ("h", 2, "Figures"), *(("figure", f) for f in figures)]  # fmt: skip
    return blocks + _membership(runs, units, out)


def _readable(chosen: Run, runs: list[Run]) -> tuple[Run, pl.DataFrame] | None:
    """``chosen``'s per-sample signals, or another seed's of its model and rate where its rows
    do not read (damage past the footer shows only then): a warning line each, and None where
    no seed's do. A report of that one run fails instead."""
    key = (chosen.metrics["model"], chosen.rate)
    others = [r for r in runs if (r.metrics["model"], r.rate) == key and r is not chosen]
    for run in [chosen, *others]:
        try:
            with _reading(run.folder):
                samples = _samples(run)
            if samples.is_empty():  # every run trains: the table was cut or replaced
                raise ValueError(f"{run.folder}: samples.parquet has no training rows")
            return run, samples
        except ValueError as e:
            if len(runs) == 1:
                raise
            console.err.print(f"warning: {e}; its figures left out", highlight=False,
                              soft_wrap=True)  # fmt: skip
    return None


def _deeper(blocks: list[Block]) -> list[Block]:
    """The blocks with every heading one level down, under an experiment's own heading."""
    return [("h", b[1] + 1, *b[2:]) if b[0] == "h" else b for b in blocks]


def _write(path: Path, loaded: list[Run], out: Path) -> None:
    """The report of the runs ``loaded`` from ``path``, written into ``out``: one section per
    experiment (task, dataset, noise kind) where they are of several, since scores of other
    tasks or test sets cannot share a curve."""
    runs = [r for r in loaded if r.metrics.get("subset") is None]
    units = [r for r in loaded if r.metrics.get("subset") is not None]
    summary = robustness([r.folder for r in runs]) if runs else []
    if runs:
        (out / "robustness.json").write_text(json.dumps({"robustness": summary}, indent=2))
    experiments: dict[tuple[str, str, str], list[Run]] = {}
    for r in loaded:
        experiments.setdefault(r.experiment, []).append(r)
    if len(experiments) == 1:
        blocks = _experiment(loaded, summary, out)
    else:
        blocks = []
        for i, (key, members) in enumerate(sorted(experiments.items())):
            mine = [g for g in summary if (g["task"], g["dataset"], g["noise_kind"]) == key]
            section = _experiment([replace(r, tagged=True) for r in members], mine, out,
                                  f"-{i + 1}")  # fmt: skip
            blocks += [("h", 2, f"{key[0]} on {key[1]}, {key[2]} noise"), *_deeper(section)]
        runs = [replace(r, tagged=True) for r in runs]  # for the title below

    where = path.name or path
    if units:
        what = f"{len(runs)} runs and " if runs else ""
        what += f"{len(units)} subset units under {where}"
    else:
        what = runs[0].name if len(runs) == 1 else f"{len(runs)} runs under {where}"
    title = f"Memorization report: {what}"
    (out / "report.md").write_text("\n".join(_md([("h", 1, title), *blocks])))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        *_html([("h", 1, title), *blocks]),
        "</body></html>",
    ]
    (out / "report.html").write_text("\n".join(parts))
