"""Exact float sums and means in polars aggregations: the same table gives the same bits in
any run, which polars' own parallel ``mean`` does not promise (benchmark/exact.py)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from benchmark.exact import exact_mean, exact_sum
from benchmark.tasks.code_search.metrics import aggregate


def table(n: int = 6000) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    values = rng.random(n) * 10.0 ** rng.integers(-8, 8, n)  # sums that rounding reorders
    return pl.DataFrame({
        "epoch": rng.integers(1, 5, n), "split": rng.choice(["valid", "test"], n),
        "rr": np.where(rng.random(n) < 0.05, np.nan, values), "pair_acc_true": rng.random(n),
    }).with_columns(pl.col("rr").fill_nan(None))  # fmt: skip


def test_exact_mean_is_fsum_over_the_non_null_values_of_each_group() -> None:
    t = table()
    got = t.group_by("epoch", "split").agg(
        exact_mean(pl.col("rr")).alias("mean"), exact_sum(pl.col("rr")).alias("sum"),
        exact_mean(pl.col("rr").filter(pl.col("rr") > 1e9)).alias("none"),
    )  # fmt: skip
    for row in got.iter_rows(named=True):
        group = t.filter((pl.col("epoch") == row["epoch"]) & (pl.col("split") == row["split"]))
        values = group["rr"].drop_nulls().to_list()
        assert row["sum"] == math.fsum(values)
        assert row["mean"] == math.fsum(values) / len(values)
        assert row["none"] is None or row["none"] == math.fsum(
            [v for v in values if v > 1e9]) / len([v for v in values if v > 1e9])  # fmt: skip


def test_a_task_aggregate_gives_the_same_bits_every_time_and_in_any_row_order() -> None:
    t = table()
    once = aggregate(t, "true").collect()
    shuffled = t.sample(fraction=1.0, shuffle=True, seed=3)
    chunked = pl.concat([shuffled.slice(0, 1234), shuffled.slice(1234)], rechunk=False)
    for _ in range(20):
        assert aggregate(t, "true").collect().equals(once)
    assert aggregate(chunked, "true").collect().equals(once)
    # and what polars' mean gives, to within rounding
    plain = t.group_by("epoch", "split").agg(pl.col("rr").mean()).sort("epoch", "split")
    assert np.allclose(plain["rr"].to_numpy(), once["mrr"].to_numpy(), rtol=1e-12, atol=0)
