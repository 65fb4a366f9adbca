"""Task-independent memorization signals of one run, from the per-sample table.

Everything here needs only the columns every task's scorer writes (`sample_id`, `split`,
`epoch`, `noisy`, `loss`, `p_given`, `correct_given`) plus two optional ones from protocol 1's
extension (docs/protocol.md): `p_other`, the highest probability of a label other than the given
one, and `p_no_bug` (or any task's two-class view, see `CLASS_VIEW`). A model that leaves them
out gets documented fallbacks, so every run carries every metric.

Definitions (train samples only; epochs are the model's, 1-based):
- margin = p_given - p_other; without `p_other` it is 2 p_given - 1 (p_other taken as its
  largest possible value, 1 - p_given).
- Gini coefficient of the training loss over the samples of one epoch (Rabin et al. 2023,
  "Memorization and generalization in neural code intelligence models"): 0 when every sample
  has the same loss, near 1 when a few samples carry it all.
- mean p_given: the mean probability the model gives the labels it was trained on (all, clean
  and noisy samples). Not the study's "average predicted score", which is the mean score of
  the model's own top prediction on evaluation samples (`benchmark.metrics.summary`).
- output critical sample ratio: share of samples with |margin| < `CSR_MARGIN`. Arpit et al.
  2017 ("A closer look at memorization in deep networks", section 3.3) count samples with an
  adversarial example within a small input radius; the protocol gives no input gradients, so
  this is the output-space analogue: samples the model holds within a small margin of its
  decision boundary.
- forgetting events (Toneva et al. 2019): epochs at which a sample goes from correct to wrong
  against its given label; samples never learned rank above all others as detectors.
- area under the margin (Pleiss et al. 2020): the sample's margin averaged over the epochs.
- cartography (Swayamdipta et al. 2020): confidence = mean p_given, variability = its standard
  deviation over epochs (population), correctness = share of epochs predicted right.
- cleanlab (Northcutt et al. 2021): `cleanlab.rank.get_label_quality_scores` and
  `cleanlab.filter.find_label_issues` on the epoch-averaged two-class probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import polars as pl

from benchmark.exact import exact_mean, exact_sum
from benchmark.metrics import epochs

CSR_MARGIN = 0.1
HALF = 0.5
# Optional two-class view for confident learning: the class of the given label and the model's
# probability of class 1. var_misuse's is bug / no bug, from `has_bug_given` and `p_no_bug`.
CLASS_VIEW: tuple[str, str] = ("has_bug_given", "p_no_bug")
SIGNALS: tuple[str, ...] = ("loss", "aum", "forgetting", "cartography", "cleanlab")


def _plain(value: Any) -> float | None:
    """A JSON-safe float: None for missing, NaN or infinite values."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def p_given_expr(columns: Sequence[str]) -> pl.Expr:
    """The probability of the given label; exp(-loss) where a task's table has no `p_given`
    (exact for a cross-entropy loss on the whole label)."""
    fallback = (-pl.col("loss").cast(pl.Float64)).exp()
    if "p_given" not in columns:
        return fallback.alias("p_given")
    return pl.col("p_given").cast(pl.Float64).fill_null(fallback).alias("p_given")


def margin_expr(columns: Sequence[str]) -> pl.Expr:
    """p_given - p_other, with p_other's fallback 1 - p_given where a model omits it."""
    p_given = pl.col("p_given")
    other = 1.0 - p_given
    if "p_other" in columns:
        other = pl.col("p_other").cast(pl.Float64).fill_null(other)
    return (p_given - other).alias("margin")


def train_query(lf: pl.LazyFrame) -> pl.LazyFrame:
    """The training rows with only the columns the signals need, `p_given` (with its fallback)
    and `margin` derived."""
    columns = lf.collect_schema().names()
    label, prob = CLASS_VIEW
    view = [label, prob] if label in columns and prob in columns else []
    return (
        lf.filter(pl.col("split") == "train")
        .with_columns(p_given_expr(columns))
        .with_columns(margin_expr(columns))
        .select(
            "epoch",
            "sample_id",
            "noisy",
            pl.col("loss").cast(pl.Float64),
            "p_given",
            "margin",
            "correct_given",
            *view,
        )
    )


def per_epoch_frame(train: pl.DataFrame) -> pl.DataFrame:
    """One row per epoch of `train` (rows of `train_query`): Gini of the training loss, AUROC
    of the loss at finding the noisy samples, mean p_given (all, clean and noisy samples),
    output critical sample ratio, and mean loss of clean and noisy samples.

    Gini and AUROC share one average rank of the finite losses per epoch: Gini is
    2 sum(rank * loss) / (n sum(loss)) - (n + 1) / n (tied losses give the same sum under any
    ranking of the ties), and AUROC is the Mann-Whitney statistic, which equals the
    trapezoidal area under the ROC curve. Gini is computed as the same quotient put over one
    denominator, sum((2 rank - n - 1) * loss) / (n sum(loss)): the weights are whole or half
    numbers, so equal losses cancel exactly and the figure is 0, not the -2.2e-16 that
    subtracting (n + 1) / n left, which the checks then refused as outside [0, 1].
    `signals` passes a slice of epochs at a time: the exact sums hold their groups' values as
    Python floats.
    """
    loss = pl.col("loss")
    rank = pl.col("__rank")
    n = rank.count().cast(pl.Float64)
    gini = (exact_sum((2.0 * rank - n - 1.0) * loss)
            / (n * exact_sum(loss.filter(rank.is_not_null()))))  # fmt: skip
    noisy = pl.col("noisy")
    positives = rank.filter(noisy).count().cast(pl.Float64)
    negatives = n - positives
    mann_whitney = (rank.filter(noisy).sum() - positives * (positives + 1) / 2) / (
        positives * negatives
    )
    p = pl.col("p_given")
    finite = pl.when(loss.is_finite()).then(loss)
    return (
        train.lazy()
        .with_columns(finite.rank("average").over("epoch").alias("__rank"))
        .group_by("epoch")
        .agg(
            gini_train_loss=gini,
            noise_detection_auroc=pl.when((positives > 0) & (negatives > 0)).then(mann_whitney),
            mean_p_given=exact_mean(p),
            mean_p_given_clean=exact_mean(p.filter(~noisy)),
            mean_p_given_noisy=exact_mean(p.filter(noisy)),
            output_critical_sample_ratio=(pl.col("margin").abs() < CSR_MARGIN)
            .cast(pl.Float64)
            .mean(),
            train_loss_clean=exact_mean(loss.filter(~noisy)),
            train_loss_noisy=exact_mean(loss.filter(noisy)),
        )
        .sort("epoch")
        .collect()
    )


class _Sums:
    """Each training sample's running sums over the epochs, added an epoch at a time.

    Takes the scorers' layout: every epoch lists the same samples in the same order (`fits`).
    Sums are added in the order numpy reduces an epochs x samples grid along its first axis,
    so the means and spreads are the bits np.nanmean and np.nanstd give on the whole grid
    (for two samples or more; one sample's column numpy sums pairwise), while only a slice of
    epochs is read at a time.
    """

    MEANS = ("loss", "margin", "p_given")

    def __init__(self, first: pl.DataFrame, view: Sequence[str]) -> None:
        n = first.height
        self.view = list(view)
        self.first = first.select("sample_id", "noisy", *self.view[:1])
        self.unique = first["sample_id"].n_unique() == n
        columns = [*self.MEANS, *self.view[1:]]
        self.sums = {c: np.zeros(n) for c in columns}
        self.counts = {c: np.zeros(n, dtype=np.intp) for c in columns}
        self.right = np.zeros(n, dtype=np.int64)
        self.forgot = np.zeros(n, dtype=np.int64)
        self.learned = np.zeros(n, dtype=bool)
        self.previous: np.ndarray | None = None
        self.squares = np.zeros(n)
        self.epochs = 0

    def fits(self, rows: pl.DataFrame) -> bool:
        """Whether an epoch's rows are the first epoch's samples, each once, in its order."""
        ids = self.first["sample_id"]
        return self.unique and rows.height == ids.len() and rows["sample_id"].equals(ids)

    def add(self, rows: pl.DataFrame) -> None:
        for column, total in self.sums.items():
            values = rows[column].cast(pl.Float64).to_numpy()
            seen = ~np.isnan(values)
            total += np.where(seen, values, 0.0)
            self.counts[column] += seen
        correct = rows["correct_given"].fill_null(False).to_numpy()
        self.right += correct
        self.learned |= correct
        if self.previous is not None:  # forgotten: right at the epoch before, wrong at this
            self.forgot += self.previous & ~correct
        self.previous = correct
        self.epochs += 1

    def mean(self, column: str) -> np.ndarray:
        with np.errstate(all="ignore"):  # a sample with no value: NaN, written as null
            return self.sums[column] / self.counts[column]

    def add_spread(self, p_given: pl.Series) -> None:
        """Second pass, after every epoch's `add`: p_given's squared deviations from its mean,
        as np.nanvar sums them."""
        values = p_given.cast(pl.Float64).to_numpy()
        deviation = np.where(np.isnan(values), 0.0, values - self.mean("p_given"))
        self.squares += deviation * deviation

    def frame(self) -> pl.DataFrame:
        with np.errstate(all="ignore"):
            out = {
                "sample_id": self.first["sample_id"],
                "noisy": self.first["noisy"],
                "loss": self.mean("loss"),
                "aum": self.mean("margin"),
                "confidence": self.mean("p_given"),
                "variability": np.sqrt(self.squares / self.counts["p_given"]),
                "correctness": self.right / self.epochs,
                "forgetting": self.forgot,
                "learned": self.learned,
            }
            if self.view:
                out["class_given"] = self.first[self.view[0]].cast(pl.Int64)
                out["p_class0"] = self.mean(self.view[1])
        return pl.DataFrame(out).fill_nan(None)


def _grouped(train: pl.DataFrame) -> pl.DataFrame:
    """`sample_signals` of training rows in any order, by grouping on the sample id."""
    view = [c for c in CLASS_VIEW if c in train.columns]
    correct = pl.col("correct_given").sort_by("epoch")
    aggs = [
        pl.col("noisy").first(),
        exact_mean(pl.col("loss")).alias("loss"),
        exact_mean(pl.col("margin")).alias("aum"),
        exact_mean(pl.col("p_given")).alias("confidence"),
        pl.col("p_given").std(ddof=0).alias("variability"),
        pl.col("correct_given").cast(pl.Float64).mean().alias("correctness"),
        (correct.shift(1) & ~correct).sum().cast(pl.Int64).alias("forgetting"),
        pl.col("correct_given").any().alias("learned"),
    ]
    if view:
        aggs += [
            pl.col(view[0]).first().cast(pl.Int64).alias("class_given"),
            pl.col(view[1]).cast(pl.Float64).mean().alias("p_class0"),
        ]
    return train.group_by("sample_id", maintain_order=True).agg(aggs)


class Signals(NamedTuple):
    """`per_epoch` has one row per epoch (`per_epoch_frame`; empty where not asked for),
    `samples` one per training sample with its signals over all epochs (see the module doc)."""

    per_epoch: pl.DataFrame
    samples: pl.DataFrame


def _by_epoch(rows: pl.DataFrame) -> list[pl.DataFrame]:
    """A slice's rows of each epoch, in ascending epoch order."""
    parts = rows.partition_by("epoch", as_dict=True, maintain_order=True)
    return [parts[key] for key in sorted(parts)]


def signals(
    table: pl.DataFrame | pl.LazyFrame,
    slices: list[list[int]] | None = None,
    per_epoch: bool = True,
) -> Signals:
    """Both kinds of signals of a per-sample table's training rows, read a slice of epochs at
    a time (`benchmark.metrics.epochs`; its own slices where none are given).

    The harness's table lists every epoch's samples in the same order; its samples' signals
    are running sums (`_Sums`), so the summary holds one slice's rows, never the training rows
    of every epoch. A table in any other order (a plugin's, shuffled) is collected whole and
    grouped by sample id instead.
    """
    slices = epochs.slices(table) if slices is None else slices
    empty = train_query(table.lazy().head(0)).collect()
    view = [c for c in CLASS_VIEW if c in empty.columns]
    parts = [per_epoch_frame(empty)]
    sums: _Sums | None = None
    in_order = bool(slices)
    for part in epochs.read(table, slices):
        rows = train_query(part).collect()
        if per_epoch:
            parts.append(per_epoch_frame(rows))
        for one in _by_epoch(rows) if in_order else ():
            sums = sums or _Sums(one, view)
            in_order = sums.fits(one)
            if not in_order:
                break
            sums.add(one)
    frames = pl.concat(parts).sort("epoch")
    if not in_order or sums is None:
        return Signals(frames, _grouped(train_query(table.lazy()).collect()))
    for part in epochs.read(table, slices):  # p_given again, as np.nanstd reads it twice
        for one in _by_epoch(train_query(part).select("epoch", "p_given").collect()):
            sums.add_spread(one["p_given"])
    return Signals(frames, sums.frame())


def sample_signals(table: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """One row per training sample with its signals over all epochs (see the module doc)."""
    return signals(table, per_epoch=False).samples


def preload() -> None:
    """Import cleanlab, and scikit-learn and SciPy with it (about a second), before
    ``summarize`` needs them: ``bench run`` calls this in a thread while its model trains, so
    the import is done by the time the scores are in. Whatever fails here (a missing library)
    fails again, with its own error, where it is used."""
    try:
        import cleanlab.filter
        import cleanlab.rank  # noqa: F401
    except Exception:
        pass


def _cleanlab(samples: pl.DataFrame) -> tuple[np.ndarray, dict[str, Any]]:
    """Noise score (higher = more likely mislabelled) from cleanlab and what its confident
    learning flags, on the two-class view (class 0 has probability `p_class0`). Without that
    view (or with one class only) confident learning has no classes to compare, so cleanlab is
    not called: the score is the mean p_given, what cleanlab's default (self-confidence) would
    give, `view` says "self-confidence" and nothing is flagged."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    n = samples.height
    usable = (
        "class_given" in samples.columns
        and samples["p_class0"].null_count() == 0
        and samples["class_given"].n_unique() == 2
    )
    if usable:
        labels = samples["class_given"].to_numpy().astype(np.int64)
        p0 = np.clip(samples["p_class0"].to_numpy(), 0.0, 1.0)
        probs = np.column_stack([p0, 1.0 - p0])
        quality = get_label_quality_scores(labels, probs)
        flagged = find_label_issues(labels, probs, n_jobs=1)
        view = "two-class"
    else:
        confidence = np.clip(samples["confidence"].to_numpy(), 0.0, 1.0)
        quality = confidence  # self-confidence, cleanlab's default score, on a one-class view
        flagged = np.zeros(n, dtype=bool)
        view = "self-confidence"
    noisy = samples["noisy"].to_numpy()
    hits = int((flagged & noisy).sum())
    extra = {
        "view": view,
        "flagged": int(flagged.sum()),
        "precision": _plain(hits / flagged.sum()) if flagged.any() else None,
        "recall": _plain(hits / noisy.sum()) if noisy.any() else None,
    }
    return 1.0 - np.asarray(quality, dtype=np.float64), extra


def detection_scores(samples: pl.DataFrame) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Per signal, one score per sample of `sample_query`, higher meaning more likely noisy:
    high loss, low AUM, many forgetting events (never learned counts as the most), low
    cartography confidence, low cleanlab label quality; and what cleanlab flagged."""
    forgetting = samples["forgetting"].to_numpy().astype(np.float64)
    never = ~samples["learned"].to_numpy()
    top = forgetting.max(initial=0.0) + 1.0
    cleanlab_score, cleanlab_extra = _cleanlab(samples)
    scores = {
        "loss": samples["loss"].to_numpy().astype(np.float64),
        "aum": -samples["aum"].to_numpy().astype(np.float64),
        "forgetting": np.where(never, top, forgetting),
        "cartography": -samples["confidence"].to_numpy().astype(np.float64),
        "cleanlab": cleanlab_score,
    }
    return scores, cleanlab_extra


def auroc_auprc(noisy: np.ndarray, score: np.ndarray) -> dict[str, float | None]:
    """AUROC and AUPRC (average precision) of `score` at finding the noisy samples; None where
    undefined (no noisy or no clean sample left after dropping non-finite scores)."""
    y = np.asarray(noisy, dtype=bool)
    s = np.asarray(score, dtype=np.float64)
    keep = np.isfinite(s)
    y, s = y[keep], s[keep]
    if y.all() or not y.any():
        return {"auroc": None, "auprc": None}
    # sklearn's roc_auc_score and average_precision_score, computed from one sort: sklearn
    # spends most of its time on input checks, 10x this at a million samples. Both are
    # checked against sklearn in tests/test_memorization.py.
    order = np.argsort(-s, kind="stable")
    ranked, hits = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(ranked)), ranked.size - 1]  # end of each tied run
    tps = np.cumsum(hits, dtype=np.float64)[last]
    fps = (last + 1) - tps
    tpr, fpr = np.r_[0.0, tps / tps[-1]], np.r_[0.0, fps / fps[-1]]
    auroc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2.0)
    auprc = float(np.sum(np.diff(tpr) * (tps / (tps + fps))))
    # 12 digits drop the float noise of the sums (0.9999999999999999 for a perfect split).
    return {"auroc": _plain(round(auroc, 12)), "auprc": _plain(round(auprc, 12))}


def _split_means(samples: pl.DataFrame, column: str) -> dict[str, float | None]:
    noisy = pl.col("noisy")
    col = pl.col(column).cast(pl.Float64)
    row = samples.select(
        mean=exact_mean(col), clean=exact_mean(col.filter(~noisy)),
        noisy=exact_mean(col.filter(noisy)),
    ).row(0, named=True)
    return {k: _plain(v) for k, v in row.items()}


def half_epoch(rates: Sequence[tuple[int, float | None]]) -> int | None:
    """First epoch at which at least half of the noisy samples are predicted as their given
    (noisy) label; None when that never happens or there are no noisy samples."""
    for epoch, rate in rates:
        if rate is not None and rate >= HALF:
            return int(epoch)
    return None


def run_metrics(
    per_epoch: pl.DataFrame, samples: pl.DataFrame, selected: int
) -> tuple[dict[str, Any], dict[int, dict[str, float | None]]]:
    """The run-level entries of metrics.json, and each epoch's extra per-epoch entries.

    `per_epoch` and `samples` come from `per_epoch_frame` and `sample_signals`.
    Epoch-wise metrics are reported at the selected epoch, like `memorization_rate`.
    """
    by_epoch = {
        int(row["epoch"]): {k: _plain(v) for k, v in row.items() if k != "epoch"}
        for row in per_epoch.iter_rows(named=True)
    }
    for values in by_epoch.values():  # same 12 digits as auroc_auprc
        if values.get("noise_detection_auroc") is not None:
            values["noise_detection_auroc"] = round(values["noise_detection_auroc"], 12)
    at = by_epoch.get(selected, {})
    noisy = samples["noisy"].to_numpy()
    scores, cleanlab_extra = detection_scores(samples)
    detection = {name: auroc_auprc(noisy, scores[name]) for name in SIGNALS}
    detection["cleanlab"] |= cleanlab_extra
    forgetting = _split_means(samples, "forgetting")
    cartography = {name: _split_means(samples, name)
                   for name in ("confidence", "variability", "correctness")}  # fmt: skip
    if len(by_epoch) < 2:  # a sample is forgotten between two epochs, and varies over several
        forgetting = dict.fromkeys(forgetting)
        cartography["variability"] = dict.fromkeys(cartography["variability"])
        detection["forgetting"] = {"auroc": None, "auprc": None}
    forgetting["never_learned"] = _plain(1.0 - samples["learned"].cast(pl.Float64).mean())
    out = {
        "gini_train_loss": at.get("gini_train_loss"),
        "mean_p_given": at.get("mean_p_given"),
        "output_critical_sample_ratio": at.get("output_critical_sample_ratio"),
        "forgetting_events": forgetting,
        "aum": _split_means(samples, "aum"),
        "cartography": cartography,
        "detection": detection,
    }
    return out, by_epoch
