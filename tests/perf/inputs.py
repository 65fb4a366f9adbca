"""Memory and time of a model program's reading of its input files, at a dataset's scale.

    python tests/perf/inputs.py [--models ggnn,code2vec,code2seq] [--functions N,N]
                                [--profile paper] [--hf-weights DIR] [--json]

The study's datasets hold millions of training samples (GREAT's variable-misuse data, code2seq's
java-large), and a model program holds its inputs in memory for the whole run. For each model
and each N, the protocol's input folder is written from the task's offline default dataset (as
``bench run`` selects it for the profile: python-stdlib for the var-misuse models, jdk for
code2vec and code2seq), its training file tiled to N functions (copies under new ids; so the
distinct tokens stay those of the dataset, which at real scale grow with it). The model program
then runs in a child process as the harness starts it, up to the point where its training would
begin (hf: on var_misuse, with the weights of ``--hf-weights``, which it loads first): there
it reports the seconds its reading took (parsing, vocabularies, packing), the
memory it holds then and the most it held on the way (resident set above the process's own
before reading; malloc keeps freed memory, as the model programs set it, so the peak is
also what training starts with), each also per sample of all splits. Trains nothing; never
fails on its figures; a model program that fails gets a row with its error (exit status 1 at
the end).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

TASK_OF = {"ggnn": "var_misuse", "great": "var_misuse", "transformer": "var_misuse",
           "rnn": "var_misuse", "code2vec": "method_name", "code2seq": "method_name",
           "hf": "var_misuse"}  # fmt: skip


class Reached(Exception):
    """Raised in place of training: the child's reading is done."""


def rss_mib() -> float:
    """This process's resident set now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mib() -> float:
    """The most this process has held (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(model: str, input_dir: Path, report: Path) -> int:
    """Run ``model``'s program on ``input_dir`` with trainer.fit replaced by a report; 0 once
    the report is written, else the program's exit status."""
    import importlib

    from benchmark import trainer

    module = importlib.import_module(f"benchmark.models.{model}")
    trainer.keep_freed_memory()
    before = rss_mib()
    started = time.perf_counter()

    def reached(*args: object, **kwargs: object) -> None:
        seconds = time.perf_counter() - started
        report.write_text(json.dumps({"seconds": seconds, "held_mib": rss_mib() - before,
                                      "peak_mib": peak_mib() - before}))  # fmt: skip
        raise Reached

    trainer.fit = reached  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as out:
        status = module.main(["--input", str(input_dir), "--output", out])
    return 0 if report.is_file() else status or 1


def write_inputs(task: str, profile: str, folder: Path) -> dict[str, int]:
    """The task's offline default dataset as ``bench run`` writes it at noise 0; the count of
    samples in each file."""
    from benchmark import datasets, noise
    from benchmark.profiles import PROFILES, select_splits
    from benchmark.protocol import write_inputs as write_var_misuse
    from benchmark.tasks import method_name

    if task == "var_misuse":
        splits = select_splits(datasets.load("python-stdlib").samples, PROFILES[profile])
        train = splits["train"]
        splits["train"] = train.with_columns(
            train["has_bug"].alias("given_has_bug"),
            train["error_location"].alias("given_location"),
            train["repair_targets"].alias("given_targets"),
        )
        write_var_misuse(folder, {"task": task, "profile": profile}, splits)
    else:
        splits = select_splits(datasets.load("jdk").samples, PROFILES[profile])
        mask = noise.mask(splits["train"].height, 0.0, 0)
        splits, _ = method_name.prepare(splits, mask, "label", 0)
        method_name.write_inputs(folder, {"task": task, "profile": profile}, splits)
    return {s: splits[s].height for s in splits}


def tile(source: Path, target: Path, n: int) -> None:
    """``n`` lines of ``source`` (a training file), repeated in order, copy k's ids suffixed."""
    lines = source.read_text(encoding="utf-8").splitlines()
    with open(target, "w", encoding="utf-8") as f:
        for i in range(n):
            obj = json.loads(lines[i % len(lines)])
            if i >= len(lines):
                obj["id"] = f"{obj['id']}#{i // len(lines)}"
            f.write(json.dumps(obj) + "\n")


def weighed(folder: Path, weights: Path) -> Path:
    """A copy of the input folder (its files linked) whose task.json names hf's weights."""
    out = folder.with_name(folder.name + "-hf")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    for name in os.listdir(folder):
        if name != "task.json":
            os.link(folder / name, out / name)
    task = json.loads((folder / "task.json").read_text())
    (out / "task.json").write_text(json.dumps({**task, "model": "hf", "weights": str(weights)}))
    return out


def measure(model: str, folder: Path, samples: int) -> dict:
    """One child's report, or its error."""
    report = folder / f"report-{model}.json"
    report.unlink(missing_ok=True)
    command = [sys.executable, __file__, "--child", model, str(folder), str(report)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    if not report.is_file():
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit status {proc.returncode}: {tail}"}
    got = json.loads(report.read_text())
    return {"seconds": round(got["seconds"], 2), "held_mib": round(got["held_mib"], 1),
            "peak_mib": round(got["peak_mib"], 1),
            "held_bytes_per_sample": round(got["held_mib"] * 2**20 / samples),
            "peak_bytes_per_sample": round(got["peak_mib"] * 2**20 / samples)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="ggnn,code2vec,code2seq")
    parser.add_argument("--functions", default="20000,80000",
                        help="comma-separated training set sizes")  # fmt: skip
    parser.add_argument("--profile", default="paper")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--hf-weights", type=Path, help="a checkpoint folder, for --models hf")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        model, folder, report = args.child
        # the model program's guard catches Reached, as any error, and says it on stderr
        sys.exit(child(model, Path(folder), Path(report)))
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(models) - set(TASK_OF))
    if unknown:
        parser.error(f"--models: unknown {', '.join(unknown)} (known: {', '.join(TASK_OF)})")
    if "hf" in models and (args.hf_weights is None or not args.hf_weights.is_dir()):
        parser.error("--models hf needs --hf-weights, a checkpoint folder")
    parts = [n.strip() for n in args.functions.split(",") if n.strip()]
    if not parts or not all(n.isdigit() and int(n) >= 1 for n in parts):
        parser.error(f"--functions {args.functions!r}: comma-separated counts of 1 or more")
    sizes = [int(n) for n in parts]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for task in dict.fromkeys(TASK_OF[m] for m in models):
            base = Path(tmp) / task
            counts = write_inputs(task, args.profile, base)
            for n in sizes:
                folder = Path(tmp) / f"{task}-{n}"
                folder.mkdir()
                for name in os.listdir(base):
                    if name != "train.jsonl":
                        os.link(base / name, folder / name)
                tile(base / "train.jsonl", folder / "train.jsonl", n)
                total = n + counts["valid"] + counts["test"]
                for model in (m for m in models if TASK_OF[m] == task):
                    row = {"model": model, "train": n, "samples": total}
                    row |= measure(model, weighed(folder, args.hf_weights.resolve())
                                   if model == "hf" else folder, total)  # fmt: skip
                    print(json.dumps(row), file=sys.stderr, flush=True)
                    rows.append(row)
                os.unlink(folder / "train.jsonl")
                shutil.rmtree(folder.with_name(folder.name + "-hf"), ignore_errors=True)
    out = {"profile": args.profile, "rows": rows}
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        for r in rows:
            figures = r.get("error") or (
                f"{r['seconds']} s, held {r['held_mib']} MiB ({r['held_bytes_per_sample']} B a "
                f"sample), peak {r['peak_mib']} MiB ({r['peak_bytes_per_sample']} B)"
            )
            print(f"{r['model']} at {r['train']} training functions: {figures}")
    sys.exit(1 if any("error" in r for r in rows) else 0)


if __name__ == "__main__":
    main()
