"""The harness side of the model protocol (docs/protocol.md): inputs out, predictions in.

The model sees only what is written here: training inputs with their given (possibly noisy)
labels and validation/test inputs without labels. What it writes back is checked line by
line (benchmark/tasks/lines.py, with each task's checks), so garbage ends the unit with a
one-line reason instead of a wrong score.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from native.graph import EDGE_TYPES

# 2: var_misuse predictions carry `repair_probs` (GREAT's repair rule needs the distribution);
# 3: the holdout split. A run without one (a model that speaks 2) is written as protocol 2.
PROTOCOL_VERSION = 3
SPLITS = ("train", "valid", "test")
HOLDOUT = "holdout"  # labelled and predicted like train, never trained on (membership)
LABELLED = ("train", HOLDOUT)  # splits written with their given labels
INPUT_FIELDS = ("id", "source_tokens", "edges", "repair_candidates")
_EPOCH_FILE = re.compile(r"epoch-(\d{3})\.jsonl")


def present(splits: Mapping[str, object]) -> tuple[str, ...]:
    """The splits a run writes: train, valid and test, and the holdout split when it has one."""
    return (*SPLITS, HOLDOUT) if HOLDOUT in splits else SPLITS


class ProtocolError(Exception):
    """The model's output breaks the protocol; the message is one line."""


def write_task(
    folder: Path, task: dict, splits: dict[str, pl.DataFrame], representation: str, **extra: Any
) -> None:
    """Create the input folder and its task.json: the run's settings, the representation,
    the split sizes and the file of each split (``extra`` adds task-specific keys)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = present(splits)
    meta = {
        "protocol": PROTOCOL_VERSION if HOLDOUT in names else 2,
        **task,
        "representation": representation,
        **extra,
        "splits": {s: splits[s].height for s in names},
        "files": {s: f"{s}.jsonl" for s in names},
    }
    (folder / "task.json").write_text(json.dumps(meta, indent=2))


def write_inputs(folder: Path, task: dict, splits: dict[str, pl.DataFrame]) -> None:
    """Write task.json and one JSON-lines file per split.

    The labelled splits (train, holdout) carry the given labels in ``given_*`` columns;
    validation and test frames are written with inputs only, whatever columns they hold.
    """
    edge_types = {str(k): v for k, v in EDGE_TYPES.items()}
    write_task(folder, task, splits, "great-jsonl", edge_types=edge_types)
    for split in present(splits):
        df = splits[split]
        cols = [pl.col(c) for c in INPUT_FIELDS]
        if split in LABELLED:
            cols += [
                pl.col("given_has_bug").alias("has_bug"),
                pl.col("given_location").alias("error_location"),
                pl.col("given_targets").alias("repair_targets"),
            ]
        df.select(cols).write_ndjson(folder / f"{split}.jsonl")


def read_events(folder: Path) -> list[dict]:
    """The events written so far; a last line without its newline (still being written) is
    left for later unless it is already a whole event. Any other line that is not an event (a
    JSON object with a string ``event``), or a folder or link in the file's place, breaks the
    protocol: ProtocolError, one line."""
    path = folder / "events.jsonl"
    if not path.exists() and not path.is_symlink():
        return []
    if path.is_symlink() or not path.is_file():
        raise ProtocolError("events.jsonl is not a regular file")
    *lines, torn = path.read_bytes().split(b"\n")
    events = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            events.append(_event(line, number))
    with contextlib.suppress(ProtocolError):
        events.append(_event(torn, len(lines) + 1))
    return events


def _event(line: bytes, number: int) -> dict:
    try:
        event = json.loads(line)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested past Python's stack
        raise ProtocolError(f"events.jsonl line {number} is not JSON") from None
    if not (isinstance(event, dict) and isinstance(event.get("event"), str)):
        raise ProtocolError(f"events.jsonl line {number} is not an event (a JSON object with "
                            "a string 'event')")  # fmt: skip
    return event


def epoch_file(folder: Path, epoch: int) -> Path:
    """Where a model writes epoch ``epoch``'s predictions in its output ``folder``."""
    return folder / "predictions" / f"epoch-{epoch:03d}.jsonl"


def epoch_files(folder: Path) -> list[tuple[int, Path]]:
    pred = folder / "predictions"
    if not pred.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in pred.iterdir() if (m := _EPOCH_FILE.fullmatch(p.name))]
    return sorted(found)
