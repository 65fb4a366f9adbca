"""Tree-sitter parsing into flat numpy arrays.

Kernels downstream (``native.graph``, ``native.paths``) work on these arrays, never on
tree-sitter ``Node`` objects, so that per-node work runs in compiled code. Nodes are stored in
preorder, so a node's descendants are exactly the slice ``[i + 1, end[i])``.

Flattening is bounded by the Python binding: each node costs a few C calls. We make only the
calls that cannot be derived (kind, field, byte span, depth) and derive the rest in numba:
parent and subtree end from the depths, rows and columns from the source's newlines, named-ness
from the grammar's tables. The ERROR kind (65535 in tree-sitter) is stored as
``n_kinds(lang) - 1`` so that every per-kind lookup table stays small and in bounds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, cached_property

import numba
import numpy as np
import tree_sitter as ts

LANGUAGES = ("java", "python", "ruby")
_TS_ERROR = 65535  # tree-sitter's ts_builtin_sym_error


@cache
def language(name: str) -> ts.Language:
    """The tree-sitter grammar for ``name`` (one of LANGUAGES)."""
    if name == "python":
        import tree_sitter_python as grammar
    elif name == "java":
        import tree_sitter_java as grammar
    elif name == "ruby":
        import tree_sitter_ruby as grammar
    else:
        raise ValueError(f"unknown language {name!r}; choose from {', '.join(LANGUAGES)}")
    return ts.Language(grammar.language())


@cache
def n_kinds(lang: str) -> int:
    """Size of a per-kind lookup table: the grammar's kinds plus ERROR (the last id)."""
    return language(lang).node_kind_count + 1


def error_kind(lang: str) -> int:
    return n_kinds(lang) - 1


@cache
def kind_names(lang: str) -> tuple[str, ...]:
    """Name of every kind id, ERROR included."""
    grammar = language(lang)
    return (*(grammar.node_kind_for_id(i) or "" for i in range(n_kinds(lang) - 1)), "ERROR")


@cache
def kind_ids(lang: str, *names: str) -> np.ndarray:
    """Every kind id (named or anonymous) whose name is one of ``names``."""
    wanted = set(names)
    ids = [i for i, name in enumerate(kind_names(lang)) if name in wanted]
    return np.asarray(ids, dtype=np.int32)


@cache
def named_kinds(lang: str) -> np.ndarray:
    """Per kind id: is it a named node kind (ERROR is)."""
    grammar = language(lang)
    named = [grammar.node_kind_is_named(i) for i in range(n_kinds(lang) - 1)]
    return np.asarray([*named, True], dtype=np.bool_)


@cache
def field_id(lang: str, name: str) -> int:
    """The grammar's id of the field ``name`` (0 would mean 'no field')."""
    fid = language(lang).field_id_for_name(name)
    if fid is None:
        raise ValueError(f"{lang} grammar has no field {name!r}")
    return fid


@cache
def n_fields(lang: str) -> int:
    """Size of a per-field lookup table (field ids start at 1; 0 means no field)."""
    return language(lang).field_count + 1


@dataclass(frozen=True)
class FlatTree:
    """One parsed file as parallel arrays, one entry per node in preorder."""

    language: str
    source: bytes
    kind: np.ndarray  # int32 grammar kind id (ERROR as error_kind(language))
    parent: np.ndarray  # int32, -1 for the root
    end: np.ndarray  # int32, one past the node's last descendant
    field: np.ndarray  # int32 field id of the node within its parent, 0 if none
    depth: np.ndarray  # int32, root = 0
    named: np.ndarray  # bool
    error: np.ndarray  # bool, ERROR or MISSING node
    start_byte: np.ndarray  # int64
    end_byte: np.ndarray  # int64
    start_row: np.ndarray  # int32
    start_col: np.ndarray  # int32 (bytes, as tree-sitter counts columns)
    end_row: np.ndarray  # int32

    def __len__(self) -> int:
        return len(self.kind)

    def text(self, i: int) -> str:
        return self.source[self.start_byte[i] : self.end_byte[i]].decode("utf-8", "replace")

    def kind_name(self, i: int) -> str:
        return kind_names(self.language)[int(self.kind[i])]

    @property
    def has_error(self) -> bool:
        return bool(self.error.any())

    @cached_property
    def prev_sibling(self) -> np.ndarray:
        """Per node: the sibling just before it (named or not), -1 for a first child."""
        idx = np.arange(len(self.kind), dtype=np.int32)
        has_next = np.zeros(len(self.kind), np.bool_)
        has_next[1:] = self.end[1:] < self.end[self.parent[1:]]
        prev = np.full(len(self.kind), -1, np.int32)
        prev[self.end[has_next]] = idx[has_next]
        return prev


@cache
def _parser(lang: str) -> ts.Parser:
    return ts.Parser(language(lang))


def parse_tree(source: bytes, lang: str) -> ts.Tree:
    """Tree-sitter's own parse, nothing more (the baseline the pipeline is measured against)."""
    return _parser(lang).parse(source)


# A carriage return not followed by a line feed (old Mac files) ends a line in Python and Java,
# but not for their tree-sitter grammars: a file of such lines parsed as one, its functions cut
# short or lost, and a `//` comment ran to the end of the file. Ruby itself refuses them.
LONE_CR = re.compile(rb"\r(?!\n)")
_CR_ENDS_LINES = ("python", "java")


def parse(source: bytes, lang: str) -> FlatTree:
    """Parse ``source`` and flatten the tree (a lone CR read as the line end it is; the
    same length, so every offset holds)."""
    if lang in _CR_ENDS_LINES and b"\r" in source:
        source = LONE_CR.sub(b"\n", source)
    return flatten(parse_tree(source, lang), source, lang)


def flatten(tree: ts.Tree, source: bytes, lang: str) -> FlatTree:
    """The flat arrays of ``tree`` (parsed from ``source``), in one cursor walk."""
    kinds: list[int] = []
    fields: list[int | None] = []
    starts: list[int] = []
    ends: list[int] = []
    depths: list[int] = []
    add_kind, add_field, add_start, add_end, add_depth = (
        kinds.append, fields.append, starts.append, ends.append, depths.append,
    )  # fmt: skip
    cursor = tree.walk()
    first_child, next_sibling, up = (
        cursor.goto_first_child, cursor.goto_next_sibling, cursor.goto_parent,
    )  # fmt: skip
    d = 0
    while True:
        node = cursor.node
        add_kind(node.kind_id)
        add_field(cursor.field_id)
        add_start(node.start_byte)
        add_end(node.end_byte)
        add_depth(d)
        if first_child():
            d += 1
            continue
        while not next_sibling():
            if not up():
                break
            d -= 1
        else:
            continue
        break

    kind = np.asarray(kinds, dtype=np.int32)
    kind[kind == _TS_ERROR] = error_kind(lang)
    field = np.asarray([f or 0 for f in fields] if None in fields else fields, dtype=np.int32)
    depth = np.asarray(depths, dtype=np.int32)
    start_byte = np.asarray(starts, dtype=np.int64)
    end_byte = np.asarray(ends, dtype=np.int64)
    parent, end = _structure(depth)
    # Rows count newlines before a byte; columns are bytes since the line's start.
    newlines = np.flatnonzero(np.frombuffer(source, dtype=np.uint8) == 10)
    line_start = np.concatenate(([0], newlines + 1))
    start_row = np.searchsorted(newlines, start_byte).astype(np.int32)
    start_col = (start_byte - line_start[start_row]).astype(np.int32)
    end_row = np.searchsorted(newlines, end_byte).astype(np.int32)
    error = kind == error_kind(lang)
    if tree.root_node.has_error:
        error |= _missing(tree, len(kind))
    return FlatTree(
        lang, source, kind, parent, end, field, depth, named_kinds(lang)[kind], error,
        start_byte, end_byte, start_row, start_col, end_row,
    )  # fmt: skip


def _missing(tree: ts.Tree, n: int) -> np.ndarray:
    """Per node: is it a MISSING node (a second walk, only for trees that have errors)."""
    out = np.zeros(n, np.bool_)
    cursor = tree.walk()
    i = 0
    while True:
        out[i] = cursor.node.is_missing
        i += 1
        if cursor.goto_first_child():
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return out


@numba.njit(cache=True)
def _structure(depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parent and subtree end of every node, from preorder depths."""
    n = len(depth)
    parent = np.empty(n, np.int32)
    end = np.empty(n, np.int32)
    stack = np.empty(n + 1, np.int32)  # open ancestors, by depth
    for i in range(n):
        d = depth[i]
        parent[i] = stack[d - 1] if d > 0 else -1
        stack[d] = i
        end[i] = i + 1
    for i in range(n - 1, 0, -1):
        p = parent[i]
        if end[i] > end[p]:
            end[p] = end[i]
    return parent, end
