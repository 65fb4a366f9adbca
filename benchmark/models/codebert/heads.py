"""The two heads: code_to_text's decoder (copying, beam search), code_search's pair classifier."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.models import odds
from benchmark.models.codebert.encoder import Encoder
from benchmark.trainer import end_check_every


class Memory(NamedTuple):
    """The encoded source: states [B, N, hidden], padding mask [B, N], its token ids, and
    which positions the copy mechanism may not copy from (padding and special tokens)."""

    states: Tensor
    pad: Tensor
    ids: Tensor
    blocked: Tensor

    def repeat(self, k: int) -> Memory:
        return Memory(*(t.repeat_interleave(k, 0) for t in self))


class Seq2Seq(nn.Module):
    """CodeXGLUE's code-to-text model: encoder, Transformer decoder, tied output layer; with
    ``copy``, a pointer-generator (See et al., 2017) over the source tokens as well."""

    def __init__(self, encoder: Encoder, decoder_layers: int, dropout: float, copy: bool,
                 special: Sequence[int]) -> None:  # fmt: skip
        super().__init__()
        s = encoder.sizes
        self.encoder = encoder
        layer = nn.TransformerDecoderLayer(s["hidden"], s["heads"], s["ff"], dropout,
                                           activation="gelu", batch_first=True)  # fmt: skip
        self.decoder = nn.TransformerDecoder(layer, decoder_layers)
        self.dense = nn.Linear(s["hidden"], s["hidden"])
        self.lm_head = nn.Linear(s["hidden"], s["vocab"], bias=False)
        self.lm_head.weight = encoder.embeddings.word_embeddings.weight
        self.copy = copy
        if copy:
            self.copy_query = nn.Linear(s["hidden"], s["hidden"])
            self.copy_gate = nn.Linear(2 * s["hidden"], 1)
        self.register_buffer("special", torch.tensor(special), persistent=False)

    def encode(self, source: Tensor) -> Memory:
        pad = source == self.encoder.embeddings.pad_id
        return Memory(self.encoder(source), pad, source, pad | torch.isin(source, self.special))

    def log_probs(self, memory: Memory, target: Tensor) -> Tensor:
        """Next-token log-probabilities [B, T, V] (float32) for target prefixes [B, T]."""
        t = target.shape[1]
        causal = torch.triu(torch.ones(t, t, dtype=torch.bool, device=target.device), 1)
        x = self.decoder(self.encoder.embeddings(target), memory.states, tgt_mask=causal,
                         tgt_key_padding_mask=target == self.encoder.embeddings.pad_id,
                         memory_key_padding_mask=memory.pad)  # fmt: skip
        return self.head(x, memory)

    def next_log_probs(self, memory: Memory, target: Tensor, cache: list[Tensor] | None
                       ) -> tuple[Tensor, list[Tensor]]:  # fmt: skip
        """``log_probs`` of the last position only ([B, V]), run through the decoder for that
        position alone: ``cache`` holds each layer's inputs at the earlier positions (None at
        the first step), and the one to pass at the next step is returned. Decoding then costs
        one position per step instead of the whole prefix."""
        x = self.encoder.embeddings(target)[:, -1:]
        pad = target == self.encoder.embeddings.pad_id
        inputs = []
        for i, layer in enumerate(self.decoder.layers):
            seen = x if cache is None else torch.cat([cache[i], x], dim=1)
            inputs.append(seen)
            a = layer.self_attn(x, seen, seen, key_padding_mask=pad, need_weights=False)[0]
            x = layer.norm1(x + layer.dropout1(a))
            kv = memory.states
            a = layer.multihead_attn(x, kv, kv, key_padding_mask=memory.pad, need_weights=False)[0]
            x = layer.norm2(x + layer.dropout2(a))
            f = layer.linear2(layer.dropout(layer.activation(layer.linear1(x))))
            x = layer.norm3(x + layer.dropout3(f))
        return self.head(x, memory)[:, 0], inputs

    def head(self, x: Tensor, memory: Memory) -> Tensor:
        """Log-probabilities [B, T, V] (float32) from the decoder's states [B, T, hidden]."""
        logp = F.log_softmax(self.lm_head(torch.tanh(self.dense(x))).float(), dim=-1)
        if not self.copy:
            return logp
        # Copy: attend over the source's real tokens (not <s>, </s>, <unk>, padding) and move
        # that attention onto the vocabulary ids of the attended tokens; a gate mixes the two.
        scores = self.copy_query(x) @ memory.states.transpose(1, 2) / x.shape[-1] ** 0.5
        scores = scores.float().masked_fill(memory.blocked[:, None, :], -math.inf)
        attention = torch.nan_to_num(torch.softmax(scores, dim=-1))  # all blocked: no copy
        context = attention.to(memory.states.dtype) @ memory.states
        gate = torch.sigmoid(self.copy_gate(torch.cat([x, context], dim=-1)).float())
        ids = memory.ids[:, None, :].expand(-1, x.shape[1], -1)
        copied = torch.zeros_like(logp).scatter_add_(2, ids, attention)
        return torch.log((1 - gate) * logp.exp() + gate * copied + 1e-12)


def token_losses(model: Seq2Seq, memory: Memory, target: Tensor, log_odds: bool = False
                 ) -> tuple[Tensor, ...]:  # fmt: skip
    """(sum of token NLLs, token count) per sample of the teacher-forced target [B, T]; with
    ``log_odds``, also the log-odds of its geometric mean probability (odds.of_sequence) from
    the same log-probabilities, for the prediction lines' ``logit_given``."""
    logp = model.log_probs(memory, target[:, :-1])
    gold = target[:, 1:]
    nll = -logp.gather(2, gold[:, :, None])[:, :, 0]
    real = gold != model.encoder.embeddings.pad_id
    out = ((nll * real).sum(1), real.sum(1))
    return (*out, odds.of_sequence(logp, gold, real)) if log_odds else out


@torch.no_grad()
def beam_search(model: Seq2Seq, memory: Memory, bos: int, eos: int, beam: int, max_len: int,
                check_every: int | None = None) -> list[tuple[list[int], float]]:  # fmt: skip
    """Best hypothesis per source by total log-probability (as CodeXGLUE, no length penalty),
    with its mean token log-probability; ``beam`` 1 is greedy decoding.

    Decoding stops once every source's best hypothesis has ended, which it asks every
    ``check_every`` steps (by default ``trainer.end_check_every``: each question makes the host
    wait for a GPU). The steps taken past the end only extend finished hypotheses by padding,
    at no cost, and an unfinished one only loses log-probability, so the best hypotheses and
    their scores are the same."""
    b, device = memory.states.shape[0], memory.states.device
    every = check_every or end_check_every(device)
    memory = memory.repeat(beam)
    seqs = torch.full((b * beam, 1), bos, dtype=torch.long, device=device)
    scores = torch.full((b, beam), -math.inf, device=device)
    scores[:, 0] = 0.0
    done = torch.zeros(b * beam, dtype=torch.bool, device=device)
    cache = None
    finished: Tensor | None = None  # the row of a finished hypothesis: -inf but at padding
    for step in range(1, max_len):
        logp, cache = model.next_log_probs(memory, seqs, cache)
        vocab = logp.shape[1]
        if finished is None:
            finished = torch.full((vocab,), -math.inf, device=device)
            finished[model.encoder.embeddings.pad_id] = 0.0
        # A finished hypothesis only extends by padding, at no cost; a where, not a masked
        # assignment, whose boolean index would make the host wait for the GPU at every step.
        logp = torch.where(done[:, None], finished, logp)
        total = (scores.view(-1, 1) + logp).view(b, beam * vocab)
        scores, flat = total.topk(beam, dim=1)
        rows = (flat // vocab + torch.arange(b, device=device)[:, None] * beam).view(-1)
        words = (flat % vocab).view(-1, 1)
        seqs = torch.cat([seqs[rows], words], dim=1)
        cache = [c[rows] for c in cache]
        done = done[rows] | (words[:, 0] == eos)
        if step % every == 0 and bool(done.view(b, beam)[:, 0].all()):
            break
    best = seqs.view(b, beam, -1)[:, 0, 1:].tolist()
    out = []
    for ids, total_lp in zip(best, scores[:, 0].tolist(), strict=True):
        ids = [i for i in ids if i != model.encoder.embeddings.pad_id]
        n = ids.index(eos) + 1 if eos in ids else len(ids)
        out.append((ids[: n - (1 if eos in ids else 0)], total_lp / max(n, 1)))
    return out


class PairClassifier(nn.Module):
    """CodeBERT's code search head: the <s> state through dense, tanh and a 2-way output."""

    def __init__(self, encoder: Encoder, dropout: float, levels: int) -> None:
        super().__init__()
        hidden = encoder.sizes["hidden"]
        self.encoder = encoder
        self.overlap = nn.Embedding(levels + 1, hidden)
        nn.init.zeros_(self.overlap.weight)
        self.dense = nn.Linear(hidden, hidden)
        self.out_proj = nn.Linear(hidden, 2)
        self.dropout = nn.Dropout(dropout)

    def forward(self, ids: Tensor, shared: Tensor) -> Tensor:
        x = self.encoder(ids, self.overlap(shared))[:, 0]
        x = torch.tanh(self.dense(self.dropout(x)))
        return self.out_proj(self.dropout(x)).float()
