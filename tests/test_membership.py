"""Membership inference and counterfactual memorization on hand-computed and synthetic examples.

The hand example used throughout: members score [0.9, 0.5, 0.3], non-members [0.5, 0.2, 0.1];
the 0.5 is a member-non-member tie.
"""

from __future__ import annotations

import json
import math
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from benchmark.metrics import membership as mi

MEMBERS = [0.9, 0.5, 0.3]
NONMEMBERS = [0.5, 0.2, 0.1]


def test_auroc_by_hand_with_a_tie() -> None:
    # Pairs won: 0.9 beats all three (3); 0.5 ties 0.5 (1/2) and beats 0.2, 0.1 (2); 0.3 beats
    # 0.2, 0.1 (2): 7.5 of 9.
    assert mi.auroc(MEMBERS, NONMEMBERS) == pytest.approx(7.5 / 9)
    assert mi.auroc([1.0, 1.0], [1.0]) == pytest.approx(0.5)  # all tied: a coin
    assert mi.auroc([2.0], [1.0, 0.0]) == 1.0
    assert mi.auroc([0.0], [1.0]) == 0.0


def test_roc_curve_by_hand_moves_ties_together() -> None:
    fpr, tpr = mi.roc_curve(MEMBERS, NONMEMBERS)
    # Thresholds from the top: none (0, 0); 0.9 (0, 1/3); 0.5 takes the tied member and
    # non-member at once (1/3, 2/3), never (0, 2/3); 0.3 (1/3, 1); 0.2 (2/3, 1); 0.1 (1, 1).
    assert fpr.tolist() == pytest.approx([0, 0, 1 / 3, 1 / 3, 2 / 3, 1])
    assert tpr.tolist() == pytest.approx([0, 1 / 3, 2 / 3, 1, 1, 1])
    # Its trapezoid area is the AUROC (a tie's diagonal step is the 1/2).
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    assert area == pytest.approx(mi.auroc(MEMBERS, NONMEMBERS))
    assert [a.size for a in mi.roc_curve([], NONMEMBERS)] == [0, 0]


def test_tpr_at_fpr_by_hand_with_ties() -> None:
    # FPR 0 only at thresholds 0.9 (TPR 1/3): the tie at 0.5 brings a false positive with it.
    assert mi.tpr_at_fpr(MEMBERS, NONMEMBERS, 0.0) == pytest.approx(1 / 3)
    assert mi.tpr_at_fpr(MEMBERS, NONMEMBERS, 0.3) == pytest.approx(1 / 3)  # 1/3 > 0.3
    # FPR exactly 1/3 is allowed, and its best point is (1/3, 1) at threshold 0.3.
    assert mi.tpr_at_fpr(MEMBERS, NONMEMBERS, 1 / 3) == pytest.approx(1.0)
    assert mi.tpr_at_fpr(MEMBERS, NONMEMBERS, 1.0) == 1.0
    with pytest.raises(ValueError):
        mi.tpr_at_fpr(MEMBERS, NONMEMBERS, 1.5)


def test_tpr_at_fpr_with_too_few_nonmembers_for_the_rate() -> None:
    members = [5.0, 4.0, 3.0, 2.0, 1.0]
    nonmembers = [3.5] + [0.0] * 9
    # 0.1% of 10 non-members is 0.01 false positives: only FPR-0 points count, thresholds 5
    # and 4 above the non-member 3.5, so TPR 2/5 (not an interpolation toward 0.1%).
    assert mi.tpr_at_fpr(members, nonmembers, 0.001) == pytest.approx(0.4)
    # 10% allows one false positive (3.5): every member is above the other nine (0).
    assert mi.tpr_at_fpr(members, nonmembers, 0.1) == pytest.approx(1.0)
    # 30% of 10 is 3.0000000000000004 in floats: still three false positives, not more.
    assert mi.tpr_at_fpr([1.0], [2.0, 2.0, 2.0, 0.0] + [3.0] * 6, 0.3) == 0.0
    assert mi.tpr_at_fpr([1.0], [2.0, 2.0, 2.0, 0.0] + [3.0] * 6, 0.9) == 1.0


def test_non_finite_scores_are_dropped_and_empty_sides_are_undefined() -> None:
    assert mi.auroc([0.9, math.nan, math.inf], [0.5, -math.inf]) == 1.0
    assert mi.auroc([math.nan], [0.5]) is None
    assert mi.tpr_at_fpr([], [0.5], 0.01) is None
    figures = mi.attack_figures([0.9, math.nan], [0.5, 0.4, math.inf], resamples=50)
    assert (figures["n_members"], figures["n_nonmembers"]) == (1, 2)
    assert figures["auroc"] == {"value": 1.0, "low": None, "high": None}  # too few for one
    empty = mi.attack_figures([math.nan], [0.5])
    assert empty["auroc"] == empty["tpr_at_1pct_fpr"] == {"value": None, "low": None, "high": None}


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 5), min_size=1, max_size=15),
    st.lists(st.integers(0, 5), min_size=1, max_size=15),
)
def test_auroc_is_the_pairwise_count_with_ties_half(members: list[int], nonmembers: list[int]):
    wins = sum((a > b) + 0.5 * (a == b) for a in members for b in nonmembers)
    expected = wins / (len(members) * len(nonmembers))
    assert mi.auroc(members, nonmembers) == pytest.approx(expected, abs=1e-12)
    fpr, tpr = mi.roc_curve(members, nonmembers)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert fpr.size == len(set(members) | set(nonmembers)) + 1  # one point per distinct score
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    assert area == pytest.approx(expected, abs=1e-12)


def test_auroc_matches_sklearn_on_many_ties() -> None:
    rng = np.random.default_rng(3)
    members, nonmembers = rng.integers(0, 20, 500), rng.integers(2, 22, 700)
    labels = np.r_[np.ones(500), np.zeros(700)]
    assert mi.auroc(members, nonmembers) == pytest.approx(
        roc_auc_score(labels, np.r_[members, nonmembers]), abs=1e-12
    )


def test_the_bootstrap_core_equals_the_figures_of_each_resample() -> None:
    # A resample is counts per score group; the figures of those counts must be those of the
    # resampled scores themselves.
    rng = np.random.default_rng(4)
    members, nonmembers = rng.integers(0, 30, 80).astype(float), rng.integers(0, 25, 300) * 1.0
    gm, gn, width = mi._groups(members, nonmembers)
    pick_m, pick_n = rng.integers(0, 80, (6, 80)), rng.integers(0, 300, (6, 300))
    wm = np.stack([np.bincount(gm[p], minlength=width) for p in pick_m])
    wn = np.stack([np.bincount(gn[p], minlength=width) for p in pick_n])
    auc, (tpr_1, tpr_01) = mi._roc_figures(wm, wn, [0.01, 0.001])
    for r in range(6):
        m, n = members[pick_m[r]], nonmembers[pick_n[r]]
        assert auc[r] == pytest.approx(mi.auroc(m, n), abs=1e-12)
        assert tpr_1[r] == pytest.approx(mi.tpr_at_fpr(m, n, 0.01))
        assert tpr_01[r] == pytest.approx(mi.tpr_at_fpr(m, n, 0.001))


def test_a_bootstrap_drawn_a_few_resamples_at_a_time_is_the_same(monkeypatch) -> None:
    """The integer draws of a chunk's resamples are made _DRAW_CELLS items at a time (1000
    resamples of a million scores at once were 16 GB): the same intervals, for scores of a
    few distinct values (the baseline's, whose chunks hold every resample) and of many."""
    rng = np.random.default_rng(3)
    cases = [(rng.integers(0, 4, 301).astype(float), rng.integers(0, 4, 203).astype(float)),
             (rng.normal(1.0, 1.0, 301), rng.normal(0.0, 1.0, 203))]  # fmt: skip
    whole = [mi.attack_figures(m, n, seed=2, resamples=200) for m, n in cases]
    monkeypatch.setattr(mi, "_DRAW_CELLS", 3 * 301)  # 3 member resamples, 4 non-member ones
    assert [mi.attack_figures(m, n, seed=2, resamples=200) for m, n in cases] == whole


def test_attack_figures_are_seeded_and_bracket_the_value() -> None:
    rng = np.random.default_rng(5)
    members, nonmembers = rng.normal(1.0, 1.0, 300), rng.normal(0.0, 1.0, 400)
    first = mi.attack_figures(members, nonmembers, seed=7, resamples=300)
    again = mi.attack_figures(members, nonmembers, seed=7, resamples=300)
    other = mi.attack_figures(members, nonmembers, seed=8, resamples=300)
    assert json.dumps(first) == json.dumps(again)
    assert first["auroc"]["low"] != other["auroc"]["low"]
    assert (first["n_members"], first["n_nonmembers"]) == (300, 400)
    assert first["auroc"]["value"] == round(mi.auroc(members, nonmembers), 6)
    assert first["tpr_at_1pct_fpr"]["value"] == round(mi.tpr_at_fpr(members, nonmembers, 0.01), 6)
    for name in ("auroc", "tpr_at_1pct_fpr", "tpr_at_0_1pct_fpr"):
        figure = first[name]
        assert figure["low"] <= figure["value"] <= figure["high"], name
    # Separated by one standard deviation: AUROC Phi(1 / sqrt 2) = 0.76, interval ~ +-0.035.
    assert 0.70 < first["auroc"]["low"] < 0.76 < first["auroc"]["high"] < 0.82
    assert mi.attack_figures(members, nonmembers, resamples=0)["auroc"]["low"] is None


def test_an_interval_needs_ten_samples_on_each_side() -> None:
    """With one non-member every resample holds that one: the interval showed the members'
    spread alone, as narrow as a thousand non-members would give (found by probing)."""
    rng = np.random.default_rng(6)
    members = rng.normal(1.0, 1.0, 300)
    for n, interval in ((1, False), (mi.MIN_SIDE - 1, False), (mi.MIN_SIDE, True)):
        figures = mi.attack_figures(members, rng.normal(0.0, 1.0, n), resamples=200)
        assert figures["auroc"]["value"] is not None
        assert (figures["auroc"]["low"] is not None) == interval, n
        flipped = mi.attack_figures(rng.normal(0.0, 1.0, n), members, resamples=200)
        assert (flipped["auroc"]["low"] is not None) == interval, n
    # LiRA counts samples, not pairs: 9 samples held out by many models are still 9
    k, samples = 8, 40
    inclusion = np.zeros((k, samples), dtype=bool)
    inclusion[:, : samples - 9] = True
    inclusion[: k // 2, samples - 9 :] = True  # the last 9: in half the models, out of half
    scores = rng.normal(0.0, 1.0, (k, samples)) + inclusion
    figures = mi.lira_figures(inclusion, scores, resamples=100)
    assert figures["n_nonmembers"] == 36 and figures["auroc"]["low"] is None
    inclusion[k // 2 :, samples - 10] = False  # a tenth sample held out by some
    assert mi.lira_figures(inclusion, scores, resamples=100)["auroc"]["low"] is not None


def test_min_k_by_hand() -> None:
    rows = [[-1.0, -5.0, -2.0, -0.5, -3.0], [-0.7], [], [-1.0] * 27 + [-4.0, -6.0, -8.0]]
    # Row 0: k = 0.2 of 5 tokens is 1, the lowest (-5); k = 0.5 is ceil(2.5) = 3: -5, -3, -2.
    # Row 1: one token, at least one kept. Row 2: no token, NaN. Row 3: 0.1 * 30 tokens is 3
    # (3.0000000000000004 in floats, not 4): -4, -6, -8.
    out = mi.min_k_score(rows, k=0.2)
    assert out[:2].tolist() == [-5.0, -0.7] and math.isnan(out[2])
    assert mi.min_k_score(rows, k=0.5)[0] == pytest.approx(-10 / 3)
    assert mi.min_k_score(rows, k=0.1)[3] == pytest.approx(-6.0)
    assert mi.min_k_score(rows, k=1.0)[0] == pytest.approx(-11.5 / 5)  # the mean log-prob
    with pytest.raises(ValueError):
        mi.min_k_score(rows, k=0.0)


def test_zlib_score_by_hand() -> None:
    repetitive = "return x\n" * 40
    varied = "".join(chr(33 + (i * i * 7919 + 13 * i) % 90) for i in range(360))
    sizes = [len(zlib.compress(t.encode("utf-8"))) for t in (repetitive, varied)]
    assert [mi.zlib_entropy(t) for t in (repetitive, varied)] == sizes
    assert sizes[0] < sizes[1]  # repeating compresses: a smaller zlib entropy
    out = mi.zlib_score(np.array([2.0, 2.0]), [repetitive, varied])
    assert out.tolist() == pytest.approx([-2.0 / sizes[0], -2.0 / sizes[1]])
    # The same loss is less telling on text zlib also finds easy: it scores lower.
    assert out[0] < out[1]
    assert mi.loss_score(np.array([0.5, 2.0])).tolist() == [-0.5, -2.0]
    with pytest.raises(ValueError):
        mi.zlib_score(np.array([1.0]), [repetitive, varied])


def test_the_loss_attack_finds_a_synthetic_memorizer() -> None:
    rng = np.random.default_rng(11)
    n = 2000
    memorized = np.zeros(n, dtype=bool)
    memorized[rng.choice(n, 200, replace=False)] = True
    member = rng.random(n) < 0.5
    loss = rng.gamma(2.0, 1.0, n)  # members outside S and non-members: the same distribution
    hit = memorized & member
    loss[hit] = rng.uniform(0.0, 1e-3, hit.sum())  # S is memorized: near-zero loss when trained
    score = mi.loss_score(loss)
    recalled = mi.tpr_at_fpr(score[hit], score[~member], 0.01)
    chance = mi.tpr_at_fpr(score[member & ~memorized], score[~member], 0.01)
    assert recalled >= 0.9
    assert chance <= 0.03  # ~0.01: no better than the FPR
    figures = mi.attack_figures(score[hit], score[~member], resamples=200)
    assert figures["auroc"]["value"] > 0.99 and figures["tpr_at_1pct_fpr"]["low"] >= 0.9


def _subsets(k: int, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((k, n)) < 0.5


def test_counterfactual_on_a_synthetic_inclusion_matrix() -> None:
    k, n = 16, 2000
    inclusion = _subsets(k, n, 12)
    rng = np.random.default_rng(13)
    memorized = rng.random(n) < 0.1
    score = np.where(memorized, inclusion.astype(float), 0.7) + rng.normal(0, 0.02, (k, n))
    out = mi.counterfactual(inclusion, score)
    assert (out["times_in"] + out["times_out"] == k).all()
    assert (out["times_in"] == inclusion.sum(axis=0)).all()
    mem = out["memorization"]
    both = (out["times_in"] > 0) & (out["times_out"] > 0)
    assert np.isnan(mem[~both]).all() and np.isfinite(mem[both]).all()
    assert np.abs(mem[memorized & both] - 1.0).max() < 0.1
    assert np.abs(mem[~memorized & both]).max() < 0.1
    assert np.nanmean(out["score_out"][~memorized]) == pytest.approx(0.7, abs=0.01)
    # A sample every model trained on has no counterfactual.
    inclusion[:, 0] = True
    edge = mi.counterfactual(inclusion, score)
    assert edge["times_out"][0] == 0 and math.isnan(edge["score_out"][0])
    assert math.isnan(edge["memorization"][0])
    assert edge["score_in"][0] == pytest.approx(score[:, 0].mean())


def _lira_by_loops(inclusion: np.ndarray, confidence: np.ndarray, fixed: bool) -> np.ndarray:
    """LiRA written out per target model and sample, as the definition reads."""
    p = np.clip(confidence, 1e-6, 1 - 1e-6)
    phi = np.log(p / (1 - p))
    k_models, n = phi.shape
    out = np.full((k_models, n), np.nan)
    for k in range(k_models):
        others = [j for j in range(k_models) if j != k]
        fits = []
        for side in (True, False):
            obs = [[phi[j, i] for j in others if inclusion[j, i] == side] for i in range(n)]
            means = [np.mean(o) if o else np.nan for o in obs]
            if fixed:
                squares = sum(sum((v - np.mean(o)) ** 2 for v in o) for o in obs if o)
                df = sum(len(o) - 1 for o in obs if o)
                sds = [math.sqrt(squares / df)] * n
            else:
                sds = [np.std(o, ddof=1) if len(o) > 1 else np.nan for o in obs]
            fits.append((means, [max(s, 1e-6) if s == s else s for s in sds]))
        for i in range(n):
            (mu_in, sd_in), (mu_out, sd_out) = ((m[i], s[i]) for m, s in fits)
            log_in = -0.5 * ((phi[k, i] - mu_in) / sd_in) ** 2 - math.log(sd_in)
            log_out = -0.5 * ((phi[k, i] - mu_out) / sd_out) ** 2 - math.log(sd_out)
            out[k, i] = log_in - log_out
    return out


@pytest.mark.parametrize("fixed", [True, False])
def test_lira_equals_its_definition_written_out(fixed: bool) -> None:
    rng = np.random.default_rng(21)
    inclusion = _subsets(6, 9, 22)
    inclusion[:, 0] = True  # never out: NaN
    inclusion[:, 1] = [True, False, False, False, False, False]  # model 0's shadows never in
    inclusion[:, 2] = [True, True, False, False, False, False]  # one in-observation for 0, 1
    confidence = rng.uniform(0.01, 0.99, inclusion.shape)
    confidence[0, 2] = 1.0  # clipped to 1 - eps
    got = mi.lira(inclusion, confidence, fixed_variance=fixed)
    expected = _lira_by_loops(inclusion, confidence, fixed)
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    assert got[~np.isnan(got)] == pytest.approx(expected[~np.isnan(expected)], rel=1e-9)
    assert np.isnan(got[:, 0]).all() and np.isnan(got[0, 1])
    assert np.isfinite(got[1:, 1]).all() == fixed  # one in-observation: pooled sd only


def test_lira_separates_memorized_samples_only() -> None:
    k, n = 16, 1000
    inclusion = _subsets(k, n, 31)
    rng = np.random.default_rng(32)
    memorized = np.zeros(n, dtype=bool)
    memorized[rng.choice(n, 100, replace=False)] = True
    logit = rng.normal(0.0, 2.0, n) + rng.normal(0.0, 0.5, (k, n))
    logit += 2.0 * (inclusion & memorized)  # confidence rises only where S is trained on
    confidence = 1.0 / (1.0 + np.exp(-logit))
    for fixed in (True, False):
        scores = mi.lira(inclusion, confidence, fixed_variance=fixed)
        on_s = np.isfinite(scores) & memorized
        rest = np.isfinite(scores) & ~memorized
        assert mi.auroc(scores[on_s & inclusion], scores[on_s & ~inclusion]) > 0.9
        assert mi.auroc(scores[rest & inclusion], scores[rest & ~inclusion]) == pytest.approx(
            0.5, abs=0.03
        )
    figures = mi.lira_figures(inclusion, scores, seed=1, resamples=100)
    assert figures["n_members"] + figures["n_nonmembers"] == int(np.isfinite(scores).sum())
    assert figures["n_members"] == int((np.isfinite(scores) & inclusion).sum())
    assert figures == mi.lira_figures(inclusion, scores, seed=1, resamples=100)
    assert 0.5 < figures["auroc"]["low"] <= figures["auroc"]["value"] <= figures["auroc"]["high"]


def test_lira_reads_the_models_logits_past_where_p_given_saturates() -> None:
    """Samples the models already fit (log-odds about 18) and memorize further when trained on
    (+4): p_given written to 6 decimals is 1.0 for all of them, which tells nothing, while
    the models' own logit_given separates members from non-members."""
    k, n = 16, 400
    inclusion = _subsets(k, n, 41)
    rng = np.random.default_rng(42)
    logit = 18.0 + rng.normal(0.0, 0.5, (k, n)) + 4.0 * inclusion
    p_given = np.round(1.0 / (1.0 + np.exp(-logit)), 6)
    assert (p_given == 1.0).all()
    capped = mi.lira(inclusion, p_given)
    own = mi.lira(inclusion, p_given, logits=logit)
    seen = np.isfinite(own)
    assert mi.auroc(own[seen & inclusion], own[seen & ~inclusion]) > 0.99
    assert mi.auroc(capped[seen & inclusion], capped[seen & ~inclusion]) == 0.5


def test_log_odds_takes_the_logits_only_where_every_observed_pair_has_one() -> None:
    p = np.array([[0.25, 0.5], [0.75, np.nan]])
    logits = np.array([[-2.0, 0.0], [1.5, np.nan]])  # the held-out NaN pair is not observed
    phi, source = mi.log_odds(p, logits)
    assert source == "logit_given" and phi[0].tolist() == [-2.0, 0.0] and np.isnan(phi[1, 1])
    logits[1, 0] = np.nan  # a model that did not write it for an observed pair: no mix
    phi, source = mi.log_odds(p, logits)
    assert source == "p_given" and phi[0, 0] == pytest.approx(math.log(0.25 / 0.75))
    with pytest.raises(ValueError, match="must be the same"):
        mi.log_odds(p, logits[:1])


def test_spearman_by_hand() -> None:
    x = np.arange(1.0, 11.0)
    assert mi.spearman(x, x**3, resamples=100)["value"] == 1.0
    assert mi.spearman(x, -x, resamples=100)["value"] == -1.0
    # x = [1, 2, 2, 3] ranks [1, 2.5, 2.5, 4]; y = [1, 3, 2, 4] ranks [1, 3, 2, 4]. Around
    # the mean rank 2.5: dx = [-1.5, 0, 0, 1.5], dy = [-1.5, .5, -.5, 1.5]; sum dx dy = 4.5,
    # sum dx^2 = 4.5, sum dy^2 = 5: rho = 4.5 / sqrt(4.5 * 5) = sqrt(0.9).
    tied = mi.spearman([1, 2, 2, 3], [1, 3, 2, 4], resamples=100)
    assert tied["value"] == pytest.approx(math.sqrt(0.9), abs=1e-6) and tied["n"] == 4
    # NaN pairs dropped: three pairs left, monotone.
    assert mi.spearman([1, 2, math.nan, 3], [1, 2, 5, 3], resamples=10)["value"] == 1.0
    assert mi.spearman([1, 2, 3], [5, 5, 5]) == {"value": None, "low": None, "high": None, "n": 3}
    assert mi.spearman([1, 2], [1, 2])["value"] is None
    assert mi.spearman([], [])["n"] == 0


def test_spearman_matches_scipy_and_its_bootstrap_is_seeded() -> None:
    rng = np.random.default_rng(41)
    x = rng.integers(0, 8, 400).astype(float)
    y = x + rng.integers(0, 10, 400)
    out = mi.spearman(x, y, seed=3, resamples=500)
    assert out["value"] == pytest.approx(spearmanr(x, y).statistic, abs=1e-6)
    assert out == mi.spearman(x, y, seed=3, resamples=500)
    assert out["low"] <= out["value"] <= out["high"]
    assert out["high"] - out["low"] < 0.2
    # Each resample's rho from counting equals scipy's on the resampled pairs.
    sides = [np.unique(v, return_inverse=True) for v in (x, y)]
    sides = [(groups, distinct.size) for distinct, groups in sides]
    pick = rng.integers(0, 400, (3, 400))
    counts = np.stack([np.bincount(p, minlength=400) for p in pick])
    rho = mi._weighted_spearman(*sides, counts)
    for r in range(3):
        assert rho[r] == pytest.approx(spearmanr(x[pick[r]], y[pick[r]]).statistic, abs=1e-9)


def test_lira_intervals_resample_samples_not_pairs() -> None:
    """Eight models that score every sample alike (each sample in for four, out for four)
    add no information beyond one model: the interval must be as wide as one model's, not
    sqrt(8) times narrower as it would be if the 8 copies of a pair counted as independent."""
    rng = np.random.default_rng(3)
    n, k = 400, 8
    base_in, base_out = rng.normal(1.0, 1.0, n), rng.normal(0.0, 1.0, n)
    inclusion = np.zeros((k, n), dtype=bool)
    inclusion[:4] = True
    scores = np.where(inclusion, base_in, base_out)
    found = mi.lira_figures(inclusion, scores, seed=0, resamples=400)
    pooled = mi.attack_figures(scores[inclusion], scores[~inclusion], seed=0, resamples=400)
    one = mi.attack_figures(base_in, base_out, seed=0, resamples=400)

    def width(f: dict) -> float:
        return f["auroc"]["high"] - f["auroc"]["low"]

    assert found["auroc"]["value"] == pooled["auroc"]["value"] == one["auroc"]["value"]
    assert width(found) > 1.5 * width(pooled)
    assert width(found) == pytest.approx(width(one), rel=0.35)
