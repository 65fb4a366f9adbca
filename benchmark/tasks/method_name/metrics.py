"""method_name metrics: sub-token precision, recall, F1 (micro, as code2seq) and exact match."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

NAME = "method_name"
PRIMARY = "f1"
METRICS: tuple[str, ...] = ("precision", "recall", "f1", "exact_match")


def aggregate(
    table: pl.DataFrame | pl.LazyFrame, side: str, by: Sequence[str] = ("epoch", "split")
) -> pl.LazyFrame:
    """Sums of tp/fp/fn per group, then P/R/F1 from the sums, as code2seq reports them."""
    tp, fp, fn = (pl.col(f"{k}_{side}").sum().cast(pl.Float64) for k in ("tp", "fp", "fn"))
    sums = table.lazy().group_by(list(by)).agg(
        tp.alias("_tp"), fp.alias("_fp"), fn.alias("_fn"),
        pl.col(f"correct_{side}").cast(pl.Float64).mean().alias("exact_match"),
    )  # fmt: skip
    p = pl.when(pl.col("_tp") + pl.col("_fp") > 0).then(
        pl.col("_tp") / (pl.col("_tp") + pl.col("_fp"))).otherwise(0.0)  # fmt: skip
    r = pl.when(pl.col("_tp") + pl.col("_fn") > 0).then(
        pl.col("_tp") / (pl.col("_tp") + pl.col("_fn"))).otherwise(0.0)  # fmt: skip
    return (
        sums.with_columns(p.alias("precision"), r.alias("recall"))
        .with_columns(
            pl.when(pl.col("precision") + pl.col("recall") > 0)
            .then(
                2
                * pl.col("precision")
                * pl.col("recall")
                / (pl.col("precision") + pl.col("recall"))
            )
            .otherwise(0.0)
            .alias("f1")
        )
        .select(*by, *METRICS)
        .sort(list(by))
    )
