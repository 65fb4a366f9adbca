"""Task-independent summary of one training run: which epoch counts, and how much it memorized.

Works on the per-sample table of any task whose scorer provides `sample_id`, `split`, `epoch`,
`noisy`, `loss`, `correct_given` and `correct_true`; the task's own metrics come from its
`TaskMetrics` module. The epoch is selected on validation data only, the same way for every
model, and memorization is measured on the noisy training samples, whose given labels the model
can only reproduce by memorizing them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from benchmark import metrics as task_metrics
from benchmark.exact import exact_mean
from benchmark.metrics import attacks, memorization
from benchmark.metrics import epochs as epochs_of
from benchmark.metrics.schema import SCHEMA_VERSION
from benchmark.tasks import TASKS

SUBSETS: tuple[str, ...] = (
    "train",
    "train_clean",
    "train_noisy",
    "train_noisy_true",
    "valid",
    "test",
)
SELECTION_SPLIT = "valid"
REQUIRED_COLUMNS: tuple[str, ...] = (
    "epoch",
    "sample_id",
    "split",
    "noisy",
    "loss",
    "correct_given",
    "correct_true",
)
_SUBSET = "__subset"
# The score of the model's own top prediction, per row; the scorers that can tell it write it.
TOP_SCORE = "top_score"

MetricDict = dict[str, float | None]


def _plain(value: Any) -> float | int | None:
    """A JSON-safe Python number: numpy scalars become float/int, NaN and infinities None."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    value = float(value)
    return value if math.isfinite(value) else None


def auroc(noisy: Sequence[bool] | np.ndarray, loss: Sequence[float] | np.ndarray) -> float | None:
    """AUROC of `loss` as a detector of noisy samples (noisy = positive class).

    High loss on the noisy samples means the model has not (yet) fitted their wrong labels, so
    this says how well the loss could find them. Samples whose loss is missing or not finite
    are left out; None when no noisy or no clean sample remains, where AUROC is undefined.
    """
    return memorization.auroc_auprc(np.asarray(noisy), np.asarray(loss, dtype=np.float64))["auroc"]


def _subset_frames(lf: pl.LazyFrame) -> list[tuple[pl.LazyFrame, str]]:
    """Rows of each subset tagged with its name, with the label side each is scored against.

    Train subsets use the given labels (what the model was trained to predict); valid and test
    use the true labels, which outside train equal the given ones; noisy train rows are also
    scored against their true labels to see whether the model still predicts the truth. Each
    is its own query, so that no frame holds the training rows twice.
    """
    split = pl.col("split")
    train = lf.filter(split == "train")
    tagged = pl.when(pl.col("noisy")).then(pl.lit("train_noisy")).otherwise(pl.lit("train_clean"))
    held_out = lf.filter(split.is_in(["valid", "test"])).with_columns(split.alias(_SUBSET))
    noisy_true = train.filter(pl.col("noisy")).with_columns(
        pl.lit("train_noisy_true").alias(_SUBSET)
    )
    return [
        (train.with_columns(pl.lit("train").alias(_SUBSET)), "given"),
        (train.with_columns(tagged.alias(_SUBSET)), "given"),
        (held_out, "true"),
        (noisy_true, "true"),
    ]


def _by_epoch_and_subset(
    frames: Sequence[pl.DataFrame], names: Sequence[str]
) -> dict[tuple[int, str], MetricDict]:
    out: dict[tuple[int, str], MetricDict] = {}
    for frame in frames:
        for row in frame.iter_rows(named=True):
            out[(int(row["epoch"]), row[_SUBSET])] = {n: _plain(row[n]) for n in names}
    return out


def _top_scores(lf: pl.LazyFrame, columns: Sequence[str]) -> pl.LazyFrame:
    """The study's average predicted score: per epoch and split, the mean score the model gives
    its own top prediction (Rabin et al. 2023 draw it on evaluation samples; the training split
    is kept too), summed exactly; null where a task's table has no such score."""
    score = pl.col(TOP_SCORE) if TOP_SCORE in columns else pl.lit(None)
    return lf.group_by("epoch", "split").agg(exact_mean(score.cast(pl.Float64)).alias("mean"))


def _predicted_scores(means: pl.DataFrame) -> dict[tuple[int, str], float | None]:
    return {(int(e), str(s)): m for e, s, m in means.iter_rows()}


def fit_metric(metrics: Mapping[str, Any]) -> str:
    """The metric in which a unit's training (against the given labels) and test scores are
    compared: the primary one, unless the task leaves it undefined on train (code_search's MRR
    ranks held-out queries; its training samples are pairs), then the first one both splits
    have at the last epoch."""
    primary = str(metrics.get("selection", {}).get("metric", "acc"))
    last = metrics["per_epoch"][-1]
    train, test = last.get("train") or {}, last.get("test") or {}
    if train.get(primary) is not None:
        return primary
    both = [m for m, v in train.items() if v is not None and test.get(m) is not None]
    return both[0] if both else primary


def select_epoch(
    found: Mapping[tuple[int, str], MetricDict],
    epochs: Sequence[int],
    primary: str,
    higher_is_better: bool = True,
) -> int:
    """Best validation score (the highest, or the lowest for a task whose primary metric is
    better lower); ties go to the earliest epoch, so a plateau does not reward training
    longer."""
    best: tuple[float, int] | None = None
    for epoch in epochs:
        value = found.get((epoch, SELECTION_SPLIT), {}).get(primary)
        if value is None:
            continue
        if best is None or (value > best[0] if higher_is_better else value < best[0]):
            best = (value, epoch)
    if best is None:
        raise ValueError(f"no epoch has a validation {primary!r} to select on")
    return best[1]


def _queries(
    lf: pl.LazyFrame, spec: task_metrics.TaskMetrics, columns: Sequence[str]
) -> list[pl.LazyFrame]:
    """The summary's queries of a table: the task's metrics of each subset (`_subset_frames`),
    each epoch's training loss and memorization rate, and the top scores (`_top_scores`)."""
    is_train = pl.col("split") == "train"
    queries = [
        spec.aggregate(frame, side, by=("epoch", _SUBSET)) for frame, side in _subset_frames(lf)
    ]
    queries.append(
        lf.group_by("epoch")
        .agg(
            train_loss=exact_mean(pl.col("loss").filter(is_train)),
            memorization_rate=pl.col("correct_given")
            .filter(is_train & pl.col("noisy"))
            .cast(pl.Float64)
            .mean(),
        )
        .sort("epoch")
    )
    queries.append(_top_scores(lf, columns))
    return queries


def summarize(table: pl.DataFrame | pl.LazyFrame, task: str) -> dict[str, Any]:
    """Summarize a run's per-sample table into plain JSON-serializable Python.

    Keys: `selected_epoch`, `selection`, the subsets of `SUBSETS` at the selected epoch
    (metric name -> value), `memorization_rate` (selected epoch) and `memorization_rate_last`,
    `generalization_gap` (train minus test primary metric, selected epoch),
    `generalization_gap_last` (at the last epoch), `noise_detection_auroc` (of each train
    sample's mean loss over all epochs), `per_epoch`, and the memorization signals of
    `benchmark.metrics.memorization` (`memorization_half_epoch`, `gini_train_loss`,
    `mean_p_given`, `output_critical_sample_ratio`, `forgetting_events`, `aum`, `cartography`,
    `detection`), and the study's `avg_predicted_score` per split (docs/metrics.md).
    The table is read a slice of whole epochs at a time (`benchmark.metrics.epochs`), so what
    it holds is bounded by a slice's rows and the training samples, not by the table.
    Raises ValueError for an empty table, missing columns or when no epoch can be selected.
    """
    spec = task_metrics.get(task)
    names = spec.METRICS
    lf = table.lazy()
    columns = lf.collect_schema().names()
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ValueError(f"per-sample table lacks column(s): {', '.join(missing)}")

    slices = epochs_of.slices(table)
    if not slices:
        raise ValueError("per-sample table is empty: no epoch to summarize")
    # A slice of epochs at a time, and in it one query at a time: each holds its groups' rows
    # (the exact sums their values as Python floats), and side by side, or over every epoch,
    # they held more than the table itself.
    per_slice = [[q.collect() for q in _queries(part, spec, columns)]
                 for part in epochs_of.read(table, slices)]  # fmt: skip
    *subset_frames, per_epoch_train, top_scores = [
        pl.concat(frames, how="vertical_relaxed") for frames in zip(*per_slice, strict=True)
    ]
    mem_epochs, mem_samples = memorization.signals(table, slices)

    epochs = [int(e) for e in per_epoch_train["epoch"]]
    found = _by_epoch_and_subset(subset_frames, names)
    empty: MetricDict = dict.fromkeys(names)

    def subset_at(epoch: int, subset: str) -> MetricDict:
        return dict(found.get((epoch, subset), empty))

    epoch_rows = {int(r["epoch"]): r for r in per_epoch_train.iter_rows(named=True)}
    avg_scores: dict[int, dict[str, float | None]] = {
        e: dict.fromkeys(("train", "valid", "test")) for e in epochs
    }
    for (epoch, split), value in _predicted_scores(top_scores).items():
        if split in avg_scores[epoch]:  # not the holdout split's: membership has it
            avg_scores[epoch][split] = _plain(value)
    per_epoch: list[dict[str, Any]] = []
    for epoch in epochs:
        per_epoch.append(
            {
                "epoch": epoch,
                **{subset: subset_at(epoch, subset) for subset in SUBSETS},
                "avg_predicted_score": avg_scores[epoch],
                "memorization_rate": _plain(epoch_rows[epoch]["memorization_rate"]),
                "noise_detection_auroc": None,  # from the memorization signals below
                "train_loss": _plain(epoch_rows[epoch]["train_loss"]),
            }
        )

    selected = select_epoch(found, epochs, spec.PRIMARY, TASKS[task].higher_is_better)
    at_selected = {subset: subset_at(selected, subset) for subset in SUBSETS}
    train_primary = at_selected["train"][spec.PRIMARY]
    test_primary = at_selected["test"][spec.PRIMARY]
    gap = None if train_primary is None or test_primary is None else train_primary - test_primary
    last = per_epoch[-1]
    last_train, last_test = last["train"][spec.PRIMARY], last["test"][spec.PRIMARY]
    gap_last = None if last_train is None or last_test is None else last_train - last_test
    run_level, mem_by_epoch = memorization.run_metrics(mem_epochs, mem_samples, selected)
    for entry in per_epoch:
        entry.update(mem_by_epoch.get(entry["epoch"], {}))
    half = memorization.half_epoch([(e["epoch"], e["memorization_rate"]) for e in per_epoch])

    return {
        "schema": SCHEMA_VERSION,
        "selected_epoch": selected,
        "selection": {"split": SELECTION_SPLIT, "metric": spec.PRIMARY},
        **at_selected,
        "memorization_rate": _plain(epoch_rows[selected]["memorization_rate"]),
        "memorization_rate_last": _plain(epoch_rows[epochs[-1]]["memorization_rate"]),
        "generalization_gap": _plain(gap),
        "generalization_gap_last": _plain(gap_last),
        "memorization_half_epoch": half,
        "avg_predicted_score": avg_scores[selected],
        **run_level,
        "noise_detection_auroc": auroc(
            mem_samples["noisy"].to_numpy(), mem_samples["loss"].to_numpy()
        ),
        "membership": attacks.summarize(lf, task, selected, epochs[-1]),
        "per_epoch": per_epoch,
    }
