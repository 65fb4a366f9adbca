"""GREAT, the Graph Relational Embedding Attention Transformer (Hellendoorn et al. 2020), for
variable misuse, in plain PyTorch.

    python -m benchmark.models.great --input IN_DIR --output OUT_DIR

A Transformer (transformer.py) whose attention logit from token i to token j gains, for every
edge i -> j of type t, the dot product of i's query with a learned vector of type t (per head,
shared by all layers), as GREAT's ``bias = einsum(query, edge_embedding)``: the program graph
steers attention without restricting it to the edges. Reverse edges (``reverse_edges``) have
types of their own, as in GREAT's data loader.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from benchmark.models import varmisuse
from benchmark.models.packed import GraphBatch
from benchmark.models.transformer import DEFAULTS as TRANSFORMER_DEFAULTS
from benchmark.models.transformer import BiasFn, Transformer
from benchmark.models.varmisuse import VarMisuseModel

# GREAT's sizes are the Transformer's (paper: 6 layers of width 512, 8 heads, as in the GREAT
# paper's main results); only the edge vectors are added. It keeps sinusoidal positions at every
# profile: its edges already tell it which tokens are related.
DEFAULTS: dict[str, dict[str, float | int | bool | str]] = {
    name: {**hp, "positions": "sinusoidal"} for name, hp in TRANSFORMER_DEFAULTS.items()
}


class GREAT(Transformer):
    """A Transformer whose attention is biased by typed program-graph edges."""

    def __init__(
        self,
        hidden: int,
        layers: int,
        heads: int,
        ff: int,
        dropout: float,
        num_edge_types: int,
        positions: str = "sinusoidal",
    ) -> None:
        super().__init__(hidden, layers, heads, ff, dropout, positions)
        self.edge_vectors = nn.Embedding(num_edge_types, hidden)
        nn.init.normal_(self.edge_vectors.weight, std=hidden**-0.5)

    def attention_bias(self, batch: GraphBatch, length: int) -> BiasFn:
        src, dst = batch.edge_index
        graph = batch.batch.index_select(0, src)
        start = batch.ptr.index_select(0, graph)
        i, j = src - start, dst - start
        # Where each (edge, head) adds its score: a flat index into [B, heads, L, L], the
        # layout scaled_dot_product_attention reads its mask fastest in (a permuted view of
        # [B, L, L, heads] made each layer's attention 4-20% slower on the CPU).
        heads, cells = self.heads, length * length
        per_head = torch.arange(heads, device=src.device) * cells
        at = ((graph * (heads * cells) + i * length + j)[:, None] + per_head).reshape(-1)
        shape = (batch.num_graphs, heads, length, length)
        types = batch.edge_type
        vectors = self.edge_vectors.weight.view(
            -1, self.heads, self.edge_vectors.embedding_dim // self.heads
        )

        def bias(q: Tensor) -> Tensor:
            """Sum over the edges of each (i, j) of q_i . e_type / sqrt(head_dim). Every query
            meets every type first ([B, heads, L, T], small), then each edge picks its entry:
            cheaper than gathering a query vector per edge."""
            per_type = torch.einsum("bhld,thd->blth", q, vectors.to(q.dtype))
            per_type = per_type / math.sqrt(q.size(-1))
            scores = per_type[graph, i, types]  # [E, heads]
            flat = scores.new_zeros(math.prod(shape)).index_add_(0, at, scores.reshape(-1))
            return flat.view(shape)

        return bias


class GREATVarMisuse(VarMisuseModel):
    """Sub-token embedding -> GREAT -> two-pointer head."""

    def __init__(self, vocab_size: int, num_edge_types: int, hp: dict) -> None:
        hidden, dropout = int(hp["hidden"]), float(hp["dropout"])
        encoder = GREAT(hidden, int(hp["layers"]), int(hp["heads"]), int(hp["ff"]), dropout,
                        num_edge_types, str(hp["positions"]))  # fmt: skip
        super().__init__(vocab_size, hidden, encoder, dropout)


def main(argv: Sequence[str] | None = None) -> int:
    return varmisuse.main("great", DEFAULTS, GREATVarMisuse, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
