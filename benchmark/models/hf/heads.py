"""The layers the hf model adds to a checkpoint: a pair classifier and, for an encoder-only
checkpoint, a Transformer decoder that writes text (as CodeXGLUE does for CodeBERT)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from benchmark.models.codebert.heads import decoder_step


class PairHead(nn.Module):
    """code_search: a pooled vector of the pair -> (no match, match) logits, as RoBERTa's
    classification head (dense, tanh, out)."""

    def __init__(self, hidden: int, dropout: float) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, 2)

    def forward(self, pooled: Tensor) -> Tensor:
        return self.out(self.dropout(torch.tanh(self.dense(self.dropout(pooled)))))


class TextDecoder(nn.Module):
    """A Transformer decoder over an encoder's states; its inputs are embedded by the encoder's
    word embeddings and its output layer is tied to them (CodeXGLUE's code-to-text model). The
    embeddings are the backbone's, held outside this module's parameters so that they are
    saved and frozen (or not) with the backbone."""

    def __init__(self, words: nn.Embedding, layers: int, heads: int, dropout: float,
                 positions: int, memory: int) -> None:  # fmt: skip
        super().__init__()
        hidden = words.embedding_dim
        self._words = (words,)
        # The encoder's states, where they are wider than its embeddings (ALBERT, ELECTRA-small)
        self.memory = nn.Identity() if memory == hidden else nn.Linear(memory, hidden)
        self.positions = nn.Embedding(positions, hidden)
        self.norm = nn.LayerNorm(hidden)
        layer = nn.TransformerDecoderLayer(hidden, heads, 4 * hidden, dropout, "gelu",
                                           batch_first=True)  # fmt: skip
        self.layers = nn.TransformerDecoder(layer, layers)
        self.dense = nn.Linear(hidden, hidden)
        self.bias = nn.Parameter(torch.zeros(words.num_embeddings))

    def forward(self, memory: Tensor, memory_mask: Tensor, inputs: Tensor) -> Tensor:
        """Next-token logits (B, T, vocabulary) after each of ``inputs`` (B, T)."""
        words = self._words[0]
        at = torch.arange(inputs.shape[1], device=inputs.device).clamp_max(
            self.positions.num_embeddings - 1)  # fmt: skip
        x = self.norm(words(inputs) + self.positions(at))
        causal = nn.Transformer.generate_square_subsequent_mask(inputs.shape[1],
                                                                device=inputs.device)  # fmt: skip
        h = self.layers(x, self.memory(memory), tgt_mask=causal, tgt_is_causal=True,
                        memory_key_padding_mask=memory_mask == 0)  # fmt: skip
        return self.logits(h)

    def step(self, memory: Tensor, memory_mask: Tensor, inputs: Tensor,
             cache: list[Tensor] | None) -> tuple[Tensor, list[Tensor]]:  # fmt: skip
        """``forward``'s logits (B, vocabulary) after the last of ``inputs`` (B, T) alone, in
        eval mode: the earlier positions' keys and values, and the memory's, come from
        ``cache`` (None at the first step; codebert's ``decoder_step``), and the cache for the
        next step is returned."""
        words = self._words[0]
        at = min(inputs.shape[1] - 1, self.positions.num_embeddings - 1)
        x = self.norm(words(inputs[:, -1:]) + self.positions.weight[at])
        states = self.memory(memory) if cache is None else None
        h, cache = decoder_step(self.layers, x, states, memory_mask != 0, None, cache)
        return self.logits(h)[:, 0], cache

    def logits(self, h: Tensor) -> Tensor:
        return torch.tanh(self.dense(h)) @ self._words[0].weight.T + self.bias
