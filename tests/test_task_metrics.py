"""The original metric definitions on hand-computed examples."""

from __future__ import annotations

import math

import polars as pl
import pytest

from benchmark.tasks.code_search import metrics as code_search
from benchmark.tasks.method_name import metrics as method_name
from benchmark.tasks.originals import (
    SentenceBleu,
    bleu,
    prf,
    rank_of_true,
    sentence_bleu,
    subtoken_counts,
)


def test_subtoken_f1_with_repeats():
    # code2seq counts every occurrence of a predicted sub-token found in the reference.
    assert subtoken_counts(["get", "value"], ["get", "get"]) == (2, 0, 1, False)
    assert subtoken_counts(["get", "get", "x"], ["get"]) == (1, 0, 1, False)
    assert subtoken_counts(["get", "value"], ["get", "value"]) == (2, 0, 0, True)
    # The exact-match shortcut compares the joined strings.
    assert subtoken_counts(["getvalue"], ["get", "value"]) == (1, 0, 0, True)
    assert subtoken_counts(["a"], ["<UNK>", "b"]) == (0, 1, 1, False)
    p, r, f = prf(2 + 1, 0 + 2, 1 + 0)  # summed over two samples, then divided
    assert (p, r) == (0.6, 0.75) and f == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    assert prf(0, 0, 0) == (0.0, 0.0, 0.0)


def test_bleu_exact_match_is_one():
    assert bleu(["returns the sum of a and b"], "returns the sum of a and b") == pytest.approx(1.0)


def test_bleu_smoothed_by_hand():
    # reference "a b c d", candidate "a b c e": 1-grams 3/4, 2-grams 2/3, 3-grams 1/2,
    # 4-grams 0/1; smoothing adds 1 to 2..4-grams: (3/4 * 3/4 * 2/3 * 1/2) ** (1/4), no penalty.
    expected = (0.75 * 0.75 * (2 / 3) * 0.5) ** 0.25
    assert bleu(["a b c d"], "a b c e") == pytest.approx(expected)
    assert sentence_bleu(["a", "b", "c", "d"], ["A", "b", "c", "e"]) == pytest.approx(
        100 * expected
    )


def test_bleu_unsmoothed_and_brevity():
    # Without smoothing a missing 4-gram drives BLEU to (almost) zero.
    assert bleu(["a b c d"], "a b c e", smooth=False) < 1e-60
    # Candidate "a b" against "a b c d": 1-grams 2/2, 2-grams (1+1)/(1+1), 3- and 4-grams
    # (0+1)/(0+1); brevity penalty exp(1 - 5/3).
    assert bleu(["a b c d"], "a b") == pytest.approx(math.exp(1 - 5 / 3))


def test_bleu_normalizes_punctuation_and_case():
    assert bleu(["Hello, world."], "hello , world .") == pytest.approx(1.0)


def test_mrr_ties_count_against_the_model():
    assert rank_of_true([0.9, 0.1, 0.2], 0) == 1
    assert rank_of_true([0.5, 0.5, 0.5, 0.1], 0) == 3  # two distractors tie with the truth
    assert rank_of_true([0.1, 0.3, 0.2], 0) == 3
    ranks = [1, 3, 3]
    assert sum(1 / r for r in ranks) / 3 == pytest.approx((1 + 1 / 3 + 1 / 3) / 3)


def test_subtoken_filter_is_code2seqs():
    # code2seq drops only <UNK>, <PAD> and </S>; anything else predicted is a sub-token.
    assert subtoken_counts(["get", "value"], ["get", "<UNK>", "value", "</S>", "<PAD>"]) == (
        2, 0, 0, True
    )  # fmt: skip
    # "<S>get" != "get", so no shortcut: get is a tp, <S> an fp, nothing is missing.
    assert subtoken_counts(["get"], ["<S>", "get"]) == (1, 1, 0, False)
    assert subtoken_counts(["get"], ["", "get"]) == (1, 0, 0, True)  # "" + "get" joins to "get"


def test_subtoken_empty_predictions():
    # Nothing predicted: no tp or fp, every reference sub-token is an fn.
    assert subtoken_counts(["get", "value"], []) == (0, 0, 2, False)
    assert subtoken_counts(["get", "value"], ["<UNK>"]) == (0, 0, 2, False)
    # Both sides empty after filtering: the joined strings agree, an exact match of length 0.
    assert subtoken_counts(["<UNK>"], []) == (0, 0, 0, True)


def test_exact_match_includes_repeats_dropped():
    # update_correct_predictions: equal lists, equal once repeats are dropped, or equal joins.
    # "getvaluevalue" != "getvalue": tp/fp/fn are counted per sub-token (3 tps, value twice),
    # yet the prediction is an exact match because unique(pred) == unique(true).
    assert subtoken_counts(["get", "value"], ["get", "value", "value"]) == (3, 0, 0, True)
    assert subtoken_counts(["get", "value"], ["value", "get"]) == (2, 0, 0, False)  # order


def test_method_name_aggregate_is_micro():
    # Sample 1: ["a"] for ["a"] (tp 1); sample 2: ["e"] for ["b", "c", "d"] (fp 1, fn 3).
    # Summed: tp 1, fp 1, fn 3 -> P 1/2, R 1/4, F1 2 * 1/8 / (3/4) = 1/3 (macro would say 1/2).
    counts = [subtoken_counts(["a"], ["a"]), subtoken_counts(["b", "c", "d"], ["e"])]
    table = pl.DataFrame({
        "epoch": [0, 0], "split": ["test", "test"],
        "tp_true": [c[0] for c in counts], "fp_true": [c[1] for c in counts],
        "fn_true": [c[2] for c in counts], "correct_true": [c[3] for c in counts],
    })  # fmt: skip
    row = method_name.aggregate(table, "true").collect().row(0, named=True)
    assert row["precision"] == pytest.approx(1 / 2) and row["recall"] == pytest.approx(1 / 4)
    assert row["f1"] == pytest.approx(1 / 3) and row["exact_match"] == pytest.approx(1 / 2)


def test_bleu_empty_candidate_and_long_candidate():
    # Empty candidate: every guess count is 0, so each log term is log(x) - log(x) = 0, and
    # the brevity penalty is 1 - (3 + 1) / (0 + 1) = -3: BLEU exp(-3), not 0.
    assert bleu(["a b c"], "") == pytest.approx(math.exp(-3))
    # "a b c d e" against "a b c d": 1-grams 4/5, 2-grams (3+1)/(4+1), 3-grams (2+1)/(3+1),
    # 4-grams (1+1)/(2+1); 1 - 5/6 > 0, so no penalty.
    assert bleu(["a b c d"], "a b c d e") == pytest.approx((0.8 * 0.8 * 0.75 * (2 / 3)) ** 0.25)


def test_bleu_several_references():
    # Clipping by the most any one reference holds ("a" twice in the first), the shortest
    # reference's length for the penalty: all precisions 1, penalty 1 - (3 + 1) / (2 + 1).
    assert bleu(["a a b", "a b c d"], "a a") == pytest.approx(math.exp(-1 / 3))


def test_sentence_bleu_of_recurring_pairs_is_each_pairs_own():
    """SentenceBleu normalizes each distinct reference once and keeps the last prediction: a
    unit's docstrings recur at every epoch and on both label sides. Each score and exact
    match is still the pair's own, in any order of recurrence."""
    pairs = [(["a", "b", "c", "d"], ["a", "b", "c", "e"]), (["x", "y"], ["a", "b", "c", "e"]),
             (["a", "b", "c", "d"], ["a", "b"]), (["a", "b", "c", "d"], ["a", "b", "c", "e"]),
             (["x", "y"], ["x", "y"]), (["a", "b", "c", "d"], ["a", "b"])]  # fmt: skip
    scorer = SentenceBleu()
    for reference, prediction in pairs:
        alone = 100.0 * bleu([" ".join(reference)], " ".join(prediction))
        score, same = scorer(reference, prediction)
        assert score == alone == sentence_bleu(reference, prediction)
        assert same == (reference == prediction)


def test_mrr_999_distractors_and_ties():
    # The true code (index 0) against 999 distractors: 4 score higher, 2 tie with it.
    scores = [0.7] + [0.9] * 4 + [0.7] * 2 + [0.1] * 993
    assert len(scores) == 1000 and rank_of_true(scores, 0) == 7
    table = pl.DataFrame({"epoch": [0, 0], "split": ["test"] * 2, "rr": [1 / 7, 1.0],
                          "pair_acc_true": [1.0, 0.0]})  # fmt: skip
    row = code_search.aggregate(table, "true").collect().row(0, named=True)
    assert row["mrr"] == pytest.approx((1 / 7 + 1) / 2)


def test_code_search_batches_hold_999_distractors():
    # 2,500 queries: two batches of 1000 codes; the last 500 queries borrow 500 earlier codes,
    # so every query ranks its own code (at true_index) against exactly 999 others.
    from benchmark.tasks.code_search import _batches

    df = _batches(pl.DataFrame({"id": [f"q{i}" for i in range(2500)]}), "test", seed=3)
    assert df["candidates"].list.len().unique().to_list() == [1000]
    assert df["candidates"].list.n_unique().unique().to_list() == [1000]
    picked = [c[t] for c, t in zip(df["candidates"], df["true_index"], strict=True)]
    assert picked == df["code_key"].to_list()
    small = _batches(pl.DataFrame({"id": [f"q{i}" for i in range(30)]}), "test", seed=3)
    assert small["candidates"].list.len().unique().to_list() == [30]  # a split under 1000


@pytest.mark.parametrize("task", ["method_name", "code_to_text"])
def test_rows_judged_in_slices_are_judged_as_at_once(task, monkeypatch):
    """The scorers read rows as Python objects a slice at a time (lines.judge_rows): any
    slicing gives the same table, and no predictions give the table's columns, typed."""
    from benchmark.tasks import TASKS, lines

    field, label = ("subtokens", "label") if task == "method_name" else ("tokens", "doc")
    words = [["get", "value"], ["set"], ["to", "string", "now"], ["is", "empty"], ["add"]]
    ids = [f"s{i}" for i in range(len(words))]
    labels = pl.DataFrame({"sample_id": ids, "split": ["train"] * 5, "noisy": [False] * 5,
                           f"given_{label}": words, f"true_{label}": words[::-1]})  # fmt: skip
    predictions = pl.DataFrame({
        "epoch": [e for e in (1, 2) for _ in ids], "sample_id": ids * 2,
        "split": ["train"] * 10, field: words + words[1:] + words[:1],
        "score": [0.5] * 10, "loss": [1.0] * 10, "p_given": [0.5] * 10,
    })  # fmt: skip
    score = TASKS[task].score
    whole = score(labels, predictions)
    monkeypatch.setattr(lines, "ROWS_AT_ONCE", 3)
    assert score(labels, predictions).equals(whole)
    empty = score(labels, predictions.clear())
    assert empty.height == 0 and empty.schema == whole.schema
