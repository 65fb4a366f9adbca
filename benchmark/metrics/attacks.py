"""The ``membership`` section of a run's metrics.json: membership-inference attacks.

Members are the training split; non-members the holdout split (benchmark.holdout), drawn from
the same pool and noised the same way, so that an attack measures membership and not a shift
between splits. Each attack scores every sample from what the model wrote for it (a higher
score: more likely a member) and is judged by AUROC and by its true-positive rate at 1% and
0.1% false positives (benchmark.metrics.membership), over all members and non-members and over
the clean and the noisy ones apart (noisy members against noisy non-members), at the selected
and at the last epoch:

- ``loss``: minus the sample's loss against its given label (Yeom et al. 2018);
- ``zlib`` (generation tasks): the loss over the zlib length of the given label's text
  (Carlini et al. 2021), which discounts labels that are easy because they are repetitive;
- ``min_k`` (generation tasks, where the model writes ``target_logprobs``, as ``hf`` does):
  the mean of the lowest 20% of the given target's token log-probabilities (Shi et al. 2024),
  which looks at the tokens a non-member would find surprising;
- ``confidence``: the score of the model's own top prediction, which every split has. Against
  the test split instead of the holdout (``test_as_nonmembers``) it shows what taking test
  samples as non-members would add: the shift that deduplication across splits makes.

A run without holdout predictions (a model that speaks protocol 2, or a pool that held no
sample out) gets ``nonmembers: null``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from benchmark.metrics import membership
from benchmark.protocol import HOLDOUT
from benchmark.tasks import TASKS

RESAMPLES = 1000  # bootstrap resamples of each attack's interval
LOGPROBS = "target_logprobs"  # the optional protocol field of the generation tasks
TOP_SCORE = "top_score"  # the score of the model's own prediction, which every scorer writes
MIN_K = 0.2  # Min-K%: the mean of the lowest 20% of the target's token log-probabilities
SEED = 0  # of the bootstrap: the same table gives the same bytes
# Tasks whose held-out predictions are of another kind than the training ones (code_search
# ranks candidates for a held-out query but judges a pair in training): their confidence on
# test and on training samples are not the same quantity, so test is not compared.
RANKED_HELD_OUT = frozenset({"code_search"})


def _figures(member: np.ndarray, nonmember: np.ndarray) -> dict[str, Any] | None:
    if not len(member) or not len(nonmember):
        return None
    return membership.attack_figures(member, nonmember, seed=SEED, resamples=RESAMPLES)


def scores(rows: pl.DataFrame, label_text: str | None) -> dict[str, np.ndarray]:
    """Each attack's score of every row (NaN where the row has none, e.g. a test loss)."""
    loss = rows["loss"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    out = {"loss": membership.loss_score(loss)}
    if label_text is not None:
        texts = [" ".join(t or []) for t in rows[label_text].to_list()]
        out["zlib"] = membership.zlib_score(loss, texts)
    if LOGPROBS in rows.columns and rows[LOGPROBS].is_not_null().any():
        lists = [v if v is not None else [] for v in rows[LOGPROBS].to_list()]
        out["min_k"] = membership.min_k_score(lists, MIN_K)
    if TOP_SCORE in rows.columns:
        out["confidence"] = rows[TOP_SCORE].cast(pl.Float64).fill_null(np.nan).to_numpy()
    return out


def _at_epoch(rows: pl.DataFrame, task: str, label_text: str | None) -> dict[str, Any]:
    found = scores(rows, label_text)
    split, noisy = rows["split"].to_numpy(), rows["noisy"].fill_null(False).to_numpy()
    member, nonmember = split == "train", split == HOLDOUT
    out: dict[str, Any] = {}
    for attack, score in found.items():
        out[attack] = {
            "all": _figures(score[member], score[nonmember]),
            "clean": _figures(score[member & ~noisy], score[nonmember & ~noisy]),
            "noisy": _figures(score[member & noisy], score[nonmember & noisy]),
        }
    test, confidence = split == "test", found.get("confidence")
    out["test_as_nonmembers"] = (
        None
        if task in RANKED_HELD_OUT or confidence is None
        else {"confidence": _figures(confidence[member], confidence[test])}
    )
    return out


def summarize(lf: pl.LazyFrame, task: str, selected: int, last: int) -> dict[str, Any]:
    """The run's membership section (module docstring) from its per-sample table."""
    label_text = TASKS[task].label_text
    names = lf.collect_schema().names()
    columns = ["epoch", "split", "loss", "noisy"]
    columns += [c for c in (label_text, LOGPROBS, TOP_SCORE) if c is not None and c in names]
    rows = lf.filter(pl.col("epoch").is_in([selected, last])).select(columns).collect()
    counts = rows.filter(pl.col("epoch") == last)["split"].value_counts()
    n = dict(zip(counts["split"].to_list(), counts["count"].to_list(), strict=True))
    if not n.get(HOLDOUT):
        return {"nonmembers": None, "why": "no holdout samples were predicted: the model "
                "speaks protocol 2, or the training pool held none out"}  # fmt: skip
    return {
        "nonmembers": HOLDOUT,
        "n_members": n.get("train", 0),
        "n_nonmembers": n[HOLDOUT],
        "selected": {"epoch": selected,
                     **_at_epoch(rows.filter(pl.col("epoch") == selected), task, label_text)},
        "last": {"epoch": last,
                 **_at_epoch(rows.filter(pl.col("epoch") == last), task, label_text)},
    }  # fmt: skip
