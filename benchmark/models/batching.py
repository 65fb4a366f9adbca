"""Which functions share a batch: GREAT's batches of similar length, for training and for the
epoch's predictions.

A batch of functions is padded to its longest function for the Transformer, GREAT and the
BiRNN, so its cost is its padded size, longest x count, not the tokens it holds. GREAT's data
loader (``to_batch`` in google-research's great/data/data_loader.py) therefore batches functions
of similar length and counts ``max_batch_size`` (12,500) in padded tokens. Consecutive runs of a
random order, which this suite used before, padded python-stdlib's functions to 3.4x their
tokens at ``paper``, and attention to 7.4x.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# GREAT's ``max_buffer_size``: training samples wait in a buffer of this many batches' worth of
# tokens, from which each batch takes the functions nearest in length to its pivot.
BUFFER_BATCHES = 50
# The predictions' windows: this many batches' worth of consecutive functions, sorted by length
# within the window and written back in file order.
WINDOW_BATCHES = 8


def _fill(lengths: np.ndarray, budget: int, max_samples: int | None) -> int:
    """How many of ``lengths``, taken in order, fit one batch: the padded size (longest so far
    x count) within ``budget`` and the count within ``max_samples``; at least one, so a
    function longer than the budget goes alone."""
    padded = np.maximum.accumulate(lengths) * np.arange(1, len(lengths) + 1)
    count = max(1, int(np.searchsorted(padded, budget, side="right")))
    return min(count, max_samples) if max_samples else count


def similar_length_batches(
    sizes: np.ndarray | Sequence[int],
    order: np.ndarray | Sequence[int],
    budget: int,
    max_samples: int | None = None,
    buffer_batches: int = BUFFER_BATCHES,
) -> list[np.ndarray]:
    """Training batches as GREAT's ``to_batch`` makes them: the functions of ``order`` stream
    into a buffer until it holds more than ``buffer_batches x budget`` tokens; a batch then
    takes, from the buffer, the functions nearest in length to a pivot's, as many as keep
    its padded size within ``budget`` (and its count within ``max_samples``). Every function
    of ``order`` is in one batch; a batch lists its functions in ``order``'s order.

    The pivot is the function that has waited longest, where GREAT draws one from the buffer
    at random: as ``order`` is a fresh shuffle each epoch, the batches still come in a random
    mix of lengths, no function waits past ``buffer_batches`` batches' worth of the stream, and
    no random number is drawn beyond the order's own, so a seed gives the same batches."""
    sizes = np.asarray(sizes, dtype=np.int64)
    stream = np.asarray(order, dtype=np.int64)
    ends = np.cumsum(sizes[stream])  # tokens streamed up to and including each position
    capacity = buffer_batches * budget
    buffer = np.empty(0, dtype=np.int64)  # stream positions, oldest first
    held = streamed = 0  # tokens in the buffer; positions of the stream read into it
    batches: list[np.ndarray] = []
    while streamed < len(stream) or len(buffer):
        if streamed < len(stream) and held <= capacity:
            # Read on up to and including the function that takes the buffer past capacity.
            before = int(ends[streamed - 1]) if streamed else 0
            upto = int(np.searchsorted(ends, before + capacity - held, side="right")) + 1
            upto = min(upto, len(stream))
            buffer = np.concatenate([buffer, np.arange(streamed, upto)])
            held += int(ends[upto - 1]) - before
            streamed = upto
        lengths = sizes[stream[buffer]]
        nearest = np.argsort(np.abs(lengths - lengths[0]), kind="stable")
        taken = np.sort(nearest[: _fill(lengths[nearest], budget, max_samples)])
        batches.append(stream[buffer[taken]])
        held -= int(lengths[taken].sum())
        buffer = np.delete(buffer, taken)
    return batches


def prediction_windows(
    sizes: np.ndarray | Sequence[int], budget: int, window_batches: int = WINDOW_BATCHES
) -> list[list[np.ndarray]]:
    """The batches that predict a split, grouped in windows: each window is a run of
    consecutive functions (file order) of about ``window_batches x budget`` tokens, sorted by
    length and cut into batches whose padded size stays within ``budget``. The caller writes a
    window's lines back in file order, which stays the order of the epoch file."""
    sizes = np.asarray(sizes, dtype=np.int64)
    ends = np.cumsum(sizes)
    windows: list[list[np.ndarray]] = []
    start = 0
    while start < len(sizes):
        before = int(ends[start - 1]) if start else 0
        stop = int(np.searchsorted(ends, before + window_batches * budget, side="right"))
        stop = max(stop, start + 1)
        ranked = start + np.argsort(sizes[start:stop], kind="stable")
        batches = []
        while len(ranked):
            count = _fill(sizes[ranked], budget, None)
            batches.append(ranked[:count])
            ranked = ranked[count:]
        windows.append(batches)
        start = stop
    return windows
