"""A split held as flat arrays: distinct strings numbered in order of first sight, and runs
of varying length (a function's tokens, a method's contexts) as one array with offsets.

A model program holds its inputs for the whole run, and the study's datasets hold millions of
samples (GREAT's variable-misuse data, code2seq's java-large): held as Python strings, a token
or a context took some 100 bytes; as numbers into lists of the distinct ones, 4 bytes a token
and 12 a context.
Numbering needs no vocabulary, so a split is numbered as it is read, and a vocabulary is
counted afterwards from the distinct strings and how often each occurs (``np.bincount`` of a
split's numbers), which gives the counts that counting every occurrence gave.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Generic, TypeVar

import numpy as np

K = TypeVar("K", bound=Hashable)


class Numbering(Generic[K]):
    """Each distinct key, numbered 0, 1, ... in the order it was first seen."""

    def __init__(self, first: Iterable[K] = ()) -> None:
        """``first``: keys numbered before any other (a padding row's)."""
        self.index: dict[K, int] = {}
        self.rows(first)

    def __len__(self) -> int:
        return len(self.index)

    @property
    def keys(self) -> list[K]:
        """The distinct keys, in the order of their numbers."""
        return list(self.index)

    def row(self, key: K) -> int:
        """The number of ``key``, numbered now if new."""
        index = self.index
        return index.setdefault(key, len(index))

    def rows(self, keys: Iterable[K]) -> list[int]:
        """The numbers of ``keys``, new ones numbered as they come."""
        index = self.index
        return [index.setdefault(k, len(index)) for k in keys]


def offsets(counts: Sequence[int] | np.ndarray) -> np.ndarray:
    """int64 [n + 1]: where each of n runs of ``counts`` starts, and the total last."""
    return np.concatenate([[0], np.cumsum(np.asarray(counts, dtype=np.int64))]).astype(np.int64)


def spans(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The ranges ``start, ..., start + length - 1`` of each pair, concatenated in order."""
    ends = np.cumsum(lengths)
    return np.repeat(starts - (ends - lengths), lengths) + np.arange(ends[-1] if len(ends) else 0)
