"""GREAT's attention bias (benchmark/models/great.py) against its definition, edge by edge, on
functions of the GREAT shard: for every edge i -> j of type t, every head adds
q_i . e_t / sqrt(head_dim) at (i, j) of its function, and nothing is added anywhere else."""

from __future__ import annotations

import math

import torch

from benchmark.models.great import GREAT
from benchmark.models.packed import PackedSplit
from benchmark.models.varmisuse import EdgeTypes, Vocabulary, parse_sample
from tests.test_ggnn import EDGE_TYPES, shard_rows


def test_attention_bias_is_the_sum_over_each_cells_edges() -> None:
    samples = [parse_sample(r, "shard", labelled=True) for r in shard_rows()[:12]]
    edge_types = EdgeTypes(EDGE_TYPES, reverse=True)
    vocab = Vocabulary.build((s.tokens for s in samples), 300)
    batch = PackedSplit.of(samples, vocab, edge_types).batch(range(12), torch.device("cpu"))
    torch.manual_seed(0)
    heads, hidden = 4, 32
    great = GREAT(hidden, 1, heads, 64, 0.0, len(edge_types)).double()
    length = max(len(s.tokens) for s in samples)
    q = torch.randn(12, heads, length, hidden // heads, dtype=torch.float64)
    got = great.attention_bias(batch, length)(q)

    want = torch.zeros(12, heads, length, length, dtype=torch.float64)
    vectors = great.edge_vectors.weight.detach().view(-1, heads, hidden // heads)
    starts = batch.ptr.tolist()
    graph_of = batch.batch.tolist()
    edges = zip(*batch.edge_index.tolist(), batch.edge_type.tolist(), strict=True)
    for src, dst, kind in edges:
        g = graph_of[src]
        i, j = src - starts[g], dst - starts[g]
        for h in range(heads):
            want[g, h, i, j] += q[g, h, i] @ vectors[kind, h] / math.sqrt(hidden // heads)
    assert got.shape == want.shape and got.is_contiguous()
    assert torch.allclose(got, want, rtol=1e-12, atol=1e-12)
    assert (want != 0).sum() > 1000  # many cells, several with more than one edge
