"""The holdout split (protocol 3): training-pool samples a model predicts but never trains on.

Membership inference asks how much better a model knows the samples it trained on than samples
of the same distribution it did not see. The valid and test splits are not such samples: they
come from other files, and every one that duplicates an earlier split, exactly or nearly, was
removed, so that they differ from the training pool by construction (docs/metrics.md measures
by how much). The holdout is drawn at random from the training pool itself, after the noise, so
that its samples are noisy at the same rate and in the same way: clean and noisy members each
have non-members of their own kind. The draw is stratified by the noise mask and seeded by the
run's seed, so the training split keeps its noise rate and a rerun draws the same samples.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from benchmark.protocol import HOLDOUT

HOLDOUT_SEED = 20213  # beside the run's seed: the holdout draw is its own stream


def carve(
    splits: dict[str, pl.DataFrame],
    labels: pl.DataFrame,
    share: float,
    seed: int,
    draw: int | None = None,
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """Move round(share x n) of the clean and of the noisy training samples (each) into the
    holdout split, in the prepared splits and in the labels frame. ``draw`` numbers the draws
    of one seed (a subset sweep's subsets): the same noise, other samples held out."""
    train = labels.filter(pl.col("split") == "train").select("sample_id", "noisy")
    rng = np.random.default_rng([HOLDOUT_SEED, seed] + ([] if draw is None else [draw]))
    chosen: list[str] = []
    for flag in (False, True):
        ids = np.sort(train.filter(pl.col("noisy") == flag)["sample_id"].to_numpy())
        k = round(share * len(ids))
        chosen += rng.choice(ids, size=k, replace=False).tolist() if k else []
    held = pl.col("id").is_in(chosen)
    out = {**splits, "train": splits["train"].filter(~held), HOLDOUT: splits["train"].filter(held)}
    moved = (pl.col("split") == "train") & pl.col("sample_id").is_in(chosen)
    split = pl.when(moved).then(pl.lit(HOLDOUT)).otherwise(pl.col("split")).alias("split")
    return out, labels.with_columns(split)
