"""What scoring predictions costs: time and the memory it takes above its inputs.

    python tests/perf/scoring.py [--task var_misuse] [--samples 100000] [--epochs 10]
                                 [--candidates 12] [--json]

Builds the harness's labels for SAMPLES training samples and a model's predictions for EPOCHS
epochs, then runs the task's scorer (``benchmark.tasks.TASKS[task].score``) once. var_misuse:
each sample has CANDIDATES repair candidates, two of them targets, and every row a repair
distribution over them, as its protocol has it; method_name: names of one to three of ten
sub-tokens, predicted as the label of another sample. Prints the rows, the seconds, the size of the
per-sample table it returns and the peak resident memory above what the process held before
(sampled every 5 ms): at the paper profile the table has a row per sample and epoch, and the
harness scores it in one process. Never fails on time or memory.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmark.tasks import TASKS


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def var_misuse_inputs(
    samples: int, epochs: int, candidates: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(0)
    ids = [f"sample-{i:08d}" for i in range(samples)]
    cands = list(range(1, candidates + 1))
    labels = pl.DataFrame({
        "sample_id": ids, "split": ["train"] * samples, "noisy": rng.random(samples) < 0.25,
        **{f"{side}_{what}": values for side in ("given", "true") for what, values in (
            ("has_bug", [True] * samples), ("location", [3] * samples),
            ("targets", [[2, 5]] * samples))},
        "candidates": [cands] * samples,
    })  # fmt: skip
    probs = rng.dirichlet(np.ones(candidates), size=samples).tolist()
    frames = []
    for epoch in range(1, epochs + 1):
        order = rng.permutation(samples)  # a model writes its samples in any order
        frames.append(pl.DataFrame({
            "epoch": [epoch] * samples, "sample_id": [ids[i] for i in order],
            "split": ["train"] * samples, "location": rng.integers(0, 8, samples),
            "repair": rng.integers(1, candidates + 1, samples),
            "location_score": rng.random(samples), "repair_score": rng.random(samples),
            "repair_probs": [probs[i] for i in order], "loss": rng.random(samples),
            "p_given": rng.random(samples),
        }))  # fmt: skip
    return labels, pl.concat(frames)


def method_name_inputs(samples: int, epochs: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(0)
    words = ["get", "set", "value", "name", "to", "string", "is", "empty", "add", "all"]
    ids = [f"sample-{i:08d}" for i in range(samples)]
    names = [[words[j] for j in rng.integers(0, 10, rng.integers(1, 4))] for _ in ids]
    labels = pl.DataFrame({"sample_id": ids, "split": ["train"] * samples,
                           "noisy": rng.random(samples) < 0.25, "given_label": names,
                           "true_label": names})  # fmt: skip
    frames = []
    for epoch in range(1, epochs + 1):
        order = rng.permutation(samples)
        frames.append(pl.DataFrame({
            "epoch": [epoch] * samples, "sample_id": [ids[i] for i in order],
            "split": ["train"] * samples, "loss": rng.random(samples),
            "p_given": rng.random(samples), "subtokens": [names[(i + 1) % samples] for i in order],
            "score": rng.random(samples),
        }))  # fmt: skip
    return labels, pl.concat(frames)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("var_misuse", "method_name"), default="var_misuse",
                        help="The task whose scorer runs.")
    parser.add_argument("--samples", type=int, default=100_000, help="Training samples.")
    parser.add_argument("--epochs", type=int, default=10, help="Epochs of predictions.")
    parser.add_argument("--candidates", type=int, default=12, help="Repair candidates a sample.")
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    args = parser.parse_args(argv)
    if min(args.samples, args.epochs) < 1 or args.candidates < 5:
        parser.error("--samples and --epochs must be positive, --candidates at least 5")
    if args.task == "var_misuse":
        labels, predictions = var_misuse_inputs(args.samples, args.epochs, args.candidates)
    else:
        labels, predictions = method_name_inputs(args.samples, args.epochs)
    before = peak = rss_mib()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mib())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    table = TASKS[args.task].score(labels, predictions)
    seconds = time.perf_counter() - t0
    done.set()
    sampler.join()
    peak = max(peak, rss_mib())
    figures = {
        "task": args.task, "rows": table.height, "seconds": round(seconds, 3),
        "table_mib": round(table.estimated_size() / 2**20, 1),
        "inputs_mib": round(predictions.estimated_size() / 2**20, 1),
        "peak_above_inputs_mib": round(peak - before, 1),
    }  # fmt: skip
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"{figures['rows']:,} rows in {seconds:.2f} s: a table of {figures['table_mib']} "
              f"MiB, {figures['peak_above_inputs_mib']} MiB at the peak above the inputs "
              f"({figures['inputs_mib']} MiB of predictions)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
