"""The paired bootstrap of `bench compare`: against a direct numpy computation, on micro F1,
and its refusals."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from benchmark.compare import paired_bootstrap
from benchmark.tasks.method_name import metrics as method_name


def bleu_rows(ids: list[str], bleu: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame({"sample_id": ids, "bleu_true": bleu, "correct_true": bleu >= 100,
                         "tokens": [["w"]] * len(ids)})  # fmt: skip


def test_mean_metric_matches_resampling_by_hand() -> None:
    """Mean sentence BLEU: the interval is the percentiles of A - B over the same draws of
    sample indices (samples in id order), whatever order the rows come in."""
    rng = np.random.default_rng(1)
    ids = [f"s{i:03d}" for i in range(60)]
    a, b = rng.uniform(0, 40, 60), rng.uniform(0, 30, 60)
    got = paired_bootstrap("code_to_text", bleu_rows(ids, a)[::-1], bleu_rows(ids, b),
                           replicates=500, seed=7)  # fmt: skip
    draw = np.random.default_rng(7).integers(0, 60, size=(500, 60))
    diff = a[draw].mean(1) - b[draw].mean(1)
    assert got["a"] == pytest.approx(a.mean()) and got["b"] == pytest.approx(b.mean())
    assert got["difference"] == pytest.approx(a.mean() - b.mean())
    assert got["low"] == pytest.approx(np.percentile(diff, 2.5))
    assert got["high"] == pytest.approx(np.percentile(diff, 97.5))
    assert got["p_not_better"] == pytest.approx(np.mean(diff <= 0))
    assert (got["metric"], got["samples"], got["replicates"]) == ("bleu", 60, 500)


def test_a_constant_gain_is_certain_and_a_tie_is_not() -> None:
    ids = [f"s{i}" for i in range(30)]
    b = np.linspace(0, 50, 30)
    gain = paired_bootstrap("code_to_text", bleu_rows(ids, b + 2), bleu_rows(ids, b))
    assert gain["low"] == pytest.approx(2) and gain["high"] == pytest.approx(2)
    assert gain["p_not_better"] == 0 and gain["verdict"] == "A above B"
    tie = paired_bootstrap("code_to_text", bleu_rows(ids, b), bleu_rows(ids, b))
    assert tie["difference"] == 0 and tie["p_not_better"] == 1 and tie["verdict"] == "the same"
    loss = paired_bootstrap("code_to_text", bleu_rows(ids, b), bleu_rows(ids, b + 2))
    assert loss["verdict"] == "B above A"


def test_float_noise_is_no_difference() -> None:
    """Two runs that score the same up to float rounding read "A not above B in 60%", right
    but unhelpful (found by probing): the verdict says they are the same."""
    ids = [f"s{i}" for i in range(40)]
    b = np.linspace(0, 50, 40)
    noise = np.random.default_rng(0).normal(0, 1e-13, 40)
    r = paired_bootstrap("code_to_text", bleu_rows(ids, b + noise), bleu_rows(ids, b))
    assert 0 < r["p_not_better"] < 1 and r["verdict"] == "the same"
    mixed = paired_bootstrap("code_to_text", bleu_rows(ids, b[::-1]), bleu_rows(ids, b))
    assert mixed["low"] < 0 < mixed["high"] and mixed["verdict"] == "no clear difference"


def test_micro_f1_is_recomputed_from_the_sums_of_each_draw() -> None:
    """method_name's F1 is not a mean over samples: the whole-set score equals the task's own
    aggregate, not the mean of per-sample F1."""
    ids = ["a", "b", "c", "d"]
    rows = pl.DataFrame({"sample_id": ids, "tp_true": [3, 0, 1, 0], "fp_true": [0, 2, 1, 1],
                         "fn_true": [0, 1, 0, 3],
                         "correct_true": [True, False, False, False]})  # fmt: skip
    zero = rows.with_columns(pl.col("tp_true") * 0)
    got = paired_bootstrap("method_name", rows, zero, replicates=200)
    whole = method_name.aggregate(rows.with_columns(pl.lit(0).alias("g")), "true", ("g",))
    assert got["a"] == pytest.approx(whole.collect()["f1"][0]) and got["b"] == 0
    got = paired_bootstrap("method_name", rows, zero, metric="exact_match", replicates=200)
    assert (got["a"], got["b"]) == (0.25, 0.25)


def test_refusals() -> None:
    ids = [f"s{i}" for i in range(5)]
    rows = bleu_rows(ids, np.arange(5.0))
    with pytest.raises(ValueError, match="not scored on the same samples"):
        paired_bootstrap("code_to_text", rows, rows.head(4))
    with pytest.raises(ValueError, match="unknown metric 'mrr' for code_to_text"):
        paired_bootstrap("code_to_text", rows, rows, metric="mrr")


def test_seeds_pooled_score_their_mean_and_are_resampled_too() -> None:
    """A side of several runs: the mean of their scores, and per replicate the mean over a
    draw of the runs (with replacement), each on the replicate's draw of the samples."""
    rng = np.random.default_rng(2)
    ids = [f"s{i:02d}" for i in range(40)]
    a1, a2, b = rng.uniform(0, 40, 40), rng.uniform(0, 20, 40), rng.uniform(0, 30, 40)
    got = paired_bootstrap("code_to_text", [bleu_rows(ids, a1), bleu_rows(ids, a2)],
                           bleu_rows(ids, b), replicates=300, seed=5)  # fmt: skip
    hand = np.random.default_rng(5)
    draw = hand.integers(0, 40, size=(300, 40))
    boot = np.stack([a1[draw].mean(1), a2[draw].mean(1)])
    pick = hand.integers(0, 2, size=(300, 2))
    diff = boot[pick, np.arange(300)[:, None]].mean(1) - b[draw].mean(1)
    assert got["a"] == pytest.approx((a1.mean() + a2.mean()) / 2)
    assert (got["runs_a"], got["runs_b"]) == (2, 1)
    assert got["low"] == pytest.approx(np.percentile(diff, 2.5))
    assert got["high"] == pytest.approx(np.percentile(diff, 97.5))
    assert got["p_not_better"] == pytest.approx(np.mean(diff <= 0))
    single = paired_bootstrap("code_to_text", bleu_rows(ids, a1), bleu_rows(ids, b), seed=5)
    twice = paired_bootstrap("code_to_text", [bleu_rows(ids, a1)] * 2, bleu_rows(ids, b), seed=5)
    assert {k: v for k, v in twice.items() if k != "runs_a"} == {
        k: v for k, v in single.items() if k != "runs_a"
    }
    with pytest.raises(ValueError, match="not scored on the same samples"):
        paired_bootstrap("code_to_text", [bleu_rows(ids, a1), bleu_rows(ids[1:], a2[1:])],
                         bleu_rows(ids, b))  # fmt: skip
