"""code_search metrics: MRR over the batch's candidates (CodeBERT) and pair accuracy.

Pair accuracy on training pairs is the share whose match verdict (score >= 0.5) agrees with
the label; on a held-out query it is the mean of two verdicts, the true pair judged a match
and one fixed distractor judged not. MRR exists for held-out queries only (None on train).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from benchmark.exact import exact_mean

NAME = "code_search"
PRIMARY = "mrr"
METRICS: tuple[str, ...] = ("mrr", "pair_acc")


def aggregate(
    table: pl.DataFrame | pl.LazyFrame, side: str, by: Sequence[str] = ("epoch", "split")
) -> pl.LazyFrame:
    """Mean reciprocal rank and mean pair accuracy per group."""
    return (
        table.lazy()
        .group_by(list(by))
        .agg(
            exact_mean(pl.col("rr")).alias("mrr"),
            exact_mean(pl.col(f"pair_acc_{side}")).alias("pair_acc"),
        )
        .sort(list(by))
    )
