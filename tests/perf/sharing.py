"""How busy one GPU gets when units share it: a local sweep of N units on one device.

    python tests/perf/sharing.py --device cuda --units 1,4 --epochs 2 --json

A unit at the cpu profile keeps a GPU a few percent busy (docs/performance.md); a local pool
wider than the GPUs, or ``bench sweep --executor slurm --units-per-job N``, puts N units on one.
For each N asked, this runs ``bench sweep`` over seeds 0..N-1 of one model and noise rate with
``--max-parallel N`` in a fresh results folder (the dataset cache is kept), and reports its wall
time, the units it completes an hour, and the GPU's busy share while it ran (NVML, every 50 ms;
none on a CPU). A sweep that fails is a row with its error; SIGTERM (a time limit) prints the
rows measured so far, marked interrupted.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from training import Interrupted, gpu_busy, interrupt

ROOT = Path(__file__).resolve().parents[2]


def one(n: int, args: argparse.Namespace, device: torch.device) -> dict:
    """N units of the sweep at once on ``device``: its row."""
    with tempfile.TemporaryDirectory(prefix="sharing-") as results:
        argv = [sys.executable, "-m", "benchmark", "sweep", "--models", args.model, "--noise",
                args.noise, "--seeds", str(n), "--max-parallel", str(n), "--device", args.device,
                "--profile", args.profile, *(["--epochs", str(args.epochs)] if args.epochs else []),
                "--results", results, "--json"]  # fmt: skip
        busy: dict = {}
        with gpu_busy(device, busy):
            started = time.perf_counter()
            done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
            wall = time.perf_counter() - started
    try:
        summary = json.loads(done.stdout)
    except ValueError:
        lines = done.stderr.strip().splitlines() or ["no output"]
        return {"units": n, "error": f"bench sweep exited {done.returncode}: {lines[-1]}"}
    row = {"units": n, "complete": summary["complete"], "wall_s": round(wall, 2),
           "units_per_hour": round(summary["complete"] / wall * 3600, 1),
           "gpu_busy": busy.get("busy")}  # fmt: skip
    if not summary["ok"]:
        row["error"] = "; ".join(f"{f['unit']}: {f['reason']}" for f in summary["failed"])[:400]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--units", default="1,4", help="comma-separated counts of units at once")
    parser.add_argument("--model", default="ggnn")
    parser.add_argument("--noise", default="0.25", help="the units' noise rate")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--epochs", type=int, default=0, help="0: the profile's")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    parts = [n.strip() for n in args.units.split(",") if n.strip()]
    if not parts or not all(n.isdigit() and int(n) >= 1 for n in parts):
        parser.error(f"--units {args.units!r}: comma-separated counts of 1 or more")
    counts = [int(n) for n in parts]
    device = torch.device(args.device)
    signal.signal(signal.SIGTERM, interrupt)
    rows: list[dict] = []
    interrupted = False
    try:
        for n in counts:
            rows.append(one(n, args, device))
            print(f"{n} unit(s) at once: {rows[-1]}", file=sys.stderr, flush=True)
    except Interrupted:
        interrupted = True
    out = {"device": args.device, "model": args.model, "profile": args.profile,
           "epochs": args.epochs or None, "rows": rows, "interrupted": interrupted}  # fmt: skip
    if args.json:
        print(json.dumps(out, indent=1))
        return
    for r in rows:
        busy = "-" if r.get("gpu_busy") is None else f"{r['gpu_busy']:.0%}"
        print(f"{r['units']} at once: " + (r["error"] if "error" in r and "wall_s" not in r else
              f"{r['wall_s']} s, {r['units_per_hour']} units/h, GPU busy {busy}"))  # fmt: skip


if __name__ == "__main__":
    main()
