"""Local datasets (Python functions, Java methods, Ruby methods with docstrings), cached by
content hash.

One folder per (name, fingerprint) holding the samples as parquet shards
(``benchmark.shards``: built by worker processes, a shard of files each, so a large source tree
never sits in memory) and ``info.json``, written into a temporary folder and renamed into place.
Splits are by file; a valid/test method whose exact or near-duplicate token sequence occurs in
an earlier split is removed, and the counts are kept in ``info.json``. Python functions (the
var_misuse samples) are deduplicated by exact token sequence only, as they always were, so that
the splits that the published var_misuse figures were measured on stay the same.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl

from benchmark import shards
from benchmark.cache import max_file_bytes
from benchmark.tasks import methods, var_misuse
from native import encoding, sources
from native.formats import FormatError
from native.parse import LONE_CR

BUILDER_VERSION = 2  # 2: samples as parquet shards
MAX_TOKENS = 256
FILES_PER_SHARD = 100
_S, _LS = pl.String, pl.List(pl.String)
_KEYS = {"id": _S, "split": _S, "file": _S, "clean_hash": _S, "near_hash": _S, "source_tokens": _LS}
# The columns of methods.java_samples and methods.ruby_samples, so every shard agrees.
JAVA_SCHEMA = {**_KEYS, "contexts": _LS, "label": _LS, "name": _S, "code": _S,
               "stmt_spans": pl.List(pl.List(pl.Int64)), "body_start": pl.Int64}  # fmt: skip
RUBY_SCHEMA = {**_KEYS, "doc_tokens": _LS, "name": _S}
# var_misuse.samples_from_file's columns, GREAT's too (benchmark.official)
PYTHON_SCHEMA = {**_KEYS, "function": _S, "edges": pl.List(pl.List(pl.Int64)),
                 "repair_candidates": pl.List(pl.Int64), "has_bug": pl.Boolean,
                 "error_location": pl.Int64, "repair_targets": pl.List(pl.Int64)}  # fmt: skip
JDK_PREFIX = "java.base/java/util/"  # the offline Java corpus: java.util of the JDK sources
# ruby-debian's valid and test fractions of files (~250 methods each): code search scores each
# valid/test query against up to 1,000 candidates every epoch, so these splits' sizes (squared),
# not training, bound a cpu run's time; the rest of the data goes to training.
DEBIAN_SPLIT = 0.03

Builder = Callable[[str, bytes, int], list[dict[str, Any]]]
# Each language's per-file sample builder and the columns it gives (a dir: corpus of it)
BUILDERS: dict[str, Builder] = {"python": var_misuse.samples_from_file,
                                "java": methods.java_samples, "ruby": methods.ruby_samples}
SCHEMAS = {"python": PYTHON_SCHEMA, "java": JAVA_SCHEMA, "ruby": RUBY_SCHEMA}


def source_of(name: str) -> tuple[sources.Source, Builder]:
    """The files and the per-file sample builder of a method-level dataset name."""
    if name == "jdk":
        src = sources.named("jdk", "java")
        names = tuple(n for n in src.names() if n.startswith(JDK_PREFIX))
        return _Subset(src, names), methods.java_samples
    if name == "python-stdlib":
        return sources.named("python-stdlib", "python"), var_misuse.samples_from_file
    if name == "ruby-stdlib":
        return sources.named("ruby-stdlib", "ruby"), methods.ruby_samples
    if name == "ruby-debian":
        return sources.named("ruby-debian", "ruby"), partial(
            methods.ruby_samples, valid=DEBIAN_SPLIT, test=DEBIAN_SPLIT
        )
    if name.startswith("dir:"):
        path, _, lang = name.removeprefix("dir:").rpartition(":")  # as datasets names them
        if lang in BUILDERS:
            return sources.named(path, lang), BUILDERS[lang]
    raise KeyError(name)


class _Subset:
    """Some of a source's files (the JDK's java.util tree), picklable for worker processes."""

    def __init__(self, source: sources.Source, names: tuple[str, ...]) -> None:
        self.source, self._names = source, names

    def names(self) -> list[str]:
        return list(self._names)

    def read(self, name: str) -> bytes:
        return self.source.read(name)

    def size(self, name: str) -> int:
        return self.source.size(name)


@dataclass
class Survey:
    """A source's files before any is read: a file over the size limit is left out unread
    (one huge generated file would cost minutes and gigabytes for no usable method), and what
    cannot be read is named, never silently missing."""

    names: list[str]  # every file, in the source's order
    large: dict[str, int]  # name -> size, over the limit
    unreadable: dict[str, str]  # name -> why
    folders: list[str]  # one line per folder that could not be listed

    def todo(self) -> list[str]:
        return [n for n in self.names if n not in self.large and n not in self.unreadable]

    def unread(self) -> list[str]:
        """One line per folder or file that could not be read."""
        return self.folders + [f"{sources.shown(n)}: {e}" for n, e in self.unreadable.items()]


def survey(src: Any, limit: int) -> Survey:
    """The source's files, sized (not read), with those over ``limit`` bytes set aside."""
    names, folders = sources.listing(src)
    large, unreadable = {}, {}
    for n in names:
        try:
            size = src.size(n)
        except OSError as e:
            unreadable[n] = str(e.strerror or e)
            continue
        if size > limit:
            large[n] = size
    return Survey(names, large, unreadable, folders)


def fingerprint(src: Any, builder: Builder | None = None, found: Survey | None = None) -> str:
    """Hash of every file's name and content, so an upgraded JDK or Ruby rebuilds the cache,
    and of the builder's fixed arguments (ruby-debian's split fractions); a file left out
    counts by its size (too large) or as unreadable, so a new limit or a fixed file rebuilds."""
    found = found or survey(src, max_file_bytes())
    h = hashlib.blake2b(digest_size=16)
    if getattr(builder, "keywords", None):  # none: the fingerprints of older caches stay valid
        h.update(repr(sorted(builder.keywords.items())).encode())  # type: ignore[union-attr]
    lang = language_of(builder) if builder is not None else None
    if lang == "ruby":
        h.update(RUBY_EXTRACTION)
    with shards.progress() as bar:
        task = bar.add_task("hashing the corpus", total=len(found.names))
        for n in found.names:
            h.update(n.encode("utf-8", "surrogateescape") + b"\0")
            if sources.shown(n) != n:  # its samples' ids now hold a hash of the raw name
                h.update(b"raw-name-id-1")
            h.update(_content_key(src, n, found, lang))
            bar.advance(task)
    return f"{h.hexdigest()}-v{BUILDER_VERSION}"


# Changes of one language's extraction since BUILDER_VERSION, so that only the datasets they
# change are built again (and their units, made from another version, run again):
# Ruby: the first method of a class or module keeps the doc comment above it (1); a file's
# shebang and magic comments are not its first method's doc (2).
RUBY_EXTRACTION = b"ruby-extraction-2"
# Python and Java: a lone carriage return ends a line (native.parse); only a file that holds
# one changes. Every language: a file is read in its declared encoding, and one not valid in
# it is left out (native.encoding); only a file that is not plain UTF-8 changes.


def _content_key(src: Any, name: str, found: Survey, lang: str | None = None) -> bytes:
    if name in found.large:
        return f"large:{found.large[name]}".encode()
    try:
        data = src.read(name)
    except OSError:
        return b"unreadable"
    key = hashlib.blake2b(data, digest_size=16).digest()
    if lang in ("python", "java") and LONE_CR.search(data):
        key += b"lone-cr-1"
    if lang is not None and not _plain_utf8(data, lang):
        key += b"encoding-1"
    return key


def _plain_utf8(data: bytes, lang: str) -> bool:
    try:
        return encoding.utf8(data, lang) == data
    except ValueError:
        return False


def language_of(builder: Builder) -> str:
    """The language of one of BUILDERS (or a partial of it, as ruby-debian's)."""
    func = getattr(builder, "func", builder)
    return next(lang for lang, b in BUILDERS.items() if b is func)


def schema_of(builder: Builder) -> dict[str, Any]:
    return SCHEMAS[language_of(builder)]


def file_shard(
    src: Any, builder: Builder, folder: Path, index: int, rels: list[str]
) -> tuple[int, list[str]]:
    """A worker's unit: the samples of some files as shard ``index``; (rows, unreadable)."""
    rows: list[dict[str, Any]] = []
    errors = []
    for rel in rels:
        shown = sources.shown(rel)  # a name that is not UTF-8 still makes a storable id
        if shown != rel:  # ... and one of its own: 'c\xff.py' and 'c\xfe.py' both show 'c\ufffd.py'
            raw = rel.encode("utf-8", "surrogateescape")
            shown += f"#{hashlib.blake2b(raw, digest_size=4).hexdigest()}"
        try:
            rows += builder(shown, src.read(rel), MAX_TOKENS)
        except (OSError, ValueError, RecursionError) as e:  # an unreadable file loses only itself
            errors.append(f"{shown}: {' '.join(str(e).split()) or type(e).__name__}")
    written = shards.write_shard(folder, index, rows, schema_of(builder)) if rows else 0
    return written, errors


def dedup(df: pl.DataFrame, near: bool = True) -> tuple[pl.DataFrame, dict[str, dict[str, int]]]:
    """Drop valid/test methods whose exact (or ``near``) token sequence occurs in an earlier
    split."""
    removed: dict[str, dict[str, int]] = {"exact": {}, **({"near": {}} if near else {})}
    for split, earlier in (("valid", ["train"]), ("test", ["train", "valid"])):
        seen = df.filter(pl.col("split").is_in(earlier))
        here = pl.col("split") == split
        exact = here & pl.col("clean_hash").is_in(seen["clean_hash"].implode())
        close = (
            here & ~exact & pl.col("near_hash").is_in(seen["near_hash"].implode())
            if near
            else pl.lit(False)
        )
        removed["exact"][split] = df.filter(exact).height
        if near:
            removed["near"][split] = df.filter(close).height
        df = df.filter(~(exact | close))
    return df, removed


def build(name: str, src: Any, builder: Builder, out: Path, found: Survey | None = None) -> None:
    """Build every file's samples in parallel shards, deduplicate, rename into ``out``."""
    limit = max_file_bytes()
    found = found or survey(src, limit)
    todo = found.todo()
    left_out = shards.LeftOut()
    for n in found.large:
        left_out.add("skipped_large", sources.shown(n))
    unread = found.unread()
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=out.parent))
    try:
        work = partial(file_shard, src, builder)
        read = shards.build_parallel(
            f"building {name}", todo, work, tmp, FILES_PER_SHARD, total=len(todo)
        )
        unread += read["errors"]
        if not shards.shards(tmp):
            raise FormatError(yields_nothing(name, builder, found, unread, limit))
        python = language_of(builder) == "python"
        removed = shards.dedup(tmp, partial(dedup, near=not python))
        info = {
            "name": name, "builder_version": BUILDER_VERSION, "files": len(found.names),
            "samples": shards.split_sizes(tmp), "duplicates_removed": removed,
            "unreadable_files": unread[: shards.MAX_ERRORS],
            "unreadable_count": len(found.folders) + len(found.unreadable) + read["unreadable"],
            "max_tokens": MAX_TOKENS, "max_file_bytes": limit, **left_out.info(),
        }  # fmt: skip
        if python:
            info["buggy"] = int(shards.scan(tmp).select(pl.col("has_bug").sum()).collect().item())
        if getattr(src, "packages", ()):  # the Debian packages and versions the files came from
            info["packages"] = dict(src.packages)
        shards.publish(tmp, out, info)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# What a file must hold to give a sample, by builder: said when a corpus yields none.
USABLE = {
    "python": "a function of 8 to 256 tokens with two variables or more",
    "java": "a method with a body of 8 to 256 tokens",
    "ruby": "a method of 8 to 256 tokens under a comment of three words or more",
}


def yields_nothing(name: str, builder: Builder, found: Survey, unread: list[str],
                    limit: int) -> str:  # fmt: skip
    """The one line that says why a corpus gave no sample."""
    lang = language_of(builder)
    n = len(found.names)
    if not n:
        return f"{name}: the corpus yields nothing: no {sources.SUFFIX[lang]} files"
    parts = [f"{n} file{'s' if n > 1 else ''}"]
    if found.large:
        parts.append(f"{len(found.large)} larger than BENCH_MAX_FILE_BYTES ({limit} bytes)")
    if unread:
        parts.append(f"{len(unread)} unreadable (first: {unread[0]})")
    return (f"{name}: the corpus yields nothing: {', '.join(parts)}; none holds "
            f"{USABLE[lang]}")  # fmt: skip


def load(name: str, cache: Path) -> tuple[str, pl.LazyFrame, dict]:
    """(fingerprint, samples scanned lazily, info) of a method-level dataset, built on first use."""
    src, builder = source_of(name)
    found = survey(src, max_file_bytes())
    fp = fingerprint(src, builder, found)
    safe = name.replace("/", "_").replace(":", "_")
    if len(safe.encode()) > 160:  # a folder name holds 255 bytes: a prefix, and the name's hash
        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        safe = f"{safe.encode()[:120].decode(errors='ignore')}-{digest}"
    out = cache / "datasets" / f"{safe}-{fp}"
    if not (out / "info.json").exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        build(name, src, builder, out, found)
    return fp, shards.scan(out), json.loads((out / "info.json").read_text())
