"""What the method_name reference models (code2vec, code2seq) share: reading task.json and the
``method-name-jsonl`` splits, string vocabularies, the protocol's prediction line, and the epoch
loop with its checkpoints, so that each model file holds only its network and how it turns a
batch into losses and predictions.

The loop is the var-misuse trainer's discipline (benchmark.trainer): every random state, the
weights and Adam's moments are saved after each epoch, a restart on the same folders resumes
from the last checkpoint, and on CPU the same seed gives the same bytes.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark import trainer
from benchmark.models.varmisuse import InputError, jsonl

SPLITS = trainer.SPLITS
PAD, UNK = "<pad>", "<unk>"
MAX_SUBTOKENS = 64  # the protocol's limit on a predicted name


class Index:
    """Ids of the most frequent training strings: the ``specials`` (PAD, UNK by default), then
    by count, ties by string, so the ids never depend on file order."""

    def __init__(self, counts: Counter[str], size: int, specials: Sequence[str] = (PAD, UNK)):
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        kept = [w for w, _ in ranked if w not in specials][: max(0, size - len(specials))]
        self.words = [*specials, *kept]
        self.ids = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def get(self, word: str) -> int:
        """The word's id; UNK (1) for a word outside the vocabulary."""
        return self.ids.get(word, 1)


def read_rows(path: Path, labelled: bool) -> list[dict[str, Any]]:
    """The lines of one split, checked for what the method_name models read."""
    rows, seen = [], set()
    for where, r in jsonl(path):
        if not isinstance(r, dict) or "id" not in r:
            raise InputError(f"{where}: not a JSON object with an 'id'")
        contexts = r.get("contexts")
        if not isinstance(contexts, list) or not all(
            isinstance(c, str) and c.count(",") >= 2 for c in contexts
        ):
            raise InputError(f"{where}: 'contexts' is not a list of 'src,path,dst' strings")
        label = r.get("label")
        if labelled and not (
            isinstance(label, list) and label and all(isinstance(t, str) for t in label)
        ):
            raise InputError(f"{where}: 'label' is not a non-empty list of sub-tokens")
        if str(r["id"]) in seen:
            raise InputError(f"{where}: repeated id {r['id']!r}")
        seen.add(str(r["id"]))
        rows.append({"id": str(r["id"]), "contexts": contexts, "label": label})
    return rows


def split_context(context: str) -> tuple[str, str, str]:
    """``src,path,dst``; a terminal never holds a comma, so the path is what lies between."""
    src, rest = context.split(",", 1)
    path, dst = rest.rsplit(",", 1)
    return src, path, dst


def contexts_of(rows: Iterable[dict], limit: int) -> Iterator[tuple[str, str, str]]:
    """The (src, path, dst) of the first ``limit`` contexts of every row."""
    for r in rows:
        for context in r["contexts"][:limit]:
            yield split_context(context)


def read_task(input_dir: Path, model: str) -> dict[str, Any]:
    """task.json, checked for a method_name model."""
    try:
        task = json.loads((input_dir / "task.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"no task.json in {input_dir}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"task.json is not valid JSON ({exc})") from None
    if not isinstance(task, dict) or task.get("task") != "method_name":
        raise InputError(f"task.json: {model} does method_name only")
    if task.get("representation") != "method-name-jsonl":
        raise InputError(f"task.json: representation {task.get('representation')!r} is not "
                         "method-name-jsonl")  # fmt: skip
    files = task.get("files", {})
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise InputError("task.json: 'files' is not an object of file names")
    if not isinstance(task.get("hyperparameters", {}), dict):
        raise InputError("task.json: 'hyperparameters' is not an object")
    return task


def prediction_line(
    sample_id: str,
    split: str,
    subtokens: list[str],
    score: float,
    loss: float | None = None,
    p_given: float | None = None,
) -> str:
    """One line of an epoch file; ``loss`` and ``p_given`` for training samples only."""
    line: dict[str, Any] = {"id": sample_id, "split": split, "subtokens": subtokens[:MAX_SUBTOKENS],
                            "score": round(min(max(score, 0.0), 1.0), 6)}  # fmt: skip
    if loss is not None and p_given is not None:
        line["loss"] = round(max(loss, 0.0), 6)  # never -0.0
        line["p_given"] = round(min(max(p_given, 0.0), 1.0), 6)
    return json.dumps(line) + "\n"


def batches(n: int, size: int) -> Iterator[np.ndarray]:
    """Consecutive index ranges of at most ``size``: prediction batches in file order."""
    for start in range(0, n, size):
        yield np.arange(start, min(start + size, n))


@dataclass
class Setup:
    """A model ready to train, as ``run`` needs it: the network and its optimizer (saved in
    checkpoints), one epoch of steps over an order of the training samples (returning the mean
    per-sample loss), the epoch file's lines, and the vocabularies a checkpoint must match."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    train_epoch: Callable[[np.ndarray], float]
    prediction_lines: Callable[[], Iterator[str]]
    vocabularies: list[list[str]]


# (task, hyperparameters, rows per split, context) -> Setup
Build = Callable[[dict[str, Any], dict[str, Any], dict[str, list[dict]], trainer.Context], Setup]


def run(
    name: str,
    defaults: dict[str, dict[str, Any]],
    positive: Sequence[str],
    build: Build,
    input_dir: Path,
    output_dir: Path,
    events: trainer.Events,
) -> None:
    """Train ``name`` on the input folder, writing epoch files, checkpoints and events.

    ``positive`` names the model's own hyperparameters that must be positive integers (the
    trainer checks the shared ones)."""
    task = read_task(input_dir, name)
    hp = trainer.hyperparameters(task, trainer.ModelDefinition(defaults, build=None))  # type: ignore[arg-type]
    for key in positive:
        if not isinstance(hp[key], int) or isinstance(hp[key], bool) or hp[key] < 1:
            raise InputError(f"task.json: {key} must be a positive integer, not {hp[key]!r}")
    seed = task.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise InputError(f"task.json: seed must be an integer, not {seed!r}")
    device = trainer.pick_device(task.get("device", "cpu"))
    if hp["threads"] > 0:  # 0: torch's own choice (OMP_NUM_THREADS, else every core)
        torch.set_num_threads(hp["threads"])
    trainer.seed_everything(seed)
    files = {**{s: f"{s}.jsonl" for s in SPLITS}, **task.get("files", {})}
    started = time.perf_counter()
    rows = {s: read_rows(input_dir / files[s], labelled=s == "train") for s in SPLITS}
    if not rows["train"]:
        raise InputError(f"{files['train']} holds no samples")
    ctx = trainer.Context(device)
    setup = build(task, hp, rows, ctx)
    trainer.log(f"read {', '.join(f'{len(rows[s])} {s}' for s in SPLITS)} methods in "
                f"{time.perf_counter() - started:.1f}s, vocabularies of "
                f"{', '.join(str(len(v)) for v in setup.vocabularies)}; "
                f"hyperparameters {json.dumps(hp)}")  # fmt: skip

    shuffle = np.random.default_rng(seed)
    fingerprint = trainer.input_fingerprint(input_dir, files, name)
    checkpoint_path = output_dir / trainer.CHECKPOINT
    checkpoint = trainer.load_checkpoint(checkpoint_path, fingerprint)
    done_epochs: list[dict[str, Any]] = []  # the epoch_end events, kept in the checkpoint
    if checkpoint is not None:
        if checkpoint["vocabularies"] != setup.vocabularies:
            raise InputError(f"{checkpoint_path} was trained with other vocabularies")
        setup.model.load_state_dict(checkpoint["model"])
        setup.optimizer.load_state_dict(checkpoint["optimizer"])
        trainer.restore_rng_states(checkpoint["rng"], shuffle)
        done_epochs = checkpoint["epochs"]
        trainer.log(f"resuming after epoch {len(done_epochs)} from {checkpoint_path}")
    parameters = sum(p.numel() for p in setup.model.parameters())
    start = {"parameters": parameters, "device": device.type, "hyperparameters": hp}
    if done_epochs:
        start["resumed_after_epoch"] = len(done_epochs)
    events.emit("start", **start)
    # A kill between a checkpoint and its epoch_end event leaves the event unwritten.
    logged = {e.get("epoch") for e in trainer.read_own_events(events.path)
              if e["event"] == "epoch_end"}  # fmt: skip
    for record in done_epochs:
        if record["epoch"] not in logged:
            events.emit("epoch_end", **record)

    pred_dir = output_dir / "predictions"
    pred_dir.mkdir(parents=True, exist_ok=True)
    epochs, n_train = int(hp["epochs"]), len(rows["train"])
    for epoch in range(len(done_epochs) + 1, epochs + 1):
        epoch_start = time.perf_counter()
        order = shuffle.permutation(n_train)
        setup.model.train()
        train_loss = setup.train_epoch(order)
        if not math.isfinite(train_loss):
            raise RuntimeError(f"the training loss became {train_loss} in epoch {epoch}")
        train_seconds = time.perf_counter() - epoch_start
        setup.model.eval()
        with torch.inference_mode(), ctx.amp():
            trainer.write_predictions(pred_dir / f"epoch-{epoch:03d}.jsonl",
                                      setup.prediction_lines())  # fmt: skip
        seconds = time.perf_counter() - epoch_start
        record = {"epoch": epoch, "train_loss": round(train_loss, 6),
                  "samples_per_s": round(n_train / train_seconds, 1),
                  "seconds": round(seconds, 2)}  # fmt: skip
        done_epochs.append(record)
        state = {"fingerprint": fingerprint, "model": setup.model.state_dict(),
                 "optimizer": setup.optimizer.state_dict(), "rng": trainer.rng_states(shuffle),
                 "vocabularies": setup.vocabularies, "epochs": done_epochs}  # fmt: skip
        trainer.save_checkpoint(checkpoint_path, state)
        events.emit("epoch_end", **record)
        trainer.log(f"epoch {epoch}: train loss {train_loss:.4f}, "
                    f"{n_train / train_seconds:.0f} train samples/s ({train_seconds:.1f}s), "
                    f"predictions in {seconds - train_seconds:.1f}s")  # fmt: skip
    events.emit("done")


def step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    losses: torch.Tensor,
    clip: float,
) -> float:
    """One Adam step on the mean of a batch's per-sample losses; their sum, for the epoch's
    mean."""
    optimizer.zero_grad(set_to_none=True)
    losses.mean().backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return float(losses.detach().sum())


def main(
    name: str, defaults: dict[str, dict[str, Any]], positive: Sequence[str], build: Build,
    doc: str | None, argv: Sequence[str] | None = None,
) -> int:  # fmt: skip
    """The protocol command line of a method-name model (trainer.command_line around run)."""
    return trainer.command_line(
        doc, lambda a, events: run(name, defaults, positive, build, a.input, a.output, events), argv
    )
