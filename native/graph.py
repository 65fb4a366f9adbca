"""Program graphs over tokens, with GREAT's typed edges, as numba kernels.

Nodes are token positions (as in the GREAT data); the syntax tree is folded onto tokens by
connecting each AST node's first token to its children's first tokens. Data-flow edges are
lexical approximations: the last read/write of the same variable earlier in the token order.
"""

from __future__ import annotations

import numba
import numpy as np

# GREAT's edge type enum (google-research/great, graph_pb2): we emit a subset.
EDGE_TYPES = {
    1: "enum_CFG_NEXT",
    2: "enum_LAST_READ",
    3: "enum_LAST_WRITE",
    4: "enum_COMPUTED_FROM",
    5: "enum_RETURNS_TO",
    6: "enum_FORMAL_ARG_NAME",
    7: "enum_FIELD",
    8: "enum_SYNTAX",
    9: "enum_NEXT_SYNTAX",
    10: "enum_LAST_LEXICAL_USE",
    11: "enum_CALLS",
}
LAST_READ, LAST_WRITE, COMPUTED_FROM, FIELD, NEXT_SYNTAX, LAST_LEXICAL_USE = 2, 3, 4, 7, 9, 10


@numba.njit(cache=True)
def token_spans(
    tok_node: np.ndarray, parent: np.ndarray, lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray]:
    """For every node in ``[lo, hi)``, its first and last token position (-1 if none)."""
    first = np.full(hi - lo, -1, np.int32)
    last = np.full(hi - lo, -1, np.int32)
    for t in range(len(tok_node)):
        n = tok_node[t]
        while n >= lo:
            if first[n - lo] == -1:
                first[n - lo] = t
            last[n - lo] = t
            n = parent[n]
    return first, last


@numba.njit(cache=True)
def _assign_sides(
    a: int,
    kind: np.ndarray,
    end: np.ndarray,
    field: np.ndarray,
    assign_left: np.ndarray,
    assign_right: np.ndarray,
    first: np.ndarray,
    lo: int,
) -> tuple[int, int]:
    """The target and value children of assignment node ``a``, or (-1, -1) when ``a`` is not
    an assignment or either side holds no token."""
    left_field = assign_left[kind[a]]
    if left_field == 0:
        return -1, -1
    right_field = assign_right[kind[a]]
    left = -1
    right = -1
    c = a + 1
    while c < end[a]:
        if field[c] == left_field:
            left = c
        elif field[c] == right_field:
            right = c
        c = end[c]
    if left == -1 or right == -1 or first[left - lo] == -1 or first[right - lo] == -1:
        return -1, -1
    return left, right


@numba.njit(cache=True)
def edges(
    tok_node: np.ndarray,
    name_id: np.ndarray,
    var_id: np.ndarray,
    is_write: np.ndarray,
    kind: np.ndarray,
    parent: np.ndarray,
    end: np.ndarray,
    field: np.ndarray,
    assign_left: np.ndarray,
    assign_right: np.ndarray,
    lo: int,
    hi: int,
) -> np.ndarray:
    """Typed edges ``(src, dst, type)`` between token positions of one function.

    tok_node: node index of each token (-1 for layout markers); name_id: id of the
    identifier's text (-1 for non-identifiers); var_id: id of the variable (-1 if the token
    is not a variable occurrence); is_write: the occurrence assigns the variable;
    assign_left/assign_right: per kind, the field ids of an assignment's target and value
    (0 for kinds that are not assignments).
    """
    n = len(tok_node)
    first, last = token_spans(tok_node, parent, lo, hi)

    # Count COMPUTED_FROM edges first: they are the only ones without a linear bound.
    n_computed = 0
    for a in range(lo, hi):
        left, right = _assign_sides(a, kind, end, field, assign_left, assign_right, first, lo)
        if left == -1:
            continue
        n_left = 0
        for t in range(first[left - lo], last[left - lo] + 1):
            if var_id[t] >= 0 and is_write[t]:
                n_left += 1
        n_right = 0
        for u in range(first[right - lo], last[right - lo] + 1):
            if var_id[u] >= 0:
                n_right += 1
        n_computed += n_left * n_right

    out = np.empty((5 * n + (hi - lo) + n_computed, 3), np.int32)
    k = 0
    for t in range(n - 1):
        out[k, 0] = t
        out[k, 1] = t + 1
        out[k, 2] = NEXT_SYNTAX
        k += 1

    for c in range(lo + 1, hi):
        p = parent[c]
        if p < lo or first[c - lo] == -1:
            continue
        if first[p - lo] != first[c - lo]:
            out[k, 0] = first[p - lo]
            out[k, 1] = first[c - lo]
            out[k, 2] = FIELD
            k += 1

    n_names = 0
    n_vars = 0
    for t in range(n):
        n_names = max(n_names, name_id[t] + 1)
        n_vars = max(n_vars, var_id[t] + 1)
    last_use = np.full(n_names, -1, np.int32)
    last_read = np.full(n_vars, -1, np.int32)
    last_write = np.full(n_vars, -1, np.int32)
    for t in range(n):
        m = name_id[t]
        if m >= 0:
            if last_use[m] >= 0:
                out[k, 0] = t
                out[k, 1] = last_use[m]
                out[k, 2] = LAST_LEXICAL_USE
                k += 1
            last_use[m] = t
        v = var_id[t]
        if v >= 0:
            if last_read[v] >= 0:
                out[k, 0] = t
                out[k, 1] = last_read[v]
                out[k, 2] = LAST_READ
                k += 1
            if last_write[v] >= 0:
                out[k, 0] = t
                out[k, 1] = last_write[v]
                out[k, 2] = LAST_WRITE
                k += 1
            if is_write[t]:
                last_write[v] = t
            else:
                last_read[v] = t

    for a in range(lo, hi):
        left, right = _assign_sides(a, kind, end, field, assign_left, assign_right, first, lo)
        if left == -1:
            continue
        for t in range(first[left - lo], last[left - lo] + 1):
            if var_id[t] < 0 or not is_write[t]:
                continue
            for u in range(first[right - lo], last[right - lo] + 1):
                if var_id[u] >= 0:
                    out[k, 0] = t
                    out[k, 1] = u
                    out[k, 2] = COMPUTED_FROM
                    k += 1
    return out[:k]


REVERSE_OFFSET = max(EDGE_TYPES)  # a reverse edge's type is its forward type plus this


def with_reverse(e: np.ndarray) -> np.ndarray:
    """``e`` followed by every edge reversed, typed ``type + REVERSE_OFFSET`` (GGNN-style)."""
    back = e[:, [1, 0, 2]]
    back[:, 2] += REVERSE_OFFSET
    return np.concatenate([e, back])
