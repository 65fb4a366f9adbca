"""Time membership inference and counterfactual memorization on random data.

    python tests/perf/membership.py [--models K] [--samples N] [--resamples R] [--json]

K models (16) on seeded random halves of N samples (10,000) with random confidences: times
`counterfactual` and `lira` over the [K, N] grid, `lira_figures` over all K N pairs (160,000)
with R bootstrap resamples (1,000), `attack_figures` on N members against N non-members and
`spearman` of N pairs, both with R resamples. Prints seconds for each (wall time, best of
`--repeat`); never fails on time. The target is seconds each, not minutes, on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmark.metrics import membership


def _best(repeat: int, call: Callable[[], Any]) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = call()
        best = min(best, time.perf_counter() - t)
    return round(best, 3), out


def measure(models: int, samples: int, resamples: int, repeat: int) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    inclusion = rng.random((models, samples)) < 0.5
    confidence = rng.random((models, samples))
    members, nonmembers = rng.normal(0.1, 1.0, samples), rng.normal(0.0, 1.0, samples)
    x = rng.normal(size=samples)
    y = x + rng.normal(size=samples)
    seconds: dict[str, float] = {}
    seconds["counterfactual"], _ = _best(
        repeat, lambda: membership.counterfactual(inclusion, confidence)
    )
    seconds["lira"], scores = _best(repeat, lambda: membership.lira(inclusion, confidence))
    seconds["lira_figures"], figures = _best(
        repeat, lambda: membership.lira_figures(inclusion, scores, resamples=resamples)
    )
    seconds["attack_figures"], _ = _best(
        repeat, lambda: membership.attack_figures(members, nonmembers, resamples=resamples)
    )
    seconds["spearman"], _ = _best(repeat, lambda: membership.spearman(x, y, resamples=resamples))
    return {
        "models": models,
        "samples": samples,
        "pairs": figures["n_members"] + figures["n_nonmembers"],
        "resamples": resamples,
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=16, help="models K")
    parser.add_argument("--samples", type=int, default=10_000, help="samples N")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--repeat", type=int, default=1, help="time each call this many times")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    out = measure(args.models, args.samples, args.resamples, args.repeat)
    if args.json:
        print(json.dumps(out))
        return
    print(
        f"{out['models']} models x {out['samples']:,} samples ({out['pairs']:,} finite LiRA "
        f"pairs), {out['resamples']:,} resamples:"
    )
    for name, value in out["seconds"].items():
        print(f"  {name:<15} {value:8.3f} s")


if __name__ == "__main__":
    main()
