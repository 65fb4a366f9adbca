"""Time every run metric over a synthetic per-sample table.

    python tests/perf/metrics.py --rows N [--epochs E] [--json]

Builds a var_misuse-shaped per-sample table of N rows (N / E samples, 80/10/10 train/valid/
test, half the training samples noisy, every column the scorer writes including the optional
`p_other` and `p_no_bug`), then times `benchmark.metrics.summary.summarize` on it: task metrics per
epoch and subset, memorization signals, detection with cleanlab. Prints `rows`, `seconds` (the
summary only, not building the table; cleanlab is imported before the timing) and
`peak_rss_mib` (the whole process's peak, table included); never fails on time. The target
(issue 6) is 10 million rows in 10 s on 2 cores under 4 GiB.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmark.metrics.summary import summarize


def synthetic_table(rows: int, epochs: int, seed: int = 0) -> pl.DataFrame:
    """A per-sample table of `rows` rows in the scorer's layout, sorted by epoch and sample."""
    rng = np.random.default_rng(seed)
    n = max(rows // epochs, 10)
    split = np.where(
        np.arange(n) % 10 < 8, "train", np.where(np.arange(n) % 10 == 8, "valid", "test")
    )
    noisy = (split == "train") & (rng.random(n) < 0.5)
    base = pl.DataFrame(
        {
            "sample_id": pl.int_range(0, n, eager=True).cast(pl.String),
            "split": split,
            "noisy": noisy,
            "has_bug_true": rng.random(n) < 0.5,
        }
    ).with_columns(has_bug_given=pl.col("has_bug_true") ^ pl.col("noisy"))
    total = n * epochs
    skill = np.repeat(np.linspace(0.3, 0.9, epochs), n)
    p_given = np.clip(rng.beta(2, 2, total) * skill * 1.2, 0.0, 1.0)
    correct = rng.random(total) < skill
    frame = pl.concat([base] * epochs).with_columns(
        epoch=pl.Series(np.repeat(np.arange(1, epochs + 1), n)),
        pred_location=pl.Series(rng.integers(0, 20, total)),
        location_score=pl.Series(rng.random(total)),
        repair_score=pl.Series(rng.random(total)),
        loss=pl.Series(-np.log(np.maximum(p_given, 1e-6))),
        p_given=pl.Series(p_given),
        p_other=pl.Series((1.0 - p_given) * rng.random(total)),
        p_no_bug=pl.Series(rng.random(total)),
        correct_given=pl.Series(correct),
        correct_true=pl.Series(correct ^ np.tile(noisy, epochs)),
        loc_ok_given=pl.Series(correct),
        loc_ok_true=pl.Series(correct),
        repair_ok_given=pl.Series(correct),
        repair_ok_true=pl.Series(correct),
    )
    held_out = pl.col("split") != "train"
    return frame.with_columns(
        pl.when(held_out).then(None).otherwise(pl.col(c)).alias(c)
        for c in ("loss", "p_given", "p_other", "p_no_bug")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="per-sample rows")
    parser.add_argument("--epochs", type=int, default=10, help="epochs the rows span")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    table = synthetic_table(args.rows, args.epochs)
    # Imported here, outside the timing: importing cleanlab (pandas, ...) takes seconds once
    # per process and is not metric computation.
    import cleanlab.filter
    import cleanlab.rank  # noqa: F401

    before = resource.getrusage(resource.RUSAGE_SELF)  # its ru_maxrss: the table's share
    t0 = time.perf_counter()
    summary = summarize(table, "var_misuse")
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = {
        "rows": table.height,
        "seconds": round(seconds, 3),
        "peak_rss_mib": round(after.ru_maxrss / 1024, 1),  # ru_maxrss is KiB on Linux
        # CPU seconds over all threads: with wall time, shows how much a busy machine slowed it
        "cpu_seconds": round(cpu, 3),
        "table_peak_rss_mib": round(before.ru_maxrss / 1024, 1),
    }
    if args.json:
        print(json.dumps(out))
    else:
        print(
            f"{out['rows']:,} rows: all run metrics in {out['seconds']} s, "
            f"peak RSS {out['peak_rss_mib']} MiB (selected epoch {summary['selected_epoch']})"
        )


if __name__ == "__main__":
    main()
