"""The original tools' file formats: code2vec ``.c2v``, code2seq ``.c2s``, GREAT JSON lines.

- ``.c2v``: one method a line, ``name src,hash,dst src,hash,dst ...``; terminals normalized
  (code2seq's ``normalizeName``), paths as Java ``String.hashCode`` of the code2vec path string.
- ``.c2s``: the same shape, ``name src,path,dst ...``, where the name and terminals are
  sub-tokens joined by ``|`` and the path is its node labels joined by ``|``.
  After the originals' preprocessing, lines are padded to ``max_contexts`` with trailing
  spaces; readers keep that padding so that writing a read file gives it back unchanged.
- GREAT: one JSON object a line with ``source_tokens``, ``has_bug``, ``error_location``,
  ``repair_candidates``, ``repair_targets``, ``edges`` as ``[src, dst, type_id, "enum_NAME"]``
  and ``provenances`` (plus ``bug_kind``/``bug_kind_name`` in the released data). Keys are
  kept in their order, so a read line writes back byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from native import paths, subtokens
from native.graph import EDGE_TYPES
from native.parse import FlatTree
from native.spec import Spec


class FormatError(ValueError):
    """A malformed line, named by file and line number."""


@dataclass
class ContextLine:
    """One method of a .c2v or .c2s file."""

    name: str
    contexts: list[tuple[str, str, str]]  # (source, path, target)
    padding: int = 0  # empty fields after the contexts (the originals pad to max_contexts)


def parse_context_line(line: str, where: str = "<line>") -> ContextLine:
    fields = line.rstrip("\n").split(" ")
    if not fields[0]:
        raise FormatError(f"{where}: no method name")
    contexts = []
    padding = 0
    for f in fields[1:]:
        if not f:
            padding += 1
            continue
        if padding:
            raise FormatError(f"{where}: a context after padding")
        parts = f.split(",")
        if len(parts) != 3:
            raise FormatError(f"{where}: context {f!r} is not source,path,target")
        contexts.append((parts[0], parts[1], parts[2]))
    return ContextLine(fields[0], contexts, padding)


def format_context_line(line: ContextLine) -> str:
    body = " ".join(",".join(c) for c in line.contexts)
    return f"{line.name} {body}" + " " * line.padding


def read_contexts(path: str | Path) -> Iterator[ContextLine]:
    """Methods of a .c2v or .c2s file (the two share their shape)."""
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                yield parse_context_line(line, f"{path}:{number}")


def write_contexts(lines: Iterable[ContextLine], path: str | Path) -> int:
    """Write methods to a .c2v or .c2s file; returns how many."""
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(format_context_line(line) + "\n")
            n += 1
    return n


def method_name_label(name: str) -> str:
    """A method name as the originals' target: sub-tokens joined by |, else normalized."""
    return subtokens.split_many([name])[0] or subtokens.normalize_many([name], "BLANK")[0]


_KEEP_NUMBERS = {"0", "1", "32", "64"}


def terminal_labels(texts: list[str], is_integer: np.ndarray) -> tuple[list[str], list[str]]:
    """(code2seq, code2vec) forms of terminals, as the originals' Property computes them.

    code2seq: sub-tokens, else the normalized name (integer literals other than 0, 1, 32, 64
    as <NUM>); code2vec: the normalized name, at most 50 characters.
    """
    names = [n[:50] for n in subtokens.normalize_many(texts, "BLANK")]
    split = subtokens.split_many(texts)
    c2s = [
        s or ("<NUM>" if integer and n not in _KEEP_NUMBERS else n)
        for s, n, integer in zip(split, names, is_integer.tolist(), strict=True)
    ]
    c2v = [
        paths.METHOD_NAME if t == paths.METHOD_NAME else n
        for t, n in zip(texts, names, strict=True)
    ]
    c2s = [
        paths.METHOD_NAME if t == paths.METHOD_NAME else s for t, s in zip(texts, c2s, strict=True)
    ]
    return c2s, c2v


def context_lines(
    tree: FlatTree,
    spec: Spec,
    name: str,
    name_node: int,
    contexts: paths.Contexts,
    m: int,
    tables: paths.TreeTables,
) -> tuple[ContextLine, ContextLine]:
    """Method ``m`` of ``contexts`` as a (.c2s, .c2v) pair of lines."""
    sl = slice(int(contexts.offsets[m]), int(contexts.offsets[m + 1]))
    ends = np.concatenate([contexts.src[sl], contexts.dst[sl]])
    texts = paths.terminal_texts(tree, ends, name_node)
    c2s_terms, c2v_terms = terminal_labels(texts, spec.integer_kinds[tree.kind[ends]])
    n = sl.stop - sl.start
    c2s, c2v = [], []
    for q in range(n):
        row = contexts.nodes[sl.start + q]
        labels = paths.labels(tree, row, tables, spec)
        c2s.append((c2s_terms[q], paths.code2seq_path(labels), c2s_terms[n + q]))
        c2v.append((c2v_terms[q], str(int(contexts.hash[sl.start + q])), c2v_terms[n + q]))
    label = method_name_label(name)
    return ContextLine(label, c2s), ContextLine(label, c2v)


# -- GREAT -------------------------------------------------------------------------------------

GREAT_KEYS = (
    "has_bug", "bug_kind", "bug_kind_name", "source_tokens", "edges", "error_location",
    "repair_targets", "repair_candidates", "provenances",
)  # fmt: skip
_REQUIRED = ("source_tokens", "has_bug", "error_location", "repair_targets", "repair_candidates")


@dataclass
class GreatSample:
    """One GREAT variable-misuse sample."""

    source_tokens: list[str]
    has_bug: bool
    error_location: int
    repair_targets: list[int]
    repair_candidates: list[Any]  # positions (the released data also lists names)
    edges: list[list[Any]]  # [src, dst, type_id, "enum_NAME"]
    provenances: list[Any] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # other keys (bug_kind, ...)
    key_order: tuple[str, ...] = field(default=GREAT_KEYS, compare=False)  # as read

    def to_json(self) -> str:
        values = {
            "source_tokens": self.source_tokens, "has_bug": self.has_bug,
            "error_location": self.error_location, "repair_targets": self.repair_targets,
            "repair_candidates": self.repair_candidates, "edges": self.edges,
            "provenances": self.provenances, **self.extra,
        }  # fmt: skip
        order = [k for k in self.key_order if k in values]
        order += [k for k in values if k not in order]
        return json.dumps({k: values[k] for k in order})

    def edge_array(self) -> np.ndarray:
        """Edges as an int32 (n, 3) array of (src, dst, type_id)."""
        return np.asarray([e[:3] for e in self.edges], np.int32).reshape(-1, 3)


def great_edges(e: np.ndarray) -> list[list[Any]]:
    """Our (src, dst, type) edges in GREAT's JSON form."""
    return [[int(s), int(d), int(t), EDGE_TYPES[int(t)]] for s, d, t in e.tolist()]


def json_record(line: str | bytes, where: str, required: Sequence[str]) -> dict[str, Any]:
    """One JSON-lines record: an object holding every ``required`` key, or a FormatError
    naming ``where`` (the file and line)."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as err:
        raise FormatError(f"{where}: not JSON ({err.msg})") from None
    if not isinstance(obj, dict):
        raise FormatError(f"{where}: not a JSON object")
    missing = [k for k in required if k not in obj]
    if missing:
        raise FormatError(f"{where}: missing {', '.join(missing)}")
    return obj


def parse_great(line: str, where: str = "<line>") -> GreatSample:
    obj = json_record(line, where, _REQUIRED)
    known = {
        "source_tokens", "has_bug", "error_location", "repair_targets", "repair_candidates",
        "edges", "provenances",
    }  # fmt: skip
    return GreatSample(
        source_tokens=obj["source_tokens"],
        has_bug=obj["has_bug"],
        error_location=obj["error_location"],
        repair_targets=obj["repair_targets"],
        repair_candidates=obj["repair_candidates"],
        edges=obj.get("edges", []),
        provenances=obj.get("provenances", []),
        extra={k: v for k, v in obj.items() if k not in known},
        key_order=tuple(obj),
    )


def read_great(path: str | Path) -> Iterator[GreatSample]:
    """Samples of a GREAT JSON-lines shard."""
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                yield parse_great(line, f"{path}:{number}")


def write_great(samples: Iterable[GreatSample], path: str | Path) -> int:
    """Write samples as GREAT JSON lines; returns how many."""
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for sample in samples:
            fh.write(sample.to_json() + "\n")
            n += 1
    return n
