"""Method-level samples for method_name (Java) and code_to_text / code_search (Ruby).

One sample per method: its tokens (``source_tokens``), for Java its code2seq path contexts and
name as sub-tokens, for Ruby its docstring's first sentence as tokens. Each sample keeps its
source text and the byte spans that input noise needs (statements, body start), so a noisy
variant can be re-derived by parsing the changed method alone.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from benchmark.tasks.var_misuse import split_of, token_hashes
from native import encoding, formats, paths
from native import methods as mth
from native.java import spec as java_spec
from native.parse import FlatTree, parse
from native.ruby import spec as ruby_spec

MIN_TOKENS = 8
MAX_CONTEXTS = 200
MIN_DOC_TOKENS = 3  # CodeSearchNet drops docstrings shorter than three tokens
PATH_SEED = 0
_WRAP = b"class W_ {\n"
_WORD = re.compile(r"\w+|[^\w\s]")


def first_sentence_tokens(doc: str) -> list[str]:
    """The docstring's first sentence (up to a blank line or '. '), split as CodeXGLUE does."""
    para = doc.strip().split("\n\n", 1)[0]
    sentence = re.split(r"(?<=\.)\s", para, maxsplit=1)[0]
    return _WORD.findall(" ".join(sentence.split()))


def _java_contexts(tree: FlatTree, m: mth.Method, key: str) -> list[str]:
    """The method's code2seq path contexts as ``src,path,dst`` strings."""
    sp = java_spec()
    tables = paths.tree_tables(tree, sp)
    los = np.asarray([m.lo], np.int32)
    c = paths.extract(
        tree, sp, los, paths.method_seeds(PATH_SEED, key, tree.start_byte[los]),
        max_contexts=MAX_CONTEXTS, tables=tables,
    )  # fmt: skip
    c2s, _ = formats.context_lines(tree, sp, m.name, m.name_node, c, 0, tables)
    return [",".join(ctx) for ctx in c2s.contexts]


def _java_tokens(tree: FlatTree, m: mth.Method) -> list[str]:
    """The method's tokens with its own name replaced, as the model must not see it."""
    toks = m.tokens(tree)
    return [
        paths.METHOD_NAME if n == m.name_node else t
        for t, n in zip(toks, m.tok_node.tolist(), strict=True)
    ]


def _spans(tree: FlatTree, m: mth.Method) -> tuple[list[list[int]], int]:
    """Byte spans (relative to the method) of the body's statements, and where the body opens."""
    base = int(tree.start_byte[m.lo])
    body = m.body_node
    kids = [
        c
        for c in range(body + 1, int(tree.end[body]))
        if tree.parent[c] == body and tree.named[c] and "comment" not in tree.kind_name(c)
    ]
    spans = [[int(tree.start_byte[c]) - base, int(tree.end_byte[c]) - base] for c in kids]
    return spans, int(tree.start_byte[body]) - base + 1


def java_features(code: str, key: str) -> tuple[list[str], list[str]] | None:
    """(tokens, contexts) of one Java method's source text, parsed alone; None if it breaks."""
    tree = parse(_WRAP + code.encode() + b"\n}\n", "java")
    found = [m for m in mth.methods(tree, java_spec(), with_doc=False) if not m.has_error]
    if not found or found[0].body_node < 0:
        return None
    return _java_tokens(tree, found[0]), _java_contexts(tree, found[0], key)


def java_samples(rel: str, source: bytes, max_tokens: int) -> list[dict[str, Any]]:
    """Every Java method with a body and a name of one file, as a method_name sample."""
    tree = parse(encoding.utf8(source, "java"), "java")
    split = split_of(rel)
    out = []
    for m in mth.methods(tree, java_spec(), with_doc=False):
        if m.has_error or m.body_node < 0 or m.name_node < 0:
            continue
        toks = _java_tokens(tree, m)
        label = formats.method_name_label(m.name).split("|")
        if not MIN_TOKENS <= len(toks) <= max_tokens or not any(label):
            continue
        exact, near = token_hashes(toks)
        spans, body_start = _spans(tree, m)
        sid = f"{rel}:{m.line}:{m.name}"
        out.append({
            "id": sid, "split": split, "file": rel, "clean_hash": exact, "near_hash": near,
            "source_tokens": toks, "contexts": _java_contexts(tree, m, sid), "label": label,
            "name": m.name, "code": m.code, "stmt_spans": spans, "body_start": body_start,
        })  # fmt: skip
    return out


def ruby_samples(
    rel: str, source: bytes, max_tokens: int, valid: float = 0.1, test: float = 0.1
) -> list[dict[str, Any]]:
    """Every Ruby method with a comment block of three tokens or more, as a docstring sample;
    ``valid``/``test``: the fractions of files in those splits."""
    tree = parse(encoding.utf8(source, "ruby"), "ruby")
    split = split_of(rel, valid, test)
    out = []
    for m in mth.methods(tree, ruby_spec()):
        if m.has_error or not m.doc:
            continue
        doc = first_sentence_tokens(m.doc)
        toks = m.tokens(tree)
        if len(doc) < MIN_DOC_TOKENS or not MIN_TOKENS <= len(toks) <= max_tokens:
            continue
        exact, near = token_hashes(toks)
        out.append({
            "id": f"{rel}:{m.line}:{m.name}", "split": split, "file": rel, "clean_hash": exact,
            "near_hash": near, "source_tokens": toks, "doc_tokens": doc, "name": m.name,
        })  # fmt: skip
    return out
