"""Time every run metric over a synthetic per-sample table.

    python tests/perf/metrics.py --rows N [--epochs E] [--scan] [--json]

Builds a var_misuse-shaped per-sample table of N rows (N / E samples, 80/10/10 train/valid/
test, half the training samples noisy, every column the scorer writes including the optional
`p_other` and `p_no_bug`), then times `benchmark.metrics.summary.summarize` on it: task metrics per
epoch and subset, memorization signals, detection with cleanlab. Prints `rows`, `seconds` (the
summary only, not building the table; cleanlab is imported before the timing) and
`peak_rss_mib` (the whole process's peak, table included); never fails on time. The target
(issue 6) is 10 million rows in 10 s on 2 cores under 4 GiB. With `--scan` the table is
written to a parquet file first (as the harness writes samples.parquet) and the summary reads
a scan of it, as the harness does; `summary_peak_mib` is then the resident memory the summary
added at its peak (sampled every 5 ms), which is what grows with a unit's rows.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
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


def _resident() -> float:
    """This process's resident memory now, in MiB (VmRSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class _Peak:
    """The highest resident memory seen while the block runs, sampled every 5 ms."""

    def __enter__(self) -> _Peak:
        self.mib, self._done = _resident(), threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._done.wait(0.005):
            self.mib = max(self.mib, _resident())

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.mib = max(self.mib, _resident())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="per-sample rows")
    parser.add_argument("--epochs", type=int, default=10, help="epochs the rows span")
    parser.add_argument("--scan", action="store_true", help="summarize a parquet file's scan")
    parser.add_argument("--write-to", type=Path, help=argparse.SUPPRESS)  # --scan's child
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.write_to:
        from benchmark.run import SAMPLES_ROW_GROUP  # here: the harness's imports are heavy

        table = synthetic_table(args.rows, args.epochs)
        table.write_parquet(args.write_to, row_group_size=SAMPLES_ROW_GROUP)
        return
    folder = tempfile.TemporaryDirectory()
    if args.scan:  # written by a child process, so this one never held the table
        path = Path(folder.name) / "samples.parquet"
        sizes = ["--rows", str(args.rows), "--epochs", str(args.epochs)]
        subprocess.run([sys.executable, __file__, *sizes, "--write-to", str(path)], check=True)
        table = pl.scan_parquet(path)
        rows = table.select(pl.len()).collect().item()
    else:
        table = synthetic_table(args.rows, args.epochs)
        rows = table.height
    # Imported here, outside the timing: importing cleanlab (pandas, ...) takes seconds once
    # per process and is not metric computation.
    import cleanlab.filter
    import cleanlab.rank  # noqa: F401

    before = resource.getrusage(resource.RUSAGE_SELF)  # its ru_maxrss: the table's share
    resident = _resident()
    with _Peak() as peak:
        t0 = time.perf_counter()
        summary = summarize(table, "var_misuse")
        seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    folder.cleanup()
    out = {
        "rows": rows,
        "scan": args.scan,
        "seconds": round(seconds, 3),
        "peak_rss_mib": round(after.ru_maxrss / 1024, 1),  # ru_maxrss is KiB on Linux
        # CPU seconds over all threads: with wall time, shows how much a busy machine slowed it
        "cpu_seconds": round(cpu, 3),
        "table_peak_rss_mib": round(before.ru_maxrss / 1024, 1),
        "summary_peak_mib": round(peak.mib - resident, 1),
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
