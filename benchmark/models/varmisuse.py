"""What every variable-misuse model shares: reading samples, the sub-token vocabulary, the
splits packed into graph batches (packed.py), the two-pointer head, the loss, the per-sample
predictions, and the protocol program that trains any of them on the one trainer (``main``).

The layout follows the GREAT codebase (google-research/google-research/tree/master/great), so
that GGNN, GREAT, Transformer and BiRNN encoders differ only in how they turn embedded tokens
into token states: everything before (reading, vocabulary, embedding) and after (pointers, loss,
outputs) lives here.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from benchmark import trainer
from benchmark.models import odds
from benchmark.models.batching import prediction_windows, similar_length_batches
from benchmark.models.dropout import Dropout
from benchmark.models.flat import Numbering
from benchmark.models.packed import GraphBatch, PackedSplit, Packer
from benchmark.trainer import InputError, jsonl

PAD, UNK = "<pad>", "<unk>"
MAX_SUBTOKENS = 5
# Floor of the repair probability mass inside the log, as GREAT's ``log(p + 1e-9)``: keeps the
# loss finite when no given repair target is a candidate.
REPAIR_FLOOR = 1e-9

_SUBTOKEN = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+|[^\w\s]+")
_SPECIAL = re.compile(r"#\w+#")


# Hyperparameters every var-misuse model shares, per profile; a model's DEFAULTS add its own
# keys (sizes) and override these where it differs. ``paper`` follows GREAT's training setup
# (batches of similar-length functions, 12,500 padded tokens and at most 256 functions each,
# lr 1e-4, gradients clipped at 0.25); ``threads`` is torch's intra-op thread count, fixed per
# run because results depend on it (0: torch's default). One thread on the small profiles,
# because their small matrices gain only ~1.5x from two cores on an idle machine, while
# OpenMP's spin-waiting makes two threads 30x slower as soon as another process keeps one core
# busy.
SHARED_DEFAULTS: dict[str, dict[str, float | int | bool]] = {
    "smoke": {"dropout": 0.0, "reverse_edges": True, "vocab_size": 2000, "lr": 3e-3,
              "batch_tokens": 2000, "batch_size": 32, "clip": 1.0, "weight_decay": 0.0,
              "epochs": 2, "threads": 1},
    "cpu": {"dropout": 0.1, "reverse_edges": True, "vocab_size": 10000, "lr": 2e-3,
            "batch_tokens": 6000, "batch_size": 32, "clip": 1.0, "weight_decay": 0.0,
            "epochs": 8, "threads": 1},
    "paper": {"dropout": 0.1, "reverse_edges": True, "vocab_size": 10000, "lr": 1e-4,
              "batch_tokens": 12500, "batch_size": 256, "clip": 0.25, "weight_decay": 0.0,
              "epochs": 50, "threads": 0},
}  # fmt: skip


def with_shared(own: dict[str, dict[str, float | int | bool]]) -> dict[str, dict]:
    """A model's per-profile defaults: SHARED_DEFAULTS updated with its own keys."""
    return {profile: {**shared, **own[profile]} for profile, shared in SHARED_DEFAULTS.items()}


@dataclass(frozen=True)
class Sample:
    """One function of a ``great-jsonl`` split; labels are None outside the training split."""

    id: str
    tokens: list[str]
    edges: np.ndarray  # int64 [E, 3]: src, dst, type id (GREAT's numbering)
    candidates: list[int]  # sorted, unique token positions
    has_bug: bool | None = None
    error_location: int | None = None
    repair_targets: list[int] | None = None


def subtokens(token: str) -> list[str]:
    """Lower-cased sub-tokens of ``token`` (snake_case, camelCase and digit boundaries), at most
    MAX_SUBTOKENS; markers such as ``#NEWLINE#`` and tokens without word parts stay whole."""
    if _SPECIAL.fullmatch(token):
        return [token]
    parts = [p.lower() for p in _SUBTOKEN.findall(token)][:MAX_SUBTOKENS]
    return parts or [token.lower()]


def _int_list(value: object, where: str, key: str) -> list[int]:
    if not isinstance(value, list):
        raise InputError(f"{where}: {key!r} is not a list")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int):
            raise InputError(f"{where}: {key!r} holds {v!r}, not a token position")
        out.append(v)
    return out


def _edge_array(edges: list) -> np.ndarray:
    """int64 [E, 3]: each edge's first three fields (GREAT's files add the type's name). Edges
    of equal length convert in one call; others are cut to three fields first."""
    try:
        whole = np.asarray(edges, dtype=np.int64)
    except (TypeError, ValueError):
        whole = None
    if whole is not None and whole.ndim == 2 and whole.shape[1] >= 3:
        return whole[:, :3]
    return np.asarray([e[:3] for e in edges], dtype=np.int64).reshape(-1, 3)


def parse_sample(obj: object, where: str, labelled: bool) -> Sample:
    """Check one decoded JSON line against the protocol and turn it into a Sample."""
    if not isinstance(obj, dict):
        raise InputError(f"{where}: not a JSON object")
    missing = [k for k in ("id", "source_tokens", "edges", "repair_candidates") if k not in obj]
    if labelled:
        missing += [k for k in ("has_bug", "error_location", "repair_targets") if k not in obj]
    if missing:
        raise InputError(f"{where}: missing key(s) {', '.join(missing)}")
    tokens = obj["source_tokens"]
    if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) for t in tokens):
        raise InputError(f"{where}: 'source_tokens' is not a non-empty list of strings")
    n = len(tokens)
    edges = obj["edges"]
    if not isinstance(edges, list):
        raise InputError(f"{where}: 'edges' is not a list")
    try:
        edge_array = _edge_array(edges)
    except (TypeError, ValueError, IndexError) as exc:
        raise InputError(f"{where}: 'edges' is not a list of [src, dst, type_id]") from exc
    if edge_array.size and (edge_array[:, :2].min() < 0 or edge_array[:, :2].max() >= n):
        raise InputError(f"{where}: an edge points outside the {n} tokens")
    candidates = sorted(set(_int_list(obj["repair_candidates"], where, "repair_candidates")))
    if candidates and (candidates[0] < 1 or candidates[-1] >= n):
        raise InputError(f"{where}: a repair candidate is outside positions 1..{n - 1}")
    sample = Sample(id=str(obj["id"]), tokens=tokens, edges=edge_array, candidates=candidates)
    if not labelled:
        return sample
    has_bug, location = obj["has_bug"], obj["error_location"]
    if not isinstance(has_bug, bool):
        raise InputError(f"{where}: 'has_bug' is not a boolean")
    if isinstance(location, bool) or not isinstance(location, int):
        raise InputError(f"{where}: 'error_location' is not an integer")
    if has_bug != (location != 0):
        raise InputError(f"{where}: 'has_bug' is {has_bug} but 'error_location' is {location}")
    if location != 0 and location not in candidates:
        raise InputError(f"{where}: 'error_location' {location} is not a repair candidate")
    targets = sorted(set(_int_list(obj["repair_targets"], where, "repair_targets")))
    if targets and (targets[0] < 0 or targets[-1] >= n):
        raise InputError(f"{where}: a repair target is outside the {n} tokens")
    return Sample(
        id=sample.id,
        tokens=tokens,
        edges=edge_array,
        candidates=candidates,
        has_bug=has_bug,
        error_location=location,
        repair_targets=targets,
    )


def iter_samples(path: Path, labelled: bool) -> Iterator[Sample]:
    """Each sample of one ``great-jsonl`` file, with labels when ``labelled`` (train)."""
    seen = set()
    for where, obj in jsonl(path):
        sample = parse_sample(obj, where, labelled)
        if sample.id in seen:
            raise InputError(f"{where}: repeated id {sample.id!r}")
        seen.add(sample.id)
        yield sample


def read_samples(path: Path, labelled: bool) -> list[Sample]:
    """Every sample of one ``great-jsonl`` file, in memory (hf, which tokenizes them)."""
    return list(iter_samples(path, labelled))


def read_split(path: Path, labelled: bool, tokens: Numbering[str], edge_types: EdgeTypes) -> Packer:
    """One file packed as it is read, a function at a time."""
    packer = Packer(tokens, edge_types, labelled)
    for sample in iter_samples(path, labelled):
        packer.add(sample)
    return packer


class Vocabulary:
    """Sub-token vocabulary from the training split only: PAD, UNK, then the most frequent
    sub-tokens (ties broken alphabetically, so the ids do not depend on file order)."""

    def __init__(self, words: Sequence[str]) -> None:
        self.words = [PAD, UNK, *words]
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], size: int) -> Vocabulary:
        tokens: Numbering[str] = Numbering()
        rows = [r for t in token_lists for r in tokens.rows(t)]
        return cls.count(tokens.keys, np.bincount(rows, minlength=len(tokens)), size)

    @classmethod
    def count(cls, tokens: Sequence[str], counts: np.ndarray, size: int) -> Vocabulary:
        """From each distinct training token and how often it occurs."""
        parts: Counter[str] = Counter()
        for token, n in zip(tokens, counts.tolist(), strict=True):
            if n:
                for part in subtokens(token):
                    parts[part] += n
        ranked = sorted(parts.items(), key=lambda kv: (-kv[1], kv[0]))
        return cls([w for w, _ in ranked[: max(0, size - 2)]])

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, token: str) -> list[int]:
        """Sub-token ids of ``token``, unknown sub-tokens as UNK."""
        return [self.index.get(p, 1) for p in subtokens(token)]

    def table(self, tokens: Sequence[str]) -> np.ndarray:
        """int64 [len(tokens), MAX_SUBTOKENS]: each token's sub-token ids, right-padded with
        PAD (id 0)."""
        out = np.zeros((len(tokens), MAX_SUBTOKENS), dtype=np.int64)
        for row, token in enumerate(tokens):
            ids = self.encode(token)
            out[row, : len(ids)] = ids
        return out


class EdgeTypes:
    """Maps GREAT's edge type ids (task.json's ``edge_types``) to 0..T-1, and their reverses to
    T..2T-1 when ``reverse`` is on, so that messages may flow both ways with their own weights."""

    def __init__(self, names: dict[str, str], reverse: bool) -> None:
        try:
            ids = sorted(int(k) for k in names)
        except ValueError:
            raise InputError("task.json: 'edge_types' keys are not integer ids") from None
        if not ids or ids[0] < 0:
            raise InputError("task.json: 'edge_types' is empty or has a negative id")
        self.names = [names[str(i)] for i in ids]
        self.reverse = reverse
        self.lookup = np.full(max(ids) + 1, -1, dtype=np.int64)
        self.lookup[ids] = np.arange(len(ids))

    def __len__(self) -> int:
        return len(self.names) * (2 if self.reverse else 1)

    def types(self, edges: np.ndarray, where: str) -> np.ndarray:
        """Each of GREAT-style ``edges``' type as 0..T-1 (the reverses, T..2T-1, are made as
        batches are, packed.PackedSplit)."""
        raw = edges[:, 2]
        bad = (raw < 0) | (raw >= len(self.lookup))
        types = self.lookup[np.where(bad, 0, raw)]
        if bad.any() or (types < 0).any():
            unknown = sorted(set(raw[bad | (types < 0)].tolist()))
            raise InputError(f"{where}: edge type(s) {unknown} are not in task.json's edge_types")
        return types


def scatter(values: Tensor, segment: Tensor, num_segments: int,
            reduce: Literal["sum", "max", "min"]) -> Tensor:  # fmt: skip
    """Per segment id, the sum, max or min of ``values`` (along dim 0), as PyG's
    ``torch_geometric.utils.scatter`` computes it with the same torch kernels; an empty segment
    gives 0. Not imported from PyG: importing ``torch_geometric`` takes ~1.9 s (it loads
    ``torch._dynamo`` and, through its LLM utilities, transformers), at every model start."""
    index = segment.view(-1, *(1,) * (values.dim() - 1)).expand_as(values)
    out = values.new_zeros((num_segments, *values.shape[1:]))
    if reduce == "sum":
        return out.scatter_add_(0, index, values)
    return out.scatter_reduce_(0, index, values, reduce=f"a{reduce}", include_self=False)


def segment_log_softmax(logits: Tensor, segment: Tensor, num_segments: int) -> Tensor:
    """log-softmax of ``logits`` within each segment id (elements of one graph)."""
    peak = scatter(logits.detach(), segment, num_segments, reduce="max")
    shifted = logits - peak[segment]
    total = scatter(shifted.exp(), segment, num_segments, reduce="sum")
    return shifted - total.log().index_select(0, segment)


def segment_logsumexp(values: Tensor, segment: Tensor, num_segments: int) -> Tensor:
    """log sum exp of ``values`` within each segment id; -inf for a segment that is empty or
    holds only -inf."""
    peak = scatter(values, segment, num_segments, reduce="max")
    peak = torch.where(torch.isfinite(peak), peak, 0.0)
    total = scatter((values - peak[segment]).exp(), segment, num_segments, reduce="sum")
    return total.log() + peak


def segment_argmax(values: Tensor, segment: Tensor, num_segments: int) -> tuple[Tensor, Tensor]:
    """Per segment: the element index of the largest value (first one on ties) and the value.
    Empty segments give index -1 and value -inf."""
    peak = scatter(values, segment, num_segments, reduce="max")
    # which segments hold an element (a bincount would read the largest id back, a GPU wait)
    filled = torch.zeros(num_segments, dtype=torch.bool, device=segment.device)
    filled.index_fill_(0, segment, True)
    peak = torch.where(filled, peak, -math.inf)
    position = torch.arange(len(values), device=values.device)
    hit = torch.where(values == peak[segment], position, len(values))
    first = scatter(hit, segment, num_segments, reduce="min")
    first = torch.where(first >= len(values), -1, first)
    return first, peak


@dataclass
class Pointers:
    """Log-probabilities of the two pointers of a batch: location over position 0 (no bug) and
    the repair candidates, repair over the candidates, each normalised within its graph."""

    loc_logp: Tensor  # [L], aligned with batch.loc_index
    loc_graph: Tensor  # [L]
    rep_logp: Tensor  # [C], aligned with batch.cand_index
    rep_graph: Tensor  # [C]


class PointerHead(nn.Module):
    """Two logits per token (GREAT's output layer), normalised over the allowed positions."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.proj = nn.Linear(hidden, 2)

    def forward(self, states: Tensor, batch: GraphBatch) -> Pointers:
        loc_logits, rep_logits = self.proj(states).float().unbind(1)
        g = batch.num_graphs
        loc_graph = batch.batch[batch.loc_index]
        rep_graph = batch.batch[batch.cand_index]
        # index_select, not logits[index]: its gradient is an index_add, not an index_put.
        loc_logits = loc_logits.index_select(0, batch.loc_index)
        rep_logits = rep_logits.index_select(0, batch.cand_index)
        return Pointers(
            loc_logp=segment_log_softmax(loc_logits, loc_graph, g),
            loc_graph=loc_graph,
            rep_logp=segment_log_softmax(rep_logits, rep_graph, g),
            rep_graph=rep_graph,
        )


def _given_label(p: Pointers, batch: GraphBatch) -> tuple[Tensor, Tensor]:
    """Per graph, log p(location = given) and the repair probability mass on the given
    targets (0 for bug-free samples, which have no targets)."""
    n, g = batch.num_nodes, batch.num_graphs
    node_loc = p.loc_logp.new_full((n,), -math.inf).index_put((batch.loc_index,), p.loc_logp)
    loc_lp = node_loc.index_select(0, batch.label_index)
    node_rep = p.rep_logp.new_zeros(n).index_put((batch.cand_index,), p.rep_logp.exp())
    on_target = node_rep.index_select(0, batch.target_index)
    mass = scatter(on_target, batch.batch[batch.target_index], g, reduce="sum")
    return loc_lp, mass


def sample_losses(p: Pointers, batch: GraphBatch) -> Tensor:
    """Per-graph training loss: location cross-entropy plus, for buggy samples, -log of the
    repair probability mass on the targets, floored at REPAIR_FLOOR (GREAT's loss, summed
    per sample rather than averaged apart)."""
    loc_lp, mass = _given_label(p, batch)
    rep_lp = torch.where(batch.has_bug, mass.clamp_min(REPAIR_FLOOR).log(), 0.0)
    return -(loc_lp + rep_lp)


def p_given(p: Pointers, batch: GraphBatch) -> Tensor:
    """Per graph, the probability the model gives the sample's given label (docs/protocol.md):
    p(location) times, for buggy samples, the unfloored repair mass on the targets."""
    loc_lp, mass = _given_label(p, batch)
    return (loc_lp.exp() * torch.where(batch.has_bug, mass, 1.0)).clamp(0.0, 1.0)


def logit_given(p: Pointers, batch: GraphBatch) -> Tensor:
    """Per graph, the log-odds of the given label, log p_given - log(1 - p_given), from the
    log-probabilities rather than from p_given (docs/protocol.md, ``logit_given``), so that it
    keeps growing where p_given rounds to 1: 1 - p_given is the location mass off the given
    location plus, for a buggy label, p(given location) times the repair mass off its
    targets. Clamped to +-odds.LIMIT where a side's mass is exactly 0 (the only location a
    graph has, say)."""
    g = batch.num_graphs
    loc_lp, _ = _given_label(p, batch)
    given_node = batch.label_index.index_select(0, p.loc_graph)
    off_loc = segment_logsumexp(
        torch.where(batch.loc_index == given_node, -math.inf, p.loc_logp), p.loc_graph, g
    )
    node_rep = p.rep_logp.new_full((batch.num_nodes,), -math.inf)
    node_rep = node_rep.index_put((batch.cand_index,), p.rep_logp)
    on_rep = segment_logsumexp(node_rep.index_select(0, batch.target_index),
                               batch.batch[batch.target_index], g)  # fmt: skip
    is_target = torch.zeros_like(node_rep, dtype=torch.bool)
    is_target[batch.target_index] = True
    off_rep = segment_logsumexp(
        torch.where(is_target.index_select(0, batch.cand_index), -math.inf, p.rep_logp),
        p.rep_graph, g,
    )  # fmt: skip
    log_p = torch.where(batch.has_bug, loc_lp + on_rep, loc_lp)
    log_rest = torch.where(batch.has_bug, torch.logaddexp(off_loc, loc_lp + off_rep), off_loc)
    logit = torch.nan_to_num(log_p - log_rest, nan=0.0, posinf=odds.LIMIT, neginf=-odds.LIMIT)
    return logit.clamp(-odds.LIMIT, odds.LIMIT)


def p_other(p: Pointers, batch: GraphBatch) -> Tensor:
    """Per graph, an upper bound of the probability of the best label other than the given one
    (docs/protocol.md, ``p_other``): the largest location probability off the given location
    or, for a buggy given label, p(given location) times the repair mass off its targets. The
    harness turns ``p_given - p_other`` into the margin behind area-under-the-margin."""
    loc_lp, mass = _given_label(p, batch)
    given_node = batch.label_index.index_select(0, p.loc_graph)
    off = torch.where(batch.loc_index == given_node, -math.inf, p.loc_logp)
    _, best_off = segment_argmax(off, p.loc_graph, batch.num_graphs)
    same_loc = torch.where(batch.has_bug, loc_lp.exp() * (1.0 - mass).clamp_min(0.0), 0.0)
    return torch.maximum(best_off.exp(), same_loc).clamp(0.0, 1.0)


def p_no_bug(p: Pointers, batch: GraphBatch) -> Tensor:
    """Per graph, p(location = 0): the model's probability that the sample has no bug, which
    gives confident learning a two-class (bug / no bug) view of every sample."""
    first = torch.zeros_like(p.loc_graph, dtype=torch.bool)
    first[1:] = p.loc_graph[1:] != p.loc_graph[:-1]
    first[:1] = True  # loc_index starts every graph with position 0
    # Each graph's one first entry, summed with zeros (exact): a boolean index would read its
    # size back, a GPU wait.
    at_first = torch.where(first, p.loc_logp.exp(), 0.0)
    return scatter(at_first, p.loc_graph, batch.num_graphs, reduce="sum").clamp(0.0, 1.0)


def predictions(p: Pointers, batch: GraphBatch, labelled: bool) -> list[dict]:
    """The protocol's per-sample fields (without id/split) for every graph of the batch, in
    batch order: positions are token positions within each sample."""
    g = batch.num_graphs
    start = batch.ptr[:-1]
    loc_at, loc_lp = segment_argmax(p.loc_logp, p.loc_graph, g)
    rep_at, rep_lp = segment_argmax(p.rep_logp, p.rep_graph, g)
    location = batch.loc_index[loc_at] - start
    has_rep = rep_at >= 0
    if len(batch.cand_index):
        repair = torch.where(has_rep, batch.cand_index[rep_at.clamp_min(0)] - start, 0)
    else:  # no sample of the batch has a candidate: location is 0 and repair is not asked
        repair = torch.zeros_like(rep_at)
    loc_score = loc_lp.exp().clamp(0.0, 1.0)
    rep_score = torch.where(has_rep, rep_lp.exp(), 0.0).clamp(0.0, 1.0)
    # The whole repair distribution, per graph in candidate order: GREAT's repair rule (mass
    # >= 0.5 on the targets) is the harness's to apply.
    # Read back whole, then cut per graph: a read of each graph's piece waited for the GPU
    # once per function. Every column comes back in one read (trainer.to_host).
    counts = torch.zeros(g, dtype=torch.long, device=p.rep_graph.device)
    counts.index_add_(0, p.rep_graph, torch.ones_like(p.rep_graph))  # bincount reads its size
    read = [counts.cumsum(0), p.rep_logp.exp().clamp(0.0, 1.0), location, repair, loc_score,
            rep_score]  # fmt: skip
    if labelled:
        read += [sample_losses(p, batch), p_given(p, batch), p_other(p, batch),
                 p_no_bug(p, batch), logit_given(p, batch)]  # fmt: skip
    ends, every, *columns = trainer.to_host(*read)
    rep_probs = [every[a:b] for a, b in zip([0, *ends][:-1], ends, strict=True)]
    columns.insert(4, rep_probs)  # in the row's order, after rep_score
    rows = []
    for values in zip(*columns, strict=True):
        row = {
            "location": values[0],
            "repair": values[1],
            "location_score": round(values[2], 6),
            "repair_score": round(values[3], 6),
            "repair_probs": [round(v, 6) for v in values[4]],
        }
        if labelled:
            row["loss"] = round(max(0.0, values[5]), 6)  # never -0.0
            row["p_given"] = round(values[6], 6)
            row["p_other"] = round(values[7], 6)
            row["p_no_bug"] = round(values[8], 6)
            row["logit_given"] = odds.on_line(values[9])
        rows.append(row)
    return rows


class VarMisuseModel(nn.Module):
    """Sub-token embedding -> encoder -> pointer head. An encoder maps (token embeddings
    [N, hidden], batch) to token states [N, hidden]; that is all a new model must provide."""

    def __init__(self, vocab_size: int, hidden: int, encoder: nn.Module, dropout: float) -> None:
        super().__init__()
        # mode="mean" leaves PAD out of the mean: a token is the mean of its sub-tokens.
        self.embed = nn.EmbeddingBag(vocab_size, hidden, mode="mean", padding_idx=0)
        nn.init.normal_(self.embed.weight, std=hidden**-0.5)
        with torch.no_grad():
            self.embed.weight[0].zero_()
        self.dropout = Dropout(dropout)
        self.encoder = encoder
        self.head = PointerHead(hidden)

    def forward(self, batch: GraphBatch) -> Pointers:
        states = self.encoder(self.dropout(self.embed(batch.x)), batch)
        return self.head(states, batch)


# --- the protocol program: ``python -m benchmark.models.ggnn --input IN --output OUT`` ---------


def read_task(input_dir: Path) -> dict[str, Any]:
    """task.json, checked for a var-misuse model."""
    task = trainer.read_task(input_dir)
    if task.get("task") != "var_misuse":
        raise InputError(f"task.json: task {task.get('task')!r} is not supported (var_misuse is)")
    if task.get("representation", "great-jsonl") != "great-jsonl":
        raise InputError(f"task.json: representation {task['representation']!r} is not great-jsonl")
    if not isinstance(task.get("edge_types"), dict):
        raise InputError("task.json: 'edge_types' is missing or not an object")
    return task


def training_batches(sizes: np.ndarray, order: np.ndarray, hp: dict[str, Any]) -> list[np.ndarray]:
    """An epoch's training batches over ``order``: GREAT's batches of similar length
    (batching.py), ``batch_tokens`` padded tokens and ``batch_size`` functions at most."""
    return similar_length_batches(sizes, order, int(hp["batch_tokens"]), int(hp["batch_size"]))


def train_epoch(
    model: VarMisuseModel,
    optimizer: torch.optim.Optimizer,
    graphs: PackedSplit,
    batches: Sequence[np.ndarray],
    hp: dict[str, Any],
    ctx: trainer.Context,
) -> float:
    """One pass of Adam steps over ``batches``; the mean per-sample loss."""
    total, count = 0.0, 0
    for indices in batches:
        batch = graphs.batch(indices, ctx.device)
        with ctx.amp():
            losses = sample_losses(model(batch), batch)
        total += trainer.step(model, optimizer, losses, float(hp["clip"]))
        count += len(indices)
    return float(total) / max(count, 1)


def window_lines(
    model: VarMisuseModel,
    graphs: PackedSplit,
    window: Sequence[np.ndarray],
    split: str,
    device: torch.device,
) -> list[str]:
    """The epoch file's lines of one window of ``split`` (batching.prediction_windows), its
    batches predicted in turn and their lines put back in file order."""
    labelled = split in trainer.LABELLED
    lines: dict[int, str] = {}
    for indices in window:
        batch = graphs.batch(indices, device)
        outs = predictions(model(batch), batch, labelled)
        for i, out in zip(indices.tolist(), outs, strict=True):
            lines[i] = json.dumps({"id": graphs.ids[i], "split": split, **out}) + "\n"
    return [lines[i] for i in sorted(lines)]


def prediction_pieces(
    model: VarMisuseModel,
    graphs: dict[str, PackedSplit],
    windows: dict[str, list[list[np.ndarray]]],
    device: torch.device,
) -> list[trainer.Piece]:
    """The epoch file's lines, one piece per window: every sample of every split, in file
    order."""
    return [partial(window_lines, model, graphs[s], window, s, device)
            for s in graphs for window in windows[s]]  # fmt: skip


# (sub-token vocabulary size, edge type count, hyperparameters) -> the model
Build = Callable[[int, int, dict[str, Any]], VarMisuseModel]


def run(name: str, defaults: dict[str, dict[str, Any]], build: Build, input_dir: Path,
        output_dir: Path, events: trainer.Events) -> None:  # fmt: skip
    """Train ``name`` on the input folder with the one trainer."""
    task = read_task(input_dir)
    settings = trainer.prepare(task, defaults)
    hp, device = settings.hp, settings.ctx.device
    files = trainer.split_files(task)
    splits = trainer.splits_of(task)
    started = time.perf_counter()
    tokens: Numbering[str] = Numbering()
    edge_types = EdgeTypes(task["edge_types"], reverse=bool(hp["reverse_edges"]))
    packers = {s: read_split(input_dir / files[s], s in trainer.LABELLED, tokens, edge_types)
               for s in splits}  # fmt: skip
    if not len(packers["train"]):
        raise InputError(f"{files['train']} holds no samples")
    distinct = tokens.keys
    vocab = Vocabulary.count(distinct, packers["train"].token_counts(), int(hp["vocab_size"]))
    table = vocab.table(distinct)
    graphs = {s: packers[s].split(table) for s in splits}
    del packers
    sizes = {s: graphs[s].sizes() for s in splits}
    counts = ", ".join(f"{len(graphs[s])} {s}" for s in splits)
    seconds = time.perf_counter() - started
    trainer.log(f"read {counts} samples, {len(vocab)} sub-tokens, {len(edge_types)} edge types "
                f"in {seconds:.1f}s; hyperparameters {json.dumps(hp)}")  # fmt: skip

    model = build(len(vocab), len(edge_types), hp).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(hp["lr"]),
                                 weight_decay=float(hp["weight_decay"]),
                                 **trainer.adam_options(device))  # fmt: skip
    eval_budget = trainer.prediction_batch(int(hp["batch_tokens"]), device)
    windows = {s: prediction_windows(sizes[s], eval_budget) for s in splits}

    def epoch(order: np.ndarray) -> float:
        batches = training_batches(sizes["train"], order, hp)
        return train_epoch(model, optimizer, graphs["train"], batches, hp, settings.ctx)

    fingerprint = trainer.input_fingerprint(input_dir, files, name)
    run = trainer.Fit(
        model=model,
        optimizer=optimizer,
        train_epoch=epoch,
        prediction_pieces=lambda net: prediction_pieces(net, graphs, windows, device),
        vocabularies=[vocab.words],
        samples=len(graphs["train"]),
    )
    trainer.fit(run, settings, task, fingerprint, output_dir, events)


def main(name: str, defaults: dict[str, dict[str, Any]], build: Build, doc: str | None,
         argv: Sequence[str] | None = None) -> int:  # fmt: skip
    """The protocol command line of a var-misuse model (trainer.command_line around run)."""
    return trainer.command_line(
        doc, lambda a, events: run(name, defaults, build, a.input, a.output, events), argv
    )
