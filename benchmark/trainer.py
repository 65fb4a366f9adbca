"""The one trainer of every reference model: the model side of docs/protocol.md.

A model file holds its network and how a batch becomes losses and prediction lines; this module
does the rest the same way for all of them. ``prepare`` reads the profile's hyperparameters,
seeds every generator and picks the device; ``fit`` trains epoch after epoch, writes every
sample's prediction to ``predictions/epoch-NNN.jsonl``, saves a checkpoint (weights, optimizer,
schedule, every random state) and emits an ``epoch_end`` event. Started again on the same
folders after a crash or a kill, ``fit`` resumes from the last checkpoint and ends with the same
bytes as an uninterrupted run. ``command_line`` and ``guarded`` turn a model's body into a
protocol program whose failures become one ``error`` event.
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import hashlib
import json
import math
import os
import random
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

SPLITS = ("train", "valid", "test")
HOLDOUT = "holdout"  # protocol 3: labelled like train, predicted like train, never trained on
LABELLED = ("train", HOLDOUT)  # the splits whose lines carry given labels, and whose
# predictions carry loss and p_given
# The reference models write every field of each version (2 adds var_misuse's repair_probs, 3
# the holdout split).
SUPPORTED_PROTOCOLS = (1, 2, 3)
CHECKPOINT = "checkpoint.pt"
# Hyperparameters that must be positive integers when a model's defaults have them.
POSITIVE_INTS = ("epochs", "batch_tokens", "batch_size", "hidden", "steps", "layers", "heads",
                 "ff", "vocab_size")  # fmt: skip
# And those that must be integers >= 0 (code_search's overlap levels and in-batch negatives).
COUNTS = ("overlap", "negatives")
# The training thread holds the GIL only for moments between kernels, but when the prediction
# thread (or threads) beside it runs Python it waits for the switch interval, 5 ms by default,
# each time. 0.5 ms cut the default command's training epochs by 2%; predictions do not mind.
SWITCH_INTERVAL_S = 0.0005


class InputError(ValueError):
    """An input file that breaks docs/protocol.md; the message is one line naming the place."""


def jsonl(path: Path) -> Iterator[tuple[str, object]]:
    """(where, object) for each non-blank line of an input file; bad JSON is an InputError
    naming the file and line, as the protocol promises."""
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path.name} line {number}"
            try:
                yield where, json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{where}: not valid JSON ({exc.msg})") from None


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
    """The events this output folder already holds (from an earlier, interrupted start). A
    line that is not one this trainer wrote is an error that says what to do: without the
    file, a resumed run writes the events of its checkpointed epochs again."""
    events = []
    lines = path.read_bytes().splitlines() if path.exists() else []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line.decode("utf-8"))
        except ValueError as exc:  # UnicodeDecodeError too
            why = "not UTF-8" if isinstance(exc, UnicodeDecodeError) else "not JSON"
            raise InputError(f"{path} line {number} is {why}; remove the file") from None
        if not isinstance(event, dict) or not isinstance(event.get("event"), str):
            raise InputError(f"{path} line {number} is not an event; remove the file")
        events.append(event)
    return events


def log(message: str) -> None:
    """A line of progress on standard error (kept by the harness as model.log)."""
    print(message, file=sys.stderr, flush=True)


def read_task(input_dir: Path) -> dict[str, Any]:
    """task.json, checked for what every model reads; a model checks its task after."""
    path = input_dir / "task.json"
    try:
        task = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"no task.json in {input_dir}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"task.json is not valid JSON ({exc})") from None
    if not isinstance(task, dict):
        raise InputError("task.json is not a JSON object")
    if task.get("protocol", 1) not in SUPPORTED_PROTOCOLS:
        raise InputError(
            f"task.json: protocol {task.get('protocol')!r} is not supported (1, 2, 3 are)"
        )
    files = task.get("files", {})
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise InputError("task.json: 'files' is not an object of file names")
    if not isinstance(task.get("hyperparameters", {}), dict):
        raise InputError("task.json: 'hyperparameters' is not an object")
    return task


def read_task_for(input_dir: Path, model: str, representations: dict[str, str]) -> dict[str, Any]:
    """task.json, checked for a model that does the tasks of ``representations`` (each task's
    input format): one of them, in its format."""
    task = read_task(input_dir)
    if task.get("task") not in representations:
        *first, last = representations
        tasks = f"{', '.join(first)} and {last}" if first else last
        raise InputError(f"task.json: {model} does {tasks} only")
    wanted = representations[task["task"]]
    if task.get("representation") != wanted:
        raise InputError(f"task.json: representation {task.get('representation')!r} is not "
                         f"{wanted}")  # fmt: skip
    return task


def splits_of(task: dict[str, Any]) -> tuple[str, ...]:
    """The splits to read and predict: train, valid, test and, when task.json lists its file
    (protocol 3), the holdout split, whose samples measure membership: they come with their
    given labels and are predicted like training samples, but never trained on."""
    return (*SPLITS, HOLDOUT) if HOLDOUT in task.get("files", {}) else SPLITS


def split_files(task: dict[str, Any]) -> dict[str, str]:
    """The file of each split: ``SPLIT.jsonl`` unless task.json's ``files`` says otherwise."""
    return {**{s: f"{s}.jsonl" for s in SPLITS}, **task.get("files", {})}


def hyperparameters(
    task: dict[str, Any], defaults: dict[str, dict[str, Any]], positive: Sequence[str] = ()
) -> dict[str, Any]:
    """The profile's defaults overridden by task.json's hints (and its top-level ``epochs``);
    the shared POSITIVE_INTS and the model's own ``positive`` keys must be integers >= 1, the
    COUNTS integers >= 0."""
    profile = task.get("profile", "cpu")
    if profile not in defaults:
        log(f"unknown profile {profile!r}: using the cpu defaults")
        profile = "cpu"
    hp = dict(defaults[profile])
    hints = task.get("hyperparameters", {})
    ignored = sorted(set(hints) - set(hp))
    if ignored:
        log(f"ignoring hyperparameters this model does not use: {', '.join(ignored)}")
    hp.update({k: v for k, v in hints.items() if k not in ignored})
    if "epochs" in task:
        hp["epochs"] = task["epochs"]
    for key in (k for k in (*POSITIVE_INTS, *positive) if k in hp):
        if not isinstance(hp[key], int) or isinstance(hp[key], bool) or hp[key] < 1:
            raise InputError(f"task.json: {key} must be a positive integer, not {hp.get(key)!r}")
    for key in (k for k in COUNTS if k in hp):
        if not isinstance(hp[key], int) or isinstance(hp[key], bool) or hp[key] < 0:
            raise InputError(f"task.json: {key} must be an integer >= 0, not {hp[key]!r}")
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


def seed_everything(seed: int, device: torch.device | None = None) -> None:
    """Every generator seeded, and the kernels chosen for ``device`` (``choose_kernels``)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    choose_kernels(device or torch.device("cpu"))


def choose_kernels(device: torch.device) -> None:
    """On CPU, deterministic kernels where torch has them: the same seed gives the same bytes
    (warn_only: a few kernels have no deterministic version).

    On CUDA, the fast ones, as CUDA runs are held to the noise of seeds, not to bytes: the
    deterministic index_add and scatter sort their indices instead of adding atomically, at
    every message-passing step. And scaled_dot_product_attention leaves cuDNN's kernel out:
    cuDNN builds a graph for each new shape of its inputs, up to hundreds of milliseconds of
    host time, and batches of functions come in a new (batch, length) shape nearly every step.
    The flash and memory-efficient kernels take any shape as it comes. (Likely, not yet
    measured: why on an H200 the transformer trained 4x slower than GREAT with the GPU 7%
    busy; cuDNN takes the transformer's padding mask but not GREAT's trainable bias.)"""
    if device.type == "cuda":
        deterministic_algorithms(False)
        if hasattr(torch.backends.cuda, "enable_cudnn_sdp"):
            torch.backends.cuda.enable_cudnn_sdp(False)
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    deterministic_algorithms(True, warn_only=True)


def deterministic_algorithms(mode: bool, warn_only: bool = False) -> None:
    """``torch.use_deterministic_algorithms``, less its import of ``torch._inductor.config``
    (1.1 s at every model start) where nothing has loaded inductor: that import only sets
    inductor's flag, which matters to ``torch.compile`` alone, and no model compiles. Where
    inductor is loaded (a program that compiles), both flags are set, as torch sets them."""
    set_flag = getattr(torch._C, "_set_deterministic_algorithms", None)
    if set_flag is None or "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        set_flag(mode, warn_only=warn_only)


def adam_options(device: torch.device) -> dict[str, bool]:
    """Adam's and AdamW's keyword arguments for ``device``: on CUDA, the fused kernel (one
    launch for every parameter where foreach takes several per step); elsewhere torch's
    default, whose CPU arithmetic the same-seed bytes were made with."""
    return {"fused": True} if device.type == "cuda" else {}


def to_host(*tensors: torch.Tensor) -> list[list]:
    """Each tensor's values as (nested) lists, read back with one wait: on CUDA every copy is
    queued at once, into pinned memory, and the host then waits for the stream once, where a
    ``.tolist()`` of each waited for the GPU each. The values are the same either way."""
    host = [t.to("cpu", non_blocking=True) for t in tensors]  # on the CPU: the tensor itself
    if cuda := [t.device for t in tensors if t.device.type == "cuda"]:
        torch.cuda.current_stream(cuda[0]).synchronize()
    return [t.tolist() for t in host]


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``tensor``, made on the host, on ``device``. On CUDA it goes from pinned memory without
    waiting: a plain ``.to()`` waits for the copy, and so for every kernel queued before it,
    and the GPU then idles while the host makes the next batch."""
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def prediction_batch(size: int, device: torch.device, cpu: int = 1) -> int:
    """How many of what a training batch holds ``size`` of (samples or tokens) a prediction
    batch holds: without gradients a batch needs far less memory, so 4x on CUDA, where larger
    batches keep the GPU busier; ``cpu`` times on the CPU (2 for codebert and hf, 1 for the
    others)."""
    return size * (4 if device.type == "cuda" else cpu)


def end_check_every(device: torch.device) -> int:
    """Every how many steps a decoder (codebert's beam search, code2seq's greedy names) asks
    whether every output has ended: every step on the CPU, every 8th on a GPU, where each
    question makes the host wait for the device. Steps taken past the end change no output,
    only cost time."""
    return 1 if device.type == "cpu" else 8


@dataclass(frozen=True)
class Context:
    """Where the model runs; on CUDA, bf16 autocast (cheap, and no loss scaling unlike fp16)."""

    device: torch.device

    def amp(self) -> AbstractContextManager:
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return nullcontext()


@dataclass(frozen=True)
class Settings:
    """What ``prepare`` settles before any data is read: hyperparameters, seed and device."""

    hp: dict[str, Any]
    seed: int
    ctx: Context


def prepare(
    task: dict[str, Any], defaults: dict[str, dict[str, Any]], positive: Sequence[str] = ()
) -> Settings:
    """The run's hyperparameters, seed and device, with torch's threads set and every random
    generator seeded, so that everything built afterwards is the same for the same seed."""
    hp = hyperparameters(task, defaults, positive)
    seed = task.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise InputError(f"task.json: seed must be an integer, not {seed!r}")
    device = pick_device(task.get("device", "cpu"))
    if hp["threads"] > 0:  # 0: torch's own choice (OMP_NUM_THREADS, else every core)
        torch.set_num_threads(hp["threads"])
    seed_everything(seed, device)
    return Settings(hp, seed, Context(device))


def write_predictions(path: Path, lines: Iterator[str]) -> None:
    """Write to a temporary name, then rename: the harness never sees a half-written file."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(lines)
    os.replace(tmp, path)


def input_fingerprint(input_dir: Path, files: dict[str, str], model: str) -> str:
    """What a checkpoint belongs to: the model (and its starting point) and the bytes of
    task.json and of every input file in ``files``."""
    digest = hashlib.sha256(model.encode())
    for name in ("task.json", *(files[k] for k in sorted(files))):
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
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
    except (RuntimeError, OSError) as exc:  # a full disk; torch's own writer says only
        free = shutil.disk_usage(tmp.parent).free  # "unexpected pos 108224 vs 108116"
        tmp.unlink(missing_ok=True)
        why = getattr(exc, "strerror", None) or (str(exc).strip() or type(exc).__name__)
        why = why.splitlines()[0]
        raise OSError(f"cannot write {path.name} ({free / 2**20:.1f} MiB free on its disk): "
                      f"{why}") from exc  # fmt: skip
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


# One batch's lines of an epoch file: work that reads nothing but the model it was made for.
Piece = Callable[[], list[str]]


@dataclass(kw_only=True)
class Fit:
    """A model ready for ``fit``. ``train_epoch`` takes Adam (or AdamW) steps over an order of
    the ``samples`` training samples and returns their mean loss; ``prediction_lines`` gives
    the epoch file's lines from the model it is handed, in eval mode, without gradients:
    ``model`` itself, or a copy of its weights at the end of the epoch while ``model`` trains
    on in another thread (so it must read nothing else that training changes). A model may
    give ``prediction_pieces`` instead: the same lines as one piece per batch (or window of
    batches), in file order, which the trainer runs on several threads where cores would
    otherwise idle (the last epoch's predictions, with training over). ``vocabularies`` are
    what a checkpoint must have been trained with; ``start`` adds fields to the start event."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    train_epoch: Callable[[np.ndarray], float]
    prediction_lines: Callable[[torch.nn.Module], Iterator[str]] | None = None
    prediction_pieces: Callable[[torch.nn.Module], Sequence[Piece]] | None = None
    vocabularies: list[list[str]]
    samples: int
    schedule: torch.optim.lr_scheduler.LRScheduler | None = None
    start: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.prediction_lines is None) == (self.prediction_pieces is None):
            raise TypeError("Fit takes one of prediction_lines and prediction_pieces")


def epoch_lines(run: Fit, predictor: torch.nn.Module, ctx: Context, workers: int) -> Iterator[str]:
    """The epoch file's lines from ``predictor``, its pieces run on ``workers`` threads where
    the model gives pieces: each thread runs a whole batch with torch's one thread, so the
    bytes are those of one thread in turn. The caller holds inference mode, which is each
    thread's own, so the workers take it too."""
    if run.prediction_pieces is None:
        assert run.prediction_lines is not None
        yield from run.prediction_lines(predictor)
        return
    pieces = run.prediction_pieces(predictor)
    if workers <= 1:
        for piece in pieces:
            yield from piece()
        return

    def call(piece: Piece) -> list[str]:
        with torch.inference_mode(), ctx.amp():
            return piece()

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="predict")
    try:
        for lines in pool.map(call, pieces):
            yield from lines
    finally:
        pool.shutdown(cancel_futures=True)


def fit(
    run: Fit,
    settings: Settings,
    task: dict[str, Any],
    fingerprint: str,
    output_dir: Path,
    events: Events,
) -> None:
    """Train for the profile's epochs, resuming after the last checkpoint in ``output_dir``;
    after each epoch, every sample's prediction, a checkpoint and an ``epoch_end`` event."""
    hp, ctx = settings.hp, settings.ctx
    shuffle = np.random.default_rng(settings.seed)
    checkpoint_path = output_dir / CHECKPOINT
    checkpoint = load_checkpoint(checkpoint_path, fingerprint)
    done_epochs: list[dict[str, Any]] = []  # the epoch_end events, kept in the checkpoint
    if checkpoint is not None:
        if checkpoint["vocabularies"] != run.vocabularies:
            raise InputError(f"{checkpoint_path} was trained with other vocabularies")
        run.model.load_state_dict(checkpoint["model"])
        run.optimizer.load_state_dict(checkpoint["optimizer"])
        if run.schedule is not None:
            run.schedule.load_state_dict(checkpoint["schedule"])
        restore_rng_states(checkpoint["rng"], shuffle)
        done_epochs = checkpoint["epochs"]
        log(f"resuming after epoch {len(done_epochs)} from {checkpoint_path}")
    parameters = sum(p.numel() for p in run.model.parameters())
    start = {"parameters": parameters, "device": ctx.device.type, "hyperparameters": hp,
             **run.start}  # fmt: skip
    if done_epochs:
        start["resumed_after_epoch"] = len(done_epochs)
    events.emit("start", **start)
    # A kill between a checkpoint and its epoch_end event leaves the event unwritten.
    logged = {e.get("epoch") for e in read_own_events(events.path) if e["event"] == "epoch_end"}
    for record in done_epochs:
        if record["epoch"] not in logged:
            events.emit("epoch_end", **record)

    pred_dir = output_dir / "predictions"
    pred_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    epochs, first = int(hp["epochs"]), len(done_epochs) + 1
    # Epoch k's predictions, checkpoint and event are written by one worker thread from a copy
    # of the weights while the model trains epoch k+1: the two overlap (about a third of a cpu
    # epoch is predictions; on CUDA the host's JSON work no longer leaves the device idle).
    # Where no core is spare (a unit of a local pool, which gives each unit its share of the
    # cores) each epoch ends before the next begins, in this thread, as two threads on one
    # core would only slow each other. Prediction draws no random numbers, so the bytes are the
    # same either way; the checkpoint still follows its epoch file, so a kill at any point
    # resumes as before.
    overlap = ctx.device.type == "cuda" or spare_core()
    # What predicts: a copy of the weights where training goes on beside it, else the model.
    predictor = copy.deepcopy(run.model).requires_grad_(False) if overlap else run.model
    # Copies, so that training on does not change what an epoch saves; deepcopy keeps tensors
    # that share storage (tied weights) shared, as torch.save stores them.
    saved: Callable[[Any], Any] = copy.deepcopy if overlap else (lambda state: state)
    pending: Future[float] | None = None
    # Leaving the block waits for the epoch in hand, also when training fails: what was
    # trained before the failure is still written.
    with quick_handoff(), ThreadPoolExecutor(1, thread_name_prefix="predictions") as worker:
        for epoch in range(first, epochs + 1):
            epoch_start = time.perf_counter()
            run.model.train()
            train_loss = run.train_epoch(shuffle.permutation(run.samples))
            if not math.isfinite(train_loss):
                raise RuntimeError(f"the training loss became {train_loss} in epoch {epoch}")
            train_seconds = time.perf_counter() - epoch_start
            if pending is not None:
                # The copy is free again, and the worker's errors surface here.
                predict_seconds = pending.result()
                if epoch == first + 1:  # each later epoch costs the longer of the two
                    _warn_past_budget(task, started, max(train_seconds, predict_seconds),
                                      epochs - epoch, predict_seconds)  # fmt: skip
            if overlap:
                predictor.load_state_dict(run.model.state_dict())
            predictor.eval()
            record = {"epoch": epoch, "train_loss": round(train_loss, 6),
                      "samples_per_s": round(run.samples / train_seconds, 1)}  # fmt: skip
            done_epochs.append(record)  # its "seconds" are the worker's to add
            state = {"fingerprint": fingerprint, "model": saved(run.model.state_dict()),
                     "optimizer": saved(run.optimizer.state_dict()),
                     "rng": rng_states(shuffle), "vocabularies": run.vocabularies,
                     "epochs": list(done_epochs)}  # fmt: skip
            if run.schedule is not None:
                state["schedule"] = saved(run.schedule.state_dict())
            # With training over, the last epoch's predictions may take every core.
            workers = idle_workers(ctx) if epoch == epochs else 1
            ending = (run, predictor, ctx, state, record, epoch_start, train_seconds,
                      checkpoint_path, pred_dir, events, workers)  # fmt: skip
            if overlap:
                pending = worker.submit(_finish_epoch, *ending)
            else:
                predict_seconds = _finish_epoch(*ending)
                if epoch == first:
                    _warn_past_budget(task, started, train_seconds + predict_seconds,
                                      epochs - epoch, 0.0)  # fmt: skip
    if pending is not None:
        pending.result()
    events.emit("done")


@contextmanager
def quick_handoff(interval_s: float = SWITCH_INTERVAL_S) -> Iterator[None]:
    """Python's switch interval at ``interval_s`` for the block, then back as it was."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(interval_s)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def _finish_epoch(run: Fit, predictor: torch.nn.Module, ctx: Context, state: dict[str, Any],
                  record: dict[str, Any], epoch_start: float, train_seconds: float,
                  checkpoint_path: Path, pred_dir: Path, events: Events,
                  workers: int) -> float:  # fmt: skip
    """The end of an epoch: its predictions from ``predictor`` (on ``workers`` threads), then
    the checkpoint (with this epoch's record) and the ``epoch_end`` event, in that order; the
    seconds the predictions took."""
    epoch = record["epoch"]
    predict_start = time.perf_counter()
    with torch.inference_mode(), ctx.amp():
        lines = epoch_lines(run, predictor, ctx, workers)
        write_predictions(pred_dir / f"epoch-{epoch:03d}.jsonl", lines)
    predict_seconds = time.perf_counter() - predict_start
    record["seconds"] = round(time.perf_counter() - epoch_start, 2)
    save_checkpoint(checkpoint_path, state)
    events.emit("epoch_end", **record)
    log(f"epoch {epoch}: train loss {record['train_loss']:.4f}, {record['samples_per_s']:.0f} "
        f"train samples/s ({train_seconds:.1f}s), predictions in {predict_seconds:.1f}s"
        )  # fmt: skip
    return predict_seconds


def usable_cores() -> int:
    """The cores this process may use: ``OMP_NUM_THREADS`` where a pool set it, as a local
    sweep does for each unit, else its CPU affinity."""
    given = os.environ.get("OMP_NUM_THREADS", "")
    return int(given) if given.isdigit() and int(given) > 0 else len(os.sched_getaffinity(0))


def spare_core() -> bool:
    """Whether this process has a core beyond its torch threads for the predictions."""
    return usable_cores() > torch.get_num_threads()


def idle_workers(ctx: Context) -> int:
    """How many prediction threads fill this process's cores when nothing trains beside them:
    one per ``torch.get_num_threads()`` cores on CPU; one on CUDA, whose device is the limit."""
    if ctx.device.type != "cpu":
        return 1
    return max(1, usable_cores() // torch.get_num_threads())


def _warn_past_budget(task: dict[str, Any], started: float, per_epoch: float, left: int,
                      tail: float) -> None:  # fmt: skip
    """Once the first epoch's predictions are in: warn when ``left`` more epochs of
    ``per_epoch`` seconds, and ``tail`` after them, will overrun the run's time budget."""
    budget_s = task.get("time_budget_s")
    projected = time.perf_counter() - started + per_epoch * left + tail
    if isinstance(budget_s, int | float) and projected > budget_s:
        log(f"warning: the run will take ~{projected:.0f}s, past the budget {budget_s}s")


def step(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, losses: torch.Tensor, clip: float
) -> torch.Tensor:
    """One step on the mean of a batch's per-sample losses, gradients clipped to ``clip``;
    returns their sum, for the epoch's mean: a float64 tensor on the model's device, so that
    an epoch reads it back once (on CUDA a float() here would wait for every step to finish);
    float64 adds as the Python floats it replaces did, to the same bits."""
    optimizer.zero_grad(set_to_none=True)
    losses.mean().backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return losses.detach().sum().double()


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


# mallopt(3)'s parameters (glibc's malloc.h) and the values keep_freed_memory sets: blocks
# below 32 MiB (glibc's largest mmap threshold) come from the heap, and up to 128 MiB of freed
# heap stays mapped for the next step's tensors.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD, TRIM_THRESHOLD = 32 << 20, 128 << 20
MALLOC_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep the memory a training step frees for the next step, rather
    than hand it back to the kernel and fault it in again, page by page: a step allocates and
    frees tensors of megabytes, which by default come from fresh mmap'd pages or a heap that
    is trimmed after them. In the default command that cost 12 million page faults and 20 s
    of system time, and a third of each epoch's predictions (the prediction thread's arena).
    Leaves malloc alone where the user tuned it (``MALLOC_*_`` or ``GLIBC_TUNABLES``) and off
    glibc; returns whether both settings took. Numbers are unchanged: only where memory
    comes from."""
    if not sys.platform.startswith("linux") or any(v in os.environ for v in MALLOC_SETTINGS):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    took = [mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD), mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)]
    return all(took)


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
    keep_freed_memory()
    return guarded(args.output, lambda events: body(args, events))
