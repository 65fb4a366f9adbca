"""Controlled noise on the training split: which samples, and how each task's labels change.

The set of noisy samples is a seeded mask of exactly round(rate * n) samples, so runs at the
same rate and seed corrupt the same samples, and every metric can split clean from noisy.
"""

from __future__ import annotations

import numpy as np

from benchmark.tasks import Derived

# Each task's noise kinds by name, "label" first: declared by its spec (benchmark.tasks).
NOISE_KINDS: Derived[tuple[str, ...]] = Derived(lambda spec: tuple(spec.noise_kinds))


def mask(n: int, rate: float, seed: int) -> np.ndarray:
    """Boolean mask over ``n`` samples with exactly ``round(rate * n)`` True entries."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"noise rate must lie in [0, 1], got {rate}")
    k = round(rate * n)
    out = np.zeros(n, dtype=bool)
    out[np.random.default_rng([seed, 0x6E6F6973]).permutation(n)[:k]] = True
    return out
