"""Each task's samples as the checkpoint's ids, its batch losses and its prediction lines."""

from __future__ import annotations

import json
import math
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from benchmark.models import odds
from benchmark.models.codebert.data import (
    idf_levels,
    in_batch_negatives,
    length_batches,
    pair_lines,
    prob,
    shared_levels,
)
from benchmark.models.hf.config import GENERATION
from benchmark.models.hf.network import Network
from benchmark.models.packed import GraphBatch, PackedSplit, Packer
from benchmark.models.varmisuse import Sample, predictions, sample_losses
from benchmark.trainer import LABELLED, to_device, to_host


class Generation:
    """code_to_text and method_name: code -> the docstring's words or the name's sub-tokens,
    for the splits ``rows`` holds.

    On train and holdout lines, ``loss`` is the given target's mean token negative
    log-likelihood, ``p_given`` exp(-loss) (the per-token geometric mean: a whole sentence's
    product would put every sample near 0), ``logit_given`` its log-odds from the logits, and
    ``target_logprobs`` (an optional protocol field) each of its tokens' log-probability, the
    end token last."""

    def __init__(self, task: str, rows: dict[str, list[dict]], net: Network,
                 hp: dict[str, Any]) -> None:  # fmt: skip
        self.rows, self.net, self.hp = rows, net, hp
        source, target, self.field, self.limit = GENERATION[task]
        words, cut = net.words, int(hp["max_source"])
        self.source = {s: [net.source(words.ids(r[source], cut)) for r in rows[s]]
                       for s in rows}  # fmt: skip
        cut = int(hp["max_target"]) - 1
        # The given targets of the labelled splits (train, holdout): train's are what training
        # reads (``target``), holdout's only what its loss and p_given are against.
        self.targets = {s: [[*words.ids(r[target], cut), words.eos] for r in rows[s]]
                        for s in rows if s in LABELLED}  # fmt: skip
        self.target = self.targets["train"]

    def counts(self) -> dict[str, int]:
        return {s: len(r) for s, r in self.rows.items()}

    def losses(self, model: Network, idx: Sequence[int], device: torch.device) -> Tensor:
        lp, mask = model.token_log_probs([self.source["train"][i] for i in idx],
                                         [self.target[i] for i in idx], device)  # fmt: skip
        self._weights = mask.sum(1).float()
        return -lp.sum(1) / self._weights.clamp_min(1)

    def batch_loss(self, losses: Tensor) -> Tensor:
        return (losses * self._weights).sum() / self._weights.sum().clamp_min(1)

    def lines(self, model: Network, size: int, device: torch.device) -> Iterator[str]:
        max_len = int(self.hp["max_target"])
        for split in self.rows:
            labelled = split in self.targets
            out: list[dict[str, Any]] = [{} for _ in self.rows[split]]
            for idx in length_batches([len(x) for x in self.source[split]], size):
                sources = [self.source[split][i] for i in idx]
                memory = model.encode(sources, device)  # read once, for both
                found = model.greedy(sources, max_len, device, memory)
                if labelled:
                    targets = [self.targets[split][i] for i in idx]
                    lp, mask, logits = model.token_log_probs(
                        sources, targets, device, log_odds=True, memory=memory
                    )
                    # read back once a batch, not per row (on a GPU each read waits for it)
                    logit, lps, counts = to_host(logits, lp, mask.sum(1))
                for k, (i, (ids, mean_lp)) in enumerate(zip(idx, found, strict=True)):
                    line = {self.field: model.words.decode(ids)[: self.limit],
                            "score": prob(math.exp(mean_lp))}  # fmt: skip
                    if labelled:
                        n = int(counts[k])
                        given = [round(float(v), 4) for v in lps[k][:n]]
                        nll = -sum(lps[k][:n]) / max(n, 1)
                        line |= {"loss": round(max(nll, 0.0), 6), "p_given": prob(math.exp(-nll)),
                                 "logit_given": odds.on_line(logit[k]),
                                 "target_logprobs": given}  # fmt: skip
                    out[i] = line
            for r, line in zip(self.rows[split], out, strict=True):
                yield json.dumps({"id": r["id"], "split": split, **line}) + "\n"


class CodeSearch:
    """code_search as a cross-encoder: query and code in one sequence -> p(match). The
    labelled splits (train, holdout) are pairs with their given match; valid and test are
    queries over candidate codes (``codes``)."""

    def __init__(self, rows: dict[str, list[dict]], codes: dict[str, dict[str, list[str]]],
                 net: Network, hp: dict[str, Any]) -> None:  # fmt: skip
        self.rows, self.net, self.hp = rows, net, hp
        w, q = net.words, int(hp["max_query"])
        self.query = {s: [w.ids(r["query_tokens"], q) for r in rows[s]] for s in rows}
        room = int(hp["max_source"])
        labelled = [s for s in rows if s in LABELLED]
        self.code = {s: [w.ids(r["code_tokens"], room) for r in rows[s]] for s in labelled}
        self.keys: dict[str, dict[str, int]] = {}
        for s in ("valid", "test"):
            keys = list(codes[s])
            self.keys[s] = {k: i for i, k in enumerate(keys)}
            self.code[s] = [w.ids(codes[s][k], room) for k in keys]
        self.match = {s: [bool(r["match"]) for r in rows[s]] for s in labelled}
        self.level = idf_levels(self.query["train"] + self.code["train"], len(w),
                                int(hp["overlap"]), sorted(w.specials | {w.unk}))  # fmt: skip

    def counts(self) -> dict[str, int]:
        return {s: len(r) for s, r in self.rows.items()}

    def pair(self, query: list[int], code: list[int]) -> tuple[list[int], list[int]]:
        """The pair's ids and each position's overlap level (codebert's ``pair``)."""
        code = code[: max(int(self.hp["max_source"]) - len(query) - 3, 0)]
        shared_q, shared_c = shared_levels(query, code, self.level)
        return self.net.pair(query, code), self.net.pair(shared_q, shared_c, filler=0)

    def losses(self, model: Network, idx: Sequence[int], device: torch.device) -> Tensor:
        """Per-sample losses of the given pairs; with ``negatives`` k > 0, as codebert's, each
        query also against the codes of the next k samples of the batch as non-matches, in the
        batch loss only."""
        query, code = self.query["train"], self.code["train"]
        pairs = [(query[i], code[i]) for i in idx]
        pairs += in_batch_negatives(query, code, idx, int(self.hp["negatives"]))
        y = [int(self.match["train"][i]) for i in idx] + [0] * (len(pairs) - len(idx))
        logits = model.pair_logits([self.pair(q, c) for q, c in pairs], device)
        losses = F.cross_entropy(logits, to_device(torch.tensor(y), device), reduction="none")
        self._extra = losses[len(idx) :]
        return losses[: len(idx)]

    def batch_loss(self, losses: Tensor) -> Tensor:
        return torch.cat([losses, self._extra]).mean()

    def match_logits(self, model: Network, pairs: list[tuple[list[int], list[int]]],
                     device: torch.device) -> Tensor:  # fmt: skip
        """The log-odds of a match, the logit difference, in float64 (codebert's)."""
        logits = model.pair_logits(pairs, device).double()
        return logits[:, 1] - logits[:, 0]

    def p_match(self, model: Network, pairs: list[tuple[list[int], list[int]]],
                device: torch.device) -> list[float]:  # fmt: skip
        return torch.sigmoid(self.match_logits(model, pairs, device)).tolist()

    def lines(self, model: Network, size: int, device: torch.device) -> Iterator[str]:
        return pair_lines(self, model, size, device)


class VarMisuse:
    """var_misuse: each source token as its sub-words, the backbone's state of one of them,
    and GREAT's two pointers over those states (location over "no bug" and the candidates,
    repair over the candidates): varmisuse.py's head, loss and prediction lines, so that
    ``loss``, ``p_given``, ``p_other``, ``p_no_bug`` and ``repair_probs`` mean what they mean
    for ggnn, great, rnn and transformer (on train and holdout lines), ``logit_given`` too. A
    function keeps the tokens whose sub-words fit in ``room``; a token past it has a learned
    state, so that it still gets its probabilities."""

    def __init__(self, samples: dict[str, Iterable[Sample]], net: Network, room: int) -> None:
        """Each split encoded and packed a function at a time as ``samples`` yields it (a
        file read line by line), so that no split is held as Python objects."""
        self.net = net
        self.inputs: dict[str, Functions] = {}
        self.graphs: dict[str, PackedSplit] = {}
        for split, stream in samples.items():
            packer, functions = Packer(labelled=split in LABELLED), Functions()
            for sample in stream:
                packer.add(sample)
                functions.add(*self.encode(sample, room))
            self.inputs[split], self.graphs[split] = functions, packer.split()

    def counts(self) -> dict[str, int]:
        return {s: len(g) for s, g in self.graphs.items()}

    def encode(self, sample: Sample, room: int) -> tuple[list[int], list[int]]:
        """The function's ids as the family reads them, and where each token's pointer
        sub-word is in them (-1 past ``room`` sub-words): its first (an encoder's state there
        has read the whole input), or for a causal model its last, whose state has read the
        whole token (the first of `node_a` and `node_b` would be the same state)."""
        words = self.net.words
        offset = len(self.net.source([])) - 1  # the specials before the code
        last = self.net.family == "causal"
        ids: list[int] = []
        at: list[int] = []
        for token in sample.tokens:
            pieces = words.word(token) or [words.unk]
            if len(ids) + len(pieces) > room:
                break
            at.append(offset + len(ids) + (len(pieces) - 1 if last else 0))
            ids.extend(pieces)
        return self.net.source(ids), at + [-1] * (len(sample.tokens) - len(at))

    def batch(self, split: str, idx: Sequence[int], device: torch.device) -> GraphBatch:
        return self.graphs[split].batch(idx, device)

    def losses(self, model: Network, idx: Sequence[int], device: torch.device) -> Tensor:
        batch = self.batch("train", idx, device)
        return sample_losses(model.pointers([self.inputs["train"][i] for i in idx], batch,
                                            device), batch)  # fmt: skip

    def batch_loss(self, losses: Tensor) -> Tensor:
        return losses.mean()

    def lines(self, model: Network, size: int, device: torch.device) -> Iterator[str]:
        for split, graphs in self.graphs.items():
            out: list[dict[str, Any]] = [{} for _ in range(len(graphs))]
            inputs = self.inputs[split]
            for idx in length_batches(inputs.lengths(), size):
                batch = self.batch(split, idx, device)
                p = model.pointers([inputs[i] for i in idx], batch, device)
                for i, line in zip(idx, predictions(p, batch, split in LABELLED), strict=True):
                    out[i] = line
            for sample_id, line in zip(graphs.ids, out, strict=True):
                yield json.dumps({"id": sample_id, "split": split, **line}) + "\n"


class Functions:
    """A split's functions as the checkpoint reads them, flat: each one's ids and the position
    of each of its tokens' pointer sub-word (VarMisuse.encode), int32 with offsets; as Python
    lists they took some 36 bytes an entry."""

    def __init__(self) -> None:
        self.ids, self.at = array("i"), array("i")
        self.id_ends, self.at_ends = array("q", [0]), array("q", [0])

    def add(self, ids: list[int], at: list[int]) -> None:
        self.ids.extend(ids)
        self.at.extend(at)
        self.id_ends.append(len(self.ids))
        self.at_ends.append(len(self.at))

    def __len__(self) -> int:
        return len(self.id_ends) - 1

    def __getitem__(self, i: int) -> tuple[list[int], list[int]]:
        return (self.ids[self.id_ends[i] : self.id_ends[i + 1]].tolist(),
                self.at[self.at_ends[i] : self.at_ends[i + 1]].tolist())  # fmt: skip

    def lengths(self) -> list[int]:
        """Each function's count of ids."""
        ends = self.id_ends
        return [ends[i + 1] - ends[i] for i in range(len(self))]
