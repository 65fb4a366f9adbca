"""Exact sums and means of float columns, for polars aggregations.

polars adds the partial sums of its threads in whichever order they finish, so one table can
give means that differ in the last bit from one run to the next (code_search's valid MRR for
the same predictions came out as 0.08203673414609064 and ...065), and a seed's metrics.json
would not be the same bytes twice. These add with ``math.fsum``: exactly, so in any order.
Means of 0/1 columns need none of this, since their sums are whole numbers.
"""

from __future__ import annotations

import math

import polars as pl


def _values(s: pl.Series) -> list[float]:
    return s.drop_nulls().cast(pl.Float64).to_list()


def _sum(s: pl.Series) -> pl.Series:
    return pl.Series([math.fsum(_values(s))], dtype=pl.Float64)


def _mean(s: pl.Series) -> pl.Series:
    values = _values(s)
    return pl.Series([math.fsum(values) / len(values) if values else None], dtype=pl.Float64)


def exact_sum(expr: pl.Expr) -> pl.Expr:
    """The sum of ``expr``'s non-null values as float64, per group in a group_by."""
    return expr.map_batches(_sum, returns_scalar=True, return_dtype=pl.Float64)


def exact_mean(expr: pl.Expr) -> pl.Expr:
    """The mean of ``expr``'s non-null values as float64 (null if none), per group in a
    group_by, as polars' ``mean`` gives it but to the last bit the same every time."""
    return expr.map_batches(_mean, returns_scalar=True, return_dtype=pl.Float64)
