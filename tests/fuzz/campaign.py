"""Fuzz every reader of outside input with N hypothesis inputs each and report what escaped.

    python tests/fuzz/campaign.py [--inputs 10000] [--targets great,code2seq,...] [--seed S]
                                  [--json]

A target passes an input when the reader succeeds or stops with the suite's one-line input
error (``FormatError``; ``tests/fuzz/targets.py``). Each input is run to the end, failing or not
(no shrinking), so that the figures count every failing input: per target it prints the inputs
run, the failures, the seconds, and the first distinct failures. Exit status 1 when any failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402

from tests.fuzz.results_targets import TARGETS as RESULTS  # noqa: E402
from tests.fuzz.targets import TARGETS as READERS  # noqa: E402
from tests.fuzz.targets import outcome  # noqa: E402

TARGETS = {**READERS, **RESULTS}  # the dataset readers, then what models and users write

SHOWN = 5  # distinct failures shown per target


def campaign(name: str, inputs: int, at: int) -> dict:
    """Run one target on ``inputs`` inputs; its figures and first distinct failures."""
    strategy, run = TARGETS[name]
    ran, failures = 0, []

    @seed(at)
    @settings(max_examples=inputs, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(strategy)
    def go(data: object) -> None:
        nonlocal ran
        ran += 1
        failure = outcome(lambda: run(data))
        if failure:
            failures.append(failure)

    started = time.perf_counter()
    go()
    distinct = list(dict.fromkeys(f.split(": ", 1)[0] for f in failures))
    return {
        "target": name, "inputs": ran, "failures": len(failures),
        "seconds": round(time.perf_counter() - started, 1),
        "first_failures": [next(f for f in failures if f.startswith(d)) for d in distinct][:SHOWN],
    }  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=10_000, help="inputs per target")
    ap.add_argument("--targets", default=",".join(TARGETS), help="comma-separated targets")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    unknown = [n for n in args.targets.split(",") if n not in TARGETS]
    if unknown:
        ap.error(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    rows = []
    for name in args.targets.split(","):
        row = campaign(name, args.inputs, args.seed)
        rows.append(row)
        line = (f"{name:15} {row['inputs']:7} inputs {row['failures']:6} failures "
                f"{row['seconds']:8.1f} s")  # fmt: skip
        print(line, file=sys.stderr if args.json else sys.stdout, flush=True)  # progress
        if not args.json:
            for f in row["first_failures"]:
                print(f"    {f}")
    if args.json:
        print(json.dumps(rows, indent=2))
    return 1 if any(r["failures"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
