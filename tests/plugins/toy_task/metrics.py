"""toy_parity's one metric: accuracy of the predicted parity (higher is better)."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

PRIMARY = "acc"
METRICS: tuple[str, ...] = ("acc",)


def aggregate(
    table: pl.DataFrame | pl.LazyFrame, side: str, by: Sequence[str] = ("epoch", "split")
) -> pl.LazyFrame:
    """The share of rows whose prediction matches the labels of `side`, per group of `by`."""
    return (
        table.lazy()
        .group_by(list(by))
        .agg(pl.col(f"correct_{side}").cast(pl.Float64).mean().alias("acc"))
        .sort(list(by))
    )
