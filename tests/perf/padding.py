"""How much of a var-misuse training epoch is padding: the batches of similar length
(benchmark/models/batching.py) against consecutive runs of the shuffled order.

    python tests/perf/padding.py [--profile cpu|smoke|paper] [--model great] [--json]

On the whole training split of the offline python-stdlib dataset, as ``bench run`` selects it
for the profile, one epoch's batches are planned both ways with the model's ``batch_tokens``
and ``batch_size``: the consecutive runs hold at most ``batch_tokens`` real tokens, as this
suite's batches did before batching.py. For each it prints the batches, the real tokens a
batch holds on average, and two ratios over the real work: the tokens padded to each batch's
longest function (what the Transformer's, GREAT's and the BiRNN's layers compute on) and the
attention cells (longest squared, per function) over the sum of each function's length
squared. Planning time is printed too (host work per epoch). Trains nothing; never fails on
its figures.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmark import datasets
from benchmark.models import VAR_MISUSE
from benchmark.models.varmisuse import training_batches
from benchmark.profiles import PROFILES, select_splits


def consecutive_runs(sizes: np.ndarray, order: np.ndarray, budget: int, cap: int) -> list:
    """Runs of ``order`` with at most ``budget`` real tokens and ``cap`` functions each."""
    batches, current, used = [], [], 0
    for i in order.tolist():
        n = int(sizes[i])
        if current and (used + n > budget or len(current) == cap):
            batches.append(np.array(current))
            current, used = [], 0
        current.append(i)
        used += n
    batches.append(np.array(current))
    return batches


def figures(sizes: np.ndarray, batches: list, seconds: float) -> dict:
    longest = np.array([sizes[b].max() for b in batches], dtype=np.float64)
    count = np.array([len(b) for b in batches], dtype=np.float64)
    real = float(sizes.sum())
    return {
        "batches": len(batches),
        "tokens_per_batch": round(real / len(batches), 1),
        "padded_over_tokens": round(float((longest * count).sum()) / real, 3),
        "attention_over_needed": round(
            float((longest**2 * count).sum()) / float((sizes.astype(np.float64) ** 2).sum()), 3
        ),
        "planning_ms": round(seconds * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="paper", choices=sorted(PROFILES))
    parser.add_argument("--model", default="great", choices=sorted(VAR_MISUSE),
                        help="whose batch_tokens and batch_size")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    hp = importlib.import_module(f"benchmark.models.{args.model}").DEFAULTS[args.profile]
    split = select_splits(datasets.load("python-stdlib").samples, PROFILES[args.profile])["train"]
    sizes = np.array([len(tokens) for tokens in split["source_tokens"].to_list()])
    order = np.random.default_rng(0).permutation(len(sizes))
    rows = {}
    for name, plan in (
        ("consecutive", lambda: consecutive_runs(
            sizes, order, int(hp["batch_tokens"]), int(hp["batch_size"]))),
        ("similar_length", lambda: training_batches(sizes, order, hp)),
    ):  # fmt: skip
        started = time.perf_counter()
        batches = plan()
        rows[name] = figures(sizes, batches, time.perf_counter() - started)
    out = {"profile": args.profile, "model": args.model, "functions": len(sizes),
           "mean_tokens": round(float(sizes.mean()), 1), "batch_tokens": hp["batch_tokens"],
           "batch_size": hp["batch_size"], **rows}  # fmt: skip
    if args.json:
        print(json.dumps(out))
        return
    print(f"{args.model} at {args.profile}: {len(sizes):,} functions of {out['mean_tokens']} "
          f"tokens on average, batches of {hp['batch_tokens']:,} tokens and {hp['batch_size']} "
          "functions at most")  # fmt: skip
    for name, r in rows.items():
        print(f"  {name:15} {r['batches']:>6,} batches of {r['tokens_per_batch']:>9,.1f} tokens; "
              f"padded {r['padded_over_tokens']}x, attention {r['attention_over_needed']}x; "
              f"planned in {r['planning_ms']} ms")  # fmt: skip


if __name__ == "__main__":
    main()
