"""A dataset build as parquet shards: bounded-memory writing, cross-split dedup, lazy reading.

An official archive (java-large: ~9.5M files, ~16M methods) does not fit in memory as one
frame, so builders write samples a shard at a time (``samples-NNNNN.parquet``, each under a
temporary name renamed when complete) and the harness scans them lazily.

Deduplication across splits keeps ``method_datasets.dedup``'s rule (a valid/test sample whose
exact or near token hash occurs in an earlier split is removed) without holding every hash at
once: the key columns of all shards are spilled to bucket files by ``hash % buckets``, with
buckets sized so that one holds at most ``BUCKET_ROWS`` keys, and each bucket is decided on
its own. That is exact, because every sample a decision depends on shares the bucket key: an
exact duplicate has the same near hash too, so bucketing by near hash keeps each near group
(and the exact groups inside it) together. Samples repeating an earlier sample's id are
dropped first the same way, bucketed by id hash. Memory is a bucket, or a spill buffer
(``SPILL_ROWS`` keys), or one shard being rewritten without its removed rows, plus 4 bytes per
removed sample, whatever the archive's size.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from rich.progress import Progress

from benchmark import console

PATTERN = "samples-*.parquet"
BUCKET_ROWS = 500_000  # keys decided together at most
SPILL_ROWS = 1_000_000  # keys buffered before they are written to their bucket files
SPLIT_CODE = {"train": 0, "valid": 1, "test": 2}
_KEYS = ("id", "split", "clean_hash", "near_hash")
MAX_ERRORS = 100  # unreadable files named in info.json (all are counted)
BATCH_BYTES = 32 << 20  # source bytes in one batch of files at most (with per_shard files)
Work = Callable[[Path, int, list[Any]], tuple[int, list[str]]]
# Why a build leaves an input out, as info.json and errors say it.
REASONS = {
    "skipped_large": "larger than BENCH_MAX_FILE_BYTES",
    "without_tokens": "without code or docstring tokens",
}


class LeftOut:
    """What a build leaves out on purpose, by reason (``REASONS``): every one counted and the
    first ``MAX_ERRORS`` named in info.json, so nothing goes missing unsaid."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.names: dict[str, list[str]] = {}

    def add(self, reason: str, name: str) -> None:
        self.counts[reason] += 1
        named = self.names.setdefault(reason, [])
        if len(named) < MAX_ERRORS:
            named.append(name)

    def info(self) -> dict[str, Any]:
        """``REASON_count`` and ``REASON`` (names) of every reason, zero counts included."""
        out: dict[str, Any] = {}
        for reason in REASONS:
            out[f"{reason}_count"] = self.counts[reason]
            out[reason] = self.names.get(reason, [])
        return out

    def summary(self) -> str:
        """``; N left out as ...`` for an error message, or nothing."""
        parts = [f"{n} {REASONS[r]}" for r, n in self.counts.items() if n]
        return f"; left out: {', '.join(parts)}" if parts else ""


def progress() -> Progress:
    """A build's progress bar on stderr: drawn on a terminal only and gone when done, so that
    a failed build's error stays the only line on stderr."""
    bar = console.progress()
    bar.live.transient = True
    bar.disable = not console.err.is_interactive
    return bar


def publish(tmp: Path, out: Path, info: dict[str, Any]) -> None:
    """Write ``info.json`` (the mark of a finished build) and rename the build folder ``tmp`` to
    ``out``; where another process finished the same build first, theirs (identical) stays."""
    (tmp / "info.json").write_text(json.dumps(info, indent=2))
    try:
        tmp.rename(out)
    except OSError:
        if not (out / "info.json").exists():
            raise


def shard_path(folder: Path, index: int) -> Path:
    return folder / f"samples-{index:05d}.parquet"


def write_shard(folder: Path, index: int, rows: list[dict[str, Any]], schema: dict) -> int:
    """Write one shard of rows atomically; returns the rows written. Repeated ids stay, for
    ``dedup`` to drop and count with those across shards."""
    df = pl.DataFrame(rows, schema=schema)
    final = shard_path(folder, index)
    tmp = final.with_suffix(".parquet.tmp")
    df.write_parquet(tmp)
    os.replace(tmp, final)
    return df.height


def build_parallel(
    label: str, items: Iterable[Any], work: Work, folder: Path, per_shard: int,
    workers: int | None = None, total: int | None = None,
    weigh: Callable[[Any], int] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Hand ``items`` to worker processes, ``per_shard`` at a time (or fewer, where ``weigh``
    says they hold ``BATCH_BYTES``): ``work(folder, index, batch)`` writes shard ``index`` and
    returns (rows, error lines).

    The parent only reads the items (file names, or an archive's members) and counts; at most
    two batches per worker are in flight, so its memory stays flat however many there are.
    Workers are spawned, never forked, as the parent may already run polars' threads.
    """
    workers = workers or max(1, min(len(os.sched_getaffinity(0)), 8))
    counts: dict[str, Any] = {"files": 0, "rows": 0, "unreadable": 0, "errors": []}
    pending: dict[Future, int] = {}
    bar = progress()

    def settle(at_most: int) -> None:
        while len(pending) > at_most:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                n = pending.pop(fut)
                rows, errors = fut.result()
                counts["rows"] += rows
                counts["unreadable"] += len(errors)
                counts["errors"] = (counts["errors"] + errors)[:MAX_ERRORS]
                bar.advance(task, n)

    with bar, ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        task = bar.add_task(label, total=total)
        batch: list[Any] = []
        index = held = 0
        try:
            for item in items:
                batch.append(item)
                counts["files"] += 1
                held += weigh(item) if weigh else 0
                if len(batch) == per_shard or held >= BATCH_BYTES:
                    pending[pool.submit(work, folder, index, batch)] = len(batch)
                    batch, index, held = [], index + 1, 0
                    settle(2 * workers - 1)
            if batch:
                pending[pool.submit(work, folder, index, batch)] = len(batch)
            settle(0)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return counts


def split_sizes(folder: Path) -> dict[str, int]:
    """Samples per split of a build, from the shards."""
    counts = scan(folder).group_by("split").len().collect()
    return {str(k): int(v) for k, v in zip(counts["split"], counts["len"], strict=True)}


def shards(folder: Path) -> list[Path]:
    return sorted(folder.glob(PATTERN))


def scan(folder: Path) -> pl.LazyFrame:
    """Every shard of a build as one lazy frame (read only as far as a query needs)."""
    return pl.scan_parquet(folder / PATTERN)


def _keys(path: Path, index: int) -> pl.DataFrame:
    """A shard's compact keys: (shard, row, split code, id/exact/near hashes as integers)."""
    hex64 = {"base": 16, "dtype": pl.UInt64}
    return (
        pl.read_parquet(path, columns=list(_KEYS))
        .with_row_index("row")
        .select(
            pl.lit(index, pl.UInt32).alias("shard"), pl.col("row").cast(pl.UInt32),
            pl.col("split").replace_strict(SPLIT_CODE, return_dtype=pl.UInt8),
            pl.col("id").hash(seed=0).alias("id_hash"),
            pl.col("clean_hash").str.to_integer(**hex64),
            pl.col("near_hash").str.to_integer(**hex64),
        )
    )  # fmt: skip


def _spill(
    folder: Path, paths: list[Path], key: str, buckets: int, dropped: dict[int, list[np.ndarray]],
    tick: Callable[[], None] = lambda: None,
) -> Path:  # fmt: skip
    """Write every shard's keys (less those already dropped) into bucket files by ``key``."""
    out = folder / f".keys-{key}"
    out.mkdir()
    held: list[pl.DataFrame] = []
    count = flushes = 0

    def flush() -> None:
        nonlocal count, flushes
        if not held:
            return
        frame = pl.concat(held).with_columns((pl.col(key) % buckets).alias("bucket"))
        for (b,), part in frame.partition_by("bucket", as_dict=True, include_key=False).items():
            part.write_parquet(out / f"b{b:05d}-{flushes:05d}.parquet")
        held.clear()
        count, flushes = 0, flushes + 1

    for i, path in enumerate(paths):
        k = _keys(path, i)
        if dropped.get(i):
            k = k.filter(~pl.col("row").is_in(np.concatenate(dropped[i])))
        held.append(k)
        count += k.height
        if count >= SPILL_ROWS:
            flush()
        tick()
    flush()
    return out


def _decide(
    spilled: Path, buckets: int, decide: Callable[[pl.DataFrame], pl.DataFrame],
    dropped: dict[int, list[np.ndarray]], tick: Callable[[], None] = lambda: None,
) -> None:  # fmt: skip
    """Run ``decide`` (keys -> keys to drop) on each bucket; record the drops by shard."""
    for b in range(buckets):
        tick()
        parts = sorted(spilled.glob(f"b{b:05d}-*.parquet"))
        if not parts:
            continue
        drop = decide(pl.concat([pl.read_parquet(p) for p in parts]).sort("shard", "row"))
        for (s,), rows in drop.partition_by("shard", as_dict=True).items():
            dropped.setdefault(int(s), []).append(rows["row"].to_numpy().astype(np.uint32))
    shutil.rmtree(spilled)


def dedup(folder: Path, rule: Callable[[pl.DataFrame], tuple[pl.DataFrame, dict]]) -> dict:
    """Drop repeated ids, then what ``rule`` removes across splits; rewrites the shards.

    ``rule`` is ``method_datasets.dedup``: it takes a frame with ``split`` (names),
    ``clean_hash`` and ``near_hash`` and returns (kept rows, removed counts). Returns the
    summed counts, with the repeated ids under ``repeated_id`` where there are any.
    """
    paths = shards(folder)
    total = sum(pl.scan_parquet(p).select(pl.len()).collect().item() for p in paths)
    buckets = max(1, -(-total // BUCKET_ROWS))
    dropped: dict[int, list[np.ndarray]] = {}
    removed: dict[str, dict[str, int]] = {}
    names = {v: k for k, v in SPLIT_CODE.items()}

    def repeated_ids(keys: pl.DataFrame) -> pl.DataFrame:
        repeated = keys.filter(~pl.col("id_hash").is_first_distinct())
        for (code,), rows in repeated.partition_by("split", as_dict=True).items():
            counts = removed.setdefault("repeated_id", {})  # counted, never silently gone
            counts[names[code]] = counts.get(names[code], 0) + rows.height
        return repeated

    def across_splits(keys: pl.DataFrame) -> pl.DataFrame:
        frame = keys.with_columns(pl.col("split").replace_strict(names, return_dtype=pl.String))
        kept, counts = rule(frame)
        for kind, per_split in counts.items():
            for split, n in per_split.items():
                removed.setdefault(kind, {}).setdefault(split, 0)
                removed[kind][split] += n
        return frame.join(kept.select("shard", "row"), on=["shard", "row"], how="anti")

    with progress() as bar:  # java-large: minutes
        task = bar.add_task("removing duplicates", total=2 * (len(paths) + buckets))

        def tick() -> None:
            bar.advance(task)

        for key, decide in (("id_hash", repeated_ids), ("near_hash", across_splits)):
            spilled = _spill(folder, paths, key, buckets, dropped, tick)
            _decide(spilled, buckets, decide, dropped, tick)
    for i, rows in dropped.items():
        _rewrite(paths[i], np.concatenate(rows))
    return removed


def _rewrite(path: Path, drop: np.ndarray) -> None:
    """A shard without the rows ``drop`` (gone if none is left), replaced atomically."""
    kept = (
        pl.read_parquet(path).with_row_index("_row")
        .filter(~pl.col("_row").is_in(drop)).drop("_row")
    )  # fmt: skip
    if kept.is_empty():
        path.unlink()
        return
    tmp = path.with_suffix(".parquet.tmp")
    kept.write_parquet(tmp)
    os.replace(tmp, path)
