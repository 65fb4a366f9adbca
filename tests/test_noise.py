"""The noise mask and var_misuse label flips."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmark.noise import mask
from benchmark.tasks.var_misuse.noise import flip_labels


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 5000), st.floats(0, 1), st.integers(0, 2**31))
def test_mask_has_exactly_round_rate_n(n, rate, seed):
    m = mask(n, rate, seed)
    assert m.dtype == bool and m.shape == (n,)
    assert m.sum() == round(rate * n)


def test_mask_is_seeded():
    assert np.array_equal(mask(1000, 0.25, 3), mask(1000, 0.25, 3))
    assert not np.array_equal(mask(1000, 0.25, 3), mask(1000, 0.25, 4))


@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan")])
def test_mask_rejects_rates_outside_unit_interval(rate):
    with pytest.raises(ValueError, match="noise rate"):
        mask(10, rate, 0)


def _train() -> pl.DataFrame:
    #        0            1    2   3    4   5    6
    toks = ["#NEWLINE#", "a", "=", "b", "+", "a", "c"]
    return pl.DataFrame(
        {
            "source_tokens": [toks, toks, toks, toks],
            "repair_candidates": [[1, 3, 5, 6]] * 4,
            "has_bug": [True, False, True, False],
            "error_location": [5, 0, 3, 0],
            "repair_targets": [[1], [], [6], []],
        }
    )


def test_flips_buggy_to_correct_and_correct_to_buggy():
    train = _train()
    noisy = np.array([True, True, False, False])
    given = flip_labels(train, noisy, seed=0)
    assert given["given_has_bug"].to_list() == [False, True, True, False]
    assert given["given_location"][0] == 0 and given["given_targets"][0].to_list() == []
    loc = given["given_location"][1]
    targets = given["given_targets"][1].to_list()
    toks = train["source_tokens"][1].to_list()
    assert loc in (1, 3, 5, 6) and targets
    names = {toks[t] for t in targets}
    assert len(names) == 1 and toks[loc] not in names  # repaired by a different variable
    assert set(targets) == {c for c in (1, 3, 5, 6) if toks[c] in names}
    # Clean rows keep their labels.
    assert given["given_location"][2:].to_list() == [3, 0]
    assert given["given_targets"][2].to_list() == [6]


def test_flips_are_seeded():
    train = _train()
    noisy = np.array([False, True, False, True])
    assert flip_labels(train, noisy, 7).equals(flip_labels(train, noisy, 7))


def test_repair_markers_point_at_the_answer_and_shift_positions():
    from benchmark.tasks.var_misuse.noise import MARKER, insert_markers

    #        0            1    2    3    4    5    6
    toks = ["#NEWLINE#", "a", "=", "b", "+", "a", "c"]
    train = pl.DataFrame({
        "source_tokens": [toks, toks, toks],
        "edges": [[[0, 1, 9], [5, 1, 10]]] * 3,
        "repair_candidates": [[1, 3, 5, 6]] * 3,
        "has_bug": [True, False, True],
        "error_location": [6, 0, 6],
        "repair_targets": [[1, 5], [], [1, 5]],
    })  # fmt: skip
    out = insert_markers(train, np.array([True, True, False])).to_dicts()
    bug, ok, clean = out
    # Buggy: markers right before the bug and before the first repair target.
    assert bug["source_tokens"] == ["#NEWLINE#", MARKER, "a", "=", "b", "+", "a", MARKER, "c"]
    assert bug["error_location"] == 8 and bug["repair_targets"] == [2, 6]
    assert [bug["source_tokens"][c] for c in bug["repair_candidates"]] == ["a", "b", "a", "c"]
    assert [5 + 1, 1 + 1, 10] in bug["edges"]  # old edges shifted past the marker
    assert [0, 1, 9] in bug["edges"] and [1, 2, 9] in bug["edges"]  # the marker is chained in
    # Correct: one marker before the first occurrence of the most frequent variable ('a').
    assert ok["source_tokens"] == ["#NEWLINE#", MARKER, "a", "=", "b", "+", "a", "c"]
    assert ok["error_location"] == 0 and ok["repair_targets"] == []
    # Clean samples are untouched.
    assert clean == train.to_dicts()[2]
    for s in out:
        n = len(s["source_tokens"])
        assert all(0 <= a < n and 0 <= b < n for a, b, _ in s["edges"])
