"""Fuzz targets: every dataset reader fed hostile and careless input (hypothesis).

One target per reader: GREAT JSON lines, CodeSearchNet JSON lines, code2seq archives, and
``dir:`` corpora in Python, Java and Ruby. Each draws an input (records with fields of the wrong
type or range, cut or non-UTF-8 lines, deep nesting, damaged archives, odd file names, binary
files, a small BENCH_MAX_FILE_BYTES), runs the reader as ``bench datasets prepare`` / ``info``
runs it (in this process, without worker processes), and passes only when the reader succeeds
or stops with the suite's one-line input error (``FormatError``, no newline in its message).
``outcome`` says which; ``tests/fuzz/test_fuzz.py`` (short) and ``tests/fuzz/campaign.py``
(10,000 inputs a target) run them.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import tarfile
import tempfile
import traceback
import zipfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from benchmark import datasets, method_datasets, official, shards
from native.formats import FormatError
from tests.shared_data import GREAT_SHARD

# -- the property -------------------------------------------------------------------------------


def outcome(run: Callable[[], Any]) -> str | None:
    """None when ``run`` succeeds or raises a one-line FormatError; else what went wrong."""
    try:
        run()
    except FormatError as e:
        if "\n" in str(e) or "\r" in str(e):
            return f"FormatError message spans lines: {str(e)[:300]!r}"
        return None
    except Exception as e:  # anything else is a traceback for the user: the failure sought
        where = traceback.extract_tb(e.__traceback__)[-1]
        return f"{type(e).__name__} at {Path(where.filename).name}:{where.lineno}: {e}"[:300]
    return None


@contextmanager
def file_limit(limit: int | None):
    """BENCH_MAX_FILE_BYTES set to ``limit`` (unset: the default) while the reader runs."""
    old = os.environ.pop("BENCH_MAX_FILE_BYTES", None)
    if limit is not None:
        os.environ["BENCH_MAX_FILE_BYTES"] = str(limit)
    try:
        yield
    finally:
        os.environ.pop("BENCH_MAX_FILE_BYTES", None)
        if old is not None:
            os.environ["BENCH_MAX_FILE_BYTES"] = old


limits = st.one_of(st.none(), st.integers(1, 4096))

# -- JSON values and lines ----------------------------------------------------------------------

SURROGATES = ["\ud800", "a\udfffb", "\udc80"]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 40), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.sampled_from(["no", "yes", "", "train", "enum_CFG_NEXT", *SURROGATES]),
)  # fmt: skip
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4),
                                                                         inner, max_size=3),
    max_leaves=8,
)  # fmt: skip


@st.composite
def mutated_record(draw: st.DrawFn, base: dict) -> dict:
    """A record with some fields replaced, removed, or changed inside their lists."""
    rec = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(sorted(rec) or ["x"]))
        how = draw(st.sampled_from(["value", "drop", "item", "append"]))
        if how == "value":
            rec[key] = draw(values)
        elif how == "drop":
            rec.pop(key, None)
        elif isinstance(rec.get(key), list) and rec[key]:
            i = draw(st.integers(0, len(rec[key]) - 1))
            inner = rec[key][i]
            if how == "item" and isinstance(inner, list) and inner:
                inner[draw(st.integers(0, len(inner) - 1))] = draw(values)
            elif how == "item":
                rec[key][i] = draw(values)
            else:
                rec[key].append(draw(values))
    return rec


@st.composite
def json_line(draw: st.DrawFn, bases: list[dict]) -> bytes:
    """One line: a (mutated) record, or JSON's and UTF-8's edge cases."""
    kind = draw(st.sampled_from(["record", "record", "record", "raw", "cut", "deep", "bignum"]))
    rec = draw(mutated_record(draw(st.sampled_from(bases))))
    text = json.dumps(rec, ensure_ascii=draw(st.booleans()))
    if kind == "raw":
        return draw(st.binary(max_size=40))
    if kind == "cut":
        return text.encode("utf-8", "surrogatepass")[: draw(st.integers(0, len(text)))]
    if kind == "deep":
        depth = draw(st.integers(1, 200_000))
        return ("[" * depth + "]" * draw(st.integers(0, depth))).encode()
    if kind == "bignum":
        return text.replace("0", "9" * draw(st.integers(1, 6000)), 1).encode("utf-8", "replace")
    return text.encode("utf-8", "surrogatepass")  # lone surrogates become invalid UTF-8


@st.composite
def jsonl(draw: st.DrawFn, bases: list[dict]) -> bytes:
    lines = draw(st.lists(json_line(bases), max_size=6))
    sep = draw(st.sampled_from([b"\n", b"\r\n", b"\n\n"]))
    return sep.join(lines) + draw(st.sampled_from([b"", b"\n"]))


@dataclass(frozen=True)
class Damage:
    """An archive as it is, cut short, or with a few bytes changed (at fractions of its size,
    as the size is known only once it is packed)."""

    cut: float | None = None
    flips: tuple[tuple[float, int], ...] = ()

    def __call__(self, data: bytes) -> bytes:
        if not data:
            return data
        if self.cut is not None:
            return data[: int(self.cut * len(data))]
        out = bytearray(data)
        for at, value in self.flips:
            out[int(at * len(out))] = value
        return bytes(out)


fraction = st.floats(0, 1, exclude_max=True)
damages = st.one_of(
    st.just(Damage()), st.just(Damage()), st.builds(Damage, cut=fraction),
    st.builds(Damage, flips=st.lists(st.tuples(fraction, st.integers(0, 255)), min_size=1,
                                     max_size=4).map(tuple)),
)  # fmt: skip


# -- archives and folders -----------------------------------------------------------------------


@dataclass
class Tree:
    """Files to lay out as a folder, a zip or a tar (compressed or not), and how."""

    files: dict[bytes, bytes]  # path (bytes: names need not be UTF-8) -> content
    form: str  # folder, zip, tar, tar.gz, tar.bz2 or tar.xz
    damage: Damage = Damage()

    def write(self, root: Path) -> Path:
        if self.form == "folder":
            top = root / "src"
            top.mkdir()
            for name, data in self.files.items():
                _put(top, name, data)
            return top
        raw = self.pack()
        path = root / f"src.{self.form}"
        path.write_bytes(self.damage(raw))
        return path

    def pack(self) -> bytes:
        buf = io.BytesIO()
        if self.form == "zip":
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                for name, data in self.files.items():
                    z.writestr(name.decode("utf-8", "replace"), data)
            return buf.getvalue()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
            for name, data in self.files.items():
                info = tarfile.TarInfo(name.decode("utf-8", "surrogateescape"))
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
        raw = buf.getvalue()
        squash = {"tar.gz": gzip.compress, "tar.bz2": bz2.compress, "tar.xz": lzma.compress}
        return squash.get(self.form, lambda b: b)(raw)


def _put(top: Path, name: bytes, data: bytes) -> None:
    """Write one file under ``top``; names that the file system refuses are dropped."""
    parts = [p for p in name.split(b"/") if p not in (b"", b".", b"..")]
    if not parts:
        return
    path = os.path.join(os.fsencode(top), *parts)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if data == b"<link>":
            os.symlink(b"missing-target", path)
        elif data == b"<loop>":
            os.symlink(os.path.basename(path), path)
        else:
            with open(path, "wb") as fh:
                fh.write(data)
    except OSError:
        pass  # a name clashing with a folder, or too long


@st.composite
def tree(draw: st.DrawFn, names: st.SearchStrategy[bytes], contents: st.SearchStrategy[bytes],
         forms: list[str]) -> Tree:  # fmt: skip
    files = draw(st.dictionaries(names, contents, min_size=draw(st.sampled_from([0, 1, 1, 1])),
                                 max_size=5))  # fmt: skip
    return Tree(files, draw(st.sampled_from(forms)), draw(damages))


# -- source text --------------------------------------------------------------------------------

JAVA = b"""package p;
public class C {
    public int addAllValues(int[] values) {
        int total = 0;
        for (int v : values) { total += v; }
        return total;
    }
    /** Joins the names. */
    public String getDisplayName(String first, String last) {
        String full = first + " " + last;
        return full.trim();
    }
}
"""
PYTHON = b"""def combine(alpha, beta):
    gamma = alpha + beta
    delta = gamma * alpha
    return delta - beta + gamma


class K:
    def method(self, x, y):
        z = x * y
        return z + x - y
"""
RUBY = b"""# Adds the two numbers and doubles the sum of them.
def add_twice(alpha, beta)
  gamma = alpha + beta
  gamma * 2 + alpha
end

class Box
  # Returns the size of the box in cubic units.
  def volume(width, height, depth)
    width * height * depth + 0
  end
end
"""
SOURCES = {"java": JAVA, "python": PYTHON, "ruby": RUBY}
PIECES = [b"{", b"}", b"(", b")", b"[", b"\n", b"\x00", b"\xff\xfe", b"\xed\xa0\x80", b"def ",
          b"end", b"class ", b"#", b'"', b"'", b"\\", b"\t", "\u00e9\u4e2d".encode(), b"\r",
          b"/*", b"*/", b"=begin\n", b"<<~EOS\n", b"lambda", b"->", b"::"]  # fmt: skip


@st.composite
def mutated_source(draw: st.DrawFn, base: bytes) -> bytes:
    """``base`` with a few bytes inserted, removed, repeated or replaced (deep nesting too)."""
    kind = draw(st.sampled_from(["whole", "whole", "edit", "edit", "edit", "binary", "empty",
                                 "deep", "repeat"]))  # fmt: skip
    if kind == "whole":
        return base
    if kind == "binary":
        return draw(st.binary(max_size=300))
    if kind == "empty":
        return b""
    if kind == "deep":
        piece = draw(st.sampled_from([b"(", b"[", b"{", b"if x:\n ", b"begin\n"]))
        return piece * draw(st.integers(1, 20_000))
    if kind == "repeat":
        return base * draw(st.integers(1, 40))
    out = bytearray(base)
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, len(out)))
        how = draw(st.sampled_from(["insert", "delete", "dup"]))
        if how == "insert":
            out[at:at] = draw(st.sampled_from(PIECES)) * draw(st.integers(1, 50))
        elif how == "delete":
            del out[at : at + draw(st.integers(1, 40))]
        else:
            out[at:at] = out[at : at + draw(st.integers(1, 80))]
    return bytes(out)


def file_names(suffix: str, prefixes: list[str]) -> st.SearchStrategy[bytes]:
    """Paths under the given folders: plain, nested, odd (newlines, non-UTF-8, long)."""
    stem = st.sampled_from([b"A", b"b_c", b"new\nline", b"\xff\xfe", b"tab\there", b"x" * 200,
                            "\u00e9t\u00e9".encode(), b"-", b" "])  # fmt: skip
    ext = st.sampled_from([suffix.encode()] * 4 + [b".txt", b"", suffix.encode() + b"~"])
    folder = st.sampled_from([p.encode() for p in prefixes])
    return st.builds(lambda f, s, e: f + s + e, folder, stem, ext)


# -- the targets --------------------------------------------------------------------------------


def _great_bases() -> list[dict]:
    lines = sorted(GREAT_SHARD.read_text().splitlines(), key=len)
    buggy = [ln for ln in lines if '"has_bug": true' in ln][:2]
    clean = [ln for ln in lines if '"has_bug": false' in ln][:2]
    return [json.loads(ln) for ln in buggy + clean]


GREAT_BASES = _great_bases()
CSN_BASES = [
    {"repo": "user/proj", "path": "lib/x.rb", "func_name": "X.add", "original_string": "",
     "language": "ruby", "code": "def add(a, b)\n  a + b\nend",
     "code_tokens": ["def", "add", "(", "a", ",", "b", ")", "a", "+", "b"],
     "docstring": "Adds things.", "docstring_tokens": ["Adds", "things", "."], "sha": "0",
     "url": "", "partition": partition}
    for partition in ("train", "valid", "test")
]  # fmt: skip


def _write_rows(rows: list[dict], schema: dict) -> None:
    """Rows must be storable too (a token with an unpaired surrogate is not)."""
    if rows:
        with tempfile.TemporaryDirectory() as tmp:
            shards.write_shard(Path(tmp), 0, rows, schema)


@st.composite
def great_inputs(draw: st.DrawFn) -> tuple[Tree, int | None]:
    gz = draw(st.booleans())
    names = st.sampled_from([
        f"great/{s}/{s}__VARIABLE_MISUSE__SStuB.txt-00000-of-00001{'.gz' if gz else ''}"
        for s in ("train", "dev", "eval")
    ] + ["great/README.md"]).map(str.encode)  # fmt: skip
    content = jsonl(GREAT_BASES).map(gzip.compress if gz else (lambda b: b))
    files = draw(st.dictionaries(names, content, min_size=1, max_size=3))
    form = draw(st.sampled_from(["folder", "zip", "tar.gz"]))
    return Tree(files, form, draw(damages)), draw(limits)


def run_great(inputs: tuple[Tree, int | None]) -> None:
    tree_, limit = inputs
    with tempfile.TemporaryDirectory() as tmp, file_limit(limit):
        source = tree_.write(Path(tmp))
        _write_rows(list(official.read_great(source)), official.SCHEMAS["great"])


@st.composite
def codesearchnet_inputs(draw: st.DrawFn) -> tuple[Tree, int | None]:
    gz = draw(st.booleans())
    names = st.sampled_from(
        [
            b"ruby/final/jsonl/train/ruby_train_0.jsonl",
            b"ruby/final/jsonl/valid/ruby_valid_0.jsonl",
            b"notes.txt",
        ]
    )
    content = jsonl(CSN_BASES).map(gzip.compress if gz else (lambda b: b))
    files = draw(st.dictionaries(names.map(lambda n: n + (b".gz" if gz else b"")), content,
                                 min_size=1, max_size=3))  # fmt: skip
    form = draw(st.sampled_from(["zip", "zip", "folder", "tar"]))
    return Tree(files, form, draw(damages)), draw(limits)


def run_codesearchnet(inputs: tuple[Tree, int | None]) -> None:
    tree_, limit = inputs
    with tempfile.TemporaryDirectory() as tmp, file_limit(limit):
        source = tree_.write(Path(tmp))
        _write_rows(list(official.read_codesearchnet(source)), official.SCHEMAS["codesearchnet"])


JAVA_FOLDERS = ["java-small/training/p0/", "java-small/training/p1/", "java-small/validation/q/",
                "j/test/r/src/", "j/elsewhere/", "", "../up/training/x/"]  # fmt: skip


@st.composite
def code2seq_inputs(draw: st.DrawFn) -> tuple[Tree, int | None]:
    forms = ["tar.gz", "tar", "tar.bz2", "tar.xz", "zip", "folder"]
    t = draw(tree(file_names(".java", JAVA_FOLDERS), mutated_source(JAVA), forms))
    return t, draw(limits)


def run_code2seq(inputs: tuple[Tree, int | None]) -> None:
    tree_, limit = inputs
    with tempfile.TemporaryDirectory() as tmp, file_limit(limit):
        source = tree_.write(Path(tmp))
        files = list(official.java_files(source))
        out = Path(tmp) / "shards"
        out.mkdir()
        official.java_shard(out, 0, files)


DIR_FOLDERS = ["", "", "lib/", "lib/", "lib/deep/er/", "test/", "tests/x/", ".hidden/",
               "site-packages/"]  # fmt: skip


@st.composite
def dir_inputs(draw: st.DrawFn, lang: str) -> tuple[Tree, int | None, bool]:
    suffix = {"java": ".java", "python": ".py", "ruby": ".rb"}[lang]
    contents = st.one_of(mutated_source(SOURCES[lang]), st.sampled_from([b"<link>", b"<loop>"]))
    t = draw(tree(file_names(suffix, DIR_FOLDERS), contents, ["folder", "folder", "zip"]))
    if draw(st.integers(0, 3)):  # mostly one plainly named file too, so that most corpora parse
        t.files[f"pkg/main{suffix}".encode()] = draw(contents)
    return t, draw(limits), draw(st.booleans())


def run_dir(lang: str, inputs: tuple[Tree, int | None, bool]) -> None:
    """As ``bench datasets info dir:PATH[:LANG]`` builds it, in this process: resolve the name,
    list and size the files, fingerprint them, build every file's samples into a shard."""
    tree_, limit, named = inputs
    with tempfile.TemporaryDirectory() as tmp, file_limit(limit):
        source = tree_.write(Path(tmp))
        spec = datasets.folder_spec(f"dir:{source}" + (f":{lang}" if named else ""))
        src, builder = method_datasets.source_of(spec.name)
        found = method_datasets.survey(src, datasets.max_file_bytes())
        method_datasets.fingerprint(src, builder, found)
        out = Path(tmp) / "shards"
        out.mkdir()
        rows, errors = method_datasets.file_shard(src, builder, out, 0, found.todo())
        if not rows:  # as the build says it
            unread = found.unread() + errors
            limit = datasets.max_file_bytes()
            raise FormatError(method_datasets.yields_nothing(spec.name, builder, found, unread,
                                                             limit))  # fmt: skip


TARGETS: dict[str, tuple[st.SearchStrategy, Callable[[Any], None]]] = {
    "great": (great_inputs(), run_great),
    "codesearchnet": (codesearchnet_inputs(), run_codesearchnet),
    "code2seq": (code2seq_inputs(), run_code2seq),
    **{f"dir-{lang}": (dir_inputs(lang), lambda x, lang=lang: run_dir(lang, x))
       for lang in ("python", "java", "ruby")},
}  # fmt: skip
