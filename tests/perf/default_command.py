"""The default command's wall time, against the same command at another commit, in one run.

    python tests/perf/default_command.py [--against REV] [--repeats 2] [--json]
                                         [--command "run --task code_to_text --model codebert"]

Runs ``bench run --model ggnn --noise 0.25`` (the README's main job: cpu profile, 8 epochs, the
dataset already built), or another ``bench run`` given as ``--command``, into a fresh results
folder, alternating this checkout with ``REV``
(checked out with ``git worktree`` into a temporary folder and run from there with
``python -m benchmark``), after one warm-up run of each that also builds REV's dataset cache if
it needs one. Prints each version's median wall seconds and where the time went (the model's
start, its epochs' training and the last epoch's predictions, read from model.log, and the
harness's own share), then the ratio of the two medians (for the default command, against
issue 24's target of 1.5x); never fails on time. Also prints the harness's peak resident
memory (its own process, not the model's), which ``--command "run --model baseline --epochs
120"`` makes the larger part of a unit. Without ``--against`` only this checkout runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET_RATIO = 1.5
COMMAND = ["run", "--model", "ggnn", "--noise", "0.25"]
EPOCH = re.compile(r"epoch (\d+): .*\(([\d.]+)s\), predictions in ([\d.]+)s")
READ = re.compile(r"^read .* in ([\d.]+)s;", re.MULTILINE)
# `python -m benchmark`, then the harness's own peak resident memory (the model's process is
# its child, which RUSAGE_SELF leaves out) on stderr's last line.
HARNESS = ("import resource, sys\nfrom benchmark.cli import main\nsys.argv[0] = 'bench'\n"
           "try:\n    main()\nfinally:\n    peak = resource.getrusage(resource.RUSAGE_SELF)"
           ".ru_maxrss\n    print(f'harness peak KiB {peak}', file=sys.stderr)\n")
PEAK = re.compile(r"^harness peak KiB (\d+)$", re.MULTILINE)


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def checkout(rev: str, stack: ExitStack) -> Path:
    """``rev`` in a temporary git worktree, removed when ``stack`` closes."""
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-perf-rev-")))
    tree = folder / "tree"
    done = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q",
                           str(tree), rev], capture_output=True, text=True)  # fmt: skip
    if done.returncode:
        raise SystemExit(f"cannot check out {rev!r}: {last_line(done.stderr)}")
    stack.callback(subprocess.run, ["git", "-C", str(ROOT), "worktree", "remove", "--force",
                                    str(tree)], check=False)  # fmt: skip
    return tree


def one(tree: Path, command: list[str] = COMMAND) -> dict:
    """One run of ``command`` with the code in ``tree``: wall seconds and the model's
    breakdown."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    with tempfile.TemporaryDirectory(prefix="bench-perf-default-") as tmp:
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", HARNESS, *command, "--results", tmp],
                              cwd=tmp, env=env, capture_output=True, text=True)  # fmt: skip
        wall = time.perf_counter() - t0
        if done.returncode:
            raise SystemExit(f"bench {' '.join(command)} failed with the code in {tree}: "
                             f"{last_line(done.stderr)}")  # fmt: skip
        log_file = next(Path(tmp).rglob("model.log"), None)
        if log_file is None:
            raise SystemExit(f"bench {' '.join(command)} wrote no model.log under its results")
        log = log_file.read_text()
    epochs = [(float(t), float(p)) for _, t, p in EPOCH.findall(log)]
    read = READ.search(log)
    peak = PEAK.findall(done.stderr)
    if not peak:
        raise SystemExit(f"bench {' '.join(command)} printed no harness peak: "
                         f"{last_line(done.stderr)}")  # fmt: skip
    train = sum(t for t, _ in epochs)
    last = epochs[-1][1] if epochs else 0.0
    return {"wall_s": round(wall, 2), "train_s": round(train, 2),
            "last_predictions_s": round(last, 2),
            "model_read_s": float(read.group(1)) if read else None,
            "rest_s": round(wall - train - last, 2),
            "harness_peak_mib": round(int(peak[-1]) / 1024, 1)}  # fmt: skip


def summary(runs: list[dict]) -> dict:
    keys = ("wall_s", "train_s", "last_predictions_s", "rest_s", "harness_peak_mib")
    medians = {f"median_{k}": round(statistics.median(r[k] for r in runs), 2) for k in keys}
    return {"runs": runs, **medians}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", help="a git revision to compare with, e.g. ac2e59e")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each version")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--command", default=" ".join(COMMAND),
                        help="the bench run to time, without --results")  # fmt: skip
    args = parser.parse_args()
    try:
        command = shlex.split(args.command)
    except ValueError as exc:
        parser.error(f"--command: {exc}")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if command[:1] != ["run"] or any(a.split("=")[0] == "--results" for a in command):
        parser.error("--command must be a bench run command without --results")
    with ExitStack() as stack:
        trees = {"this checkout": ROOT}
        if args.against:
            trees[args.against] = checkout(args.against, stack)
        for tree in trees.values():  # warm-up: imports, caches, REV's dataset
            one(tree, command)
        runs: dict[str, list[dict]] = {name: [] for name in trees}
        for _ in range(args.repeats):
            for name, tree in trees.items():
                runs[name].append(one(tree, command))
    result: dict = {"command": "bench " + " ".join(command), "repeats": args.repeats,
                    "versions": {name: summary(r) for name, r in runs.items()}}  # fmt: skip
    if args.against:
        ratio = (result["versions"][args.against]["median_wall_s"]
                 / result["versions"]["this checkout"]["median_wall_s"])  # fmt: skip
        result["ratio"] = round(ratio, 3)
        if command == COMMAND:
            result["target_ratio"] = TARGET_RATIO
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['command']}, median of {args.repeats} after a warm-up:")
    for name, s in result["versions"].items():
        each = ", ".join(str(r["wall_s"]) for r in s["runs"])
        print(f"  {name:<14} {s['median_wall_s']:7.2f} s  ({each}); training "
              f"{s['median_train_s']:.1f} s, last predictions {s['median_last_predictions_s']:.1f}"
              f" s, the rest {s['median_rest_s']:.1f} s; harness peak "
              f"{s['median_harness_peak_mib']:.0f} MiB")  # fmt: skip
    if "ratio" in result:
        verdict = "" if command != COMMAND else (
            f" ({'meets' if result['ratio'] >= TARGET_RATIO else 'BELOW'} the "
            f"{TARGET_RATIO:g}x target)")  # fmt: skip
        print(f"  {args.against} / this checkout = {result['ratio']:.3f}x{verdict}")


if __name__ == "__main__":
    main()
