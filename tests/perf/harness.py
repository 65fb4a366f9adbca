"""What the harness holds while a model trains, at a dataset's scale.

    python tests/perf/harness.py [--task var_misuse|method_name] [--functions N,N]
                                 [--model baseline] [--json]

A unit's harness process lives as long as its model trains (hours at ``paper``), so whatever it
holds then is held beside the model for the whole run. For each N, the task's offline default
dataset (python-stdlib or jdk) is tiled to N training functions (copies under new ids) and one
epoch of ``--model`` is run at ``--profile paper`` through ``run_unit`` in this process, with
the process runner. Printed: the harness's resident memory when it starts the model (what it
holds while the model trains; above this process's own before the unit), its peak over the
unit (scoring included), each also per training function, and the unit's seconds. The unit
runs in a child process whose allocator hands freed memory back at once (see PURGE). Never
fails on its figures; a unit that fails gets a row with its error (exit status 1 at the end).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from inputs import rss_mib  # a sibling benchmark, on the path above

DATASET = {"var_misuse": "python-stdlib", "method_name": "jdk"}
# polars' allocator (jemalloc; polars sets its decay to 0.5-1 s on import) hands freed pages
# back to the kernel a moment later; a unit's harness lives for hours, so the child hands them
# back at once, and what it holds is what this measures, not what it freed a moment before.
PURGE = {**os.environ, "_RJEM_MALLOC_CONF": "dirty_decay_ms:0,muzzy_decay_ms:0"}


def tiled(task: str, n: int, folder: Path) -> Path:
    """The task's default dataset with its training split tiled to ``n`` functions, as one
    parquet file."""
    from benchmark import datasets

    samples = datasets.load(DATASET[task]).samples.collect()
    train = samples.filter(pl.col("split") == "train")
    copies = [train.with_columns((pl.col("id") + f"#{k}").alias("id")) if k else train
              for k in range(-(-n // train.height))]  # fmt: skip
    out = pl.concat([pl.concat(copies).head(n), samples.filter(pl.col("split") != "train")])
    path = folder / f"{task}-{n}.parquet"
    out.write_parquet(path)
    return path


def one(task: str, model: str, n: int, path: Path) -> dict:
    """Run one unit on the tiled dataset at ``path``; the harness's memory and time."""
    from benchmark import datasets, run
    from benchmark.metrics import memorization

    memorization.preload()  # what the unit imports beside its model, counted before it
    real_load, real_start = datasets.load, run.start_model
    held: dict[str, float] = {}

    def load(name: str) -> datasets.Dataset:
        return datasets.Dataset(name, f"tiled-{n}", pl.scan_parquet(path), {})

    def start_model(*args, **kwargs):  # type: ignore[no-untyped-def]
        held["at_start"] = rss_mib()
        return real_start(*args, **kwargs)

    before = rss_mib()
    datasets.load, run.start_model = load, start_model  # type: ignore[assignment]
    cfg = run.RunConfig(task=task, dataset=DATASET[task], model=model, noise_kind="label",
                        noise_rate=0.25, seed=0, profile="paper", epochs=1, device="cpu",
                        results=path.parent / f"results-{n}")  # fmt: skip
    started = time.perf_counter()
    try:
        run.run_unit(cfg)
    finally:
        datasets.load, run.start_model = real_load, real_start  # type: ignore[assignment]
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    while_training = held["at_start"] - before
    return {"functions": n, "seconds": round(seconds, 1),
            "while_training_mib": round(while_training, 1),
            "while_training_bytes_per_function": round(while_training * 2**20 / n),
            "peak_mib": round(peak - before, 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="var_misuse", choices=sorted(DATASET))
    parser.add_argument("--model", default="baseline")
    parser.add_argument("--functions", default="100000", help="comma-separated training sizes")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    from benchmark.models import MODELS

    if args.model not in MODELS:
        parser.error(f"--model: unknown {args.model} (known: {', '.join(MODELS)})")
    parts = [n.strip() for n in args.functions.split(",") if n.strip()]
    if not parts or not all(n.isdigit() and int(n) >= 1 for n in parts):
        parser.error(f"--functions {args.functions!r}: comma-separated counts of 1 or more")
    if args.child:  # one unit in a fresh process: what it holds is the unit's alone
        n, path = args.child
        print(json.dumps(one(args.task, args.model, int(n), Path(path))))
        return
    import subprocess

    rows = []
    tmp = tempfile.TemporaryDirectory()
    for n in (int(p) for p in parts):
        path = tiled(args.task, n, Path(tmp.name))
        done = subprocess.run([sys.executable, __file__, "--task", args.task, "--model",
                               args.model, "--child", str(n), str(path)],
                              capture_output=True, text=True, env=PURGE)  # fmt: skip
        lines = done.stdout.strip().splitlines()
        if done.returncode or not lines:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            rows.append({"functions": n, "error": f"exit status {done.returncode}: {tail}"})
        else:
            rows.append(json.loads(lines[-1]))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    tmp.cleanup()
    out = {"task": args.task, "model": args.model, "profile": "paper", "rows": rows}
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        for r in rows:
            print(f"{r['functions']} functions: " + (r.get("error") or (
                f"{r['while_training_mib']} MiB while training "
                f"({r['while_training_bytes_per_function']} B a function), peak "
                f"{r['peak_mib']} MiB, {r['seconds']} s")))  # fmt: skip
    sys.exit(1 if any("error" in r for r in rows) else 0)


if __name__ == "__main__":
    main()
