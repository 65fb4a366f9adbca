"""Reading a model's per-epoch prediction files, for every task, checked line by line.

Every violation raises ``ProtocolError`` with one line naming the file and line, so a broken
model ends its unit with a reason instead of a wrong score.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl

from benchmark.numbers import finite, logistic
from benchmark.protocol import LABELLED, ProtocolError, epoch_file, epoch_files, present

MAX_LINE_BYTES = 1 << 16  # a code_search line holds up to 1000 scores
MAX_TARGET_TOKENS = 1024  # a generation target's token log-probabilities (target_logprobs)
# How far the logistic of a line's logit_given may lie from its p_given: p_given is rounded to
# 6 decimals and both come from float32 arithmetic along different paths.
LOGIT_TOLERANCE = 1e-5

Row = dict[str, Any]
Check = Callable[[Row, str, Any], Row]  # (line, where, the sample's extra) -> columns
# Rows a scorer reads as Python objects at a time (``judge_rows``).
ROWS_AT_ONCE = 100_000


def number(v: object, lo: float = 0.0, hi: float = 1.0) -> bool:
    """A finite int or float (not a bool) in [lo, hi]. A float, what JSON's numbers with a
    point parse to, is checked inline: this runs on every score of every line (a code_search
    line holds up to 1000); anything else goes through ``finite``, which takes an integer too
    long for a float."""
    if type(v) is float:
        return math.isfinite(v) and lo <= v <= hi
    number = finite(v)
    return number is not None and lo <= number <= hi


def integer(v: object) -> bool:
    """An int that is not a bool (JSON's true would pass ``isinstance(v, int)``)."""
    return isinstance(v, int) and not isinstance(v, bool)


def text(v: object) -> bool:
    """A string that is valid Unicode (JSON's escapes can spell lone surrogates, '\\udc80',
    which no file or table can store)."""
    if not isinstance(v, str):
        return False
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def tokens(v: object, limit: int = 512) -> bool:
    """A list of at most ``limit`` strings."""
    return isinstance(v, list) and len(v) <= limit and all(text(t) for t in v)


def logit_given(r: Row, where: str) -> float | None:
    """A labelled line's optional ``logit_given``, the log-odds of its given label computed from
    the model's logits (docs/protocol.md): None where the line leaves it out. It must be finite
    and say what ``p_given`` says (its logistic within ``LOGIT_TOLERANCE``), so that a model
    cannot hand LiRA a confidence its own probability contradicts."""
    v = r.get("logit_given")
    if v is None:
        return None
    x = finite(v)
    if x is None:
        raise ProtocolError(f"{where}: 'logit_given', when given, must be a finite number")
    p = logistic(x)
    if abs(p - float(r["p_given"])) > LOGIT_TOLERANCE:
        raise ProtocolError(f"{where}: 'logit_given' {x:.6g} is the log-odds of {p:.6g}, "
                            f"not of p_given {float(r['p_given']):.6g}")  # fmt: skip
    return x


def read_epoch(
    path: Path, epoch: int, expected: dict[str, tuple[str, Any]], check: Check,
    schema: dict[str, pl.DataType], max_line_bytes: int = MAX_LINE_BYTES,
) -> pl.DataFrame:  # fmt: skip
    """One epoch file: every expected sample exactly once, each line passed through ``check``.

    Lines longer than ``max_line_bytes``, and so files longer than that times the samples, are
    garbage: they are refused before anything is parsed.
    """
    name = f"predictions/{path.name}"
    size = path.stat().st_size
    if size > max_line_bytes * max(len(expected), 1):
        raise ProtocolError(f"{name}: {size} bytes is far more than the samples need")
    rows: list[Row] = []
    seen: set[str] = set()
    with path.open("rb") as f:
        for no, raw in enumerate(f, 1):
            where = f"{name} line {no}"
            if len(raw) > max_line_bytes:
                raise ProtocolError(f"{where}: line longer than {max_line_bytes} bytes")
            try:
                r = json.loads(raw)
            except (ValueError, RecursionError):
                # ValueError: bad JSON or UTF-8, or an integer of thousands of digits;
                # RecursionError: nesting deeper than the parser's stack ('[[[[...')
                raise ProtocolError(f"{where}: not a JSON object") from None
            if not isinstance(r, dict) or not isinstance(r.get("id"), str):
                raise ProtocolError(f"{where}: needs a JSON object with a string 'id'")
            if r["id"] not in expected:
                raise ProtocolError(f"{where}: unknown sample id {r['id']!r}")
            if r["id"] in seen:
                raise ProtocolError(f"{where}: sample {r['id']!r} appears more than once")
            split, extra = expected[r["id"]]
            if r.get("split") != split:
                raise ProtocolError(f"{where}: sample {r['id']!r} belongs to split {split!r}")
            train = split in LABELLED
            if train and not (number(r.get("loss"), 0, math.inf) and number(r.get("p_given"))):
                raise ProtocolError(
                    f"{where}: a {split} sample needs a finite 'loss' >= 0 and 'p_given' in [0, 1]"
                )
            seen.add(r["id"])
            rows.append({
                "epoch": epoch, "sample_id": r["id"], "split": split,
                "loss": float(r["loss"]) if train else None,
                "p_given": float(r["p_given"]) if train else None,
                "logit_given": logit_given(r, where) if train else None,
                **check(r, where, extra),
            })  # fmt: skip
    if len(seen) != len(expected):
        gone = next(i for i in expected if i not in seen)
        raise ProtocolError(
            f"{name}: {len(expected) - len(seen)} samples have no prediction, e.g. {gone!r}"
        )
    base = {"epoch": pl.Int64, "sample_id": pl.String, "split": pl.String,
            "loss": pl.Float64, "p_given": pl.Float64, "logit_given": pl.Float64}  # fmt: skip
    return pl.DataFrame(rows, schema={**base, **schema}, orient="row")


def read_predictions(
    folder: Path, epochs: int, expected: dict[str, tuple[str, Any]], check: Check,
    schema: dict[str, pl.DataType], max_line_bytes: int = MAX_LINE_BYTES,
) -> pl.DataFrame:  # fmt: skip
    """Every epoch's predictions, checked; the model must have written epochs 1..epochs."""
    reader = partial(read_epoch, expected=expected, check=check, schema=schema,
                     max_line_bytes=max_line_bytes)  # fmt: skip
    return read_all(folder, epochs, reader)


EpochReader = Callable[[Path, int], pl.DataFrame]  # (epoch file, its epoch) -> its checked rows
FileId = tuple[int, int, int, int]
Splits = dict[str, pl.DataFrame]  # as benchmark.tasks.spec's


def file_id(path: Path) -> FileId:
    """What changes when a file is written again: device, inode, size and modification time."""
    st = path.stat()
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _epoch_paths(folder: Path, epochs: int) -> list[tuple[int, Path]]:
    """The files of epochs 1..epochs; the model must have written exactly those epochs."""
    files = epoch_files(folder)
    numbers = [e for e, _ in files]
    if numbers != list(range(1, epochs + 1)):
        raise ProtocolError(
            f"expected predictions for epochs 1..{epochs}, found {numbers or 'none'}"
        )
    return files


def read_all(folder: Path, epochs: int, reader: EpochReader) -> pl.DataFrame:
    """Epochs 1..epochs, each file read with ``reader``."""
    return pl.concat([reader(p, e) for e, p in _epoch_paths(folder, epochs)])


def all_epochs(
    epoch_reader: Callable[[Splits], EpochReader],
) -> Callable[[Path, int, Splits], pl.DataFrame]:
    """A task's read_predictions(folder, epochs, splits) from its epoch_reader: the files of
    epochs 1..epochs, each read with ``epoch_reader(splits)``."""

    def read_predictions(folder: Path, epochs: int, splits: Splits) -> pl.DataFrame:
        return read_all(folder, epochs, epoch_reader(splits))

    return read_predictions


class ReadAhead:
    """A model's epoch files read as it finishes them, while it trains on: ``bench run`` calls
    ``read`` at each ``epoch_end`` event and ``finish`` once the model is done, which reads
    only what is left, and again any file that changed since. A file that fails its checks
    early (``ValueError`` included, a scorer's) is left to ``finish``, which raises the error.
    The reader may return each epoch's rows scored. Each epoch's rows go to a parquet file in
    ``spill`` as soon as they are read, so that the harness holds one epoch at a time, not
    every epoch until the end (0.2 KB a row, tens of millions of rows at ``paper``)."""

    def __init__(self, folder: Path, reader: EpochReader, spill: Path) -> None:
        self.folder, self.reader, self.spill = folder, reader, spill
        self.ready: dict[int, FileId] = {}  # epoch -> the file its spilled rows were read from

    def _spilled(self, epoch: int) -> Path:
        return self.spill / f"epoch-{epoch:05d}.parquet"

    def _keep(self, epoch: int, path: Path) -> None:
        read_from = file_id(path)
        rows = self.reader(path, epoch)
        self.spill.mkdir(parents=True, exist_ok=True)
        rows.write_parquet(self._spilled(epoch))
        self.ready[epoch] = read_from

    def read(self, epoch: int) -> None:
        self.ready.pop(epoch, None)
        with contextlib.suppress(ProtocolError, OSError, ValueError):  # for finish to raise
            self._keep(epoch, epoch_file(self.folder, epoch))

    def finish(self, epochs: int) -> pl.LazyFrame:
        """Epochs 1..epochs as one lazy table over the spilled files, in epoch order."""
        parts = []
        for e, path in _epoch_paths(self.folder, epochs):
            if self.ready.get(e) != file_id(path):
                self._keep(e, path)
            parts.append(pl.scan_parquet(self._spilled(e)))
        return pl.concat(parts)


def expected_ids(splits: dict[str, pl.DataFrame], extra: str | None = None) -> dict:
    """sample id -> (split, the value of column ``extra`` or None), over every split."""
    out: dict[str, tuple[str, Any]] = {}
    for s in present(splits):
        df = splits[s]
        vals = df[extra].to_list() if extra else [None] * df.height
        out.update({i: (s, v) for i, v in zip(df["id"].to_list(), vals, strict=True)})
    return out


def token_epoch(
    path: Path, epoch: int, expected: dict[str, tuple[str, Any]], field: str, limit: int
) -> pl.DataFrame:
    """One epoch file of a task whose model writes a sequence of strings (a method name's
    sub-tokens, a docstring's tokens) in ``field`` and a score in [0, 1]."""

    def check(r: Row, where: str, extra: object) -> Row:
        if not tokens(r.get(field), limit):
            raise ProtocolError(f"{where}: '{field}' must be a list of at most {limit} strings")
        if not number(r.get("score")):
            raise ProtocolError(f"{where}: 'score' must be a finite number in [0, 1]")
        logprobs = r.get("target_logprobs") if r.get("split") in LABELLED else None
        if logprobs is not None and not (
            isinstance(logprobs, list) and 0 < len(logprobs) <= MAX_TARGET_TOKENS
            and all(number(v, -math.inf, 0.0) for v in logprobs)
        ):  # fmt: skip
            raise ProtocolError(f"{where}: 'target_logprobs', when given, must be 1 to "
                                f"{MAX_TARGET_TOKENS} finite numbers <= 0")  # fmt: skip
        kept = None if logprobs is None else [float(v) for v in logprobs]
        return {field: r[field], "score": float(r["score"]), "target_logprobs": kept}

    schema = {field: pl.List(pl.String), "score": pl.Float64,
              "target_logprobs": pl.List(pl.Float64)}  # fmt: skip
    return read_epoch(path, epoch, expected, check, schema)


def judge_rows(
    table: pl.DataFrame, judge: Callable[[pl.DataFrame], dict[str, list]],
    schema: dict[str, pl.DataType],
) -> pl.DataFrame:  # fmt: skip
    """The columns ``judge`` makes of a scored table's rows, ``ROWS_AT_ONCE`` rows at a time.

    A judge reads each row as Python objects (code2seq's sub-token counts, smoothed BLEU),
    several times the table's own size: a paper-profile table, a row per sample and epoch,
    would hold them for tens of millions of rows at once."""
    parts = [pl.DataFrame(judge(part), schema=schema) for part in table.iter_slices(ROWS_AT_ONCE)]
    return pl.concat(parts) if parts else pl.DataFrame(schema=schema)
