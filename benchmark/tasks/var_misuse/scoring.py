"""Score var_misuse predictions against the harness's labels into the per-sample table.

The table has one row per (sample, epoch) and records, for both the given (possibly noisy)
labels and the true labels, whether each part of the prediction was right. Every metric is an
aggregation of this table, so the harness never has to look at the raw predictions again.

A repair is right as GREAT counts it (running/meta_model.py, `get_loss`): when the model's
repair distribution puts probability mass >= 0.5 on the label's repair targets, not when its
arg-max candidate is one of them. The mass against each label side is kept in the table.
"""

from __future__ import annotations

import polars as pl

SIDES: tuple[str, ...] = ("given", "true")
# Optional train-sample fields (protocol 1 extension): predictions without them get nulls, and
# the metrics that need them fall back (see benchmark/metrics/memorization.py).
OPTIONAL_PREDICTIONS = ("p_other", "p_no_bug")
# ... and the one every task's reader takes (benchmark.tasks.lines.logit_given).
OPTIONAL_COLUMNS = (*OPTIONAL_PREDICTIONS, "logit_given")

LABEL_SCHEMA: dict[str, pl.DataType] = {
    "sample_id": pl.String(),
    "split": pl.String(),
    "noisy": pl.Boolean(),
    **{
        name: dtype
        for side in SIDES
        for name, dtype in (
            (f"{side}_has_bug", pl.Boolean()),
            (f"{side}_location", pl.Int64()),
            (f"{side}_targets", pl.List(pl.Int64())),
        )
    },
    "candidates": pl.List(pl.Int64()),
}

PREDICTION_SCHEMA: dict[str, pl.DataType] = {
    "epoch": pl.Int64(),
    "sample_id": pl.String(),
    "split": pl.String(),
    "location": pl.Int64(),
    "repair": pl.Int64(),
    "location_score": pl.Float64(),
    "repair_score": pl.Float64(),
    "repair_probs": pl.List(pl.Float64()),
    "loss": pl.Float64(),
    "p_given": pl.Float64(),
    "logit_given": pl.Float64(),
    "p_other": pl.Float64(),
    "p_no_bug": pl.Float64(),
}

# Columns that decide correctness: a null in any of them would turn a row's verdict into null,
# which the means behind every metric would then skip without a word.
_REQUIRED_LABELS = list(LABEL_SCHEMA)
_REQUIRED_PREDICTIONS = ["epoch", "sample_id", "split", "location", "repair", "repair_probs"]
REPAIR_MASS = 0.5  # GREAT: "accuracy is computed as achieving >= 50% probability"
_RANK = "__sample_rank"

TABLE_COLUMNS: list[str] = [
    "sample_id",
    "split",
    "epoch",
    "noisy",
    "pred_location",
    "pred_repair",
    "location_score",
    "repair_score",
    "top_score",
    "repair_mass_given",
    "repair_mass_true",
    "loss",
    "p_given",
    "logit_given",
    "p_other",
    "p_no_bug",
    *[f"{what}_{side}" for side in SIDES for what in ("has_bug", "loc_ok", "repair_ok", "correct")],
]


def _conform(frame: pl.DataFrame, schema: dict[str, pl.DataType], what: str) -> pl.DataFrame:
    """Select and cast the expected columns, so that e.g. an all-null `p_given` read from JSON
    (dtype Null) or int32 positions do not change the table's schema."""
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lack column(s): {', '.join(missing)}")
    try:
        return frame.select(pl.col(c).cast(t) for c, t in schema.items())
    except pl.exceptions.PolarsError as exc:
        raise ValueError(f"{what} have a column of the wrong type: {exc}") from exc


def _check_no_nulls(frame: pl.DataFrame, columns: list[str], what: str) -> None:
    nulls = frame.select(pl.col(columns).null_count()).row(0, named=True)
    bad = [f"{c} ({n})" for c, n in nulls.items() if n]
    if bad:
        raise ValueError(f"{what} have null values in: {', '.join(bad)}")


def _check_labels(labels: pl.DataFrame) -> None:
    _check_no_nulls(labels, _REQUIRED_LABELS, "labels")
    if labels.height != labels["sample_id"].n_unique():
        dup = labels.filter(pl.col("sample_id").is_duplicated())["sample_id"][0]
        raise ValueError(f"labels repeat sample_id {dup!r}")


def _check_predictions(predictions: pl.DataFrame, labels: pl.DataFrame) -> None:
    """Make sure every epoch covers every labelled sample exactly once, so the join below is
    one-to-one per epoch and no sample can drop out of (or count twice in) a metric."""
    _check_no_nulls(predictions, _REQUIRED_PREDICTIONS, "predictions")
    unknown = predictions.join(labels.select("sample_id"), on="sample_id", how="anti")
    if unknown.height:
        row = unknown.row(0, named=True)
        raise ValueError(
            f"predictions hold {unknown.height} row(s) with an unknown sample_id, "
            f"e.g. {row['sample_id']!r} in epoch {row['epoch']}"
        )
    per_epoch = (
        predictions.group_by("epoch")
        .agg(rows=pl.len(), unique=pl.col("sample_id").n_unique())
        .sort("epoch")
    )
    n = labels.height
    for epoch, rows, unique in per_epoch.iter_rows():
        if unique != rows:
            dup = predictions.filter(
                (pl.col("epoch") == epoch) & pl.col("sample_id").is_duplicated()
            )["sample_id"][0]
            raise ValueError(f"epoch {epoch} predicts sample {dup!r} more than once")
        if unique != n:
            seen = predictions.filter(pl.col("epoch") == epoch).select("sample_id")
            gone = labels.join(seen, on="sample_id", how="anti")["sample_id"]
            raise ValueError(f"epoch {epoch} lacks {gone.len()} of {n} sample(s), e.g. {gone[0]!r}")


def _target_slots(labels: pl.DataFrame, side: str) -> pl.Series:
    """Per label row, the indices into its candidates that hold one of the side's targets, in
    order: where a repair distribution's mass on the targets is read off. (In polars, not a
    Python loop: the harness scores every epoch as it ends, with the labels each time.)"""
    targets = f"{side}_targets"
    found = (
        labels.select(
            pl.int_range(pl.len()).alias("row"),
            "candidates",
            pl.int_ranges(pl.col("candidates").list.len()).alias("slot"),
            targets,
        )
        .explode("candidates", "slot")
        .filter(pl.col(targets).list.contains(pl.col("candidates")))
        .group_by("row", maintain_order=True)
        .agg(pl.col("slot").cast(pl.Int64))
    )
    rows = pl.DataFrame({"row": pl.int_range(labels.height, eager=True)})
    slots = rows.join(found, on="row", how="left", maintain_order="left")["slot"]
    return slots.fill_null(pl.lit([], pl.List(pl.Int64))).alias(f"{side}_slots")


def _side_columns(side: str) -> list[pl.Expr]:
    has_bug = pl.col(f"{side}_has_bug")
    loc_ok = pl.col("pred_location") == pl.col(f"{side}_location")
    repair_ok = has_bug & (pl.col(f"repair_mass_{side}") >= REPAIR_MASS)
    correct = (~has_bug & (pl.col("pred_location") == 0)) | (has_bug & loc_ok & repair_ok)
    return [
        has_bug.alias(f"has_bug_{side}"),
        loc_ok.alias(f"loc_ok_{side}"),
        repair_ok.alias(f"repair_ok_{side}"),
        correct.alias(f"correct_{side}"),
    ]


def score(labels: pl.DataFrame, predictions: pl.DataFrame) -> pl.DataFrame:
    """Join predictions to labels and judge every (sample, epoch) row against both label sides.

    Raises ValueError when the two do not match one to one in every epoch (unknown, missing or
    repeated sample ids, a split that disagrees with the labels, null keys), because a silent
    mis-join would bias every metric computed from the table. Rows come out sorted by epoch
    and sample_id.
    """
    labels = _conform(labels, LABEL_SCHEMA, "labels")
    absent = [c for c in OPTIONAL_COLUMNS if c not in predictions.columns]
    predictions = predictions.with_columns(pl.lit(None, pl.Float64).alias(c) for c in absent)
    predictions = _conform(predictions, PREDICTION_SCHEMA, "predictions")
    _check_labels(labels)
    _check_predictions(predictions, labels)

    # Sorting on an integer rank of the sample id is much faster than on the strings. Each
    # label row goes into the join as what the verdicts read (its candidates as a count, its
    # targets as slots): the join repeats a label row once per epoch, and its lists made the
    # table's peak memory several times the table (1 GB for a million rows of 90 MB).
    ranked = labels.sort("sample_id").with_row_index(_RANK)
    ranked = ranked.with_columns(
        *(_target_slots(ranked, side) for side in SIDES),
        pl.col("candidates").list.len().alias("n_candidates"),
    ).drop("candidates", *(f"{side}_targets" for side in SIDES))
    joined = predictions.rename(
        {"location": "pred_location", "repair": "pred_repair", "split": "pred_split"}
    ).join(ranked, on="sample_id", how="inner", validate="m:1")
    misfit = joined.filter(pl.col("repair_probs").list.len() != pl.col("n_candidates"))
    if misfit.height:
        row = misfit.row(0, named=True)
        raise ValueError(
            f"{misfit.height} prediction(s) give repair_probs that do not match the candidates, "
            f"e.g. sample {row['sample_id']!r} in epoch {row['epoch']}"
        )
    wrong_split = joined.filter(pl.col("pred_split") != pl.col("split"))
    if wrong_split.height:
        row = wrong_split.row(0, named=True)
        raise ValueError(
            f"{wrong_split.height} prediction(s) name the wrong split, e.g. sample "
            f"{row['sample_id']!r} in epoch {row['epoch']}: {row['pred_split']!r}, "
            f"labels say {row['split']!r}"
        )
    # The probability of the model's own top prediction: the location's, times the repair's
    # where it predicts a bug (the study's "average predicted score" averages it).
    top_score = pl.col("location_score") * pl.when(pl.col("pred_location") == 0).then(
        1.0
    ).otherwise(pl.col("repair_score"))
    masses = [
        (pl.col("repair_probs").list.gather(pl.col(f"{side}_slots")).list.sum() + 0.0).alias(
            f"repair_mass_{side}"
        )
        for side in SIDES
    ]
    joined = joined.with_columns(*masses, top_score.alias("top_score")).drop(
        "repair_probs", *(f"{side}_slots" for side in SIDES)
    )  # before the sort, which copies every column it keeps
    return (
        joined.with_columns(*_side_columns("given"), *_side_columns("true"))
        .sort("epoch", _RANK)
        .select(TABLE_COLUMNS)
    )
