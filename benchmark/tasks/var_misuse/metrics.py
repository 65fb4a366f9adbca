"""var_misuse metrics, computed as GREAT (Hellendoorn et al., 2020) reports them.

Works on the per-sample table of `benchmark.tasks.var_misuse.scoring` for one label side
("given" or "true"). Each metric is a mean over the rows it concerns and is None when there
are no such rows, so an empty subset shows up as JSON null rather than NaN or 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

NAME = "var_misuse"
PRIMARY = "acc"
METRICS: tuple[str, ...] = ("no_bug_acc", "loc_acc", "repair_acc", "joint_acc", "acc")


def metric_exprs(side: str) -> list[pl.Expr]:
    """The metrics as aggregation expressions, so any group_by can compute them in one pass."""
    has_bug = pl.col(f"has_bug_{side}")
    loc_ok = pl.col(f"loc_ok_{side}")
    repair_ok = pl.col(f"repair_ok_{side}")
    return [
        (pl.col("pred_location") == 0).filter(~has_bug).cast(pl.Float64).mean().alias("no_bug_acc"),
        loc_ok.filter(has_bug).cast(pl.Float64).mean().alias("loc_acc"),
        repair_ok.filter(has_bug).cast(pl.Float64).mean().alias("repair_acc"),
        (loc_ok & repair_ok).filter(has_bug).cast(pl.Float64).mean().alias("joint_acc"),
        pl.col(f"correct_{side}").cast(pl.Float64).mean().alias("acc"),
    ]


def aggregate(
    table: pl.DataFrame | pl.LazyFrame, side: str, by: Sequence[str] = ("epoch", "split")
) -> pl.LazyFrame:
    """One row per group of `by` with a column per metric, against the labels of `side`.

    Returns a LazyFrame so that callers can collect several aggregations together.
    """
    if side not in ("given", "true"):
        raise ValueError(f"side must be 'given' or 'true', not {side!r}")
    return table.lazy().group_by(list(by)).agg(metric_exprs(side)).sort(list(by))


def compute(table: pl.DataFrame | pl.LazyFrame, side: str) -> dict[str, float | None]:
    """The metrics over all rows of `table` as one plain dict (all None for an empty table)."""
    row = table.lazy().select(metric_exprs(side)).collect().row(0, named=True)
    return {name: row[name] for name in METRICS}
