"""code_to_text metrics: smoothed BLEU-4 averaged over sentences (CodeXGLUE), exact match."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from benchmark.exact import exact_mean

NAME = "code_to_text"
PRIMARY = "bleu"
METRICS: tuple[str, ...] = ("bleu", "exact_match")


def aggregate(
    table: pl.DataFrame | pl.LazyFrame, side: str, by: Sequence[str] = ("epoch", "split")
) -> pl.LazyFrame:
    """Mean sentence BLEU (0..100) and exact-match share per group."""
    return (
        table.lazy()
        .group_by(list(by))
        .agg(
            exact_mean(pl.col(f"bleu_{side}")).alias("bleu"),
            pl.col(f"correct_{side}").cast(pl.Float64).mean().alias("exact_match"),
        )
        .sort(list(by))
    )
