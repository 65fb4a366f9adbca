"""The official archives' native formats read defensively: every member of a folder, zip or tar
(compressed or not) with its size, and every GREAT or CodeSearchNet record checked field by
field, so that a damaged or hostile archive is one line naming the file and line, never a
traceback or a silently wrong sample."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import re
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any

from benchmark import shards
from benchmark.cache import max_file_bytes
from benchmark.tasks.var_misuse import token_hashes
from native import sources
from native.formats import FormatError, json_record, parse_great
from native.graph import EDGE_TYPES

CHUNK = 1 << 16
SPLITS = {"train": "train", "training": "train", "dev": "valid", "valid": "valid",
          "validation": "valid", "eval": "test", "test": "test"}  # fmt: skip
CSN_FIELDS = ("code", "code_tokens", "docstring", "docstring_tokens", "func_name", "repo",
              "path", "partition")  # fmt: skip

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
