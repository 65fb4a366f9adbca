"""GREAT's batches of similar length (benchmark/models/batching.py): every function once, the
padded size within the budget, the sample cap kept, and far less padding than consecutive runs
of a random order, on the GREAT shard's lengths and on any lengths hypothesis makes."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmark.models.batching import prediction_windows, similar_length_batches
from tests.perf.padding import consecutive_runs
from tests.shared_data import GREAT_SHARD


def shard_lengths() -> np.ndarray:
    with open(GREAT_SHARD, encoding="utf-8") as f:
        return np.array([len(json.loads(line)["source_tokens"]) for line in f])


def padded(sizes: np.ndarray, batch: np.ndarray) -> int:
    return int(sizes[batch].max()) * len(batch)


def check_training(sizes: np.ndarray, order: np.ndarray, budget: int, cap: int | None,
                   batches: list[np.ndarray]) -> None:  # fmt: skip
    assert sorted(np.concatenate(batches).tolist()) == sorted(order.tolist())
    rank = np.empty(len(sizes), dtype=np.int64)
    rank[order] = np.arange(len(order))
    for batch in batches:
        assert len(batch) == 1 or padded(sizes, batch) <= budget
        assert cap is None or len(batch) <= cap
        assert np.all(np.diff(rank[batch]) > 0)  # in the order's order


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 300), min_size=1, max_size=400),
    budget=st.integers(1, 2000),
    cap=st.one_of(st.none(), st.integers(1, 40)),
    buffer_batches=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_training_batches_keep_every_limit(sizes: list[int], budget: int, cap: int | None,
                                           buffer_batches: int, seed: int) -> None:  # fmt: skip
    lengths = np.array(sizes)
    order = np.random.default_rng(seed).permutation(len(lengths))
    batches = similar_length_batches(lengths, order, budget, cap, buffer_batches)
    check_training(lengths, order, budget, cap, batches)
    again = similar_length_batches(lengths, order, budget, cap, buffer_batches)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))


def test_a_function_past_the_budget_goes_alone() -> None:
    sizes = np.array([10, 500, 10, 10])
    batches = similar_length_batches(sizes, np.arange(4), budget=100)
    assert [b.tolist() for b in batches] == [[0, 2, 3], [1]]


def test_the_longest_waiting_function_leads_each_batch() -> None:
    """The pivot is the oldest function in the buffer: the first batch holds order[0] (90
    tokens) and the one nearest its length (91), the next the short ones, the last what is
    left."""
    sizes = np.array([5, 90, 6, 88, 5, 91])
    order = np.array([1, 0, 2, 3, 4, 5])
    batches = similar_length_batches(sizes, order, budget=200, buffer_batches=10)
    assert [b.tolist() for b in batches] == [[1, 5], [0, 2, 4], [3]]


def test_the_shard_is_padded_far_less_than_by_consecutive_runs() -> None:
    """Padded tokens over real tokens on the GREAT shard's 546 functions, at the cpu
    profile's limits (GREAT: 4,000 tokens, 32 functions) and at paper's (12,500 and 256)."""
    sizes = shard_lengths()
    order = np.random.default_rng(0).permutation(len(sizes))
    for budget, cap in ((4000, 32), (12500, 256)):
        batches = similar_length_batches(sizes, order, budget, cap)
        check_training(sizes, order, budget, cap, batches)
        runs = consecutive_runs(sizes, order, budget, cap)  # the batches used before
        similar = sum(padded(sizes, b) for b in batches) / sizes.sum()
        consecutive = sum(padded(sizes, b) for b in runs) / sizes.sum()
        # 1.09 and 4.6 at cpu's limits, 1.46 and 6.7 at paper's (8 batches: a small shard's
        # long tail of functions finds few partners of its length).
        assert similar < 1.5 and 3 * similar < consecutive, (similar, consecutive)


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 300), min_size=1, max_size=400),
    budget=st.integers(1, 2000),
    window_batches=st.integers(1, 5),
)
def test_prediction_windows_cover_the_split_in_file_order(sizes: list[int], budget: int,
                                                          window_batches: int) -> None:  # fmt: skip
    lengths = np.array(sizes)
    windows = prediction_windows(lengths, budget, window_batches)
    start = 0
    for window in windows:
        members = np.sort(np.concatenate(window))
        assert members.tolist() == list(range(start, start + len(members)))  # a run of the file
        start += len(members)
        for batch in window:
            assert len(batch) == 1 or padded(lengths, batch) <= budget
            assert np.all(np.diff(lengths[batch]) >= 0)  # by length within the window
    assert start == len(lengths)
