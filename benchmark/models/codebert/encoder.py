"""RoBERTa's encoder in Hugging Face's layout and parameter names: saved weights load as is."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Embeddings(nn.Module):
    def __init__(self, vocab: int, hidden: int, positions: int, types: int, pad_id: int,
                 dropout: float, eps: float) -> None:  # fmt: skip
        super().__init__()
        self.pad_id = pad_id
        self.word_embeddings = nn.Embedding(vocab, hidden, padding_idx=pad_id)
        self.position_embeddings = nn.Embedding(positions, hidden, padding_idx=pad_id)
        self.token_type_embeddings = nn.Embedding(types, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, ids: Tensor, extra: Tensor | None = None, last: bool = False) -> Tensor:
        """RoBERTa's positions: pad_id + 1, + 2, ... over the non-pad tokens, pad_id on pads.
        With ``last``, the last position's embedding only ([B, 1, hidden]), as a decoder
        that caches the earlier positions needs."""
        real = (ids != self.pad_id).long()
        positions = torch.cumsum(real, dim=1) * real + self.pad_id
        if last:
            ids, positions = ids[:, -1:], positions[:, -1:]
        x = self.word_embeddings(ids) + self.position_embeddings(positions)
        x = x + self.token_type_embeddings.weight[0]
        if extra is not None:
            x = x + extra
        return self.dropout(self.LayerNorm(x))


class Layer(nn.Module):
    """One post-LN encoder layer; the ModuleDicts give Hugging Face's names
    (attention.self.query, attention.output.LayerNorm, intermediate.dense, ...)."""

    def __init__(self, hidden: int, heads: int, ff: int, dropout: float, eps: float) -> None:
        super().__init__()
        self.heads, self.p = heads, dropout
        self.attention = nn.ModuleDict({
            "self": nn.ModuleDict({k: nn.Linear(hidden, hidden) for k in ("query", "key",
                                                                            "value")}),
            "output": nn.ModuleDict({"dense": nn.Linear(hidden, hidden),
                                     "LayerNorm": nn.LayerNorm(hidden, eps=eps)}),
        })  # fmt: skip
        self.intermediate = nn.ModuleDict({"dense": nn.Linear(hidden, ff)})
        self.output = nn.ModuleDict({"dense": nn.Linear(ff, hidden),
                                     "LayerNorm": nn.LayerNorm(hidden, eps=eps)})  # fmt: skip
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, keep: Tensor, first: bool = False) -> Tensor:
        """The layer's states; with ``first``, the first position's only ([B, 1, hidden]),
        which still attends to every position: a classifier that reads <s> needs no more of
        the last layer."""
        b, n, h = x.shape
        proj = self.attention["self"]
        rows = x[:, :1] if first else x
        q = proj["query"](rows).view(b, rows.shape[1], self.heads, -1).transpose(1, 2)
        k, v = (proj[name](x).view(b, n, self.heads, -1).transpose(1, 2)
                for name in ("key", "value"))  # fmt: skip
        mask = keep[:, None, None, :]  # [B, 1, 1, N]: attend to real tokens only
        p = self.p if self.training else 0.0
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        a = self.attention["output"]["dense"](a.transpose(1, 2).reshape(b, rows.shape[1], h))
        x = self.attention["output"]["LayerNorm"](rows + self.dropout(a))
        f = self.output["dense"](F.gelu(self.intermediate["dense"](x)))
        return self.output["LayerNorm"](x + self.dropout(f))


class Encoder(nn.Module):
    """Token ids [B, N] (pad_id for padding) -> states [B, N, hidden]."""

    def __init__(self, sizes: dict[str, Any], dropout: float) -> None:
        super().__init__()
        self.sizes = sizes
        hidden, eps = sizes["hidden"], sizes["eps"]
        self.embeddings = Embeddings(sizes["vocab"], hidden, sizes["positions"], sizes["types"],
                                     sizes["pad_id"], dropout, eps)  # fmt: skip
        self.encoder = nn.ModuleDict({"layer": nn.ModuleList(
            Layer(hidden, sizes["heads"], sizes["ff"], dropout, eps)
            for _ in range(sizes["layers"]))})  # fmt: skip

    def forward(self, ids: Tensor, extra: Tensor | None = None, first: bool = False) -> Tensor:
        """With ``first``, the first position's states only ([B, 1, hidden])."""
        keep = ids != self.embeddings.pad_id
        x = self.embeddings(ids, extra)
        layers = self.encoder["layer"]
        for i, layer in enumerate(layers):
            x = layer(x, keep, first and i == len(layers) - 1)
        return x


def init_weights(module: nn.Module) -> None:
    """RoBERTa's initialization: normal(0, 0.02) weights, zero biases, unit LayerNorms."""
    for m in module.modules():
        if isinstance(m, nn.Linear | nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)
        if isinstance(m, nn.Embedding) and m.padding_idx is not None:
            nn.init.zeros_(m.weight[m.padding_idx])
        if isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
