"""Each task's samples as token ids, its batch losses and its prediction lines."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from benchmark.models import odds
from benchmark.models.codebert.heads import PairClassifier, Seq2Seq, beam_search, token_losses
from benchmark.models.codebert.retrieval import nearest
from benchmark.models.codebert.tokenizers import Tokenizer, special_ids
from benchmark.trainer import LABELLED, InputError, jsonl, to_device, to_host


def read_rows(path: Path, fields: dict[str, bool], key: str = "id") -> list[dict[str, Any]]:
    """The lines of one file, each named by a unique string ``key``; ``fields`` maps each
    other key read to whether it is a token list (else a bool), all required."""
    rows, seen = [], set()
    for where, r in jsonl(path):
        if not isinstance(r, dict) or not isinstance(r.get(key), str):
            raise InputError(f"{where}: not a JSON object with a string '{key}'")
        for field, is_list in fields.items():
            v = r.get(field)
            ok = (isinstance(v, list) and all(isinstance(t, str) for t in v)) if is_list \
                else isinstance(v, bool)  # fmt: skip
            if not ok:
                kind = "a list of strings" if is_list else "true or false"
                raise InputError(f"{where}: '{field}' is not {kind}")
        if r[key] in seen:
            raise InputError(f"{where}: repeated {key} {r[key]!r}")
        seen.add(r[key])
        rows.append(r)
    return rows


def pad(seqs: Sequence[Sequence[int]], value: int, device: torch.device) -> Tensor:
    """The rows, padded with ``value`` to the longest (at least 1 wide), filled in one numpy
    assignment rather than one small tensor per row."""
    lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
    out = np.full((len(seqs), max(1, int(lengths.max()))), value, dtype=np.int64)
    out[np.arange(out.shape[1]) < lengths[:, None]] = np.fromiter(
        itertools.chain.from_iterable(seqs), dtype=np.int64, count=int(lengths.sum()))
    return to_device(torch.from_numpy(out), device)


def length_batches(lengths: Sequence[int], size: int) -> list[list[int]]:
    """Indices in runs of ``size`` by length, so that a prediction batch holds little padding."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [order[i : i + size] for i in range(0, len(order), size)]


def prob(x: float) -> float:
    return round(min(max(x, 0.0), 1.0), 6)


class CodeToText:
    """code_to_text: <s> code </s> -> <s> docstring </s>, for the splits ``rows`` holds; with
    ``retrieve``, <s> code </s> exemplar </s>, where the exemplar is the given docstring of the
    nearest other training method by code (``retrieval``)."""

    def __init__(self, rows: dict[str, list[dict]], tok: Tokenizer, hp: dict[str, Any]) -> None:
        self.rows, self.tok, self.hp = rows, tok, hp
        codes = {s: tok.code([r["source_tokens"] for r in rows[s]]) for s in rows}
        cut = int(hp["max_source"]) - 2
        self.source = {s: [[tok.cls_id, *ids[:cut], tok.sep_id] for ids in codes[s]]
                       for s in rows}  # fmt: skip
        cut = int(hp["max_target"]) - 2
        # The given docstrings of the labelled splits (train, holdout): train's are what
        # training reads (``target``), holdout's only what its loss and p_given are against.
        self.targets = {s: [[tok.cls_id, *ids[:cut], tok.sep_id]
                            for ids in tok.text([r["doc_tokens"] for r in rows[s]])]
                        for s in rows if s in LABELLED}  # fmt: skip
        self.target = self.targets["train"]
        if hp.get("retrieve") and len(rows["train"]) > 1:
            near = nearest(codes["train"], codes, len(tok), special_ids(tok))
            for s in rows:
                pairs = zip(self.source[s], near[s], strict=True)
                self.source[s] = [src + self.target[j][1:] for src, j in pairs]

    def training_batch(self, idx: Sequence[int], device: torch.device) -> tuple[Tensor, Tensor]:
        """Training methods ``idx``'s sources and given docstrings, padded, on ``device``."""
        source = pad([self.source["train"][i] for i in idx], self.tok.pad_id, device)
        return source, pad([self.target[i] for i in idx], self.tok.pad_id, device)

    def losses(self, model: Seq2Seq, idx: Sequence[int], device: torch.device) -> Tensor:
        """Per-sample mean token NLL; the batch loss is their token-weighted mean."""
        source, target = self.training_batch(idx, device)
        total, count = token_losses(model, model.encode(source), target)
        self._weights = count
        return total / count.clamp_min(1)

    def batch_loss(self, losses: Tensor) -> Tensor:
        return (losses * self._weights).sum() / self._weights.sum().clamp_min(1)

    def lines(self, model: Seq2Seq, size: int, device: torch.device) -> Iterator[str]:
        beam, max_len = int(self.hp["beam"]), int(self.hp["max_target"])
        for split in self.rows:
            labelled = split in self.targets
            out: list[dict[str, Any]] = [{} for _ in self.rows[split]]
            for idx in length_batches([len(x) for x in self.source[split]], size):
                memory = model.encode(pad([self.source[split][i] for i in idx],
                                          self.tok.pad_id, device))  # fmt: skip
                found = beam_search(model, memory, self.tok.cls_id, self.tok.sep_id, beam,
                                    max_len)  # fmt: skip
                if labelled:
                    target = pad([self.targets[split][i] for i in idx], self.tok.pad_id, device)
                    total, count, logits = token_losses(model, memory, target, log_odds=True)
                    nll, logit = to_host(total / count.clamp_min(1), logits)
                for k, (i, (ids, mean_lp)) in enumerate(zip(idx, found, strict=True)):
                    line = {"tokens": self.tok.decode(ids), "score": prob(math.exp(mean_lp))}
                    if labelled:
                        line |= {
                            "loss": round(max(nll[k], 0.0), 6),
                            "p_given": prob(math.exp(-nll[k])),
                            "logit_given": odds.on_line(logit[k]),
                        }
                    out[i] = line
            for r, line in zip(self.rows[split], out, strict=True):
                yield json.dumps({"id": r["id"], "split": split, **line}) + "\n"


class CodeSearch:
    """code_search: <s> query </s> code </s> -> p(match), with the overlap flags. The
    labelled splits (train, holdout) are pairs with their given match; valid and test are
    queries over candidate codes (``codes``)."""

    def __init__(self, rows: dict[str, list[dict]], codes: dict[str, dict[str, list[str]]],
                 tok: Tokenizer, hp: dict[str, Any]) -> None:  # fmt: skip
        self.rows, self.tok, self.hp = rows, tok, hp
        # Queries are read as code (sub-tokens without weights), so both sides share ids.
        self.query = {s: tok.code([r["query_tokens"] for r in rows[s]]) for s in rows}
        labelled = [s for s in rows if s in LABELLED]
        self.code = {s: tok.code([r["code_tokens"] for r in rows[s]]) for s in labelled}
        self.keys: dict[str, dict[str, int]] = {}
        for s in ("valid", "test"):
            keys = list(codes[s])
            self.keys[s] = {k: i for i, k in enumerate(keys)}
            self.code[s] = tok.code([codes[s][k] for k in keys])
        self.match = {s: [bool(r["match"]) for r in rows[s]] for s in labelled}
        self.level = idf_levels(self.query["train"] + self.code["train"], len(tok),
                                int(hp["overlap"]), special_ids(tok))  # fmt: skip

    def pair(self, query: list[int], code: list[int]) -> tuple[list[int], list[int]]:
        """The pair's ids and, per position, the token's overlap level where it also occurs on
        the other side (else 0)."""
        q = query[: int(self.hp["max_query"])]
        c = code[: max(int(self.hp["max_source"]) - len(q) - 3, 0)]
        ids = [self.tok.cls_id, *q, self.tok.sep_id, *c, self.tok.sep_id]
        shared_q, shared_c = shared_levels(q, c, self.level)
        return ids, [0, *shared_q, 0, *shared_c, 0]

    def tensors(self, pairs: list[tuple[list[int], list[int]]], device: torch.device
                ) -> tuple[Tensor, Tensor]:  # fmt: skip
        return (pad([p[0] for p in pairs], self.tok.pad_id, device),
                pad([p[1] for p in pairs], 0, device))  # fmt: skip

    def training_batch(self, idx: Sequence[int], device: torch.device
                       ) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
        """Training pairs ``idx`` (ids, overlap levels, given match), on ``device``. With
        ``negatives`` k > 0, each query is also paired with the codes of the next k samples of
        the batch as non-matches (in-batch negatives), after the given pairs: ranking is learnt
        from contrasts the random pairs of the training file seldom offer."""
        query, code = self.query["train"], self.code["train"]
        pairs = [(query[i], code[i]) for i in idx]
        pairs += in_batch_negatives(query, code, idx, int(self.hp["negatives"]))
        y = [int(self.match["train"][i]) for i in idx] + [0] * (len(pairs) - len(idx))
        ids, shared = self.tensors([self.pair(q, c) for q, c in pairs], device)
        return ids, shared, to_device(torch.tensor(y), device)

    def losses(self, model: PairClassifier, idx: Sequence[int], device: torch.device) -> Tensor:
        """Per-sample losses of the given pairs; the in-batch negatives enter the batch loss
        only."""
        ids, shared, y = self.training_batch(idx, device)
        losses = F.cross_entropy(model(ids, shared), y, reduction="none")
        self._extra = losses[len(idx) :]
        return losses[: len(idx)]

    def batch_loss(self, losses: Tensor) -> Tensor:
        return torch.cat([losses, self._extra]).mean()

    def match_logits(self, model: PairClassifier, pairs: list[tuple[list[int], list[int]]],
                     device: torch.device) -> Tensor:  # fmt: skip
        """The log-odds of a match, the logit difference, in float64."""
        logits = model(*self.tensors(pairs, device)).double()
        return logits[:, 1] - logits[:, 0]

    def p_match(self, model: PairClassifier, pairs: list[tuple[list[int], list[int]]],
                device: torch.device) -> list[float]:  # fmt: skip
        """p(match) in float64 from the logit difference, so that confident scores stay apart
        rather than tie at 1.0 (ties count against the model in MRR)."""
        return torch.sigmoid(self.match_logits(model, pairs, device)).tolist()

    def lines(self, model: PairClassifier, size: int, device: torch.device) -> Iterator[str]:
        return pair_lines(self, model, size, device)


def idf_levels(docs: Sequence[list[int]], vocab: int, levels: int, special: Sequence[int]
               ) -> np.ndarray:  # fmt: skip
    """Per token id, the overlap level it gets when shared by a query and a code: 1..levels by
    its inverse document frequency over ``docs`` (the training queries and codes; rarer,
    higher), 0 for the ``special`` ids (unknown, separators), which say nothing about a
    match; all 0 without levels."""
    df = np.zeros(vocab)
    for ids in docs:
        df[list(set(ids))] += 1
    idf = np.log((1 + len(docs)) / (1 + df))
    top = max(float(idf.max()), 1e-9)
    level = 1 + np.minimum((idf / top * levels).astype(np.int64), levels - 1)
    for i in special:
        if 0 <= i < vocab:
            level[i] = 0
    return level if levels > 0 else np.zeros(vocab, dtype=np.int64)


def shared_levels(query: Sequence[int], code: Sequence[int], level: np.ndarray
                  ) -> tuple[list[int], list[int]]:  # fmt: skip
    """Per token of each side, its ``level`` where it also occurs on the other side, else 0
    (DrQA's exact-match feature, graded by rarity)."""
    qs, cs = set(query), set(code)
    return ([int(level[t]) if t in cs else 0 for t in query],
            [int(level[t]) if t in qs else 0 for t in code])  # fmt: skip


def in_batch_negatives(query: Sequence[list[int]], code: Sequence[list[int]], idx: Sequence[int],
                       k: int) -> list[tuple[list[int], list[int]]]:  # fmt: skip
    """Each query of the batch ``idx`` with the codes of the next ``k`` samples of the batch
    (cyclically), as non-matching pairs; a code equal to the query's own is skipped."""
    out = []
    for shift in range(1, min(k, len(idx) - 1) + 1):
        for j, i in enumerate(idx):
            other = code[idx[(j + shift) % len(idx)]]
            if other != code[i]:
                out.append((query[i], other))
    return out


def pair_lines(data: Any, model: Any, size: int, device: torch.device) -> Iterator[str]:
    """code_search's prediction lines (codebert's and hf's), split by split in ``rows``'s
    order: labelled pairs (train, holdout) as ``given_pair_lines``, valid and test queries as
    ``ranked_lines``. ``data`` has the splits (``rows``, ``query``, ``code``, ``keys``,
    ``match``) and ``pair``, ``match_logits`` and ``p_match`` for its model."""
    for split in data.rows:
        lines = given_pair_lines if split in LABELLED else ranked_lines
        yield from lines(data, model, split, size, device)


def given_pair_lines(data: Any, model: Any, split: str, size: int, device: torch.device
                     ) -> Iterator[str]:  # fmt: skip
    """Each of ``split``'s pairs with its p(match), and loss, p_given and logit_given (the
    match logit, negated for a given non-match) against its given match, in batches of
    ``size`` in file order."""
    query, code, match = data.query[split], data.code[split], data.match[split]
    for idx in (list(range(i, min(i + size, len(match)))) for i in range(0, len(match), size)):
        s = data.match_logits(model, [data.pair(query[i], code[i]) for i in idx], device)
        for i, pm, x in zip(idx, *to_host(torch.sigmoid(s), s), strict=True):
            pg = min(max(pm if match[i] else 1 - pm, 1e-12), 1.0)
            line = {"id": data.rows[split][i]["id"], "split": split, "score": prob(pm),
                    "loss": round(-math.log(pg), 6), "p_given": prob(pg),
                    "logit_given": odds.on_line(x if match[i] else -x)}  # fmt: skip
            yield json.dumps(line) + "\n"


def ranked_lines(data: Any, model: Any, split: str, size: int, device: torch.device
                 ) -> Iterator[str]:  # fmt: skip
    """Each of ``split``'s queries with its p(match) for every candidate, in their order
    (batched by code length)."""
    for r, query in zip(data.rows[split], data.query[split], strict=True):
        cands = [data.keys[split][k] for k in r["candidates"]]
        scores = [0.0] * len(cands)
        for chunk in length_batches([len(data.code[split][c]) for c in cands], size):
            p = data.p_match(model, [data.pair(query, data.code[split][cands[j]])
                                     for j in chunk], device)  # fmt: skip
            for j, pm in zip(chunk, p, strict=True):
                scores[j] = pm
        yield json.dumps({"id": r["id"], "split": split, "scores": scores}) + "\n"
