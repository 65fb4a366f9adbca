"""Variable-misuse splits packed once into flat arrays, and batches gathered from them.

PyG's ``Batch.from_data_list`` collated one ``Data`` object per function at every step: on
CUDA a tenth of a paper-profile step was that host work, with the GPU waiting, and the models
then asked the device for what the host already knew (the longest function, the edges of each
type, which padded slots hold tokens), each one a synchronisation that drained the GPU's queue.
Here a split is one set of numpy arrays (sub-token ids, edges, pointer positions, labels, each
with per-function offsets); a batch is a few vectorised gathers into one int64 buffer, copied
to the device at once (from pinned memory on CUDA, without waiting), plus those host-side
facts. Its tensors hold what ``Batch.from_data_list`` gave for the same functions, element for
element (tests/test_packed.py), so that CPU runs keep their bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from benchmark import trainer


# What packing reads of varmisuse's Sample, Vocabulary and EdgeTypes (which import this module).
class Sample(Protocol):
    id: str
    tokens: list[str]
    edges: np.ndarray
    candidates: list[int]
    has_bug: bool | None
    error_location: int | None
    repair_targets: list[int] | None


class Vocabulary(Protocol):
    def encode_tokens(self, tokens: Sequence[str]) -> np.ndarray: ...


class EdgeTypes(Protocol):
    def __len__(self) -> int: ...
    def convert(self, edges: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]: ...


def spans(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The ranges ``start, ..., start + length - 1`` of each pair, concatenated in order."""
    ends = np.cumsum(lengths)
    return np.repeat(starts - (ends - lengths), lengths) + np.arange(ends[-1] if len(ends) else 0)


def pointable_targets(sample: Sample) -> list[int]:
    """The given repair targets the repair pointer can reach: those among the candidates (none
    for a bug-free sample)."""
    if not sample.has_bug:
        return []
    candidates = set(sample.candidates)
    return [t for t in sample.repair_targets or () if t in candidates]


def offsets(counts: Sequence[int] | np.ndarray) -> np.ndarray:
    """int64 [n + 1]: where each of n runs of ``counts`` starts, and the total last."""
    return np.concatenate([[0], np.cumsum(np.asarray(counts, dtype=np.int64))]).astype(np.int64)


@dataclass
class GraphBatch:
    """A batch of functions as one graph of their tokens, with PyG's names and layout: node ids
    run over the whole batch, ``batch`` maps a node to its function and ``ptr`` holds where
    each function starts. ``x`` and the edges are None where a model reads no graph (hf); the
    labels are None outside the labelled splits. The rest is known on the host, so that no
    model waits for the device to learn it."""

    x: Tensor | None  # int64 [N, MAX_SUBTOKENS]: each token's sub-token ids, PAD-padded
    edge_index: Tensor | None  # int64 [2, E]
    edge_type: Tensor | None  # int64 [E]
    batch: Tensor  # int64 [N]
    ptr: Tensor  # int64 [G + 1]
    loc_index: Tensor  # int64: each function's position 0 and its candidates
    cand_index: Tensor  # int64: each function's repair candidates
    label_index: Tensor | None  # int64 [G]: the given error location
    target_index: Tensor | None  # int64: the given repair targets among the candidates
    has_bug: Tensor | None  # bool [G]
    dense_index: Tensor  # int64 [N]: each node's slot in a [G, max_nodes] padding
    num_graphs: int
    num_nodes: int
    max_nodes: int  # the longest function's tokens
    lengths: Tensor  # int64 [G], on the CPU: tokens per function (pack_padded_sequence's)
    host_edge_type: np.ndarray | None  # edge_type, on the host
    num_edge_types: int

    def dense(self, h: Tensor) -> tuple[Tensor, Tensor]:
        """Node states [N, H] as padded sequences [G, max_nodes, H] (zeros past each function's
        end) and the mask [G, max_nodes] of the slots that hold a token, as PyG's
        ``to_dense_batch`` gives them."""
        slots = self.num_graphs * self.max_nodes
        padded = h.new_zeros(slots, *h.shape[1:]).index_copy_(0, self.dense_index, h)
        mask = torch.zeros(slots, dtype=torch.bool, device=h.device)
        mask.index_fill_(0, self.dense_index, True)
        shape = (self.num_graphs, self.max_nodes)
        return padded.view(*shape, *h.shape[1:]), mask.view(shape)

    def edges_by_type(self) -> tuple[Tensor, Tensor, list[int]]:
        """Sources and targets sorted by edge type (stable), and the edge count of each type,
        sorted and counted on the host, only for a model that asks (ggnn's per-type
        products): a sort of every batch's edges is host time the others would wait for."""
        assert self.edge_index is not None and self.host_edge_type is not None
        order = np.argsort(self.host_edge_type, kind="stable")
        counts = np.bincount(self.host_edge_type, minlength=self.num_edge_types).tolist()
        src, dst = self.edge_index[:, trainer.to_device(torch.from_numpy(order), self.batch.device)]
        return src, dst, counts

    def nodes(self, padded: Tensor) -> Tensor:
        """Padded states [G, max_nodes, H] back to node states [N, H] (``padded[mask]``)."""
        return padded.reshape(-1, *padded.shape[2:]).index_select(0, self.dense_index)


class PackedSplit:
    """One split's functions as flat arrays with per-function offsets; ``batch`` gathers any
    of them into a GraphBatch."""

    def __init__(self, samples: Sequence[Sample], vocab: Vocabulary | None = None,
                 edge_types: EdgeTypes | None = None) -> None:  # fmt: skip
        """Pack ``samples``; with ``vocab`` and ``edge_types``, their tokens and edges too (a
        model that reads the graph), else only the pointer positions and labels."""
        self.nodes = offsets([len(s.tokens) for s in samples])
        self.x: np.ndarray | None = None
        self.edge_index: np.ndarray | None = None
        self.edge_type: np.ndarray | None = None
        self.edges = np.zeros(len(samples) + 1, dtype=np.int64)
        self.num_edge_types = 0
        if vocab is not None and edge_types is not None:
            self.x = vocab.encode_tokens(list(chain.from_iterable(s.tokens for s in samples)))
            converted = [edge_types.convert(s.edges, f"sample {s.id!r}") for s in samples]
            self.edges = offsets([len(t) for _, t in converted])
            self.edge_index = np.concatenate([np.zeros((2, 0), np.int64),
                                              *(i for i, _ in converted)], axis=1)  # fmt: skip
            self.edge_type = np.concatenate([np.zeros(0, np.int64), *(t for _, t in converted)])
            self.num_edge_types = len(edge_types)
        self.cand = np.fromiter(chain.from_iterable(s.candidates for s in samples), np.int64)
        self.cands = offsets([len(s.candidates) for s in samples])
        self.labelled = bool(samples) and samples[0].has_bug is not None
        if self.labelled:
            self.label = np.array([s.error_location for s in samples], dtype=np.int64)
            self.has_bug = np.array([s.has_bug for s in samples], dtype=np.int64)
            kept = [pointable_targets(s) for s in samples]
            self.target = np.fromiter(chain.from_iterable(kept), np.int64)
            self.targets = offsets([len(t) for t in kept])

    def batch(self, indices: Sequence[int] | np.ndarray, device: torch.device) -> GraphBatch:
        """The functions ``indices``, in that order, as one GraphBatch on ``device``."""
        idx = np.asarray(indices, dtype=np.int64)
        g = len(idx)
        sizes = self.nodes[idx + 1] - self.nodes[idx]
        ptr = offsets(sizes)
        start = ptr[:-1]
        n = int(ptr[-1])
        max_nodes = int(sizes.max()) if g else 0
        graph = np.repeat(np.arange(g, dtype=np.int64), sizes)
        position = np.arange(n, dtype=np.int64) - np.repeat(start, sizes)
        cand_counts = self.cands[idx + 1] - self.cands[idx]
        cand_index = self.cand[spans(self.cands[idx], cand_counts)] + np.repeat(start, cand_counts)
        # loc_index: each function's position 0, then its candidates.
        loc_counts = cand_counts + 1
        loc_index = np.repeat(start, loc_counts)
        first = offsets(loc_counts)[:-1]
        later = np.ones(len(loc_index), dtype=bool)
        later[first] = False
        loc_index[later] = cand_index
        parts: dict[str, np.ndarray] = {
            "batch": graph, "ptr": ptr, "loc_index": loc_index, "cand_index": cand_index,
            "dense_index": graph * max_nodes + position,
        }  # fmt: skip
        edge_type: np.ndarray | None = None
        if self.x is not None:
            assert self.edge_index is not None and self.edge_type is not None
            edge_counts = self.edges[idx + 1] - self.edges[idx]
            rows = spans(self.edges[idx], edge_counts)
            edge_type = self.edge_type[rows]
            parts["x"] = self.x[spans(self.nodes[idx], sizes)]
            parts["edge_index"] = self.edge_index[:, rows] + np.repeat(start, edge_counts)
            parts["edge_type"] = edge_type
        if self.labelled:
            target_counts = self.targets[idx + 1] - self.targets[idx]
            rows = spans(self.targets[idx], target_counts)
            parts["label_index"] = self.label[idx] + start
            parts["target_index"] = self.target[rows] + np.repeat(start, target_counts)
            parts["has_bug"] = self.has_bug[idx]
        tensors = upload(parts, device)
        has_bug = tensors.get("has_bug")
        return GraphBatch(
            x=tensors.get("x"), edge_index=tensors.get("edge_index"),
            edge_type=tensors.get("edge_type"), batch=tensors["batch"], ptr=tensors["ptr"],
            loc_index=tensors["loc_index"], cand_index=tensors["cand_index"],
            label_index=tensors.get("label_index"), target_index=tensors.get("target_index"),
            has_bug=None if has_bug is None else has_bug.bool(),
            dense_index=tensors["dense_index"], num_graphs=g, num_nodes=n, max_nodes=max_nodes,
            lengths=torch.from_numpy(sizes), host_edge_type=edge_type,
            num_edge_types=self.num_edge_types,
        )  # fmt: skip


def upload(parts: dict[str, np.ndarray], device: torch.device) -> dict[str, Tensor]:
    """The int64 arrays ``parts`` as tensors on ``device`` of their shapes: one buffer, one
    copy (pinned and asynchronous on CUDA), then views of it."""
    flat = np.concatenate([a.ravel() for a in parts.values()])
    buffer = trainer.to_device(torch.from_numpy(flat.astype(np.int64, copy=False)), device)
    pieces = buffer.split([a.size for a in parts.values()])
    return {k: p.view(a.shape) for (k, a), p in zip(parts.items(), pieces, strict=True)}
