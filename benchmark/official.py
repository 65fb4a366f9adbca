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
import json
import lzma
import os
import re
import shutil
import tarfile
import tempfile
import tomllib
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any

import polars as pl

from benchmark import shards
from benchmark.cache import CARDS, MAX_FILE_BYTES, cache_root, max_file_bytes
from benchmark.method_datasets import JAVA_SCHEMA, MAX_TOKENS, PYTHON_SCHEMA, dedup
from benchmark.tasks.methods import java_samples
from benchmark.tasks.var_misuse import token_hashes
from native import sources
from native.formats import FormatError, json_record, parse_great
from native.graph import EDGE_TYPES

# 2: samples as parquet shards (samples-NNNNN.parquet), info.json last; 3: every record's
# fields checked (has_bug "no" was read as true), every split non-empty, large inputs skipped
BUILDER_VERSION = 3  # 3: every field checked, files over the size limit skipped and counted
CHUNK = 1 << 16
FILES_PER_SHARD = 200  # .java files one worker parses into one shard
ROWS_PER_SHARD = 20_000  # samples per shard from the JSON-lines readers
SHARD_WEIGHT = 4_000_000  # or fewer, where they hold this many list items and characters
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

# What a damaged archive raises as it is read, besides FormatError: a cut stream, a bad
# checksum, a header or entry that tarfile or zipfile cannot decode.
CORRUPT = (tarfile.TarError, EOFError, OSError, lzma.LZMAError, *sources.ZIP_ERRORS)
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")  # a \uD800-\uDFFF escape


@dataclass(frozen=True)
class Member:
    """One file of a folder, zip or tar: its name, size and opener (a tar member's only until
    the next member is reached: read it, or it is skipped unread)."""

    where: str  # the source and the name, as messages show them
    name: str  # valid UTF-8, one line
    size: int
    opener: Callable[[], IO[bytes]]
    failure: str = "truncated or corrupt member"

    def read(self) -> bytes:
        try:
            with self.opener() as fh:
                return fh.read()
        except FormatError:
            raise
        except CORRUPT as e:
            raise FormatError(f"{self.where}: {self.failure} ({_one_line(e)})") from None


def _files(root: Path) -> Iterator[Path]:
    """Files under a folder, hidden ones (``.git``) left out, in name order folder by folder;
    a folder that cannot be read is an error, not a smaller dataset.

    A walk, not a sorted list: an extracted java-large holds 9.5M files.
    """

    def failed(e: OSError) -> None:
        raise FormatError(f"{sources.shown(str(e.filename))}: cannot read this folder "
                          f"({e.strerror})")  # fmt: skip

    for here, dirs, names in os.walk(root, onerror=failed):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for n in sorted(names):
            p = Path(here) / n
            if not n.startswith(".") and sources.is_file(p):
                yield p


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # reading it fails and says why


def _members(source: Path) -> Iterator[Member]:
    """Every file in a folder or a zip (in name order) or a tar (in its order).

    A tar is read as a stream, front to back once, and forgets each header once read
    (``TarFile`` would otherwise keep all of them: 9.5M for java-large).
    """
    shown = sources.shown(str(source))
    if source.is_dir():
        for p in _files(source):
            name = sources.shown(p.relative_to(source).as_posix())
            yield Member(f"{shown}/{name}", name, _size(p), partial(open, p, "rb"), "cannot read")
        return
    try:
        if zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as z:
                for info in sorted(z.infolist(), key=lambda i: i.filename):
                    if not info.is_dir():
                        name = sources.shown(info.filename)
                        yield Member(f"{shown}/{name}", name, info.file_size, partial(z.open, info))
            return
        if source.suffix == ".zip":
            raise zipfile.BadZipFile("no zip central directory")
        with _decompressed(source) as fh, tarfile.open(fileobj=fh, mode="r|") as t:
            while (m := t.next()) is not None:
                t.members.clear()
                if m.isfile():
                    name = sources.shown(m.name)
                    yield Member(f"{shown}/{name}", name, m.size, partial(t.extractfile, m))
            while fh.read(CHUNK):  # to the compressed stream's end, where its checksum is
                pass
    except FormatError:
        raise
    except CORRUPT as e:
        raise FormatError(f"{shown}: truncated or corrupt archive ({_one_line(e)})") from None


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
    """Why ``e`` happened, on one line: an OS error's own words, without its errno and path."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return " ".join(str(e).split()) or type(e).__name__


def _lines(member: Member, limit: int, left_out: shards.LeftOut) -> Iterator[tuple[str, str]]:
    """(``where:line``, text) of every non-blank line of a JSON-lines member (gzipped when its
    name ends with .gz), streamed; a line over ``limit`` bytes is skipped and counted, so
    neither a huge line nor a huge file is ever held whole."""
    gz = member.name.endswith(".gz")
    number = 0
    try:
        with member.opener() as raw:
            stream: IO[bytes] = gzip.GzipFile(fileobj=raw) if gz else raw  # type: ignore[assignment]
            while line := stream.readline(limit + 1):
                number += 1
                where = f"{member.where}:{number}"
                if len(line) > limit and not line.endswith(b"\n"):
                    while (rest := stream.readline(CHUNK)) and not rest.endswith(b"\n"):
                        pass
                    left_out.add("skipped_large", where)
                    continue
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError:
                    raise FormatError(f"{where}: not UTF-8") from None
                if text.strip():
                    yield where, text
    except FormatError:
        raise
    except CORRUPT as e:
        what = "truncated or corrupt gzip" if gz else member.failure
        raise FormatError(f"{member.where}:{number + 1}: {what} ({_one_line(e)})") from None


def _split_of(member: str, names: tuple[str, ...]) -> str | None:
    """The split a member's path names: a folder (train/, dev/...) or a GREAT shard prefix."""
    parts = member.split("/")
    for part in reversed(parts):
        key = part.split("__", 1)[0].lower() if "__" in part else part.lower()
        if key in names and key in SPLITS:
            return SPLITS[key]
    return None


# -- record checks: every field's type and range, so a bad record stops prepare, not a run ------


def _record(parse: Callable[..., Any], line: str, where: str, *args: Any) -> Any:
    """``parse(line, where, *args)``, with what ``json`` itself lets through made one-line
    errors too: nesting deeper than the stack, integers of thousands of digits, and strings
    holding an unpaired surrogate (which no UTF-8 file can store)."""
    try:
        record = parse(line, where, *args)
    except FormatError:
        raise
    except (ValueError, RecursionError) as e:
        raise FormatError(f"{where}: not JSON ({_one_line(e)})") from None
    if _SURROGATE.search(line):
        try:
            json.dumps(json.loads(line), ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise FormatError(f"{where}: a string holds an unpaired UTF-16 surrogate") from None
    return record


def _shown(value: Any) -> str:
    """A JSON value as an error message quotes it: its JSON text, cut short."""
    try:
        text = json.dumps(value)
    except (ValueError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _string(value: Any, where: str, field: str) -> str:
    if not isinstance(value, str):
        raise FormatError(f"{where}: {field} is {_shown(value)}, not a string")
    return value


def _strings(value: Any, where: str, field: str) -> list[str]:
    if not isinstance(value, list):
        raise FormatError(f"{where}: {field} is {_shown(value)}, not a list of strings")
    for i, v in enumerate(value):
        if not isinstance(v, str):
            raise FormatError(f"{where}: {field}[{i}] is {_shown(v)}, not a string")
    return value


def _position(value: Any, where: str, field: str, n: int) -> int:
    """A token position: an integer (not a boolean) in [0, n)."""
    if type(value) is not int or not 0 <= value < n:
        raise FormatError(f"{where}: {field} is {_shown(value)}, not a token position in "
                          f"[0, {n})")  # fmt: skip
    return value


def _positions(value: Any, where: str, field: str, n: int, names: bool = False) -> list[int]:
    """A list of token positions; with ``names``, the variable names that GREAT's bug-free
    examples list among their repair candidates are allowed, and left out."""
    if not isinstance(value, list):
        raise FormatError(f"{where}: {field} is {_shown(value)}, not a list")
    return [
        _position(v, where, f"{field}[{i}]", n)
        for i, v in enumerate(value)
        if not (names and isinstance(v, str))
    ]


def _edge_problem(edge: Any, n: int) -> str | None:
    """What is wrong with one GREAT edge ``[source, target, type_id, "enum_NAME"]``, if
    anything: positions in [0, n), a type this suite knows, and that type's name."""
    if type(edge) is not list or len(edge) not in (3, 4):
        return "not [source, target, type, name]"
    if not all(type(p) is int and 0 <= p < n for p in edge[:2]):
        return f"has an end outside the tokens [0, {n})"
    if type(edge[2]) is not int or edge[2] not in EDGE_TYPES:
        return f"has type {_shown(edge[2])}, not one of {min(EDGE_TYPES)}-{max(EDGE_TYPES)}"
    if len(edge) == 4 and edge[3] != EDGE_TYPES[edge[2]]:
        return f"names type {edge[2]} {_shown(edge[3])}, not {_shown(EDGE_TYPES[edge[2]])}"
    return None


def _edges(value: Any, where: str, n: int) -> list[list[int]]:
    """GREAT's edges, checked, as (source, target, type) triples."""
    if not isinstance(value, list):
        raise FormatError(f"{where}: edges is {_shown(value)}, not a list")
    names = EDGE_TYPES.get
    if not all(  # the released form, checked inline: this runs for millions of edges
        type(e) is list and len(e) == 4 and type(e[0]) is int and type(e[1]) is int
        and 0 <= e[0] < n and 0 <= e[1] < n and type(e[2]) is int and names(e[2]) == e[3]
        for e in value
    ):  # fmt: skip
        for i, edge in enumerate(value):
            problem = _edge_problem(edge, n)
            if problem:
                raise FormatError(f"{where}: edges[{i}] {_shown(edge)} {problem}")
    return [e[:3] for e in value]


def great_sample(line: str, where: str) -> dict[str, Any]:
    """One GREAT record as a sample's columns, every field's type and range checked: GREAT
    marks a bug-free example with error_location 0, so has_bug must agree with it."""
    s = _record(parse_great, line, where)
    tokens = _strings(s.source_tokens, where, "source_tokens")
    n = len(tokens)
    if not n:
        raise FormatError(f"{where}: source_tokens is empty")
    if not isinstance(s.has_bug, bool):
        raise FormatError(f"{where}: has_bug is {_shown(s.has_bug)}, not true or false")
    location = _position(s.error_location, where, "error_location", n)
    if s.has_bug != (location != 0):
        raise FormatError(f"{where}: has_bug is {_shown(s.has_bug)} but error_location is "
                          f"{location} (0 marks a bug-free example)")  # fmt: skip
    exact, near = token_hashes(tokens)
    return {
        "function": "", "clean_hash": exact, "near_hash": near, "source_tokens": tokens,
        "edges": _edges(s.edges, where, n),
        "repair_candidates": _positions(s.repair_candidates, where, "repair_candidates", n,
                                        names=True),
        "has_bug": s.has_bug, "error_location": location,
        "repair_targets": _positions(s.repair_targets, where, "repair_targets", n),
    }  # fmt: skip


def read_great(source: Path, left_out: shards.LeftOut | None = None) -> Iterator[dict[str, Any]]:
    """Samples of GREAT's JSON-lines shards (``<split>__VARIABLE_MISUSE__SStuB.txt-*``)."""
    left_out = left_out or shards.LeftOut()
    limit = max_file_bytes()
    for m in _members(source):
        split = _split_of(m.name, ("train", "dev", "eval"))
        if split is None or "VARIABLE_MISUSE" not in m.name:
            continue
        for where, line in _lines(m, limit, left_out):
            number = where.rsplit(":", 1)[1]
            yield {"id": f"{m.name}:{number}", "split": split, "file": m.name,
                   **great_sample(line, where)}  # fmt: skip


def codesearchnet_sample(line: str, where: str) -> dict[str, Any]:
    """One CodeSearchNet record as a sample's columns (and its split), every field checked."""
    obj = _record(json_record, line, where, CSN_FIELDS)
    text = {k: _string(obj[k], where, k) for k in CSN_FIELDS if not k.endswith("_tokens")}
    split = SPLITS.get(text["partition"])
    if split is None:
        raise FormatError(f"{where}: unknown partition {_shown(text['partition'])}")
    tokens = _strings(obj["code_tokens"], where, "code_tokens")
    exact, near = token_hashes(tokens)
    return {
        "split": split, "file": f"{text['repo']}/{text['path']}", "clean_hash": exact,
        "near_hash": near, "source_tokens": tokens,
        "doc_tokens": _strings(obj["docstring_tokens"], where, "docstring_tokens"),
        "name": text["func_name"], "code": text["code"], "docstring": text["docstring"],
        "repo": text["repo"],
    }  # fmt: skip


def read_codesearchnet(
    source: Path, left_out: shards.LeftOut | None = None
) -> Iterator[dict[str, Any]]:
    """Samples of CodeSearchNet's JSON lines (``*.jsonl`` or ``*.jsonl.gz``, in a zip or not);
    a record without code or docstring tokens is left out (and counted): it can be neither
    input nor label."""
    left_out = left_out or shards.LeftOut()
    limit = max_file_bytes()
    for m in _members(source):
        if not m.name.endswith((".jsonl", ".jsonl.gz")):
            continue
        for where, line in _lines(m, limit, left_out):
            row = codesearchnet_sample(line, where)
            if not row["source_tokens"] or not row["doc_tokens"]:
                left_out.add("without_tokens", where)
                continue
            number = where.rsplit(":", 1)[1]
            yield {"id": f"{row['file']}:{row['name']}:{number}", **row}


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
                h.update(p.relative_to(source).as_posix().encode("utf-8", "surrogateescape"))
                h.update(b"\0" + bytes.fromhex(sha256_of(p)))
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
