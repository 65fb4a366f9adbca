"""Profiles: how big a run is. smoke for tests, cpu for laptops, paper for GPUs.

The harness owns data sizes, epochs and the time budget; each model owns its own
hyperparameters per profile (task.json names the profile), so they live beside the model.
``select_splits`` takes a profile's share of a dataset (run and verify both use it).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from benchmark.protocol import SPLITS

SUBSAMPLE_SEED = 20211  # fixed: every run of a profile sees the same samples


@dataclass(frozen=True)
class Profile:
    name: str
    epochs: int
    max_tokens: int  # functions longer than this are left out
    split_sizes: dict[str, int | None]  # samples per split, None = all
    time_budget_s: int  # wall time a unit may take before it is stopped
    # share of the training pool held out for membership inference (benchmark.holdout), from
    # models that speak protocol 3
    holdout_share: float = 0.1


PROFILES = {
    "smoke": Profile(
        "smoke",
        epochs=2,
        max_tokens=96,
        split_sizes={"train": 160, "valid": 40, "test": 40},
        time_budget_s=300,
    ),
    "cpu": Profile(
        "cpu",
        epochs=8,
        max_tokens=256,
        split_sizes={"train": None, "valid": None, "test": None},
        time_budget_s=1800,
    ),
    "paper": Profile(
        "paper",
        epochs=40,
        max_tokens=256,
        split_sizes={"train": None, "valid": None, "test": None},
        time_budget_s=48 * 3600,
    ),
}


def select_splits(
    samples: pl.DataFrame | pl.LazyFrame, profile: Profile
) -> dict[str, pl.DataFrame]:
    """The profile's share of each split: short enough functions, a fixed subsample.

    Lazy samples (a dataset's shards) are read once for the ids, then only for the rows
    kept. The ids are sorted before the seeded draw, so the pick depends on the samples, not
    on the order the shards hold them in.
    """
    out = {}
    for split in SPLITS:
        rows = samples.lazy().filter(
            (pl.col("split") == split) & (pl.col("source_tokens").list.len() <= profile.max_tokens)
        )
        size = profile.split_sizes[split]
        if size is not None:
            ids = rows.select("id").collect()["id"].sort()
            if ids.len() > size:
                keep = ids.sample(size, seed=SUBSAMPLE_SEED)
                rows = rows.filter(pl.col("id").is_in(keep.implode()))
        out[split] = rows.collect().sort("id")
    return out
