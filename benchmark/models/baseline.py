"""Non-learning baselines behind the protocol, one per task: what a model must beat.

- var_misuse: the most frequent label ("no bug" or not), repair at a uniform candidate;
- method_name, code_to_text: k nearest training neighbours by TF-IDF cosine of the tokens
  (leave-one-out on train); the prediction is the most likely label under the neighbours'
  smoothed label distribution, which also gives each train sample's loss and p(given);
- code_search: TF-IDF cosine of query and code sub-tokens, turned into a match probability by
  a one-feature logistic regression fitted on the training pairs.

Every labelled (train, holdout) line carries ``loss``, ``p_given`` and ``logit_given``, the
log-odds of p_given taken from its counts (or the regression's decision value), not from
p_given, so that it keeps its precision near 0 and 1. The same predictions are written for
every epoch the harness asks for.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from benchmark import trainer
from benchmark.trainer import Events, write_predictions

K = 5
ALPHA = 0.1
CHUNK_CELLS = 1 << 24  # similarities held at once: 128 MiB of float64


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def _doc(tokens: list[str]) -> str:
    parts = []
    for t in tokens:
        parts += [p.lower() for p in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", t)] or [t]
    return " ".join(parts)


def _vectorizer() -> TfidfVectorizer:
    return TfidfVectorizer(tokenizer=str.split, token_pattern=None, lowercase=False)


def _log_odds(hit: float, miss: float) -> float:
    """log(hit / miss), the log-odds of p = hit / (hit + miss), rounded as the protocol asks:
    from the counts, not from 1 - p, which rounds away near 0 and 1; each count at least the
    smallest normal float64, so that a certain outcome (a count 0) stays finite."""
    tiny = sys.float_info.min
    return round(math.log(max(hit, tiny)) - math.log(max(miss, tiny)), 6)


def _nearest(sims: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` most similar (ties: the earlier first), most similar first: the first ``k`` of
    a stable argsort of ``-sims``, found in linear time."""
    if len(sims) <= k:
        return np.argsort(-sims, kind="stable")
    kth = np.partition(sims, len(sims) - k)[len(sims) - k]  # the k-th largest
    above = np.flatnonzero(sims > kth)
    ties = np.flatnonzero(sims == kth)[: k - len(above)]
    chosen = np.concatenate([above, ties])
    return chosen[np.argsort(-sims[chosen], kind="stable")]


def _knn(train: list[dict], key: str, labels: list[tuple], data: dict) -> dict[str, list]:
    """Per split: (label, p(label), p(given) or None, its log-odds or None) from the k nearest
    training samples; p(given) for the labelled splits (train, holdout), each row against its
    own label. Similarities are made CHUNK_CELLS at a time: a split's whole matrix against
    train is samples x training samples, 38 GiB at 80,000 methods."""
    vec = _vectorizer().fit([_doc(r["source_tokens"]) for r in train])
    xtr = vec.transform([_doc(r["source_tokens"]) for r in train])
    n_labels = len(set(labels))
    step = max(1, CHUNK_CELLS // max(xtr.shape[0], 1))
    out = {}
    for split, rows in data.items():
        x = vec.transform([_doc(r["source_tokens"]) for r in rows])
        res = []
        for start in range(0, len(rows), step):
            sims = (x[start : start + step] @ xtr.T).toarray()
            if split == "train":  # leave one out
                own = np.arange(sims.shape[0])
                sims[own, start + own] = -np.inf
            for i, row in enumerate(sims, start):
                given = tuple(rows[i][key]) if split in trainer.LABELLED else None
                res.append(_vote(_nearest(row, K).tolist(), labels, n_labels, given))
        out[split] = res
    return out


def _vote(near: list[int], labels: list[tuple], n_labels: int,
          given: tuple | None) -> tuple:  # fmt: skip
    """(label, p(label), p(given), its log-odds) under the ``near`` neighbours' smoothed label
    distribution; p(given) and its log-odds None without a ``given`` label."""
    counts: dict[tuple, float] = {}
    for j in near:
        counts[labels[j]] = counts.get(labels[j], 0) + 1
    denom = len(near) + ALPHA * n_labels
    best = max(counts, key=lambda y: (counts[y], -near.index(
        next(j for j in near if labels[j] == y))))  # fmt: skip
    p_given = logit_given = None
    if given is not None:
        c = counts.get(given, 0)
        p_given = (c + ALPHA) / denom
        # 1 - p_given's numerator, denom - c - ALPHA, summed so that it is exactly 0 where
        # p_given is 1 (a single training label), not a rounding error below it
        logit_given = _log_odds(c + ALPHA, (len(near) - c) + ALPHA * (n_labels - 1))
    return list(best), (counts[best] + ALPHA) / denom, p_given, logit_given


def _seq_task(inp: Path, key: str, field: str, task: dict) -> dict[str, list[dict]]:
    data = {s: _read(inp / task["files"][s]) for s in trainer.splits_of(task)}
    labels = [tuple(r[key]) for r in data["train"]]
    got = _knn(data["train"], key, labels, data)
    preds = {}
    for split, rows in data.items():
        preds[split] = []
        for r, (label, p, p_given, logit_given) in zip(rows, got[split], strict=True):
            line = {"id": r["id"], "split": split, field: label, "score": p}
            if split in trainer.LABELLED:
                line |= {"loss": -math.log(p_given), "p_given": p_given,
                         "logit_given": logit_given}  # fmt: skip
            preds[split].append(line)
    return preds


def _var_misuse(inp: Path, task: dict) -> dict[str, list[dict]]:
    data = {s: _read(inp / task["files"][s]) for s in trainer.splits_of(task)}
    train = data["train"]
    bugs = sum(bool(r["has_bug"]) for r in train)
    p_bug = (bugs + 1) / (len(train) + 2)
    say_bug = p_bug > 0.5
    preds = {}
    for split, rows in data.items():
        preds[split] = []
        for r in rows:
            cands = r["repair_candidates"] or [0]
            u = 1 / len(cands)
            line = {"id": r["id"], "split": split, "location": cands[0] if say_bug else 0,
                    "repair": cands[0], "location_score": p_bug * u if say_bug else 1 - p_bug,
                    "repair_score": u,
                    "repair_probs": [u] * len(r["repair_candidates"])}  # fmt: skip
            if split in trainer.LABELLED:
                if r["has_bug"]:
                    p = p_bug * u * min(1.0, len(r["repair_targets"]) * u)
                    # p as integers: (bugs + 1) min(targets, n) / ((train + 2) n^2)
                    n, hit = len(cands), (bugs + 1) * min(len(r["repair_targets"]), len(cands))
                    logit = _log_odds(hit, (len(train) + 2) * n * n - hit)
                else:
                    p = 1 - p_bug
                    logit = _log_odds(len(train) - bugs + 1, bugs + 1)
                line |= {"loss": -math.log(max(p, 1e-12)), "p_given": p, "logit_given": logit}
            preds[split].append(line)
    return preds


def _code_search(inp: Path, task: dict) -> dict[str, list[dict]]:
    train = _read(inp / task["files"]["train"])
    vec = _vectorizer().fit(
        [_doc(r["code_tokens"]) for r in train] + [_doc(r["query_tokens"]) for r in train]
    )

    def cos(queries: list[list[str]], codes: list[list[str]]) -> np.ndarray:
        q = vec.transform([_doc(t) for t in queries])
        c = vec.transform([_doc(t) for t in codes])
        return (q @ c.T).toarray()

    x = np.array([cos([r["query_tokens"]], [r["code_tokens"]])[0, 0] for r in train])
    y = np.array([bool(r["match"]) for r in train])
    clf = LogisticRegression().fit(x[:, None], y) if len(set(y.tolist())) == 2 else None

    def prob(s: np.ndarray) -> np.ndarray:
        if clf is None:
            return np.full(s.shape, float(y.mean()) if len(y) else 0.5)
        return clf.predict_proba(s.reshape(-1, 1))[:, 1].reshape(s.shape)

    def log_odds(s: np.ndarray) -> list[float]:
        """The log-odds of a match: the regression's decision value, which ``prob`` is the
        logistic of; without one, that of the training pairs' share of matches."""
        if clf is None:
            share = _log_odds(int(y.sum()), int(len(y) - y.sum())) if len(y) else 0.0
            return [share] * len(s)
        return clf.decision_function(s.reshape(-1, 1)).tolist()

    def pairs(split: str, rows: list[dict], sims: np.ndarray) -> list[dict]:
        if not rows:
            return []
        lines = []
        for r, p, logit in zip(rows, prob(sims).tolist(), log_odds(sims), strict=True):
            pg = min(max(p if r["match"] else 1 - p, 1e-12), 1.0)
            lines.append({"id": r["id"], "split": split, "score": p, "loss": -math.log(pg),
                          "p_given": pg,
                          "logit_given": round(logit if r["match"] else -logit, 6)})  # fmt: skip
        return lines

    preds = {"train": pairs("train", train, x)}
    if trainer.HOLDOUT in task["files"]:
        held = _read(inp / task["files"][trainer.HOLDOUT])
        sims = np.array([cos([r["query_tokens"]], [r["code_tokens"]])[0, 0] for r in held])
        preds[trainer.HOLDOUT] = pairs(trainer.HOLDOUT, held, sims)
    for split in ("valid", "test"):
        codes = {c["key"]: c["code_tokens"] for c in _read(inp / task["codes"][split])}
        preds[split] = []
        for r in _read(inp / task["files"][split]):
            sims = cos([r["query_tokens"]], [codes[k] for k in r["candidates"]])[0]
            preds[split].append({"id": r["id"], "split": split, "scores": prob(sims).tolist()})
    return preds


def run(inp: Path, out: Path, events: Events) -> None:
    """Predict once, then write the same epoch file for every epoch the harness asks for."""
    task = json.loads((inp / "task.json").read_text())
    events.emit("start", parameters=0, device="cpu")
    name = task["task"]
    if name == "var_misuse":
        preds = _var_misuse(inp, task)
    elif name == "method_name":
        preds = _seq_task(inp, "label", "subtokens", task)
    elif name == "code_to_text":
        preds = _seq_task(inp, "doc_tokens", "tokens", task)
    elif name == "code_search":
        preds = _code_search(inp, task)
    else:
        raise ValueError(f"no baseline for task {name!r}")
    text = "".join(json.dumps(p) + "\n" for s in trainer.splits_of(task) for p in preds[s])
    losses = [p["loss"] for p in preds["train"]]
    (out / "predictions").mkdir(parents=True, exist_ok=True)
    for epoch in range(1, int(task["epochs"]) + 1):
        write_predictions(out / "predictions" / f"epoch-{epoch:03d}.jsonl", iter([text]))
        events.emit("epoch_end", epoch=epoch, train_loss=float(np.mean(losses or [0.0])))
    events.emit("done")


def main(argv: Sequence[str] | None = None) -> int:
    return trainer.command_line(__doc__, lambda a, events: run(a.input, a.output, events), argv)


if __name__ == "__main__":
    raise SystemExit(main())
