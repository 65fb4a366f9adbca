"""Gated graph neural network (Li et al. 2016) for variable misuse, in plain PyTorch.

    python -m benchmark.models.ggnn --input IN_DIR --output OUT_DIR

A token is a node; program-analysis edges (task.json's ``edge_types``, plus a reverse type for
each when ``reverse_edges`` is on) carry messages through a linear map of their own type. Each
of ``steps`` propagation steps sums the incoming messages per node and updates the node state
with a GRU cell, as in GREAT's ggnn.py. The encoder is one class and the full model one more:
embedding and pointer head come from varmisuse.py, shared with every var-misuse model.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from benchmark.models import varmisuse
from benchmark.models.dropout import Dropout
from benchmark.models.packed import GraphBatch
from benchmark.models.varmisuse import VarMisuseModel, with_shared

# Per-profile defaults (the shared ones in varmisuse.py); task.json's ``hyperparameters``
# override any of them. A training batch holds at most ``batch_size`` functions of similar
# length and ``batch_tokens`` padded tokens (batching.py), as do prediction batches without the
# ``batch_size`` cap. ``cpu`` trains 9,000 stdlib functions (73 tokens on average) for 8 epochs
# in about 3 minutes on one core and reaches ~0.4 test joint accuracy; 6 steps or 128-sample
# batches were slower and no better.
DEFAULTS = with_shared({
    "smoke": {"hidden": 16, "steps": 2},
    "cpu": {"hidden": 64, "steps": 4},
    "paper": {"hidden": 256, "steps": 8},
})  # fmt: skip


class GGNN(nn.Module):
    """Maps node states [N, hidden] of a batch of graphs to new node states after ``steps``
    rounds of typed message passing with a shared GRU update."""

    def __init__(self, hidden: int, num_edge_types: int, steps: int, dropout: float) -> None:
        super().__init__()
        self.steps = steps
        # One [hidden, hidden] map and bias per edge type, applied to the source state. Xavier
        # over all types at once scales each map down with the number of types, so that the
        # sum of a node's incoming messages starts small beside its own state.
        self.weight = nn.Parameter(torch.empty(num_edge_types, hidden, hidden))
        self.bias = nn.Parameter(torch.zeros(num_edge_types, hidden))
        nn.init.xavier_uniform_(self.weight.view(-1, hidden))
        self.gru = nn.GRUCell(hidden, hidden)
        self.dropout = Dropout(dropout)
        self.norm = nn.LayerNorm(hidden)

    def forward(self, h: Tensor, batch: GraphBatch) -> Tensor:
        return self.propagate(h, batch, per_node=h.is_cuda)

    def propagate(self, h: Tensor, batch: GraphBatch, per_node: bool) -> Tensor:
        """``steps`` rounds of messages, each made one of two ways with the same result.

        Per type (CPU): the edges sorted by type, one product per type over its edges'
        sources. Per node (``per_node``, CUDA): every node through every type's map in one
        product [N, types * hidden], then one row of it per edge. That is types / (edges per
        node) times the arithmetic, but two kernels instead of two per type, and on a GPU a
        step of small products is bound by their launches (ggnn at ``paper``: 22 types x 8
        steps, forward and backward).
        """
        if per_node:
            types, hidden = self.weight.shape[0], self.weight.shape[1]
            src, dst = batch.edge_index
            rows = src * types + batch.edge_type  # row of [N * types, hidden] each edge reads
            maps = self.weight.permute(1, 0, 2).reshape(hidden, types * hidden)
            biases = self.bias.reshape(types * hidden)
            for _ in range(self.steps):
                every = torch.addmm(biases, h, maps).view(-1, hidden)
                messages = every.index_select(0, rows)
                incoming = messages.new_zeros(h.shape).index_add_(0, dst, messages)
                h = self.gru(self.dropout(incoming), h)
            return self.norm(h)
        # Sources and targets sorted by edge type, with the count of each type known on the
        # host, so that a step is one gather, one product per type and one scatter-add. The
        # backward passes matter as much as the forward ones on CPU: unbind/split/index_select
        # have cheap gradients (one stack, one cat, one index_add), where weight[t], slicing
        # and h[src] would each materialise a full-size zero gradient.
        src, dst, counts = batch.edges_by_type()
        weights, biases_by_type = self.weight.unbind(0), self.bias.unbind(0)
        used = [t for t, n in enumerate(counts) if n]
        for _ in range(self.steps):
            chunks = torch.split(h.index_select(0, src), counts)
            pieces = [torch.addmm(biases_by_type[t], chunks[t], weights[t]) for t in used]
            messages = torch.cat(pieces) if pieces else h.new_zeros(0, h.size(1))
            incoming = messages.new_zeros(h.shape).index_add_(0, dst, messages)
            h = self.gru(self.dropout(incoming), h)
        return self.norm(h)


class GGNNVarMisuse(VarMisuseModel):
    """Sub-token embedding -> GGNN -> two-pointer head."""

    def __init__(self, vocab_size: int, num_edge_types: int, hp: dict) -> None:
        hidden = int(hp["hidden"])
        encoder = GGNN(hidden, num_edge_types, int(hp["steps"]), float(hp["dropout"]))
        super().__init__(vocab_size, hidden, encoder, float(hp["dropout"]))


def main(argv: Sequence[str] | None = None) -> int:
    return varmisuse.main("ggnn", DEFAULTS, GGNNVarMisuse, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
