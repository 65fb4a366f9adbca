"""Noise for variable misuse, on the training split.

``label`` (output noise): a buggy sample becomes correct (location 0, no targets); a correct
sample becomes buggy at a random candidate position, repaired by the occurrences of a
different variable. ``repair-markers`` (input noise): marker tokens at the answer.

Every masked sample changes, so exactly round(rate x n) training samples are noisy even in
the corner cases of real data (GREAT): a correct sample with one variable only becomes buggy
with no repair target, and one without candidates buggy at a random token; a sample with
nothing to mark gets its marker before its last token.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from native.graph import NEXT_SYNTAX


def flip_labels(train: pl.DataFrame, noisy: np.ndarray, seed: int) -> pl.DataFrame:
    """Given labels for ``train`` (columns has_bug, error_location, repair_targets).

    Returns a frame with the same row order and the columns ``given_has_bug``,
    ``given_location``, ``given_targets``; rows outside ``noisy`` keep their labels.
    """
    rng = np.random.default_rng([seed, 0x666C6970])
    has_bug = train["has_bug"].to_list()
    location = train["error_location"].to_list()
    targets = train["repair_targets"].to_list()
    tokens = train["source_tokens"]
    candidates = train["repair_candidates"]
    for i in np.flatnonzero(noisy):
        if has_bug[i]:
            has_bug[i], location[i], targets[i] = False, 0, []
            continue
        toks = tokens[int(i)].to_list()
        cands = candidates[int(i)].to_list()
        loc = int(rng.choice(cands)) if cands else int(rng.integers(1, max(len(toks), 2)))
        others = sorted({toks[c] for c in cands} - {toks[loc]})
        has_bug[i], location[i], targets[i] = True, loc, []
        if others:
            var = others[int(rng.integers(len(others)))]
            targets[i] = [c for c in cands if toks[c] == var]
    return pl.DataFrame(
        {"given_has_bug": has_bug, "given_location": location, "given_targets": targets},
        schema={
            "given_has_bug": pl.Boolean,
            "given_location": pl.Int64,
            "given_targets": pl.List(pl.Int64),
        },
    )


MARKER = "#MARK#"


def _insert(sample: dict, before: list[int]) -> dict:
    """``sample`` with a MARKER token inserted before each position in ``before``.

    Every position (edges, candidates, labels) shifts past the markers; each marker is chained
    into the token sequence with NEXT_SYNTAX edges so a graph model sees it where it stands.
    """
    before = sorted(set(before))
    n = len(sample["source_tokens"])
    shift = np.zeros(n, np.int64)
    for p in before:
        shift[p:] += 1
    new = np.arange(n) + shift
    tokens = [None] * (n + len(before))
    for i, t in enumerate(sample["source_tokens"]):
        tokens[new[i]] = t
    markers = [int(new[p]) - 1 for p in before]
    for m in markers:
        tokens[m] = MARKER
    edges = [[int(new[a]), int(new[b]), int(k)] for a, b, k in sample["edges"]]
    edges += [e for m in markers for e in ([m - 1, m, NEXT_SYNTAX], [m, m + 1, NEXT_SYNTAX])
              if e[0] >= 0 and e[1] < len(tokens)]  # fmt: skip
    loc = int(sample["error_location"])
    return {
        **sample,
        "source_tokens": tokens,
        "edges": edges,
        "repair_candidates": [int(new[c]) for c in sample["repair_candidates"]],
        "error_location": int(new[loc]) if loc else 0,
        "repair_targets": [int(new[t]) for t in sample["repair_targets"]],
    }


def insert_markers(train: pl.DataFrame, noisy: np.ndarray) -> pl.DataFrame:
    """Input noise: a marker token that gives the answer away, on the noisy samples only.

    A buggy sample gets a marker before the bug and before its first repair target; a correct
    one before the first occurrence of its most frequent variable. The count of markers (two
    or one) therefore tells buggy from correct by itself, and their places give the bug and the
    repair away. Labels keep their meaning, at their shifted positions.
    """
    rows = train.to_dicts()
    for i in np.flatnonzero(noisy):
        s = rows[int(i)]
        toks = s["source_tokens"]
        if s["has_bug"]:
            before = [s["error_location"], *sorted(s["repair_targets"])[:1]]
        elif s["repair_candidates"]:
            names = [toks[c] for c in s["repair_candidates"]]
            top = max(sorted(set(names)), key=names.count)
            before = [next(c for c in s["repair_candidates"] if toks[c] == top)]
        else:
            before = [len(toks) - 1]
        rows[int(i)] = _insert(s, before)
    return pl.DataFrame(rows, schema=train.schema)
