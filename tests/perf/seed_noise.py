"""Whether runs on one device score within the noise of seeds of runs on another.

    python tests/perf/seed_noise.py --a DIR_OR_FILE[,...] --b DIR_OR_FILE[,...] [--json]

Issue 24 asks that a CUDA run's metrics be within the noise of seeds of a CPU run's: CUDA adds
atomically and sums in another order, so the bytes differ, but what the model learns must not.
``--a`` and ``--b`` each name metrics.json files (or folders searched for them), one per seed,
as ``bench run`` writes them; each side needs two seeds at least. Per figure (the test metrics,
the memorization and generalization figures, the noise detection AUROC) it prints each side's
seeds, means and standard deviations, and the difference of the means against its 95% interval
under the seeds' own spread (Welch: 2 standard errors of the difference). A figure is within
seed noise when the interval holds 0. Exit 1 if a file does not read or the two sides ran
different tasks, models, profiles, datasets or noise; never on the figures themselves.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

FIGURES = ("test.acc", "test.joint_acc", "test.loc_acc", "test.repair_acc", "test.no_bug_acc",
           "memorization_rate", "generalization_gap", "noise_detection_auroc")  # fmt: skip
SAME = ("task", "model", "dataset", "profile", "noise")


def metrics_files(spec: str) -> list[Path]:
    """The metrics.json files a comma-separated list of files and folders names."""
    files: list[Path] = []
    for part in (p for p in spec.split(",") if p):
        path = Path(part)
        files += sorted(path.rglob("metrics.json")) if path.is_dir() else [path]
    return files


def read(path: Path) -> dict:
    try:
        metrics = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SystemExit(f"{path}: not a metrics.json ({e})") from None
    if not isinstance(metrics, dict) or "seed" not in metrics:
        raise SystemExit(f"{path}: not a metrics.json of bench run (no seed)")
    return metrics


def figure(metrics: dict, name: str) -> float | None:
    value: object = metrics
    for key in name.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def compare(a: list[dict], b: list[dict]) -> list[dict]:
    """One row per figure both sides have for every seed."""
    rows = []
    for name in FIGURES:
        xs, ys = [figure(m, name) for m in a], [figure(m, name) for m in b]
        if None in xs or None in ys:
            continue
        sa, sb = statistics.stdev(xs), statistics.stdev(ys)
        diff = statistics.fmean(ys) - statistics.fmean(xs)
        half = 2 * math.sqrt(sa**2 / len(xs) + sb**2 / len(ys))
        rows.append({"figure": name, "a": xs, "b": ys, "mean_a": statistics.fmean(xs),
                     "mean_b": statistics.fmean(ys), "sd_a": sa, "sd_b": sb,
                     "difference": diff, "interval": [diff - half, diff + half],
                     "within_seed_noise": abs(diff) <= half})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", required=True, help="metrics.json files or folders, one per seed")
    parser.add_argument("--b", required=True, help="the same on the other device")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    sides = []
    for label, spec in (("--a", args.a), ("--b", args.b)):
        runs = [read(f) for f in metrics_files(spec)]
        if len(runs) < 2:
            parser.error(f"{label} {spec}: {len(runs)} metrics.json found; seed noise needs 2+")
        sides.append(runs)
    a, b = sides
    for key in SAME:
        if len({json.dumps(m.get(key), sort_keys=True) for m in a + b}) > 1:
            raise SystemExit(f"the runs differ in {key}: not the same experiment")
    rows = compare(a, b)
    seeds = {"a": [m["seed"] for m in a], "b": [m["seed"] for m in b]}
    if args.json:
        print(json.dumps({"seeds": seeds, "rows": rows}, indent=2))
        return
    print(f"a: seeds {seeds['a']}   b: seeds {seeds['b']}")
    for r in rows:
        verdict = "within seed noise" if r["within_seed_noise"] else "OUTSIDE seed noise"
        lo, hi = r["interval"]
        print(f"{r['figure']:24} a {r['mean_a']:.4f} (sd {r['sd_a']:.4f})  "
              f"b {r['mean_b']:.4f} (sd {r['sd_b']:.4f})  b - a {r['difference']:+.4f} "
              f"[{lo:+.4f}, {hi:+.4f}]  {verdict}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
