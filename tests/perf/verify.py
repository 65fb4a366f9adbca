"""What reading a results folder costs: the leaderboard's verification of every unit, the first
time (every file hashed) and again (the hashes of unchanged files reused, benchmark.digests).

    python tests/perf/verify.py [--units 30] [--mib 256] [--json]

Makes UNITS sealed units (one model, seeds 0..UNITS-1) whose samples.parquet holds MIB MiB of
random bytes (verification reads files, not tables), waits until their files have settled
(``digests.SETTLED_NS``), then collects the leaderboard's rows (``standings.collect``, which
verifies each unit) three times: with an empty ``$BENCH_CACHE`` (cold: what every call cost
before the hashes were kept), and twice more (warm). Every unit must be counted each time.
The files stay in the page cache, so the cold figure is the hashing alone; on a cluster's
network file system reading them costs more. Prints seconds and the cold/warm ratio; never
fails on time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmark import digests
from benchmark.results import Unit
from benchmark.standings import collect
from tests.units import fake_unit, seal


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=30, help="Units to make (seeds).")
    parser.add_argument("--mib", type=float, default=256, help="MiB of each samples.parquet.")
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    args = parser.parse_args(argv)
    if args.units < 1 or args.mib <= 0:
        parser.error("--units and --mib must be positive")
    with tempfile.TemporaryDirectory(prefix="bench-perf-verify-") as tmp:
        root = Path(tmp) / "results"
        os.environ["BENCH_CACHE"] = str(Path(tmp) / "cache")
        size = int(args.mib * 2**20)
        for seed in range(args.units):
            unit = Unit("var_misuse", "python-stdlib", "m", "label", 0.0, seed)
            folder = fake_unit(root, unit, {"config": {}})
            (folder / "samples.parquet").write_bytes(os.urandom(size))
            seal(folder)
        time.sleep(digests.SETTLED_NS / 1e9 + 0.1)
        seconds = []
        for _ in range(3):
            t0 = time.perf_counter()
            found = collect([root])
            seconds.append(time.perf_counter() - t0)
            if len(found.runs) != args.units:
                print(f"error: {len(found.runs)} of {args.units} units counted: "
                      f"{found.warnings[:1]}", file=sys.stderr)  # fmt: skip
                return 1
    total_gb = args.units * size / 1e9
    figures = {
        "units": args.units, "mib_per_unit": args.mib, "gb": round(total_gb, 3),
        "cold_s": round(seconds[0], 3), "warm_s": [round(s, 3) for s in seconds[1:]],
        "cold_gb_per_s": round(total_gb / seconds[0], 2),
        "cold_over_warm": round(seconds[0] / min(seconds[1:]), 1),
    }  # fmt: skip
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"{args.units} units of {args.mib:g} MiB ({total_gb:.2f} GB): cold "
              f"{seconds[0]:.2f} s ({figures['cold_gb_per_s']} GB/s), warm "
              f"{min(seconds[1:]):.3f} s: {figures['cold_over_warm']}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
