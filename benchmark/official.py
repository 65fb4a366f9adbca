"""The original benchmarks' archives: download with resume and checksum, read their native formats.

``prepare`` fetches a card's archive into ``$BENCH_CACHE/downloads/NAME/`` (a ``.part`` file that
an HTTP Range request continues, renamed into place only once its sha256 is known) or takes an
archive or folder the user already has, reads it in its native format (GREAT JSON-lines shards,
CodeSearchNet JSON lines, code2seq's tree of ``.java`` files) and writes the samples into
``$BENCH_CACHE/datasets/NAME-FINGERPRINT/`` through a temporary folder renamed into place, so
nothing half-written is ever found under a final name.

Memory does not grow with the archive (java-large is ~9.5M files): a tar is read front to back
once, Java files are parsed by worker processes a shard of files at a time with a bounded
number of shards in flight, samples are written as parquet shards (``benchmark.shards``),
deduplicated across splits bucket by bucket, and read back lazily (``load`` scans them).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import tempfile
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from benchmark import shards
from benchmark.cache import CARDS, MAX_FILE_BYTES, cache_root, max_file_bytes
from benchmark.method_datasets import JAVA_SCHEMA, MAX_TOKENS, PYTHON_SCHEMA, dedup
from benchmark.official_readers import (  # noqa: F401 (names official's callers read)
    CHUNK,
    CORRUPT,
    CSN_FIELDS,
    SPLITS,
    Member,
    _files,
    _lines,
    _members,
    _one_line,
    _split_of,
    read_codesearchnet,
    read_great,
)
from benchmark.tasks.methods import java_samples
from native import sources
from native.formats import FormatError

# 2: samples as parquet shards (samples-NNNNN.parquet), info.json last; 3: every record's
# fields checked (has_bug "no" was read as true), every split non-empty, large inputs skipped
BUILDER_VERSION = 3  # 3: every field checked, files over the size limit skipped and counted
FILES_PER_SHARD = 200  # .java files one worker parses into one shard
ROWS_PER_SHARD = 20_000  # samples per shard from the JSON-lines readers
SHARD_WEIGHT = 4_000_000  # or fewer, where they hold this many list items and characters
_S, _LS, _LI = pl.String, pl.List(pl.String), pl.List(pl.Int64)
_KEYS = {"id": _S, "split": _S, "file": _S, "clean_hash": _S, "near_hash": _S, "source_tokens": _LS}
SCHEMAS = {  # each format's sample columns, so every shard has the same schema
    "java-tree": JAVA_SCHEMA,
    "great": PYTHON_SCHEMA,
    "codesearchnet": {**_KEYS, "doc_tokens": _LS, "name": _S, "code": _S, "docstring": _S,
                      "repo": _S},
}  # fmt: skip


class DownloadError(RuntimeError):
    """A download that failed or was cut; its message is one line."""


# -- cards --------------------------------------------------------------------------------------


def cards() -> dict[str, dict]:
    """Every card under ``datasets/``, by name."""
    out = {}
    for path in sorted(CARDS.glob("*.toml")):
        c = tomllib.loads(path.read_text())
        out[c.get("name", path.stem)] = c
    return out


def card_of(name: str) -> dict:
    """The card of a name; ``dir:PATH`` (and ``dir:PATH:ruby``) share the ``dir:PATH`` card."""
    all_cards = cards()
    if name.startswith("dir:"):
        return all_cards["dir:PATH"]
    if name not in all_cards:
        raise KeyError(f"unknown dataset {name!r}; choose from: {', '.join(all_cards)}")
    return all_cards[name]


def archive_path(c: dict) -> Path:
    return cache_root() / "downloads" / c["name"] / c["file"]


def prepared(name: str) -> Path | None:
    """The newest complete build of an official dataset in the cache, if any."""
    found = sorted(
        (cache_root() / "datasets").glob(f"{name}-*-v{BUILDER_VERSION}/info.json"),
        key=lambda p: p.stat().st_mtime,
    )
    return found[-1].parent if found else None


# -- download -----------------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def download(url: str, dest: Path, sha256: str | None = None, timeout: float = 60) -> str:
    """Fetch ``url`` into ``dest`` via ``dest.part``, resuming a part left by a cut connection.

    Returns the file's sha256. A wrong checksum deletes the part file; a cut connection keeps it
    for the next call. ``dest`` appears only complete and verified (``os.replace``).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    total: int | None = None
    cut = False
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        # 416 on a resume: whole only where the server says the file has the part's size
        whole = re.fullmatch(r"bytes \*/(\d+)", (e.headers or {}).get("Content-Range", ""))
        if not (e.code == 416 and have and whole and int(whole.group(1)) == have):
            if e.code == 416:
                part.unlink(missing_ok=True)  # the server will not resume it: start afresh
            raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
        resp = None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise DownloadError(
            f"cannot reach {url} ({reason}); fetch it yourself and put it at {dest}, "
            f"or pass --source PATH"
        ) from None
    except (http.client.HTTPException, ValueError) as e:  # a bad URL, or an answer not HTTP
        why = " ".join(str(e).split())[:200] or type(e).__name__
        raise DownloadError(f"{url}: not a URL this can download, or no HTTP answer "
                            f"({type(e).__name__}: {why})") from None  # fmt: skip
    if resp is not None:
        with resp:
            if have and resp.status != 206:  # the server ignored Range: start again
                have = 0
            length = resp.headers.get("Content-Length")
            if length is not None and not length.strip().isdigit():
                raise DownloadError(f"{url}: the server's Content-Length {length!r} is no size")
            total = have + int(length) if length is not None else None
            with open(part, "ab" if have else "wb") as fh:
                try:
                    while chunk := resp.read(CHUNK):
                        fh.write(chunk)
                except (OSError, http.client.HTTPException):
                    cut = True  # the part file keeps what arrived, for the next call
    size = part.stat().st_size
    if cut or (total is not None and size < total):
        raise DownloadError(
            f"{url}: connection lost after {size} of {total or 'unknown'} bytes; "
            f"run prepare again to resume from {part}"
        )
    digest = sha256_of(part)
    if sha256 and digest != sha256.lower():
        part.unlink()
        raise DownloadError(f"{url}: sha256 {digest} does not match the card's {sha256}")
    os.replace(part, dest)
    return digest


def java_files(
    source: Path, left_out: shards.LeftOut | None = None
) -> Iterator[tuple[str, str, bytes]]:
    """(name, split, bytes) of code2seq's ``*/training|validation|test/<project>/**.java``;
    a file over ``max_file_bytes`` is skipped unread (and counted)."""
    left_out = left_out or shards.LeftOut()
    limit = max_file_bytes()
    for m in _members(source):
        if not m.name.endswith(".java"):
            continue
        split = _split_of(m.name, ("training", "validation", "test"))
        if split is None:
            continue
        if m.size > limit:
            left_out.add("skipped_large", m.name)
            continue
        yield m.name, split, m.read()  # the archive's own split, by project


def java_shard(folder: Path, index: int, files: list[tuple[str, str, bytes]]) -> tuple[int, list]:
    """Parse some Java files into shard ``index`` (a worker's unit); (samples, unreadable)."""
    rows: list[dict[str, Any]] = []
    errors = []
    for name, split, data in files:
        try:
            rows += [{**r, "split": split} for r in java_samples(name, data, MAX_TOKENS)]
        except (UnicodeError, ValueError, RecursionError) as e:  # loses only this file
            errors.append(f"{name}: {type(e).__name__}: {e}"[:300])
    return (shards.write_shard(folder, index, rows, SCHEMAS["java-tree"]) if rows else 0), errors


def build_java_tree(
    source: Path, folder: Path, workers: int | None = None, left_out: shards.LeftOut | None = None
) -> dict[str, Any]:
    """Parse every .java file into shards under ``folder`` with worker processes."""
    return shards.build_parallel(
        f"parsing {source.name}", java_files(source, left_out), java_shard, folder,
        FILES_PER_SHARD, workers, weigh=lambda item: len(item[2]),
    )  # fmt: skip


def _weight(row: dict[str, Any]) -> int:
    """About how many values a sample holds (list items and characters), for shard sizes."""
    return sum(len(v) for v in row.values() if isinstance(v, str | list))


def build_rows(rows: Iterator[dict[str, Any]], folder: Path, schema: dict, label: str) -> None:
    """Write a reader's samples into shards of ``ROWS_PER_SHARD`` (fewer where they are large:
    ``SHARD_WEIGHT``), so a build holds one shard's rows at most."""
    held: list[dict[str, Any]] = []
    index = weight = 0
    with shards.progress() as bar:
        task = bar.add_task(label, total=None)
        for r in rows:
            held.append(r)
            weight += _weight(r)
            bar.advance(task)
            if len(held) == ROWS_PER_SHARD or weight >= SHARD_WEIGHT:
                shards.write_shard(folder, index, held, schema)
                held, index, weight = [], index + 1, 0
    if held:
        shards.write_shard(folder, index, held, schema)


READERS = {"great": read_great, "codesearchnet": read_codesearchnet}


# -- building -----------------------------------------------------------------------------------


def fingerprint(source: Path) -> str:
    """sha256 of an archive, or of every file's name and content in a folder (each file
    streamed, so a huge one is never held whole)."""
    try:
        if source.is_file():
            return sha256_of(source)
        h = hashlib.sha256()
        with shards.progress() as bar:
            task = bar.add_task(f"hashing {source.name}", total=None)
            for p in _files(source):
                try:  # an error on read() carries no file name: name the file here
                    digest = sha256_of(p)
                except OSError as e:
                    raise FormatError(f"{sources.shown(str(p))}: cannot read "
                                      f"({_one_line(e)})") from None  # fmt: skip
                h.update(p.relative_to(source).as_posix().encode("utf-8", "surrogateescape"))
                h.update(b"\0" + bytes.fromhex(digest))
                bar.advance(task)
        return h.hexdigest()
    except OSError as e:
        raise FormatError(f"{sources.shown(str(e.filename or source))}: cannot read "
                          f"({_one_line(e)})") from None  # fmt: skip


def build(c: dict, source: Path, digest: str | None = None, workers: int | None = None) -> Path:
    """Read ``source`` in the card's native format into the cache; returns the build folder.

    Another ``BENCH_MAX_FILE_BYTES`` than the default may keep other inputs, so it makes
    another build with its own fingerprint.
    """
    digest = digest or fingerprint(source)
    limit = max_file_bytes()
    digest += "" if limit == MAX_FILE_BYTES else f"-max{limit}"
    tag = digest[:16] + digest[64:]
    out = cache_root() / "datasets" / f"{c['name']}-{tag}-v{BUILDER_VERSION}"
    if (out / "info.json").exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=out.parent))
    try:
        read: dict[str, Any] = {}
        left_out = shards.LeftOut()
        if c["format"] == "java-tree":
            read = build_java_tree(source, tmp, workers, left_out)
        else:
            rows = READERS[c["format"]](source, left_out)
            build_rows(rows, tmp, SCHEMAS[c["format"]], f"reading {source.name}")
        if not shards.shards(tmp):
            raise FormatError(f"{source}: no samples in the {c['format']} format found"
                              f"{left_out.summary()}")  # fmt: skip
        before = shards.split_sizes(tmp)
        removed = shards.dedup(tmp, dedup)
        check_splits(str(source), before, shards.split_sizes(tmp), left_out)
        info = {
            "name": c["name"], "builder_version": BUILDER_VERSION, "source": str(source),
            "fingerprint": digest, "duplicates_removed": removed, "max_file_bytes": limit,
            **left_out.info(), "shards": len(shards.shards(tmp)), **describe(shards.scan(tmp)),
        }  # fmt: skip
        if read:
            info |= {"files": read["files"], "unreadable_count": read["unreadable"],
                     "unreadable_files": read["errors"]}  # fmt: skip
        shards.publish(tmp, out, info)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def check_splits(
    source: str, before: dict[str, int], after: dict[str, int], left_out: shards.LeftOut
) -> None:
    """Every split must keep samples: a run needs all three, and one scored on an empty split
    reports a generalization gap that is not one."""
    for split in ("train", "valid", "test"):
        if after.get(split):
            continue
        had = before.get(split, 0)
        why = f"all {had} duplicate an earlier split" if had else "the source holds none"
        raise FormatError(f"{source}: no {split} samples ({why}{left_out.summary()}); "
                          "a run needs train, valid and test samples")  # fmt: skip


def describe(samples: pl.DataFrame | pl.LazyFrame) -> dict[str, Any]:
    """Sizes per split, vocabulary sizes (train), label distribution of a samples frame.

    Lazy, and collected by the streaming engine: a query holds its groups (splits, distinct
    tokens), never the samples.
    """
    lf = samples.lazy()
    columns = lf.collect_schema().names()

    def run(q: pl.LazyFrame) -> pl.DataFrame:
        return q.collect(engine="streaming")

    counts = run(lf.group_by("split").len())
    train = lf.filter(pl.col("split") == "train")
    unique = run(train.select(pl.col("source_tokens").explode().drop_nulls().n_unique())).item()
    vocab = {"source_tokens": unique}
    labels: dict[str, Any] = {}
    if "has_bug" in columns:
        g = run(lf.group_by("split").agg(pl.col("has_bug").sum().alias("buggy"), pl.len()))
        labels = {r["split"]: {"buggy": r["buggy"], "correct": r["len"] - r["buggy"]}
                  for r in g.iter_rows(named=True)}  # fmt: skip
    for col in ("label", "doc_tokens"):
        if col in columns:
            words = train.select(pl.col(col).explode().drop_nulls())
            vocab[col] = run(words.select(pl.col(col).n_unique())).item()
            counts_by = run(words.group_by(col).len("count"))
            top = counts_by.sort(["count", col], descending=[True, False]).head(10)
            labels["top_" + col] = dict(zip(top[col], top["count"], strict=True))
            mean = run(train.select(pl.col(col).list.len().mean())).item()
            labels["mean_length_" + col] = round(float(mean or 0), 2)
    return {
        "samples": {s: int(n) for s, n in zip(counts["split"], counts["len"], strict=True)},
        "vocabulary": {k: int(v) for k, v in vocab.items()},
        "labels": labels,
    }


def prepare(name: str, source: Path | None = None, url: str | None = None) -> Path:
    """Download (or take ``source``), check, read and cache an official dataset."""
    c = card_of(name)
    if c.get("kind") != "official":
        raise DownloadError(f"{name} is a local dataset: nothing to download; see `info {name}`")
    if source is not None:
        if not source.exists():
            raise FileNotFoundError(f"{source}: no such file or folder")
        return build(c, source)
    dest = archive_path(c)
    sha = c.get("sha256") or None
    if dest.exists():
        digest = sha256_of(dest)
        if sha and digest != sha:
            raise DownloadError(f"{dest}: sha256 {digest} does not match the card's {sha}")
    else:
        digest = download(url or c["url"], dest, sha)
    try:
        return build(c, dest, digest)
    except FormatError as e:  # a card without sha256 took whatever the server sent
        raise FormatError(f"{e}; remove {dest} to download it again") from None


def load(name: str) -> tuple[str, pl.LazyFrame, dict]:
    """(fingerprint, samples scanned lazily from the shards, info) of a prepared dataset."""
    out = prepared(name)
    if out is None:
        c = card_of(name)
        raise FileNotFoundError(
            f"{name} is not prepared; run `bench datasets prepare {name}` (it downloads "
            f"{c.get('url')} into {archive_path(c)}, or reads --source PATH)"
        )
    info = json.loads((out / "info.json").read_text())
    return info["fingerprint"], shards.scan(out), info
