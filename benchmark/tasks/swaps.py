"""Label noise by swapping: the noisy samples' labels shuffled among them, none kept.

A random cycle through the noisy samples gives each the label of the one before it, so the
labels of the noisy set are the same multiset as before (the label distribution, and at rate
1.0 that of the whole split, is unchanged: only which sample holds which label). Where two
samples share a label, a sample can receive its own back; it then trades with another noisy
sample for whom the trade also gives another label. Only a sample for whom no such trade
exists (the one noisy sample of a low rate; a label that most noisy samples share) takes the
label of a random other training sample instead, and only a split of a single distinct label
leaves a sample as it was.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")
DRAWS = 8  # random tries before a scan: a trade or another label is nearly always found so


def _key(label: object) -> Hashable:
    return tuple(label) if isinstance(label, list) else label  # type: ignore[return-value]


def swap_labels(labels: Sequence[T], noisy: np.ndarray, rng: np.random.Generator) -> list[T]:
    """The given labels: `labels` with those of the `noisy` samples swapped among them."""
    given = list(labels)
    cycle = rng.permutation(np.flatnonzero(noisy)).tolist()
    for a, b in zip(cycle, cycle[-1:] + cycle[:-1], strict=True):
        given[a] = labels[b]
    stuck = []
    hopeless: set[Hashable] = set()  # own labels no trade can help: the scan found none
    for a in cycle:
        if given[a] != labels[a]:
            continue
        tries = [cycle[j] for j in rng.integers(len(cycle), size=DRAWS).tolist()]
        b = next((b for b in tries if given[b] != labels[a] and given[a] != labels[b]), None)
        if b is None and _key(labels[a]) not in hopeless:
            b = next((b for b in cycle if given[b] != labels[a] and given[a] != labels[b]), None)
            if b is None:
                hopeless.add(_key(labels[a]))
        if b is None:
            stuck.append(a)
        else:
            given[a], given[b] = given[b], given[a]
    for a, label in zip(stuck, other_labels(labels, stuck, rng), strict=True):
        given[a] = label
    return given


def other_labels(labels: Sequence[T], which: Sequence[int], rng: np.random.Generator) -> list[T]:
    """For each sample in `which`, the label of a random training sample whose label differs
    from its own (DRAWS tries, in constant time however large the split; then one drawn among
    the other distinct labels); its own where every label is the same."""
    out = []
    distinct: list[T] | None = None
    for i in which:
        tries = rng.integers(len(labels), size=DRAWS).tolist()
        other = next((j for j in tries if labels[j] != labels[i]), None)
        if other is not None:
            out.append(labels[other])
            continue
        if distinct is None:
            distinct = list({_key(x): x for x in labels}.values())
        rest = [x for x in distinct if x != labels[i]]
        out.append(rest[int(rng.integers(len(rest)))] if rest else labels[i])
    return out
