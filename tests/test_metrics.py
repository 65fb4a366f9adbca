"""Task metrics and the run summary on a hand-computed example (4 train samples of which 2
noisy, 2 valid, 2 test, 2 epochs), the None cases, and properties of acc and AUROC."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmark import metrics
from benchmark.metrics.summary import SUBSETS, auroc, summarize
from benchmark.tasks.var_misuse import metrics as var_misuse
from benchmark.tasks.var_misuse.scoring import score

LABEL_SCHEMA = {
    "sample_id": pl.String,
    "split": pl.String,
    "noisy": pl.Boolean,
    "true_has_bug": pl.Boolean,
    "true_location": pl.Int64,
    "true_targets": pl.List(pl.Int64),
    "given_has_bug": pl.Boolean,
    "given_location": pl.Int64,
    "given_targets": pl.List(pl.Int64),
    "candidates": pl.List(pl.Int64),
}
NO_BUG = (False, 0, [])
# Every sample's repair candidates in these examples: each position the tests point at.
CANDIDATES = list(range(9))


def make_labels(rows: list[tuple]) -> pl.DataFrame:
    """rows: (sample_id, split, noisy, true (has_bug, loc, targets), given or None = true,
    candidates (default CANDIDATES))."""
    return pl.DataFrame(
        [
            (sid, split, noisy, *true, *(given_ or true), *(rest or [CANDIDATES]))
            for sid, split, noisy, true, given_, *rest in rows
        ],
        schema=LABEL_SCHEMA,
        orient="row",
    )


def one_hot(repair: int) -> list[float]:
    """A repair distribution over CANDIDATES that is sure of `repair`: the arg-max and GREAT's
    mass rule then agree."""
    return [float(c == repair) for c in CANDIDATES]


def make_predictions(rows: list[tuple]) -> pl.DataFrame:
    """rows: (epoch, sample_id, split, location, repair, loss or None, repair_probs (default
    one-hot on `repair`))."""
    return pl.DataFrame(
        [
            (
                e,
                sid,
                split,
                loc,
                rep,
                0.5,
                0.5,
                loss,
                None if loss is None else 0.3,
                rest[0] if rest else one_hot(rep),
            )
            for e, sid, split, loc, rep, loss, *rest in rows
        ],
        schema={
            "epoch": pl.Int64,
            "sample_id": pl.String,
            "split": pl.String,
            "location": pl.Int64,
            "repair": pl.Int64,
            "location_score": pl.Float64,
            "repair_score": pl.Float64,
            "loss": pl.Float64,
            "p_given": pl.Float64,
            "repair_probs": pl.List(pl.Float64),
        },
        orient="row",
    )


LABELS = make_labels(
    [
        ("t1", "train", False, (True, 3, [5, 7]), None),
        ("t2", "train", False, NO_BUG, None),
        ("t3", "train", True, NO_BUG, (True, 4, [6])),  # noise: a bug where there is none
        ("t4", "train", True, (True, 2, [8]), NO_BUG),  # noise: the bug is hidden
        ("v1", "valid", False, (True, 3, [5]), None),
        ("v2", "valid", False, NO_BUG, None),
        ("s1", "test", False, (True, 2, [4, 6]), None),
        ("s2", "test", False, NO_BUG, None),
    ]
)
# Epoch 1 predicts the truth on the noisy samples, epoch 2 has memorized their noisy labels.
# Both epochs score 1/2 on valid, so selection must take epoch 1.
PREDICTIONS = make_predictions(
    [
        (1, "t1", "train", 3, 7, 0.2),
        (1, "t2", "train", 5, 5, 0.9),
        (1, "t3", "train", 0, 6, 0.9),
        (1, "t4", "train", 2, 8, 1.2),
        (1, "v1", "valid", 3, 1, None),
        (1, "v2", "valid", 0, 3, None),
        (1, "s1", "test", 2, 6, None),
        (1, "s2", "test", 0, 4, None),
        (2, "t1", "train", 3, 5, 0.1),
        (2, "t2", "train", 0, 1, 0.5),
        (2, "t3", "train", 4, 6, 0.4),
        (2, "t4", "train", 0, 2, 0.35),
        (2, "v1", "valid", 3, 5, None),
        (2, "v2", "valid", 7, 7, None),
        (2, "s1", "test", 2, 5, None),
        (2, "s2", "test", 0, 4, None),
    ]
)


def m(no_bug, loc, repair, joint, acc) -> dict[str, float | None]:
    return {
        "no_bug_acc": no_bug,
        "loc_acc": loc,
        "repair_acc": repair,
        "joint_acc": joint,
        "acc": acc,
    }


NONE = m(None, None, None, None, None)
EXPECTED = {
    1: {
        "train": m(0.0, 0.5, 1.0, 0.5, 0.25),
        "train_clean": m(0.0, 1.0, 1.0, 1.0, 0.5),
        "train_noisy": m(0.0, 0.0, 1.0, 0.0, 0.0),
        "train_noisy_true": m(1.0, 1.0, 1.0, 1.0, 1.0),
        "valid": m(1.0, 1.0, 0.0, 0.0, 0.5),
        "test": m(1.0, 1.0, 1.0, 1.0, 1.0),
    },
    2: {
        "train": m(1.0, 1.0, 1.0, 1.0, 1.0),
        "train_clean": m(1.0, 1.0, 1.0, 1.0, 1.0),
        "train_noisy": m(1.0, 1.0, 1.0, 1.0, 1.0),
        "train_noisy_true": m(0.0, 0.0, 0.0, 0.0, 0.0),
        "valid": m(0.0, 1.0, 1.0, 1.0, 0.5),
        "test": m(1.0, 1.0, 0.0, 0.0, 0.5),
    },
}


@pytest.fixture(scope="module")
def table() -> pl.DataFrame:
    return score(LABELS, PREDICTIONS)


def test_registry() -> None:
    assert metrics.get("var_misuse") is var_misuse
    assert "var_misuse" in metrics.tasks()
    assert var_misuse.PRIMARY == "acc" and var_misuse.PRIMARY in var_misuse.METRICS
    with pytest.raises(ValueError, match="no metrics for task"):
        metrics.get("method_naming")


def test_aggregate_per_epoch_and_split(table: pl.DataFrame) -> None:
    out = var_misuse.aggregate(table.filter(pl.col("split") != "train"), "true").collect()
    assert out.columns == ["epoch", "split", *var_misuse.METRICS]
    got = {(r["epoch"], r["split"]): r for r in out.iter_rows(named=True)}
    for epoch in (1, 2):
        for split in ("valid", "test"):
            row = got[(epoch, split)]
            assert {k: row[k] for k in var_misuse.METRICS} == EXPECTED[epoch][split]


def test_compute_on_a_subset_and_on_nothing(table: pl.DataFrame) -> None:
    train1 = table.filter(pl.col("epoch") == 1, pl.col("split") == "train")
    assert var_misuse.compute(train1, "given") == EXPECTED[1]["train"]
    # only no-bug rows: nothing to average for the bug metrics
    no_bug = table.filter(pl.col("sample_id") == "s2")
    assert var_misuse.compute(no_bug, "true") == m(1.0, None, None, None, 1.0)
    assert var_misuse.compute(table.clear(), "true") == NONE
    with pytest.raises(ValueError, match="side"):
        var_misuse.aggregate(table, "noisy")


def test_summary_hand_computed(table: pl.DataFrame) -> None:
    s = summarize(table, "var_misuse")
    assert s["selected_epoch"] == 1  # valid acc ties at 0.5: the earlier epoch wins
    assert s["selection"] == {"split": "valid", "metric": "acc"}
    for subset in SUBSETS:
        assert s[subset] == EXPECTED[1][subset], subset
    assert s["memorization_rate"] == 0.0
    assert s["memorization_rate_last"] == 1.0
    assert s["generalization_gap"] == pytest.approx(0.25 - 1.0)
    # mean losses: clean t1 0.15, t2 0.7; noisy t3 0.65, t4 0.775.
    # (noisy, clean) pairs where noisy loses more: t3>t1, t4>t1, t4>t2; t3<t2 -> 3/4
    assert s["noise_detection_auroc"] == pytest.approx(0.75)

    assert [e["epoch"] for e in s["per_epoch"]] == [1, 2]
    for entry in s["per_epoch"]:
        for subset in SUBSETS:
            assert entry[subset] == EXPECTED[entry["epoch"]][subset]
    first, second = s["per_epoch"]
    assert first["memorization_rate"] == 0.0 and second["memorization_rate"] == 1.0
    # epoch 1 losses t1 .2 t2 .9 | t3 .9 t4 1.2: wins t3>t1, t4>t1, t4>t2, tie t3=t2 -> 3.5/4
    assert first["noise_detection_auroc"] == pytest.approx(0.875)
    # epoch 2 losses t1 .1 t2 .5 | t3 .4 t4 .35: wins t3>t1, t4>t1 only -> 2/4
    assert second["noise_detection_auroc"] == pytest.approx(0.5)
    assert first["train_loss"] == pytest.approx(0.8)
    assert second["train_loss"] == pytest.approx(0.3375)


def test_summary_is_plain_json_and_lazy_gives_the_same(table: pl.DataFrame) -> None:
    s = summarize(table, "var_misuse")
    assert json.loads(json.dumps(s, allow_nan=False)) == s

    def plain(x: object) -> None:
        if isinstance(x, dict):
            for v in x.values():
                plain(v)
        elif isinstance(x, list):
            for v in x:
                plain(v)
        else:
            assert x is None or type(x) in (int, float, str), type(x)

    plain(s)
    assert summarize(table.lazy(), "var_misuse") == s


def test_a_better_later_epoch_is_selected() -> None:
    fixed = PREDICTIONS.with_columns(
        location=pl.when((pl.col("epoch") == 2) & (pl.col("sample_id") == "v2"))
        .then(0)
        .otherwise(pl.col("location"))
    )
    s = summarize(score(LABELS, fixed), "var_misuse")
    assert s["selected_epoch"] == 2
    assert s["valid"]["acc"] == 1.0
    assert s["memorization_rate"] == 1.0
    assert s["generalization_gap"] == pytest.approx(1.0 - 0.5)


def test_rate_zero_noise_gives_none() -> None:
    clean = LABELS.with_columns(
        noisy=pl.lit(False),
        given_has_bug=pl.col("true_has_bug"),
        given_location=pl.col("true_location"),
        given_targets=pl.col("true_targets"),
    )
    s = summarize(score(clean, PREDICTIONS), "var_misuse")
    assert s["train_noisy"] == NONE
    assert s["train_noisy_true"] == NONE
    assert s["memorization_rate"] is None
    assert s["memorization_rate_last"] is None
    assert s["noise_detection_auroc"] is None
    for entry in s["per_epoch"]:
        assert entry["memorization_rate"] is None
        assert entry["noise_detection_auroc"] is None
        assert entry["train_noisy"] == NONE
    # every train sample is clean now; at epoch 1 only t2 (a false alarm) is wrong
    assert s["train_clean"] == s["train"] == m(0.5, 1.0, 1.0, 1.0, 0.75)


def test_missing_subsets_and_bad_input(table: pl.DataFrame) -> None:
    no_test = table.filter(pl.col("split") != "test")
    s = summarize(no_test, "var_misuse")
    assert s["test"] == NONE and s["generalization_gap"] is None
    with pytest.raises(ValueError, match="validation"):
        summarize(table.filter(pl.col("split") != "valid"), "var_misuse")
    with pytest.raises(ValueError, match="empty"):
        summarize(table.clear(), "var_misuse")
    with pytest.raises(ValueError, match="lacks column"):
        summarize(table.drop("loss"), "var_misuse")
    with pytest.raises(ValueError, match="no metrics for task"):
        summarize(table, "method_naming")


def test_auroc_none_and_non_finite() -> None:
    assert auroc([True, True], [0.1, 0.2]) is None
    assert auroc([False, False], [0.1, 0.2]) is None
    assert auroc([], []) is None
    assert auroc([True, False, True], [0.9, 0.1, float("nan")]) == 1.0
    assert auroc(np.array([True, False]), np.array([0.1, 0.9])) == 0.0


@st.composite
def random_table(draw: st.DrawFn) -> pl.DataFrame:
    """A per-sample table straight from random verdicts (consistent as the evaluator makes
    them), bypassing the evaluator so the metrics are tested on their own."""
    n = draw(st.integers(2, 40))  # at least one valid sample to select on
    epochs = draw(st.integers(1, 3))
    rows = []
    for epoch in range(1, epochs + 1):
        for i in range(n):
            split = ["train", "valid", "test"][i % 3]
            pred_location = draw(st.integers(0, 2))
            row = {
                "sample_id": f"s{i}",
                "split": split,
                "epoch": epoch,
                "noisy": split == "train" and i % 2 == 0,
                "pred_location": pred_location,
                "loss": draw(st.floats(0, 5)),
            }
            for side in ("given", "true"):
                has_bug = draw(st.booleans())
                loc_ok = draw(st.booleans()) if has_bug else pred_location == 0
                repair_ok = has_bug and draw(st.booleans())
                row |= {
                    f"has_bug_{side}": has_bug,
                    f"loc_ok_{side}": loc_ok,
                    f"repair_ok_{side}": repair_ok,
                    f"correct_{side}": (not has_bug and pred_location == 0)
                    or (has_bug and loc_ok and repair_ok),
                }
            rows.append(row)
    return pl.DataFrame(rows)


@settings(max_examples=50, deadline=None)
@given(random_table(), st.sampled_from(["given", "true"]))
def test_acc_is_the_mean_of_correct(table: pl.DataFrame, side: str) -> None:
    out = var_misuse.aggregate(table, side).collect()
    for row in out.iter_rows(named=True):
        part = table.filter(pl.col("epoch") == row["epoch"], pl.col("split") == row["split"])
        assert 0.0 <= row["acc"] <= 1.0
        assert row["acc"] == pytest.approx(float(np.mean(part[f"correct_{side}"].to_numpy())))
        for name in var_misuse.METRICS:
            assert row[name] is None or 0.0 <= row[name] <= 1.0
    s = summarize(table, "var_misuse")
    assert json.loads(json.dumps(s, allow_nan=False)) == s
    for subset in SUBSETS:
        acc = s[subset]["acc"]
        assert acc is None or 0.0 <= acc <= 1.0


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(0, 10), min_size=1, max_size=20),
    st.lists(st.floats(0, 10), min_size=1, max_size=20),
)
def test_a_separating_loss_has_auroc_one(clean: list[float], noisy_gap: list[float]) -> None:
    top = max(clean)
    noisy = [top + 0.5 + g for g in noisy_gap]
    flags = [False] * len(clean) + [True] * len(noisy)
    assert auroc(flags, clean + noisy) == 1.0
    assert auroc([not f for f in flags], clean + noisy) == 0.0


def test_the_epoch_is_selected_in_the_primary_metrics_direction():
    from benchmark.metrics.summary import SELECTION_SPLIT, select_epoch

    found = {(1, SELECTION_SPLIT): {"m": 0.5}, (2, SELECTION_SPLIT): {"m": None},
             (3, SELECTION_SPLIT): {"m": 0.2}, (4, SELECTION_SPLIT): {"m": 0.2}}  # fmt: skip
    assert select_epoch(found, [1, 2, 3, 4], "m") == 1
    assert select_epoch(found, [1, 2, 3, 4], "m", higher_is_better=False) == 3  # ties: earliest
