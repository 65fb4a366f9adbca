"""The model side of docs/protocol.md for the reference var-misuse models.

    python -m benchmark.trainer --model ggnn --input IN_DIR --output OUT_DIR

Reads task.json and the three splits, trains with Adam on token-budget batches, and after every
epoch writes every sample's prediction to ``predictions/epoch-NNN.jsonl``, a checkpoint and an
``epoch_end`` event. Started again on the same folders (after a crash or a kill), it resumes
from the last checkpoint and ends with the same bytes as an uninterrupted run. Only the encoder
differs between models: MODELS maps a name to its per-profile defaults and its constructor.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch_geometric.data import Batch, Data

from benchmark.models import ggnn, great, rnn, transformer
from benchmark.models.varmisuse import (
    EdgeTypes,
    InputError,
    Sample,
    VarMisuseModel,
    Vocabulary,
    predictions,
    read_samples,
    sample_losses,
    to_data,
)

SPLITS = ("train", "valid", "test")
CHECKPOINT = "checkpoint.pt"
# Hyperparameters that must be positive integers when a model's defaults have them.
POSITIVE_INTS = ("epochs", "batch_tokens", "batch_size", "hidden", "steps", "layers", "heads",
                 "ff", "vocab_size")  # fmt: skip


@dataclass(frozen=True)
class ModelDefinition:
    """What the trainer needs of a model: its per-profile defaults and how to build it."""

    defaults: dict[str, dict[str, Any]]
    build: Callable[[int, int, dict[str, Any]], VarMisuseModel]


MODELS: dict[str, ModelDefinition] = {
    "ggnn": ModelDefinition(ggnn.DEFAULTS, ggnn.GGNNVarMisuse),
    "great": ModelDefinition(great.DEFAULTS, great.GREATVarMisuse),
    "transformer": ModelDefinition(transformer.DEFAULTS, transformer.TransformerVarMisuse),
    "rnn": ModelDefinition(rnn.DEFAULTS, rnn.RNNVarMisuse),
}


class Events:
    """events.jsonl, one flushed line per event, so the harness sees progress as it happens."""

    def __init__(self, path: Path) -> None:
        _drop_torn_line(path)
        self.path = path
        self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open for the whole run

    def emit(self, event: str, **fields: Any) -> None:
        self.file.write(json.dumps({"event": event, **fields}) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def _drop_torn_line(path: Path) -> None:
    """Cut a last line that a killed run left half-written, so a resumed run appends whole
    lines after whole lines."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


def read_own_events(path: Path) -> list[dict[str, Any]]:
    """The events this output folder already holds (from an earlier, interrupted start)."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.strip()]


def log(message: str) -> None:
    """A line of progress on standard error (kept by the harness as model.log)."""
    print(message, file=sys.stderr, flush=True)


def read_task(input_dir: Path) -> dict[str, Any]:
    """task.json, checked for what this trainer can do."""
    path = input_dir / "task.json"
    try:
        task = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"no task.json in {input_dir}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"task.json is not valid JSON ({exc})") from None
    if not isinstance(task, dict):
        raise InputError("task.json is not a JSON object")
    if task.get("protocol", 1) != 1:
        raise InputError(f"task.json: protocol {task.get('protocol')!r} is not supported (1 is)")
    if task.get("task") != "var_misuse":
        raise InputError(f"task.json: task {task.get('task')!r} is not supported (var_misuse is)")
    if task.get("representation", "great-jsonl") != "great-jsonl":
        raise InputError(f"task.json: representation {task['representation']!r} is not great-jsonl")
    if not isinstance(task.get("edge_types"), dict):
        raise InputError("task.json: 'edge_types' is missing or not an object")
    files = task.get("files", {})
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise InputError("task.json: 'files' is not an object of file names")
    if not isinstance(task.get("hyperparameters", {}), dict):
        raise InputError("task.json: 'hyperparameters' is not an object")
    return task


def hyperparameters(task: dict[str, Any], spec: ModelDefinition) -> dict[str, Any]:
    """The profile's defaults overridden by task.json's hints (and its top-level ``epochs``)."""
    profile = task.get("profile", "cpu")
    if profile not in spec.defaults:
        log(f"unknown profile {profile!r}: using the cpu defaults")
        profile = "cpu"
    hp = dict(spec.defaults[profile])
    hints = task.get("hyperparameters", {})
    ignored = sorted(set(hints) - set(hp))
    if ignored:
        log(f"ignoring hyperparameters this model does not use: {', '.join(ignored)}")
    hp.update({k: v for k, v in hints.items() if k not in ignored})
    if "epochs" in task:
        hp["epochs"] = task["epochs"]
    for key in (k for k in POSITIVE_INTS if k in hp):
        if not isinstance(hp[key], int) or isinstance(hp[key], bool) or hp[key] < 1:
            raise InputError(f"task.json: {key} must be a positive integer, not {hp.get(key)!r}")
    if not isinstance(hp.get("threads"), int) or hp["threads"] < 0:
        raise InputError(f"task.json: threads must be an integer >= 0, not {hp.get('threads')!r}")
    return hp


def pick_device(asked: str) -> torch.device:
    if asked == "cpu":
        return torch.device("cpu")
    if asked in ("cuda", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if asked == "cuda":
            raise InputError("task.json asks for device 'cuda' but CUDA is not available")
        return torch.device("cpu")
    raise InputError(f"task.json: device {asked!r} is not one of cpu, cuda, auto")


def seed_everything(seed: int) -> None:
    """Same seed, same bytes on CPU: every generator seeded, deterministic kernels where torch
    has them (warn_only, because a few CUDA scatter kernels have no deterministic version)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)


def token_batches(
    sizes: np.ndarray | Sequence[int],
    order: Sequence[int],
    budget: int,
    max_samples: int | None = None,
) -> list[list[int]]:
    """Consecutive runs of ``order`` with at most ``budget`` tokens (a larger sample goes alone)
    and at most ``max_samples`` samples each: batches of about equal work whatever the
    function lengths, which keeps a step's cost, and so its speed, steady."""
    batches: list[list[int]] = []
    current: list[int] = []
    used = 0
    for i in order:
        n = int(sizes[i])
        if current and (used + n > budget or len(current) == max_samples):
            batches.append(current)
            current, used = [], 0
        current.append(i)
        used += n
    if current:
        batches.append(current)
    return batches


def collate(graphs: Sequence[Data], indices: Sequence[int], device: torch.device) -> Batch:
    return Batch.from_data_list([graphs[i] for i in indices]).to(device)


@dataclass(frozen=True)
class Context:
    """Where the model runs; on CUDA, bf16 autocast (cheap, and no loss scaling unlike fp16)."""

    device: torch.device

    def amp(self) -> AbstractContextManager:
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return nullcontext()


def train_epoch(
    model: VarMisuseModel,
    optimizer: torch.optim.Optimizer,
    graphs: Sequence[Data],
    batches: Sequence[Sequence[int]],
    hp: dict[str, Any],
    ctx: Context,
) -> tuple[float, int]:
    """One pass of Adam steps over ``batches``; the mean per-sample loss and the sample count."""
    model.train()
    total, count = 0.0, 0
    for indices in batches:
        batch = collate(graphs, indices, ctx.device)
        with ctx.amp():
            losses = sample_losses(model(batch), batch)
        optimizer.zero_grad(set_to_none=True)
        losses.mean().backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), float(hp["clip"]))
        optimizer.step()
        total += float(losses.detach().sum())
        count += len(indices)
    return total / max(count, 1), count


def prediction_lines(
    model: VarMisuseModel,
    samples: dict[str, list[Sample]],
    graphs: dict[str, list[Data]],
    batches: dict[str, list[list[int]]],
    ctx: Context,
) -> Iterator[str]:
    """The epoch file's lines: every sample of every split, in file order, without dropout."""
    model.eval()
    with torch.inference_mode(), ctx.amp():
        for split in SPLITS:
            for indices in batches[split]:
                batch = collate(graphs[split], indices, ctx.device)
                outs = predictions(model(batch), batch, labelled=split == "train")
                for i, out in zip(indices, outs, strict=True):
                    yield json.dumps({"id": samples[split][i].id, "split": split, **out}) + "\n"


def write_predictions(path: Path, lines: Iterator[str]) -> None:
    """Write to a temporary name, then rename: the harness never sees a half-written file."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(lines)
    os.replace(tmp, path)


def input_fingerprint(input_dir: Path, files: dict[str, str], model_name: str) -> str:
    """What a checkpoint belongs to: the model and the bytes of task.json and the splits."""
    digest = hashlib.sha256(model_name.encode())
    for name in ("task.json", *(files[s] for s in SPLITS)):
        digest.update(name.encode())
        with open(input_dir / name, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def rng_states(shuffle: np.random.Generator) -> dict[str, Any]:
    """Every random state that training draws from, so a resumed run draws the same numbers."""
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "shuffle": shuffle.bit_generator.state,
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any], shuffle: np.random.Generator) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    shuffle.bit_generator.state = states["shuffle"]
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write, flush to disk, then rename: a kill at any moment leaves the previous checkpoint
    or this one, never a torn file."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: Path, fingerprint: str) -> dict[str, Any] | None:
    """The output folder's checkpoint, if any; one from another input or model is an error
    rather than silently mixed into this run."""
    if not path.exists():
        return None
    try:
        # Not weights_only: the RNG states are numpy and Python objects. The file is this
        # trainer's own output, in the folder the harness gave it.
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise InputError(f"{path} cannot be read ({type(exc).__name__}); remove it") from None
    if not isinstance(state, dict) or state.get("fingerprint") != fingerprint:
        raise InputError(
            f"{path} belongs to another input or model; give the trainer an empty output folder"
        )
    return state


def run(model_name: str | None, input_dir: Path, output_dir: Path, events: Events) -> None:
    task = read_task(input_dir)
    model_name = model_name or task.get("model")
    if model_name not in MODELS:
        raise InputError(f"unknown model {model_name!r}; choose from {', '.join(MODELS)}")
    spec = MODELS[model_name]
    hp = hyperparameters(task, spec)
    seed = task.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise InputError(f"task.json: seed must be an integer, not {seed!r}")
    device = pick_device(task.get("device", "cpu"))
    if hp["threads"] > 0:  # 0: torch's own choice (OMP_NUM_THREADS, else every core)
        torch.set_num_threads(hp["threads"])
    seed_everything(seed)

    files = {**{s: f"{s}.jsonl" for s in SPLITS}, **task.get("files", {})}
    started = time.perf_counter()
    samples = {s: read_samples(input_dir / files[s], labelled=s == "train") for s in SPLITS}
    if not samples["train"]:
        raise InputError(f"{files['train']} holds no samples")
    vocab = Vocabulary.build((s.tokens for s in samples["train"]), int(hp["vocab_size"]))
    edge_types = EdgeTypes(task["edge_types"], reverse=bool(hp["reverse_edges"]))
    graphs = {s: [to_data(x, vocab, edge_types) for x in samples[s]] for s in SPLITS}
    sizes = {s: np.array([len(x.tokens) for x in samples[s]]) for s in SPLITS}
    log(
        f"read {', '.join(f'{len(samples[s])} {s}' for s in SPLITS)} samples, "
        f"{len(vocab)} sub-tokens, {len(edge_types)} edge types "
        f"in {time.perf_counter() - started:.1f}s; hyperparameters {json.dumps(hp)}"
    )

    model = spec.build(len(vocab), len(edge_types), hp).to(device)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=float(hp["lr"]), weight_decay=float(hp["weight_decay"])
    )
    ctx = Context(device)
    shuffle = np.random.default_rng(seed)
    fingerprint = input_fingerprint(input_dir, files, model_name)
    checkpoint_path = output_dir / CHECKPOINT
    checkpoint = load_checkpoint(checkpoint_path, fingerprint)
    done_epochs: list[dict[str, Any]] = []  # the epoch_end events, kept in the checkpoint
    if checkpoint is not None:
        if checkpoint["vocab"] != vocab.words:
            raise InputError(f"{checkpoint_path} was trained with another vocabulary")
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        restore_rng_states(checkpoint["rng"], shuffle)
        done_epochs = checkpoint["epochs"]
        log(f"resuming after epoch {len(done_epochs)} from {checkpoint_path}")
    parameters = sum(p.numel() for p in model.parameters())
    start = {"parameters": parameters, "device": device.type, "hyperparameters": hp}
    if done_epochs:
        start["resumed_after_epoch"] = len(done_epochs)
    events.emit("start", **start)
    # A kill between a checkpoint and its epoch_end event leaves the event unwritten.
    logged = {e.get("epoch") for e in read_own_events(events.path) if e["event"] == "epoch_end"}
    for record in done_epochs:
        if record["epoch"] not in logged:
            events.emit("epoch_end", **record)

    budget = int(hp["batch_tokens"])
    # Without gradients a batch needs far less memory: on CUDA, predict in 4x larger batches.
    eval_budget = budget * (4 if device.type == "cuda" else 1)
    eval_batches = {s: token_batches(sizes[s], range(len(sizes[s])), eval_budget) for s in SPLITS}
    pred_dir = output_dir / "predictions"
    pred_dir.mkdir(parents=True, exist_ok=True)

    epochs = int(hp["epochs"])
    for epoch in range(len(done_epochs) + 1, epochs + 1):
        epoch_start = time.perf_counter()
        order = shuffle.permutation(len(graphs["train"]))
        batches = token_batches(sizes["train"], order, budget, int(hp["batch_size"]))
        train_loss, count = train_epoch(model, optimizer, graphs["train"], batches, hp, ctx)
        if not math.isfinite(train_loss):
            raise RuntimeError(f"the training loss became {train_loss} in epoch {epoch}")
        train_seconds = time.perf_counter() - epoch_start
        lines = prediction_lines(model, samples, graphs, eval_batches, ctx)
        write_predictions(pred_dir / f"epoch-{epoch:03d}.jsonl", lines)
        seconds = time.perf_counter() - epoch_start
        record = {
            "epoch": epoch,
            "train_loss": round(train_loss, 6),
            "samples_per_s": round(count / train_seconds, 1),
            "seconds": round(seconds, 2),
        }
        done_epochs.append(record)
        state = {
            "fingerprint": fingerprint,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": rng_states(shuffle),
            "vocab": vocab.words,
            "epochs": done_epochs,
        }
        save_checkpoint(checkpoint_path, state)
        events.emit("epoch_end", **record)
        predicted = sum(len(samples[s]) for s in SPLITS)
        log(
            f"epoch {epoch}: train loss {train_loss:.4f}, {count / train_seconds:.0f} train "
            f"samples/s ({train_seconds:.1f}s), {predicted / (seconds - train_seconds):.0f} "
            f"predicted samples/s ({seconds - train_seconds:.1f}s)"
        )
        projected = time.perf_counter() - started + seconds * (epochs - epoch)
        budget_s = task.get("time_budget_s")
        if epoch == 1 and isinstance(budget_s, int | float) and projected > budget_s:
            log(
                f"warning: {epochs} epochs will take ~{projected:.0f}s, past the budget {budget_s}s"
            )
    events.emit("done")


def guarded(output: Path, body: Callable[[Events], None]) -> int:
    """Run a model's protocol loop: any exception becomes one ``error`` event and status 1.

    The traceback goes to stderr (the harness keeps it as model.log); the event carries one
    line, prefixed by the exception's type unless it is an InputError about the inputs.
    """
    output.mkdir(parents=True, exist_ok=True)
    events = Events(output / "events.jsonl")
    try:
        body(events)
    except Exception as exc:
        traceback.print_exc()
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if not isinstance(exc, InputError):
            message = f"{type(exc).__name__}: {message}"
        events.emit("error", message=message)
        return 1
    finally:
        events.close()
    return 0


def command_line(
    doc: str | None,
    body: Callable[[argparse.Namespace, Events], None],
    argv: Sequence[str] | None = None,
    options: Callable[[argparse.ArgumentParser], None] = lambda parser: None,
) -> int:
    """A model's protocol command line: ``--input DIR --output DIR`` (and any ``options``),
    then ``body`` under ``guarded``; returns the exit status."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    options(parser)
    parser.add_argument("--input", type=Path, required=True, help="the harness's input folder")
    parser.add_argument("--output", type=Path, required=True, help="a writable folder")
    args = parser.parse_args(argv)
    return guarded(args.output, lambda events: body(args, events))


def main(argv: Sequence[str] | None = None) -> int:
    def model_option(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--model", help=f"one of {', '.join(MODELS)}; default: task.json's")

    return command_line(
        __doc__, lambda a, events: run(a.model, a.input, a.output, events), argv, model_option
    )


if __name__ == "__main__":
    sys.exit(main())
