"""Controlled noise on the training split: which samples, and how each task's labels change.

The set of noisy samples is a seeded mask of exactly round(rate * n) samples, n those the noise
kind can change (every training sample for label noise), so runs at the same rate and seed
corrupt the same samples, a higher rate's set holds a lower one's, and every metric can split
clean from noisy: a sample called noisy is one the noise changed.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from benchmark.tasks import TASKS, Derived
from benchmark.tasks.spec import kind_of

# Each task's noise kinds by name, "label" first: declared by its spec (benchmark.tasks).
NOISE_KINDS: Derived[tuple[str, ...]] = Derived(lambda spec: tuple(spec.noise_kinds))


def mask(n: int, rate: float, seed: int, eligible: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask over ``n`` samples with exactly ``round(rate * m)`` True entries, all of
    them ``eligible`` (m of the n; every sample without it). One seeded order of the samples
    decides, whatever the rate: the first m * rate eligible ones in it."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"noise rate must lie in [0, 1], got {rate}")
    order = np.random.default_rng([seed, 0x6E6F6973]).permutation(n)
    if eligible is not None:
        if eligible.shape != (n,):
            raise ValueError(f"the eligible mask has shape {eligible.shape}, not ({n},)")
        order = order[eligible[order]]
    out = np.zeros(n, dtype=bool)
    out[order[: round(rate * len(order))]] = True
    return out


def eligible(task: str, kind: str, train: pl.DataFrame) -> np.ndarray:
    """Which training samples noise kind `kind` of `task` can change: the ones its noisy mask
    is drawn among (`mask`)."""
    changes = kind_of(TASKS[task].noise_kinds, task, kind).changes
    if changes is None:
        return np.ones(train.height, dtype=bool)
    got = np.asarray(changes(train))  # a plugin's: checked, since the mask is drawn from it
    if got.dtype != bool or got.shape != (train.height,):
        raise ValueError(f"noise kind {kind} of {task} says which samples it can change with "
                         f"{got.dtype} of shape {got.shape}, not one bool per training sample "
                         f"({train.height})")  # fmt: skip
    return got


def version(task: str, kind: str) -> int | None:
    """The version of noise kind `kind` of `task`, None where either is not registered."""
    spec = TASKS.get(task)
    if spec is None or kind not in spec.noise_kinds:
        return None
    return kind_of(spec.noise_kinds, task, kind).version
