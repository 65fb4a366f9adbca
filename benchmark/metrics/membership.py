"""Membership inference and counterfactual memorization: the numerical core (no I/O).

Convention everywhere: a higher attack score means "more likely a member" (of the training
set). Sources:
- ROC, AUROC and TPR at a low FPR as the figures of an attack (Carlini et al. 2022,
  "Membership Inference Attacks From First Principles"): an attack is judged by how many
  members it finds while it wrongly accuses almost no non-member, not by its average.
- Per-sample scores: the loss (Yeom et al. 2018), the loss over the zlib length of the text
  (Carlini et al. 2021, "Extracting Training Data from Large Language Models"; as in Shi et
  al.'s reference code) and Min-K% (Shi et al. 2024, "Detecting Pretraining Data from Large
  Language Models").
- Over K models trained on seeded random subsets of the same n samples (`inclusion[k, i]`:
  model k trained on sample i): counterfactual memorization (Feldman & Zhang 2020; Zhang et
  al. 2021, "Counterfactual Memorization in Neural Language Models"), a sample's score when
  trained on minus when not; and online LiRA (Carlini et al. 2022) with each model in turn as
  the target and the others as its shadow models.

Intervals are 95% percentile bootstraps, seeded, so that the same inputs and seed give the same
bytes. An attack's members and non-members are resampled separately (stratified), which keeps
both sides' sizes and so the FPR grid of each resample the same as the data's. Where a side has
fewer than MIN_SIDE independent samples there is no interval: a resample of one non-member is
that non-member every time, so the interval would show the members' spread alone, as narrow
as a thousand non-members would give.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

CONFIDENCE = 0.95
LOW_FPRS: tuple[tuple[str, float], ...] = (("tpr_at_1pct_fpr", 0.01), ("tpr_at_0_1pct_fpr", 0.001))
DIGITS = 6
MIN_SIDE = 10  # independent members and non-members each, for a bootstrap interval
# Cells (resamples x groups) of one bootstrap chunk: bounds memory (a few arrays of 16 MiB)
# whatever the sizes, while each numpy call still covers many resamples.
_CHUNK_CELLS = 1 << 21
# Items one integer draw of the bootstrap makes at most (32 MiB of int64, and as much again
# for their groups): a chunk's resamples are drawn a few at a time when the samples are many.
_DRAW_CELLS = 1 << 22
# Below this a standard deviation is taken as this: identical observations then give a very
# narrow but finite Gaussian, not an infinite log-likelihood.
_MIN_SD = 1e-6


def _round(value: Any) -> float | None:
    """A JSON-safe float rounded to `DIGITS`; None for missing, NaN or infinite values."""
    if value is None:
        return None
    value = float(value)
    return round(value, DIGITS) if math.isfinite(value) else None


def _finite(x: Any) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64).ravel()
    return x[np.isfinite(x)]


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of `x`, ties sharing the mean of the ranks they span (O(n log n))."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    new = np.r_[True, xs[1:] != xs[:-1]]
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], x.size]  # exclusive: a run holds ranks starts + 1 .. ends
    ranks = np.empty(x.size, dtype=np.float64)
    ranks[order] = ((starts + 1 + ends) / 2.0)[np.cumsum(new) - 1]
    return ranks


def _groups(member: np.ndarray, nonmember: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Each score's distinct-value group, numbered from the highest score down, and the
    number of groups: the ROC has one point per group."""
    values, inverse = np.unique(np.r_[member, nonmember], return_inverse=True)
    top = values.size - 1
    inverse = top - inverse
    return inverse[: member.size], inverse[member.size :], values.size


def _fp_limit(fpr: float, negatives: Any) -> Any:
    """The most false positives an FPR of at most `fpr` allows; the 1e-9 keeps 0.01 * 300
    (3.0000000000000004 in floats) from counting as more than 3."""
    return np.floor(fpr * negatives + 1e-9)


def _roc_figures(
    wm: np.ndarray, wn: np.ndarray, fprs: Sequence[float]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """AUROC and TPR at each of `fprs` of R weighted attacks at once: `wm` and `wn` [R, G]
    count the members and non-members in each score group, highest group first.

    With fp the running count of non-members, the ROC point after group g is
    (fp[g] / negatives, sum(wm[:g + 1]) / positives). A member in group g loses to the fp[g]
    non-members at or above it, ties counting 1/2: AUROC = 1 - (sum(wm fp) - sum(wm wn) / 2)
    / (positives negatives): three passes over the integer counts, none over floats.
    """
    fp = np.cumsum(wn, axis=1)
    positives = wm.sum(axis=1).astype(np.float64)
    negatives = fp[:, -1].astype(np.float64)
    lost = np.einsum("ij,ij->i", wm, fp) - 0.5 * np.einsum("ij,ij->i", wm, wn)
    auc = 1.0 - lost / (positives * negatives)
    tprs = []
    for fpr in fprs:
        limits = _fp_limit(fpr, negatives)
        # fp is nondecreasing: the points within the limit are a prefix, found by bisection.
        hits = [
            wm[r, : np.searchsorted(fp[r], limits[r], side="right")].sum()
            for r in range(wm.shape[0])
        ]
        tprs.append(np.asarray(hits, dtype=np.float64) / positives)
    return auc, tprs


def _draw(rng: np.random.Generator, groups: np.ndarray, width: int, size: int) -> np.ndarray:
    """[size, width] counts per group of `size` resamples, each drawing len(groups) items
    with replacement: one integer draw and one bincount for as many resamples as
    _DRAW_CELLS items allow (the draws of a few groups over a million samples would be
    1000 x 1,000,000 items at once), the same draws in the same order whatever the split."""
    n = groups.size
    rows = max(1, _DRAW_CELLS // max(n, 1))
    out = np.empty((size, width), dtype=np.intp)
    for start in range(0, size, rows):
        k = min(rows, size - start)
        pick = groups[rng.integers(0, n, size=(k, n))]
        pick += (np.arange(k, dtype=pick.dtype) * width)[:, None]
        out[start : start + k] = np.bincount(pick.ravel(), minlength=k * width).reshape(k, width)
    return out


def _chunks(resamples: int, width: int) -> list[int]:
    step = max(1, _CHUNK_CELLS // max(width, 1))
    return [min(step, resamples - s) for s in range(0, resamples, step)]


def _interval(values: np.ndarray) -> tuple[float | None, float | None]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None, None
    tail = (1.0 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return _round(low), _round(high)


def roc_curve(member: np.ndarray, nonmember: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FPR and TPR of the rule "score >= t is a member" at every distinct score t, from (0, 0)
    (t above every score) to (1, 1). Tied scores move together, so a tie between a member and
    a non-member is one diagonal step, never credited to the attack. Non-finite scores are
    dropped; two empty arrays when either side is then empty (no curve)."""
    m, n = _finite(member), _finite(nonmember)
    if m.size == 0 or n.size == 0:
        return np.empty(0), np.empty(0)
    gm, gn, width = _groups(m, n)
    tp = np.r_[0, np.cumsum(np.bincount(gm, minlength=width))]
    fp = np.r_[0, np.cumsum(np.bincount(gn, minlength=width))]
    return fp / n.size, tp / m.size


def auroc(member: np.ndarray, nonmember: np.ndarray) -> float | None:
    """Probability that a random member outscores a random non-member, ties counting 1/2
    (the Mann-Whitney U over the product of the sizes, from the average ranks of all scores:
    O(n log n)). Non-finite scores are dropped; None when either side is then empty."""
    m, n = _finite(member), _finite(nonmember)
    if m.size == 0 or n.size == 0:
        return None
    ranks = _average_ranks(np.r_[m, n])
    u = ranks[: m.size].sum() - m.size * (m.size + 1) / 2.0
    return float(u / (m.size * n.size))


def tpr_at_fpr(member: np.ndarray, nonmember: np.ndarray, fpr: float) -> float | None:
    """The largest TPR among the ROC points whose FPR is at most `fpr` (Carlini et al. 2022).

    With fewer than 1 / fpr non-members the only such points may be those at FPR 0, and the
    TPR there is what this gives: no interpolation toward a rate the data cannot show.
    Non-finite scores are dropped; None when either side is then empty.
    """
    if not 0.0 <= fpr <= 1.0:
        raise ValueError(f"fpr must lie in [0, 1], not {fpr}")
    m, n = _finite(member), _finite(nonmember)
    if m.size == 0 or n.size == 0:
        return None
    gm, gn, width = _groups(m, n)
    wm = np.bincount(gm, minlength=width)[None]
    wn = np.bincount(gn, minlength=width)[None]
    return float(_roc_figures(wm, wn, [fpr])[1][0][0])


Weights = tuple[np.ndarray, np.ndarray]  # [R, G] member and non-member weights per score group


def _figures(
    m: np.ndarray,
    n: np.ndarray,
    draws: Callable[[np.ndarray, np.ndarray, int], Iterator[Weights]],
    independent: tuple[int, int],
) -> dict[str, Any]:
    """The figures of an attack with finite member scores `m` and non-member scores `n`:
    each value, and its interval from the resamples that `draws` (given each side's score
    groups, highest first, and their number) yields chunk by chunk as weights per group,
    where each side has MIN_SIDE `independent` samples (what a resample draws) or more."""
    names = ["auroc", *(name for name, _ in LOW_FPRS)]
    out: dict[str, Any] = {"n_members": int(m.size), "n_nonmembers": int(n.size)}
    if m.size == 0 or n.size == 0:
        return out | {name: {"value": None, "low": None, "high": None} for name in names}
    values = [auroc(m, n), *(tpr_at_fpr(m, n, fpr) for _, fpr in LOW_FPRS)]
    boot: list[list[np.ndarray]] = [[] for _ in names]
    resampled = draws(*_groups(m, n)) if min(independent) >= MIN_SIDE else iter(())
    for wm, wn in resampled:
        auc, tprs = _roc_figures(wm, wn, [f for _, f in LOW_FPRS])
        for store, figure in zip(boot, [auc, *tprs], strict=True):
            store.append(figure)
    for name, value, store in zip(names, values, boot, strict=True):
        low, high = _interval(np.concatenate(store)) if store else (None, None)
        out[name] = {"value": _round(value), "low": low, "high": high}
    return out


def attack_figures(
    member: np.ndarray, nonmember: np.ndarray, *, seed: int = 0, resamples: int = 1000
) -> dict[str, Any]:
    """AUROC and TPR at 1% and 0.1% FPR of an attack, each with a 95% percentile bootstrap
    interval: {"n_members", "n_nonmembers", "auroc": {"value", "low", "high"},
    "tpr_at_1pct_fpr": {...}, "tpr_at_0_1pct_fpr": {...}}.

    Non-finite scores are dropped first (the counts are of what is left). Members and
    non-members are resampled separately, `resamples` times from `seed`. The scores are
    sorted once into distinct-value groups; a resample is then only counts per group, so each
    costs O(n) and all are a few numpy calls per chunk. Floats are rounded to 6 digits; None
    where undefined (a side empty; for the interval, no resamples or a side of fewer than
    MIN_SIDE).
    """
    rng = np.random.default_rng(seed)

    def draws(gm: np.ndarray, gn: np.ndarray, width: int) -> Iterator[Weights]:
        for size in _chunks(resamples, width):
            yield _draw(rng, gm, width, size), _draw(rng, gn, width, size)

    m, n = _finite(member), _finite(nonmember)
    return _figures(m, n, draws, (m.size, n.size))


def loss_score(loss: np.ndarray) -> np.ndarray:
    """The loss attack (Yeom et al. 2018): members are fitted better, so -loss."""
    return -np.asarray(loss, dtype=np.float64)


def zlib_entropy(text: str) -> int:
    """Bytes of the zlib-compressed UTF-8 text: a cheap reference for how predictable the text
    is in itself, whatever the model."""
    return len(zlib.compress(text.encode("utf-8")))


def zlib_score(mean_nll: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    """-mean_nll / zlib_entropy(text): the model's log-likelihood relative to the text's own
    compressibility, so that boilerplate (low loss for every model) is not taken for recall.
    `mean_nll` is the mean negative log-likelihood per token (Shi et al.'s log perplexity)."""
    nll = np.asarray(mean_nll, dtype=np.float64)
    if nll.shape != (len(texts),):
        raise ValueError(f"{nll.shape[0] if nll.ndim else 0} losses for {len(texts)} texts")
    sizes = np.fromiter((zlib_entropy(t) for t in texts), dtype=np.float64, count=len(texts))
    return -nll / sizes


def min_k_score(token_logprobs: Sequence[Sequence[float]], k: float = 0.2) -> np.ndarray:
    """Min-K% (Shi et al. 2024): per sample, the mean of its lowest ceil(k n) token
    log-probabilities (at least one), NaN for a sample without tokens. A member has few
    surprising tokens, so even its least likely ones score high."""
    if not 0.0 < k <= 1.0:
        raise ValueError(f"k must lie in (0, 1], not {k}")
    out = np.full(len(token_logprobs), np.nan)
    for i, row in enumerate(token_logprobs):
        x = np.asarray(row, dtype=np.float64)
        if x.size == 0:
            continue
        take = min(x.size, max(1, math.ceil(k * x.size - 1e-9)))  # 0.1 * 30 is 3.0000000000000004
        out[i] = np.partition(x, take - 1)[:take].mean()
    return out


def _check_grid(inclusion: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    inc = np.asarray(inclusion, dtype=bool)
    x = np.asarray(values, dtype=np.float64)
    if inc.ndim != 2 or x.shape != inc.shape:
        raise ValueError(f"inclusion {inc.shape} and values {x.shape} must be the same [K, n]")
    return inc, x


def counterfactual(inclusion: np.ndarray, score: np.ndarray) -> dict[str, np.ndarray]:
    """Counterfactual memorization of each of n samples from K models on random subsets.

    `score[k, i]` is model k's performance on sample i (probability of the true label, or
    correctness). Returns arrays [n]: times_in and times_out (models that did and did not train
    on i), score_in and score_out (mean score over each), and memorization = score_in -
    score_out: how much training on i itself, rather than on its neighbours, helps on i. NaN
    where a side has no model (or a score on that side is NaN).
    """
    inc, x = _check_grid(inclusion, score)
    times_in = inc.sum(axis=0)
    times_out = inc.shape[0] - times_in
    with np.errstate(invalid="ignore", divide="ignore"):
        score_in = np.where(inc, x, 0.0).sum(axis=0) / times_in
        score_out = np.where(inc, 0.0, x).sum(axis=0) / times_out
    score_in[times_in == 0] = np.nan
    score_out[times_out == 0] = np.nan
    return {
        "times_in": times_in,
        "times_out": times_out,
        "score_in": score_in,
        "score_out": score_out,
        "memorization": score_in - score_out,
    }


def _side_fit(
    count: np.ndarray, total: np.ndarray, squares: np.ndarray, fixed: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation per sample of one side from its count, sum and sum of
    squares; unbiased variance, pooled over the samples when `fixed`."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        deviation = np.maximum(squares - total * mean, 0.0)  # sum of squared deviations
        deviation[count == 0] = 0.0
        if fixed:
            df = float(np.sum(np.maximum(count - 1, 0)))
            sd = np.full(count.shape, math.sqrt(deviation.sum() / df) if df > 0 else np.nan)
        else:
            sd = np.sqrt(deviation / (count - 1))
            sd[count < 2] = np.nan
    return mean, np.maximum(sd, _MIN_SD)


def log_odds(confidence: np.ndarray, logits: np.ndarray | None = None, eps: float = 1e-6
             ) -> tuple[np.ndarray, str]:  # fmt: skip
    """LiRA's phi [K, n] and what it was computed from: the models' own log-odds of the given
    label (``logit_given``, computed from their logits, so it keeps growing as p -> 1) where
    every observed pair has one, else log(p) - log(1 - p) of the confidence p clipped to
    [eps, 1 - eps] (p is written to 6 decimals, so this tops out at about 13.8). Never a mix:
    one scale per grid, so that no pair is compared with another on a different one."""
    p = np.asarray(confidence, dtype=np.float64)
    if logits is not None:
        phi = np.asarray(logits, dtype=np.float64)
        if phi.shape != p.shape:
            raise ValueError(f"logits {phi.shape} and confidence {p.shape} must be the same")
        seen = np.isfinite(p)
        if np.isfinite(phi[seen]).all():
            return np.where(seen, phi, np.nan), "logit_given"
    p = np.clip(p, eps, 1.0 - eps)
    return np.log(p) - np.log1p(-p), "p_given"


def lira(
    inclusion: np.ndarray, confidence: np.ndarray, *, fixed_variance: bool = True,
    eps: float = 1e-6, logits: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """Online LiRA scores [K, n], each model in turn the target and the other K - 1 its shadow
    models (leave one model out).

    phi (``log_odds``: the models' ``logits`` where they give them for every observed pair,
    else the logit of the confidence p clipped to [eps, 1 - eps]) makes the confidence roughly
    Gaussian across models. For target k and sample i, Gaussians (centred on
    the mean, where Carlini et al.'s code takes the median) are fitted to phi of the other
    models that trained on i (in) and that did not (out); the score is
    log N(phi[k, i]; in) - log N(phi[k, i]; out). With `fixed_variance` (Carlini et al.'s
    choice for few shadow models) each side's standard deviation is one value for all samples:
    the pooled (unbiased) spread of that side's observations around their per-sample means,
    as the paper describes (the reference code's `plot.py` takes np.std of all in-observations
    for both sides); otherwise it is each sample's own, unbiased (the code's np.std is not).
    NaN where a sample lacks in- or out-observations among the other models (or two of them,
    per sample without `fixed_variance`); non-finite confidences count as not observed.
    """
    inc, p = _check_grid(inclusion, confidence)
    phi, _ = log_odds(p, logits, eps)
    seen = np.isfinite(phi)
    # Centre each sample on its mean over all models: the fits only use differences, and sums
    # of squares of numbers near zero lose little to cancellation in `_side_fit`.
    phi = np.where(seen, phi, 0.0)
    phi = np.where(seen, phi - phi.sum(axis=0) / np.maximum(seen.sum(axis=0), 1), 0.0)
    sides = []
    for mask in (inc & seen, ~inc & seen):
        x = np.where(mask, phi, 0.0)
        sides.append((mask, mask.sum(axis=0), x.sum(axis=0), (x * x).sum(axis=0), x))
    scores = np.full(inc.shape, np.nan)
    for k in range(inc.shape[0]):
        logpdf = []
        for mask, count, total, squares, x in sides:
            mean, sd = _side_fit(count - mask[k], total - x[k], squares - x[k] ** 2, fixed_variance)
            logpdf.append(-0.5 * ((phi[k] - mean) / sd) ** 2 - np.log(sd))
        with np.errstate(invalid="ignore"):
            scores[k] = np.where(seen[k], logpdf[0] - logpdf[1], np.nan)
    return scores


def lira_figures(
    inclusion: np.ndarray, scores: np.ndarray, seed: int = 0, resamples: int = 1000
) -> dict[str, Any]:
    """`attack_figures` over every (model, sample) pair with a finite score, a member where
    the model trained on the sample. The pairs of one sample share it (its difficulty, its
    label), so they are not independent: the bootstrap resamples samples, each drawn one
    taking all its pairs along, which gives the wider, honest interval; the samples with a
    member pair and those with a non-member pair each number MIN_SIDE or more for one."""
    inc, s = _check_grid(inclusion, scores)
    k, i = np.nonzero(np.isfinite(s))
    is_member = inc[k, i]
    sm, sn, samples = i[is_member], i[~is_member], s.shape[1]
    rng = np.random.default_rng(seed)

    def draws(gm: np.ndarray, gn: np.ndarray, width: int) -> Iterator[Weights]:
        for size in _chunks(resamples, width):
            # [size, samples] copies of each sample, then its pairs' weights per score group
            copies = _draw(rng, np.arange(samples), samples, size).astype(np.float64)
            wm = np.stack([np.bincount(gm, weights=c[sm], minlength=width) for c in copies])
            wn = np.stack([np.bincount(gn, weights=c[sn], minlength=width) for c in copies])
            yield wm, wn

    independent = (np.unique(sm).size, np.unique(sn).size)
    return _figures(s[k, i][is_member], s[k, i][~is_member], draws, independent)


def _group_ranks(groups: np.ndarray, width: int, counts: np.ndarray) -> np.ndarray:
    """[R, n] average rank of each pair's value (group ids 0 .. width - 1, ascending) in each
    resample: the copies below its group plus (its group's copies + 1) / 2."""
    rows = counts.shape[0]
    at = groups[None, :] + width * np.arange(rows)[:, None]
    per = np.bincount(at.ravel(), weights=counts.ravel(), minlength=rows * width)
    per = per.reshape(rows, width)
    return (np.cumsum(per, axis=1) - (per - 1.0) / 2.0)[:, groups]


def _weighted_spearman(
    x: tuple[np.ndarray, int], y: tuple[np.ndarray, int], counts: np.ndarray
) -> np.ndarray:
    """Spearman's rho of R resamples of the pairs (`counts` [R, n]: copies of each pair), from
    each side's value groups and their number: ranked by counting, without sorting again."""
    centre = (counts.sum(axis=1, keepdims=True) + 1.0) / 2.0
    rx = _group_ranks(*x, counts) - centre
    ry = _group_ranks(*y, counts) - centre
    with np.errstate(invalid="ignore", divide="ignore"):
        return (counts * rx * ry).sum(axis=1) / np.sqrt(
            (counts * rx * rx).sum(axis=1) * (counts * ry * ry).sum(axis=1)
        )


def spearman(
    x: np.ndarray, y: np.ndarray, *, seed: int = 0, resamples: int = 1000
) -> dict[str, Any]:
    """Spearman's rank correlation (average ranks for ties) with a 95% percentile bootstrap
    interval over the pairs: {"value", "low", "high", "n"}. Pairs with a NaN are dropped; None
    values when fewer than 3 are left or either side is constant (no ranking to correlate).
    """
    a = np.asarray(x, dtype=np.float64).ravel()
    b = np.asarray(y, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"{a.size} x values for {b.size} y values")
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    n = int(a.size)
    sides = []
    for values in (a, b):
        distinct, groups = np.unique(values, return_inverse=True)
        sides.append((groups, distinct.size))
    if n < 3 or sides[0][1] < 2 or sides[1][1] < 2:
        return {"value": None, "low": None, "high": None, "n": n}
    value = _weighted_spearman(*sides, np.ones((1, n)))[0]
    rng = np.random.default_rng(seed)
    pairs = np.arange(n)
    boot = [
        _weighted_spearman(*sides, _draw(rng, pairs, n, size)) for size in _chunks(resamples, n)
    ]
    low, high = _interval(np.concatenate(boot)) if boot else (None, None)
    return {"value": _round(value), "low": low, "high": high, "n": n}
