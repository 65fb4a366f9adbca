"""The var_misuse evaluator: per-row verdicts on a hand-built example, the guards against
mis-joins, and a property check against a plain-Python reimplementation."""

from __future__ import annotations

import itertools

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmark.evaluator import get_scorer, score
from benchmark.tasks.var_misuse import metrics as var_misuse_metrics
from benchmark.tasks.var_misuse.scoring import TABLE_COLUMNS, _target_slots
from benchmark.tasks.var_misuse.scoring import score as score_var_misuse
from tests.test_metrics import (
    CANDIDATES,
    LABELS,
    NO_BUG,
    PREDICTIONS,
    make_labels,
    make_predictions,
)

VERDICTS = [
    f"{w}_{s}" for s in ("given", "true") for w in ("has_bug", "loc_ok", "repair_ok", "correct")
]


def verdicts(table: pl.DataFrame, epoch: int, sample_id: str) -> tuple[bool, ...]:
    row = table.filter((pl.col("epoch") == epoch) & (pl.col("sample_id") == sample_id))
    assert row.height == 1
    return tuple(row.select(VERDICTS).row(0))


def test_table_shape_and_order() -> None:
    table = score_var_misuse(LABELS, PREDICTIONS.sample(fraction=1.0, shuffle=True, seed=1))
    assert table.columns == TABLE_COLUMNS
    assert table.height == 16
    assert table.select("epoch", "sample_id").rows() == sorted(
        table.select("epoch", "sample_id").rows()
    )
    row = table.filter(pl.col("sample_id") == "t1", pl.col("epoch") == 1).row(0, named=True)
    assert row["pred_location"] == 3 and row["pred_repair"] == 7
    assert row["loss"] == 0.2 and row["p_given"] == 0.3 and row["noisy"] is False
    assert table.filter(pl.col("split") != "train")["p_given"].null_count() == 8


@pytest.mark.parametrize(
    ("epoch", "sample_id", "expected"),
    [
        # has_bug, loc_ok, repair_ok, correct  for given, then for true
        (1, "t1", (True, True, True, True, True, True, True, True)),
        # a no-bug sample flagged at position 5: wrong, and no repair can be right
        (1, "t2", (False, False, False, False, False, False, False, False)),
        # noisy: given says bug at 4 (repair 6), truth says no bug; predicted no bug + repair 6
        (1, "t3", (True, False, True, False, False, True, False, True)),
        # noisy: given says no bug, truth says bug at 2 (repair 8); predicted the truth
        (1, "t4", (False, False, False, False, True, True, True, True)),
        # the noisy labels memorized in epoch 2
        (2, "t3", (True, True, True, True, False, False, False, False)),
        (2, "t4", (False, True, False, True, True, False, False, False)),
        # a repair among several targets
        (2, "t1", (True, True, True, True, True, True, True, True)),
        # location right, repair wrong
        (2, "s1", (True, True, False, False, True, True, False, False)),
        (2, "v2", (False, False, False, False, False, False, False, False)),
    ],
)
def test_verdicts(epoch: int, sample_id: str, expected: tuple[bool, ...]) -> None:
    assert verdicts(score_var_misuse(LABELS, PREDICTIONS), epoch, sample_id) == expected


def test_registry() -> None:
    assert get_scorer("var_misuse") is score_var_misuse
    assert score("var_misuse", LABELS, PREDICTIONS).equals(score_var_misuse(LABELS, PREDICTIONS))
    with pytest.raises(ValueError, match="no evaluator"):
        get_scorer("nope")


def test_null_typed_p_given_and_narrow_ints_are_accepted() -> None:
    preds = PREDICTIONS.with_columns(
        pl.lit(None).alias("p_given"), pl.col("location").cast(pl.Int32)
    )
    table = score_var_misuse(LABELS, preds)
    assert table.schema["p_given"] == pl.Float64
    assert table.schema["pred_location"] == pl.Int64


def test_no_predictions_give_an_empty_table() -> None:
    table = score_var_misuse(LABELS, PREDICTIONS.clear())
    assert table.height == 0 and table.columns == TABLE_COLUMNS


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.with_columns(pl.col("sample_id").replace("t2", "zz")), "unknown sample_id"),
        (lambda p: p.filter(~((pl.col("epoch") == 2) & (pl.col("sample_id") == "v1"))), "lacks 1"),
        (
            lambda p: pl.concat([p, p.filter(pl.col("sample_id") == "s1", pl.col("epoch") == 2)]),
            "more than once",
        ),
        (lambda p: p.with_columns(pl.col("split").replace("test", "valid")), "wrong split"),
        (lambda p: p.drop("repair"), "lack column"),
        (lambda p: p.with_columns(pl.col("location").replace(3, None)), "null values in: location"),
    ],
)
def test_mismatches_are_refused(change, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        score_var_misuse(LABELS, change(PREDICTIONS))


def test_repeated_labels_are_refused() -> None:
    with pytest.raises(ValueError, match="repeat sample_id"):
        score_var_misuse(pl.concat([LABELS, LABELS.head(1)]), PREDICTIONS)


@st.composite
def random_case(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame, list[dict]]:
    n = draw(st.integers(1, 12))
    positions = st.integers(0, 6)
    label_rows, pred_rows, expected = [], [], []

    def label() -> tuple[bool, int, list[int]]:
        if draw(st.booleans()):
            return (
                True,
                draw(st.integers(1, 6)),
                draw(st.lists(positions, min_size=1, max_size=3)),
            )
        return NO_BUG

    for i in range(n):
        split = draw(st.sampled_from(["train", "valid", "test"]))
        true = label()
        noisy = split == "train" and draw(st.booleans())
        given_ = label() if noisy else true
        label_rows.append((f"s{i}", split, noisy, true, given_))
    epochs = draw(st.integers(1, 3))
    for epoch in range(1, epochs + 1):
        for sample_id, split, _, true, given_ in label_rows:
            loc, rep = draw(positions), draw(positions)
            # a distribution in eighths, so that sums are exact and 0.5 is hit on the nose
            n_cuts = len(CANDIDATES) - 1
            eighths = sorted(draw(st.lists(st.integers(0, 8), min_size=n_cuts, max_size=n_cuts)))
            cuts = [0, *eighths, 8]
            probs = [(b - a) / 8 for a, b in itertools.pairwise(cuts)]
            pred_rows.append((epoch, sample_id, split, loc, rep, 0.1, probs))
            row = {"epoch": epoch, "sample_id": sample_id}
            for side, (has_bug, location, targets) in (("given", given_), ("true", true)):
                mass = sum(p for c, p in zip(CANDIDATES, probs, strict=True) if c in targets)
                repair_ok = has_bug and mass >= 0.5  # GREAT's rule, whatever the arg-max
                row[f"correct_{side}"] = (not has_bug and loc == 0) or (
                    has_bug and loc == location and repair_ok
                )
                row[f"repair_ok_{side}"] = repair_ok
                row[f"loc_ok_{side}"] = loc == location
            expected.append(row)
    return make_labels(label_rows), make_predictions(pred_rows), expected


def test_repair_is_judged_by_greats_mass_rule_not_the_arg_max() -> None:
    """The two cases where the rules disagree, and GREAT's accuracies derived by hand.

    Four buggy test samples, all located right, candidates [1, 2, 3]:
    a: targets [1, 2], probs .3/.3/.4 -> arg-max 3 is no target, mass .6 >= .5: right;
    b: targets [1],    probs .45/.30/.25 -> arg-max 1 is the target, mass .45: wrong;
    c: targets [3],    probs .1/.4/.5 -> mass .5 exactly: right (>=, as GREAT);
    d: targets [2],    probs .2/.7/.1, location wrong: repair right, joint wrong.
    So repair_acc = 3/4 (a, c, d), loc_acc = 3/4, joint_acc = 2/4 (a, c), acc = 2/4; the
    arg-max rule would have said repair 3/4 (b, c, d) and joint 2/4 (b, c)."""
    cands = [1, 2, 3]
    cases = {  # id: (targets, probs, predicted location)
        "a": ([1, 2], [0.3, 0.3, 0.4], 2),
        "b": ([1], [0.45, 0.30, 0.25], 2),
        "c": ([3], [0.1, 0.4, 0.5], 2),
        "d": ([2], [0.2, 0.7, 0.1], 3),
    }
    labels = make_labels(
        [
            (k, "test", False, (True, 2, targets), None, cands)
            for k, (targets, _, _) in cases.items()
        ]
    )
    predictions = make_predictions(
        [
            (1, k, "test", loc, cands[probs.index(max(probs))], None, probs)
            for k, (_, probs, loc) in cases.items()
        ]
    )
    table = score_var_misuse(labels, predictions)
    ok = dict(zip(table["sample_id"], table["repair_ok_true"], strict=True))
    assert ok == {"a": True, "b": False, "c": True, "d": True}
    mass = dict(zip(table["sample_id"], table["repair_mass_true"], strict=True))
    assert mass == pytest.approx({"a": 0.6, "b": 0.45, "c": 0.5, "d": 0.7})
    got = var_misuse_metrics.compute(table, "true")
    assert got == pytest.approx(
        {"no_bug_acc": None, "loc_acc": 0.75, "repair_acc": 0.75, "joint_acc": 0.5, "acc": 0.5}
    )


def test_repair_probs_that_do_not_fit_the_candidates_are_refused() -> None:
    bad = PREDICTIONS.with_columns(
        pl.when(pl.col("sample_id") == "t2").then(pl.lit([1.0])).otherwise(pl.col("repair_probs"))
        .alias("repair_probs")
    )  # fmt: skip
    with pytest.raises(ValueError, match="repair_probs that do not match the candidates"):
        score_var_misuse(LABELS, bad)


@settings(max_examples=60, deadline=None)
@given(random_case())
def test_verdicts_match_a_plain_python_reading(case) -> None:
    labels, predictions, expected = case
    table = score_var_misuse(labels, predictions)
    got = {(r["epoch"], r["sample_id"]): r for r in table.iter_rows(named=True)}
    assert len(got) == len(expected)
    for row in expected:
        actual = got[(row["epoch"], row["sample_id"])]
        assert {k: actual[k] for k in row} == row


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.lists(st.integers(0, 9), max_size=8),
                          st.lists(st.integers(0, 9), max_size=4)), max_size=20))  # fmt: skip
def test_target_slots_are_the_candidates_that_are_targets(rows) -> None:
    """Each label row's slots: the positions of its candidates (none, repeated or not) that
    are among its targets, in order; an empty list, never null, where none is."""
    labels = pl.DataFrame(
        {"candidates": [c for c, _ in rows], "given_targets": [t for _, t in rows]},
        schema={"candidates": pl.List(pl.Int64), "given_targets": pl.List(pl.Int64)},
    )
    got = _target_slots(labels, "given").to_list()
    assert got == [[i for i, c in enumerate(cands) if c in targets] for cands, targets in rows]
