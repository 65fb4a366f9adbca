"""Variable-misuse splits packed once into flat arrays, and batches gathered from them.

PyG's ``Batch.from_data_list`` collated one ``Data`` object per function at every step: on
CUDA a tenth of a paper-profile step was that host work, with the GPU waiting, and the models
then asked the device for what the host already knew (the longest function, the edges of each
type, which padded slots hold tokens), each one a synchronisation that drained the GPU's queue.
Here a split is one set of flat arrays (its tokens as numbers into the distinct tokens, with one
table of their sub-token ids; edges, pointer positions, labels; each with per-function
offsets), filled as the split is read; a batch is a few vectorised gathers into one int64
buffer, copied to the device at once (from pinned memory on CUDA, without waiting), plus
those host-side facts. Its tensors hold what ``Batch.from_data_list`` gave for the same
functions, element for element (tests/test_packed.py), so that CPU runs keep their bytes.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from benchmark import trainer
from benchmark.models.flat import Numbering, offsets, spans


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
    def table(self, tokens: Sequence[str]) -> np.ndarray: ...


class EdgeTypes(Protocol):
    names: list[str]
    reverse: bool

    def __len__(self) -> int: ...
    def types(self, edges: np.ndarray, where: str) -> np.ndarray: ...


def pointable_targets(sample: Sample) -> list[int]:
    """The given repair targets the repair pointer can reach: those among the candidates (none
    for a bug-free sample)."""
    if not sample.has_bug:
        return []
    candidates = set(sample.candidates)
    return [t for t in sample.repair_targets or () if t in candidates]


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


class Packer:
    """A split's functions added one at a time to flat, growing buffers (``array``'s, a few
    bytes an entry), so that reading a split of millions holds no Python object per function
    or token beyond its id; ``split`` then makes the PackedSplit."""

    def __init__(self, tokens: Numbering[str] | None = None, edge_types: EdgeTypes | None = None,
                 labelled: bool = False) -> None:  # fmt: skip
        """With ``tokens`` and ``edge_types``, the tokens and edges are kept too (a model that
        reads the graph), else only the pointer positions and labels; with ``labelled`` (the
        training and holdout splits) the labels."""
        self.tokens = tokens if edge_types is not None else None
        self.edge_types = edge_types
        self.labelled = labelled
        self.ids: list[str] = []
        self.sizes = array("q")
        self.token_rows = array("i")
        self.edge_counts = array("q")
        self.edges = array("i")  # (src, dst, type) per edge, GREAT's direction, types 0..T-1
        self.cand_counts = array("q")
        self.cand = array("q")
        self.label = array("q")
        self.has_bug = array("q")
        self.target_counts = array("q")
        self.target = array("q")

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, sample: Sample) -> None:
        """Append one function."""
        self.ids.append(sample.id)
        self.sizes.append(len(sample.tokens))
        if self.tokens is not None and self.edge_types is not None:
            self.token_rows.extend(self.tokens.rows(sample.tokens))
            types = self.edge_types.types(sample.edges, f"sample {sample.id!r}")
            triples = np.column_stack([sample.edges[:, :2], types]).astype(np.int32)
            self.edge_counts.append(len(types))
            self.edges.frombytes(triples.tobytes())
        self.cand_counts.append(len(sample.candidates))
        self.cand.extend(sample.candidates)
        if self.labelled:
            assert sample.error_location is not None and sample.has_bug is not None
            kept = pointable_targets(sample)
            self.label.append(sample.error_location)
            self.has_bug.append(int(sample.has_bug))
            self.target_counts.append(len(kept))
            self.target.extend(kept)

    def token_counts(self) -> np.ndarray:
        """int64 [len(tokens)]: how often this split holds each distinct token (a training
        split's, for its vocabulary)."""
        assert self.tokens is not None
        return np.bincount(np.frombuffer(self.token_rows, np.int32), minlength=len(self.tokens))

    def split(self, table: np.ndarray | None = None) -> PackedSplit:
        """The PackedSplit of what was added; ``table`` (int64 [len(tokens), MAX_SUBTOKENS]:
        each distinct token's sub-token ids) where the tokens were kept."""
        return PackedSplit(self, table)


class PackedSplit:
    """One split's functions as flat arrays with per-function offsets; ``batch`` gathers any
    of them into a GraphBatch."""

    def __init__(self, packer: Packer, table: np.ndarray | None) -> None:
        """Takes ``packer``'s buffers (without copying them); ``of`` packs a list."""
        self.ids = packer.ids
        self.nodes = offsets(np.frombuffer(packer.sizes, np.int64))
        self.table = table if packer.tokens is not None else None
        self.token_rows = np.frombuffer(packer.token_rows, np.int32)
        self.edges = offsets(np.frombuffer(packer.edge_counts, np.int64))
        self.edge_triples = np.frombuffer(packer.edges, np.int32).reshape(-1, 3)
        edge_types = packer.edge_types
        self.base_types = 0 if edge_types is None else len(edge_types.names)
        self.reverse = edge_types is not None and edge_types.reverse
        self.num_edge_types = 0 if self.table is None or edge_types is None else len(edge_types)
        self.cand = np.frombuffer(packer.cand, np.int64)
        self.cands = offsets(np.frombuffer(packer.cand_counts, np.int64))
        self.labelled = packer.labelled and len(packer) > 0
        if self.labelled:
            self.label = np.frombuffer(packer.label, np.int64)
            self.has_bug = np.frombuffer(packer.has_bug, np.int64)
            self.target = np.frombuffer(packer.target, np.int64)
            self.targets = offsets(np.frombuffer(packer.target_counts, np.int64))

    @classmethod
    def of(cls, samples: Sequence[Sample], vocab: Vocabulary | None = None,
           edge_types: EdgeTypes | None = None) -> PackedSplit:  # fmt: skip
        """Pack ``samples``; with ``vocab`` and ``edge_types``, their tokens and edges too (a
        model that reads the graph), else only the pointer positions and labels."""
        graph = vocab is not None and edge_types is not None
        tokens: Numbering[str] | None = Numbering() if graph else None
        labelled = bool(samples) and samples[0].has_bug is not None
        packer = Packer(tokens, edge_types if graph else None, labelled)
        for sample in samples:
            packer.add(sample)
        table = vocab.table(tokens.keys) if vocab is not None and tokens is not None else None
        return packer.split(table)

    def __len__(self) -> int:
        return len(self.ids)

    def sizes(self) -> np.ndarray:
        """int64 [n]: each function's token count."""
        return np.diff(self.nodes)

    def _edges(self, idx: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """edge_index [2, E] (batch node ids) and edge_type [E] of functions ``idx`` starting at
        ``start``: each function's edges as given, then, with ``reverse``, the same edges the
        other way with the types T..2T-1 (GREAT's layout)."""
        counts = self.edges[idx + 1] - self.edges[idx]
        if not self.reverse:
            rows = spans(self.edges[idx], counts)
            triples = self.edge_triples[rows].astype(np.int64)
            return triples[:, :2].T + np.repeat(start, counts), triples[:, 2]
        out = 2 * counts
        at = spans(np.zeros(len(idx), np.int64), out)  # position within the function's 2c
        per = np.repeat(counts, out)
        back = at >= per
        rows = np.repeat(self.edges[idx], out) + np.where(back, at - per, at)
        triples = self.edge_triples[rows].astype(np.int64)
        src = np.where(back, triples[:, 1], triples[:, 0])
        dst = np.where(back, triples[:, 0], triples[:, 1])
        types = triples[:, 2] + back * self.base_types
        return np.stack([src, dst]) + np.repeat(start, out), types

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
        if self.table is not None:
            parts["x"] = self.table[self.token_rows[spans(self.nodes[idx], sizes)]]
            parts["edge_index"], edge_type = self._edges(idx, start)
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
