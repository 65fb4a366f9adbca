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

import bz2
import gzip
import hashlib
import http.client
import io
import json
import lzma
import os
import shutil
import tarfile
import tempfile
import tomllib
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from benchmark import shards
from benchmark.datasets import CARDS, cache_root
from benchmark.method_datasets import JAVA_SCHEMA, MAX_TOKENS, PYTHON_SCHEMA, dedup
from benchmark.tasks.methods import java_samples
from benchmark.tasks.var_misuse import token_hashes
from native.formats import FormatError, json_record, parse_great

BUILDER_VERSION = 2  # 2: samples as parquet shards (samples-NNNNN.parquet), info.json last
CHUNK = 1 << 16
FILES_PER_SHARD = 200  # .java files one worker parses into one shard
ROWS_PER_SHARD = 20_000  # samples per shard from the JSON-lines readers
SPLITS = {"train": "train", "training": "train", "dev": "valid", "valid": "valid",
          "validation": "valid", "eval": "test", "test": "test"}  # fmt: skip
CSN_FIELDS = ("code", "code_tokens", "docstring", "docstring_tokens", "func_name", "repo",
              "path", "partition")  # fmt: skip
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
        if not (e.code == 416 and have):  # 416 on a resume: the part is already whole
            raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
        resp = None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise DownloadError(
            f"cannot reach {url} ({reason}); fetch it yourself and put it at {dest}, "
            f"or pass --source PATH"
        ) from None
    if resp is not None:
        with resp:
            if have and resp.status != 206:  # the server ignored Range: start again
                have = 0
            length = resp.headers.get("Content-Length")
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


# -- native readers -----------------------------------------------------------------------------


def _files(root: Path) -> Iterator[Path]:
    """Files under a folder, hidden ones (``.git``) left out, in name order folder by folder.

    A walk, not a sorted list: an extracted java-large holds 9.5M files.
    """
    for here, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for n in sorted(names):
            p = Path(here) / n
            if not n.startswith(".") and p.is_file():
                yield p


def _members(source: Path) -> Iterator[tuple[str, Any]]:
    """(name, opener) of every file in a folder or a zip (in name order) or a tar (in its order).

    A tar is read as a stream, front to back once, and forgets each header once read
    (``TarFile`` would otherwise keep all of them: 9.5M for java-large); a member left unread
    is skipped, not loaded.
    """
    if source.is_dir():
        for p in _files(source):
            yield p.relative_to(source).as_posix(), p.read_bytes
        return
    try:
        if zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as z:
                for info in sorted(z.infolist(), key=lambda i: i.filename):
                    if not info.is_dir():
                        yield info.filename, _guarded(source, info.filename, z.read, info)
            return
        if source.suffix == ".zip":
            raise zipfile.BadZipFile("no zip central directory")
        with _decompressed(source) as fh, tarfile.open(fileobj=fh, mode="r|") as t:
            while (m := t.next()) is not None:
                t.members.clear()
                if m.isfile():  # the opener is good until the next member: read it or skip it
                    yield m.name, _guarded(source, m.name, t.extractfile(m).read)  # type: ignore[union-attr]
            while fh.read(CHUNK):  # to the compressed stream's end, where its checksum is
                pass
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError,
            lzma.LZMAError) as e:  # fmt: skip
        raise FormatError(f"{source}: truncated or corrupt archive ({_one_line(e)})") from None


def _decompressed(source: Path) -> Any:
    """A tar archive's bytes as a stream, through gzip, bz2 or xz by its magic number.

    These modules check the compressed stream's end, which tarfile's own stream mode does
    not, so a truncated archive is an error rather than a silently shorter dataset.
    """
    with open(source, "rb") as fh:
        magic = fh.read(6)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.open(source, "rb")
    if magic.startswith(b"BZh"):
        return bz2.open(source, "rb")
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.open(source, "rb")
    return open(source, "rb")


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _guarded(source: Path, name: str, read: Any, *args: Any) -> Any:
    """A member's reader whose failure names the archive and the member."""

    def run() -> bytes:
        try:
            return read(*args)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, OSError) as e:
            raise FormatError(
                f"{source}/{name}: truncated or corrupt member ({_one_line(e)})"
            ) from None

    return run


def _lines(where: str, data: bytes, gz: bool) -> Iterator[tuple[str, str]]:
    """(``where:line``, text) of every non-blank line; a truncated gzip names its line."""
    stream: io.BufferedIOBase = gzip.GzipFile(fileobj=io.BytesIO(data)) if gz else io.BytesIO(data)
    number = 0
    try:
        for number, raw in enumerate(stream, 1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise FormatError(f"{where}:{number}: not UTF-8") from None
            if text.strip():
                yield f"{where}:{number}", text
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise FormatError(
            f"{where}:{number + 1}: truncated or corrupt gzip ({_one_line(e)})"
        ) from None


def _split_of(member: str, names: tuple[str, ...]) -> str | None:
    """The split a member's path names: a folder (train/, dev/...) or a GREAT shard prefix."""
    parts = member.split("/")
    for part in reversed(parts):
        key = part.split("__", 1)[0].lower() if "__" in part else part.lower()
        if key in names and key in SPLITS:
            return SPLITS[key]
    return None


def read_great(source: Path) -> Iterator[dict[str, Any]]:
    """Samples of GREAT's JSON-lines shards (``<split>__VARIABLE_MISUSE__SStuB.txt-*``)."""
    where_root = str(source)
    for name, read in _members(source):
        split = _split_of(name, ("train", "dev", "eval"))
        if split is None or "VARIABLE_MISUSE" not in name:
            continue
        for where, line in _lines(f"{where_root}/{name}", read(), name.endswith(".gz")):
            s = parse_great(line, where)
            tokens = list(s.source_tokens)
            exact, near = token_hashes(tokens)
            yield {
                "id": where.removeprefix(f"{where_root}/"), "split": split, "file": name,
                "function": "", "clean_hash": exact, "near_hash": near, "source_tokens": tokens,
                "edges": [list(map(int, e[:3])) for e in s.edges],
                "repair_candidates": [c for c in s.repair_candidates if isinstance(c, int)],
                "has_bug": bool(s.has_bug), "error_location": int(s.error_location),
                "repair_targets": [int(t) for t in s.repair_targets],
            }  # fmt: skip


def read_codesearchnet(source: Path) -> Iterator[dict[str, Any]]:
    """Samples of CodeSearchNet's JSON lines (``*.jsonl`` or ``*.jsonl.gz``, in a zip or not)."""
    for name, read in _members(source):
        if not name.endswith((".jsonl", ".jsonl.gz")):
            continue
        for where, line in _lines(f"{source}/{name}", read(), name.endswith(".gz")):
            obj = json_record(line, where, CSN_FIELDS)
            split = SPLITS.get(str(obj["partition"]))
            if split is None:
                raise FormatError(f"{where}: unknown partition {obj['partition']!r}")
            tokens = [str(t) for t in obj["code_tokens"]]
            exact, near = token_hashes(tokens)
            yield {
                "id": f"{obj['repo']}/{obj['path']}:{obj['func_name']}:{where.rsplit(':', 1)[1]}",
                "split": split, "file": f"{obj['repo']}/{obj['path']}", "clean_hash": exact,
                "near_hash": near, "source_tokens": tokens,
                "doc_tokens": [str(t) for t in obj["docstring_tokens"]],
                "name": str(obj["func_name"]), "code": str(obj["code"]),
                "docstring": str(obj["docstring"]), "repo": str(obj["repo"]),
            }  # fmt: skip


def java_files(source: Path) -> Iterator[tuple[str, str, bytes]]:
    """(name, split, bytes) of code2seq's ``*/training|validation|test/<project>/**.java``."""
    for name, read in _members(source):
        if not name.endswith(".java"):
            continue
        split = _split_of(name, ("training", "validation", "test"))
        if split is not None:  # the archive's own split, by project
            yield name, split, read()


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


def build_java_tree(source: Path, folder: Path, workers: int | None = None) -> dict[str, Any]:
    """Parse every .java file into shards under ``folder`` with worker processes."""
    return shards.build_parallel(
        f"parsing {source.name}", java_files(source), java_shard, folder, FILES_PER_SHARD, workers
    )


def build_rows(rows: Iterator[dict[str, Any]], folder: Path, schema: dict) -> None:
    """Write a reader's samples into shards of ``ROWS_PER_SHARD``."""
    held: list[dict[str, Any]] = []
    index = 0
    for r in rows:
        held.append(r)
        if len(held) == ROWS_PER_SHARD:
            shards.write_shard(folder, index, held, schema)
            held, index = [], index + 1
    if held:
        shards.write_shard(folder, index, held, schema)


READERS = {"great": read_great, "codesearchnet": read_codesearchnet}


# -- building -----------------------------------------------------------------------------------


def fingerprint(source: Path) -> str:
    """sha256 of an archive, or of every file's name and content in a folder."""
    if source.is_file():
        return sha256_of(source)
    h = hashlib.sha256()
    for p in _files(source):
        h.update(p.relative_to(source).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def build(c: dict, source: Path, digest: str | None = None, workers: int | None = None) -> Path:
    """Read ``source`` in the card's native format into the cache; returns the build folder."""
    digest = digest or fingerprint(source)
    out = cache_root() / "datasets" / f"{c['name']}-{digest[:16]}-v{BUILDER_VERSION}"
    if (out / "info.json").exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=out.parent))
    try:
        read: dict[str, Any] = {}
        if c["format"] == "java-tree":
            read = build_java_tree(source, tmp, workers)
        else:
            build_rows(READERS[c["format"]](source), tmp, SCHEMAS[c["format"]])
        if not shards.shards(tmp):
            raise FormatError(f"{source}: no samples in the {c['format']} format found")
        removed = shards.dedup(tmp, dedup)
        info = {
            "name": c["name"], "builder_version": BUILDER_VERSION, "source": str(source),
            "fingerprint": digest, "duplicates_removed": removed,
            "shards": len(shards.shards(tmp)), **describe(shards.scan(tmp)),
        }  # fmt: skip
        if read:
            info |= {"files": read["files"], "unreadable_count": read["unreadable"],
                     "unreadable_files": read["errors"]}  # fmt: skip
        shards.publish(tmp, out, info)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


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
    return build(c, dest, digest)


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
