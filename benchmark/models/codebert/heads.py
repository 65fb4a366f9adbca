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
from benchmark.trainer import end_check_every, to_host


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

    def decode(self, memory: Memory, target: Tensor) -> Tensor:
        """The decoder's states [B, T, hidden] for target prefixes [B, T], teacher-forced."""
        t = target.shape[1]
        causal = torch.triu(torch.ones(t, t, dtype=torch.bool, device=target.device), 1)
        # tgt_is_causal says what the mask is: left unsaid, nn.TransformerDecoder compares the
        # mask with a causal one and reads the answer on the host, a wait for a GPU each call.
        return self.decoder(self.encoder.embeddings(target), memory.states, tgt_mask=causal,
                            tgt_is_causal=True,
                            tgt_key_padding_mask=target == self.encoder.embeddings.pad_id,
                            memory_key_padding_mask=memory.pad)  # fmt: skip

    def log_probs(self, memory: Memory, target: Tensor) -> Tensor:
        """Next-token log-probabilities [B, T, V] (float32) for target prefixes [B, T]."""
        return self.head(self.decode(memory, target), memory)

    def given_log_probs(self, memory: Memory, target: Tensor, log_odds: bool = False
                        ) -> tuple[Tensor, Tensor | None]:  # fmt: skip
        """log p of each next token of the teacher-forced target [B, T] under ``head``'s
        distribution, [B, T - 1] (float32), computed at the given tokens alone: mixing the
        copy attention into every vocabulary entry, as ``head`` does, costs most of a training
        step at a vocabulary of 10,000. With ``log_odds``, also each token's log-odds [B, T - 1]
        (float64), log p(given) - log p(any other word), the other words' mass summed from the
        vocabulary's (``odds.log_p_and_odds`` of the logits, which gives log p in the same
        pass) and the copy attention's off the given word, so that it keeps its precision where
        p rounds to 1."""
        x = self.decode(memory, target[:, :-1])
        gold = target[:, 1:]
        z = self.vocabulary(x)
        if log_odds:
            logp, lo = odds.log_p_and_odds(z.flatten(0, 1), gold.flatten())
            logp, lo = logp.view(gold.shape), lo.view(gold.shape).double()
        else:
            logp, lo = F.log_softmax(z, dim=-1).gather(2, gold[:, :, None])[:, :, 0], None
        if not self.copy:
            return logp, lo
        attention, gate = self.copying(x, memory)
        at = memory.ids[:, None, :] == gold[:, :, None]
        copied = (attention * at).sum(-1)
        g = torch.sigmoid(gate)
        mixed = torch.log((1 - g) * logp.exp() + g * copied + 1e-12)
        if lo is not None:
            keep, take = F.logsigmoid(-gate.double()), F.logsigmoid(gate.double())
            vocab = keep + logp.double()  # the vocabulary's share of p(given), as a log
            given = torch.logaddexp(vocab, take + copied.double().log())
            others = (attention * ~at).sum(-1).double().log()
            lo = given - torch.logaddexp(vocab - lo, take + others)
        return mixed, lo

    def next_states(self, memory: Memory, target: Tensor, cache: list[Tensor] | None
                    ) -> tuple[Tensor, list[Tensor]]:  # fmt: skip
        """The decoder's state of the last position only ([B, 1, hidden]), run through the
        decoder for that position alone. ``cache`` (None at the first step) holds, per layer,
        the self-attention's keys and values at the earlier positions and the cross-attention's
        over the source, each [B, heads, length, head size]; the one to pass at the next step is
        returned, its rows reordered as the hypotheses are. Decoding then projects one position
        per step instead of the whole prefix and the whole source."""
        x = self.encoder.embeddings(target, last=True)
        keep = (target != self.encoder.embeddings.pad_id)[:, None, None, :]
        return decoder_step(self.decoder, x, memory.states, ~memory.pad, keep, cache)

    def next_log_probs(self, memory: Memory, target: Tensor, cache: list[Tensor] | None
                       ) -> tuple[Tensor, list[Tensor]]:  # fmt: skip
        """``log_probs`` of the last position only ([B, V]), and the cache (``next_states``)."""
        x, cache = self.next_states(memory, target, cache)
        return self.head(x, memory)[:, 0], cache

    def next_best(self, memory: Memory, target: Tensor, cache: list[Tensor] | None
                  ) -> tuple[Tensor, Tensor, list[Tensor]]:  # fmt: skip
        """Greedy decoding's step: the most probable next word [B] under ``head``'s
        distribution, its log-probability [B] and the cache, without taking the log of every
        word's probability (the log is monotonic)."""
        x, cache = self.next_states(memory, target, cache)
        if not self.copy:
            lp, words = self.head(x, memory)[:, 0].max(-1)
            return words, lp, cache
        p, words = self.mixture(x, memory)[:, 0].max(-1)
        return words, torch.log(p + 1e-12), cache

    def vocabulary(self, x: Tensor) -> Tensor:
        """The output layer's logits [B, T, V] (float32) from the decoder's states."""
        return self.lm_head(torch.tanh(self.dense(x))).float()

    def copying(self, x: Tensor, memory: Memory) -> tuple[Tensor, Tensor]:
        """The copy mechanism's attention [B, T, N] over the source's real tokens (not <s>,
        </s>, <unk>, padding; all 0 where it has none) and its gate's logit [B, T], float32."""
        scores = self.copy_query(x) @ memory.states.transpose(1, 2) / x.shape[-1] ** 0.5
        scores = scores.float().masked_fill(memory.blocked[:, None, :], -math.inf)
        attention = torch.nan_to_num(torch.softmax(scores, dim=-1))
        context = attention.to(memory.states.dtype) @ memory.states
        return attention, self.copy_gate(torch.cat([x, context], dim=-1)).float()[..., 0]

    def head(self, x: Tensor, memory: Memory) -> Tensor:
        """Log-probabilities [B, T, V] (float32) from the decoder's states [B, T, hidden]."""
        if not self.copy:
            return F.log_softmax(self.vocabulary(x), dim=-1)
        return torch.log(self.mixture(x, memory) + 1e-12)

    def mixture(self, x: Tensor, memory: Memory) -> Tensor:
        """The copy mechanism's probabilities [B, T, V] (float32): a gate mixes the
        vocabulary's distribution with the attention, moved onto the vocabulary ids of the
        attended tokens (few passes over the vocabulary: decoding makes one per step)."""
        attention, gate = self.copying(x, memory)
        gate = torch.sigmoid(gate)[..., None]
        ids = memory.ids[:, None, :].expand(-1, x.shape[1], -1)
        p = torch.softmax(self.vocabulary(x), dim=-1) * (1 - gate)
        return p.scatter_add(2, ids, gate * attention)


def decoder_step(decoder: nn.TransformerDecoder, x: Tensor, states: Tensor | None,
                 source: Tensor, keep: Tensor | None, cache: list[Tensor] | None
                 ) -> tuple[Tensor, list[Tensor]]:  # fmt: skip
    """``decoder`` (post-norm layers, eval mode) run for the last position alone: its input
    ``x`` [B, 1, E] attends to the earlier positions through ``cache`` (None at the first step)
    and to the source's ``states`` [B, S, E] where ``source`` [B, S] is true (``states`` is read
    at the first step only). ``keep`` [B, 1, 1, T] masks the positions so far (None: all).
    ``cache`` holds, per layer, the self-attention's keys and values at the earlier positions
    and the cross-attention's over the source, each [B, heads, length, head size]; the one to
    pass at the next step is returned."""
    source = source[:, None, None, :]
    out = []
    for i, layer in enumerate(decoder.layers):
        own, cross = layer.self_attn, layer.multihead_attn
        k, v = _keys_values(own, x)
        if cache is None:
            assert states is not None
            mk, mv = _keys_values(cross, states)
        else:
            k, v = torch.cat([cache[4 * i], k], 2), torch.cat([cache[4 * i + 1], v], 2)
            mk, mv = cache[4 * i + 2], cache[4 * i + 3]
        out += [k, v, mk, mv]
        x = layer.norm1(x + _attend(own, x, k, v, keep))
        x = layer.norm2(x + _attend(cross, x, mk, mv, source))
        x = layer.norm3(x + layer.linear2(layer.activation(layer.linear1(x))))
    if decoder.norm is not None:
        x = decoder.norm(x)
    return x, out


def _heads(x: Tensor, heads: int, parts: int) -> tuple[Tensor, ...]:
    """[B, T, parts * E] projections as ``parts`` tensors [B, heads, T, E / heads]."""
    b, t, _ = x.shape
    return x.view(b, t, parts, heads, -1).permute(2, 0, 3, 1, 4).unbind(0)


def _keys_values(attn: nn.MultiheadAttention, x: Tensor) -> tuple[Tensor, ...]:
    """``attn``'s keys and values of ``x`` [B, T, E], each [B, heads, T, E / heads]."""
    e = attn.embed_dim
    return _heads(F.linear(x, attn.in_proj_weight[e:], attn.in_proj_bias[e:]), attn.num_heads, 2)


def _attend(attn: nn.MultiheadAttention, x: Tensor, k: Tensor, v: Tensor, keep: Tensor | None
            ) -> Tensor:  # fmt: skip
    """``attn`` (eval mode) of the queries ``x`` [B, T, E] over projected keys and values,
    attending where ``keep`` [B, 1, 1, S] (None: everywhere): nn.MultiheadAttention's
    arithmetic, with the keys and values projected once by the caller."""
    q = F.linear(x, attn.in_proj_weight[: attn.embed_dim], attn.in_proj_bias[: attn.embed_dim])
    (q,) = _heads(q, attn.num_heads, 1)
    a = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
    return attn.out_proj(a.transpose(1, 2).flatten(2))


def token_losses(model: Seq2Seq, memory: Memory, target: Tensor, log_odds: bool = False
                 ) -> tuple[Tensor, ...]:  # fmt: skip
    """(sum of token NLLs, token count) per sample of the teacher-forced target [B, T]; with
    ``log_odds``, also the log-odds of its geometric mean probability (odds.of_tokens) from
    the tokens' log-odds, for the prediction lines' ``logit_given``."""
    logp, lo = model.given_log_probs(memory, target, log_odds)
    real = target[:, 1:] != model.encoder.embeddings.pad_id
    out = ((-logp * real).sum(1), real.sum(1))
    return (*out, odds.of_tokens(lo, real)) if lo is not None else out


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
    pad = model.encoder.embeddings.pad_id
    for step in range(1, max_len):
        # A finished hypothesis only extends by padding, at no cost; a where, not a masked
        # assignment, whose boolean index would make the host wait for the GPU at every step.
        if beam == 1:  # greedy: the best word of each row, which keeps its hypothesis
            word, lp, cache = model.next_best(memory, seqs, cache)
            words = torch.where(done, pad, word)[:, None]
            scores = scores + torch.where(done, 0.0, lp)[:, None]
        else:
            logp, cache = model.next_log_probs(memory, seqs, cache)
            vocab = logp.shape[1]
            if finished is None:
                finished = torch.full((vocab,), -math.inf, device=device)
                finished[pad] = 0.0
            logp = torch.where(done[:, None], finished, logp)
            total = (scores.view(-1, 1) + logp).view(b, beam * vocab)
            scores, flat = total.topk(beam, dim=1)
            words = (flat % vocab).view(-1, 1)
            rows = (flat // vocab + torch.arange(b, device=device)[:, None] * beam).view(-1)
            seqs, cache, done = seqs[rows], [c[rows] for c in cache], done[rows]
        seqs = torch.cat([seqs, words], dim=1)
        done = done | (words[:, 0] == eos)
        if step % every == 0 and bool(done.view(b, beam)[:, 0].all()):
            break
    best, totals = to_host(seqs.view(b, beam, -1)[:, 0, 1:], scores[:, 0])
    out = []
    for ids, total_lp in zip(best, totals, strict=True):
        ids = [i for i in ids if i != pad]
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
        x = self.encoder(ids, self.overlap(shared), first=True)[:, 0]
        x = torch.tanh(self.dense(self.dropout(x)))
        return self.out_proj(self.dropout(x)).float()
