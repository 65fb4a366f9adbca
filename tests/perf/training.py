"""Training throughput of the reference models on CPU, in samples per second.

    python tests/perf/training.py [--profile cpu|smoke|paper] [--models a,b] [--samples N]
                                  [--threads T] [--json]

On the first N training samples of the task's offline default dataset (python-stdlib for the
var-misuse models, jdk for code2vec and code2seq, as ``bench run`` selects and writes them for
the profile), each model is built with the profile's hyperparameters and trained for one
warm-up pass over a few batches, then for one timed pass over the N samples with its trainer's
own ``train_epoch``. Prints samples/s per model; never fails on time.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmark import datasets, noise, trainer
from benchmark.models import VAR_MISUSE, code2seq, code2vec, methodname
from benchmark.models.varmisuse import (
    EdgeTypes,
    Vocabulary,
    read_samples,
    to_data,
    token_batches,
    train_epoch,
)
from benchmark.profiles import PROFILES
from benchmark.protocol import EDGE_TYPES, write_inputs
from benchmark.run import select_splits
from benchmark.tasks import method_name

MODELS = (*VAR_MISUSE, "code2vec", "code2seq", "codebert")


def training_samples(profile: str, n: int) -> list:
    """The first ``n`` training functions of the profile's selection, read back through the
    protocol's files so that the trainer sees exactly what it sees in a run."""
    splits = select_splits(datasets.load("python-stdlib").samples, PROFILES[profile])
    train = splits["train"].head(n)
    train = train.with_columns(
        train["has_bug"].alias("given_has_bug"),
        train["error_location"].alias("given_location"),
        train["repair_targets"].alias("given_targets"),
    )
    with tempfile.TemporaryDirectory() as tmp:
        empty = {s: splits[s].head(0) for s in ("valid", "test")}
        write_inputs(Path(tmp), {"task": "var_misuse"}, {"train": train, **empty})
        return read_samples(Path(tmp) / "train.jsonl", labelled=True)


def method_rows(profile: str, n: int) -> list[dict]:
    """The first ``n`` method_name training samples (jdk), written and read back as code2vec
    and code2seq read them in a run at noise 0."""
    splits = select_splits(datasets.load("jdk").samples, PROFILES[profile])
    splits["train"] = splits["train"].head(n)
    splits, _ = method_name.prepare(splits, noise.mask(splits["train"].height, 0.0, 0), "label", 0)
    with tempfile.TemporaryDirectory() as tmp:
        method_name.write_inputs(Path(tmp), {"task": "method_name"}, splits)
        return methodname.read_rows(Path(tmp) / "train.jsonl", labelled=True)


def measure_code2vec(profile: str, rows: list[dict], threads: int) -> dict:
    hp = dict(code2vec.DEFAULTS[profile])
    torch.set_num_threads(threads or int(hp["threads"]) or torch.get_num_threads())
    trainer.seed_everything(0)
    tokens, paths, targets = code2vec.vocabularies(rows, hp)
    inputs = code2vec.encode(rows, tokens, paths, int(hp["contexts"]))
    given = np.array([targets.get("|".join(r["label"])) for r in rows], dtype=np.int64)
    net = code2vec.Code2Vec(len(tokens), len(paths), len(targets), hp)
    optimizer = torch.optim.Adam(net.parameters(), lr=float(hp["lr"]))
    ctx = trainer.Context(torch.device("cpu"))
    order = np.random.default_rng(0).permutation(len(rows))
    warm = order[: 3 * int(hp["batch_size"])]
    code2vec.train_epoch(net, optimizer, inputs, given, warm, hp, ctx)
    started = time.perf_counter()
    code2vec.train_epoch(net, optimizer, inputs, given, order, hp, ctx)
    seconds = time.perf_counter() - started
    return {
        "model": "code2vec",
        "profile": profile,
        "parameters": sum(p.numel() for p in net.parameters()),
        "threads": torch.get_num_threads(),
        "samples": len(rows),
        "mean_contexts": round(float((inputs[:, :, 1] > 0).sum(1).mean()), 1),
        "seconds": round(seconds, 3),
        "samples_per_s": round(len(rows) / seconds, 1),
    }


def measure_code2seq(profile: str, rows: list[dict], threads: int) -> dict:
    hp = dict(code2seq.DEFAULTS[profile])
    torch.set_num_threads(threads or int(hp["threads"]) or torch.get_num_threads())
    trainer.seed_everything(0)
    data = code2seq.Data({"train": rows, "valid": [], "test": []}, hp)
    net = code2seq.Code2Seq(len(data.subtokens), len(data.nodes), len(data.targets), hp)
    optimizer = torch.optim.Adam(net.parameters(), lr=float(hp["lr"]))
    ctx = trainer.Context(torch.device("cpu"))
    order = np.random.default_rng(0).permutation(len(rows))
    net.train()
    code2seq.train_epoch(net, optimizer, data, order[: 3 * int(hp["batch_size"])], hp, ctx)
    started = time.perf_counter()
    code2seq.train_epoch(net, optimizer, data, order, hp, ctx)
    seconds = time.perf_counter() - started
    return {
        "model": "code2seq",
        "profile": profile,
        "parameters": sum(p.numel() for p in net.parameters()),
        "threads": torch.get_num_threads(),
        "samples": len(rows),
        "mean_contexts": round(float((data.contexts["train"][:, :, 1] > 0).sum(1).mean()), 1),
        "seconds": round(seconds, 3),
        "samples_per_s": round(len(rows) / seconds, 1),
    }


def measure_codebert(profile: str, n: int, threads: int) -> list[dict]:
    """codebert on each of its tasks: the first ``n`` ruby-stdlib training samples at noise 0,
    written and read back as the model reads them in a run, timed with its ``train_epoch``."""
    from benchmark.models import codebert
    from benchmark.tasks.hooks import task_hooks

    out = []
    for task in codebert.TASKS:
        splits = select_splits(datasets.load("ruby-stdlib").samples, PROFILES[profile])
        splits["train"] = splits["train"].head(n)
        hooks = task_hooks(task)
        splits, _ = hooks.prepare(splits, noise.mask(splits["train"].height, 0.0, 0), "label", 0)
        with tempfile.TemporaryDirectory() as tmp:
            hooks.write_inputs(Path(tmp), {"task": task, "profile": profile}, splits)
            meta = codebert.read_task(Path(tmp))
            hp = trainer.hyperparameters(meta, codebert.DEFAULTS, codebert.POSITIVE)
            rows, codes, _ = codebert.read_inputs(Path(tmp), meta)
        torch.set_num_threads(threads or int(hp["threads"]) or torch.get_num_threads())
        trainer.seed_everything(0)
        net, _, data, _ = codebert.setup(task, rows, codes, hp, None)
        optimizer = torch.optim.AdamW(net.parameters(), lr=float(hp["lr"]))
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
        ctx = trainer.Context(torch.device("cpu"))
        order = np.random.default_rng(0).permutation(len(rows["train"]))
        warm = order[: 3 * int(hp["batch_size"])]
        codebert.train_epoch(net, optimizer, schedule, data, warm, hp, ctx)
        started = time.perf_counter()
        codebert.train_epoch(net, optimizer, schedule, data, order, hp, ctx)
        seconds = time.perf_counter() - started
        out.append({
            "model": "codebert", "task": task, "profile": profile,
            "parameters": sum(p.numel() for p in net.parameters()),
            "threads": torch.get_num_threads(), "samples": len(order),
            "seconds": round(seconds, 3), "samples_per_s": round(len(order) / seconds, 1),
        })  # fmt: skip
    return out


def measure(model: str, profile: str, samples: list, threads: int) -> dict:
    module = importlib.import_module(f"benchmark.models.{model}")
    hp = dict(module.DEFAULTS[profile])
    torch.set_num_threads(threads or int(hp["threads"]) or torch.get_num_threads())
    trainer.seed_everything(0)
    vocab = Vocabulary.build((s.tokens for s in samples), int(hp["vocab_size"]))
    edge_types = EdgeTypes({str(k): v for k, v in EDGE_TYPES.items()}, bool(hp["reverse_edges"]))
    graphs = [to_data(s, vocab, edge_types) for s in samples]
    net = getattr(module, VAR_MISUSE[model])(len(vocab), len(edge_types), hp)
    optimizer = torch.optim.Adam(net.parameters(), lr=float(hp["lr"]))
    ctx = trainer.Context(torch.device("cpu"))
    sizes = np.array([len(s.tokens) for s in samples])
    order = np.random.default_rng(0).permutation(len(samples))
    batches = token_batches(sizes, order, int(hp["batch_tokens"]), int(hp["batch_size"]))
    net.train()
    train_epoch(net, optimizer, graphs, batches[:3], hp, ctx)  # warm-up
    started = time.perf_counter()
    train_epoch(net, optimizer, graphs, batches, hp, ctx)
    count = len(samples)
    seconds = time.perf_counter() - started
    return {
        "model": model,
        "profile": profile,
        "parameters": sum(p.numel() for p in net.parameters()),
        "threads": torch.get_num_threads(),
        "samples": count,
        "mean_tokens": round(float(sizes.mean()), 1),
        "seconds": round(seconds, 3),
        "samples_per_s": round(count / seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu", choices=sorted(PROFILES))
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated")
    parser.add_argument("--samples", type=int, default=512, help="training functions timed")
    parser.add_argument("--threads", type=int, default=0, help="0: the profile's setting")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        choices = ", ".join(MODELS)
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {choices}")
    var_misuse = [m for m in models if m in VAR_MISUSE]
    samples = training_samples(args.profile, args.samples) if var_misuse else []
    rows = [measure(m, args.profile, samples, args.threads) for m in var_misuse]
    if "code2vec" in models:
        methods = method_rows(args.profile, args.samples)
        rows.append(measure_code2vec(args.profile, methods, args.threads))
    if "code2seq" in models:
        methods = method_rows(args.profile, args.samples)
        rows.append(measure_code2seq(args.profile, methods, args.threads))
    if "codebert" in models:
        rows += measure_codebert(args.profile, args.samples, args.threads)
    if args.json:
        print(json.dumps({"device": "cpu", "rows": rows}))
    else:
        for r in rows:
            print(f"{r['model']:12} {r['profile']:6} {r['parameters']:>10,} parameters "
                  f"{r['samples_per_s']:>8.1f} samples/s ({r['samples']} in {r['seconds']}s, "
                  f"{r['threads']} thread(s))")  # fmt: skip


if __name__ == "__main__":
    main()
