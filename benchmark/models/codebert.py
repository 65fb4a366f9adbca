"""CodeBERT-style models for code_to_text and code_search, in plain PyTorch, behind the protocol.

    python -m benchmark.models.codebert --input IN_DIR --output OUT_DIR

One command for both tasks (task.json's ``task`` picks the head). The encoder is RoBERTa's:
word, learned position and token-type embeddings, then post-LayerNorm Transformer layers, with
Hugging Face's parameter names so that a saved RoBERTa/CodeBERT (task.json's ``weights``: a
local folder with config.json, the weights and the tokenizer files) loads into it unchanged.
Without weights the encoder starts from a small random initialization and the tokenizer is a
sub-token vocabulary of the training split. A folder from ``bench models pretrain`` may also
hold a whole code_to_text model trained to write its corpus's docstrings (DOCSTRING_MODEL):
code_to_text then starts from it, decoder included.

- code_to_text: as CodeXGLUE's code-to-text baseline, a Transformer decoder over the encoder's
  states, its inputs embedded by the encoder's embeddings and its output layer tied to the word
  embeddings; beam search (10 at ``paper``, greedy on CPU). Below ``paper`` (``copy``), a
  pointer-generator as well (See et al., 2017): a gate mixes the vocabulary's distribution with
  attention over the source's tokens, moved onto their ids. From scratch on a few thousand
  methods the plain decoder learns the docstrings' language model and writes one generic
  sentence for nearly every method; copying the method's own words makes it read the code.
  The docstring is predicted as words (lower-cased, which BLEU ignores). ``loss`` is the given
  docstring's mean token negative log-likelihood and ``p_given`` its per-token geometric mean
  probability, exp(-loss): the product over a whole sentence would put every sample near 0 and
  hide the per-sample signal.
- code_search: as CodeBERT's code search fine-tuning, the ``<s>`` vector of ``<s> query </s>
  code </s>`` through a dense head gives p(match). Each position also gets an "appears on the
  other side" embedding (DrQA's exact-match feature), one per level of the token's inverse
  document frequency in the training pairs (``overlap`` levels, 0: none), zero at the start
  so that pretrained weights are the starting point unchanged: from scratch on a few thousand
  pairs it is what lets the cross-encoder see lexical overlap. Below ``paper`` each query is
  also contrasted with other codes of its batch (``negatives``, in the batch loss only; the
  per-sample loss and ``p_given`` are the given pair's). Held-out queries score every
  candidate, batched by code length.

Training (AdamW, linear decay after a warm-up), checkpoints and resumption are the shared
trainer's (benchmark.trainer): same events, same checkpoint discipline, same bytes after a kill.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark import trainer
from benchmark.models.varmisuse import subtokens
from benchmark.trainer import InputError, jsonl

SPLITS = trainer.SPLITS
TASKS = ("code_to_text", "code_search")
REPRESENTATIONS = {"code_to_text": "code-to-text-jsonl", "code_search": "code-search-jsonl"}
VOCABULARY = "subtokens.json"  # a weights folder's sub-token vocabulary (bench models pretrain)
DOCSTRING_MODEL = "docstring.safetensors"  # and its code_to_text model, trained to write docstrings

# Per-profile defaults; task.json's ``hyperparameters`` override any of them. ``paper`` is
# CodeBERT (hidden 768, 12 layers, 12 heads) with CodeXGLUE's fine-tuning settings (source 256,
# target 128, 6 decoder layers, beam 10, AdamW at 5e-5, batch 32); ``cpu`` is a 2-layer width-64
# model with the copy mechanism and greedy decoding, batches of 16 over 64 source sub-tokens
# (chosen on ruby-stdlib's validation split: code_to_text BLEU 10.2 against 9.7 with batches of
# 32 and 9.5 with batches of 8 at lr 1e-3; code_search MRR 0.447 with 16 or 32), and 3 in-batch
# negatives per code_search query (7 ranked validation queries better, MRR 0.476 against 0.447,
# but judged pairs worse, 0.784 against 0.812, at half the training speed); ``smoke`` is tiny.
# With ``weights`` the encoder's sizes come from the folder's config.json instead.
# ``max_source`` bounds the code (code_to_text) or the whole pair (code_search); ``max_query``
# the query within it.
DEFAULTS: dict[str, dict[str, Any]] = {
    "smoke": {"hidden": 32, "layers": 1, "heads": 2, "ff": 64, "decoder_layers": 1,
              "max_source": 64, "max_target": 16, "max_query": 16, "beam": 1,
              "vocab_size": 2000, "dropout": 0.0, "lr": 2e-3, "warmup": 0.1,
              "weight_decay": 0.0, "batch_size": 16, "clip": 1.0, "overlap": 8,
              "negatives": 1, "copy": True, "epochs": 2, "threads": 1},
    "cpu": {"hidden": 64, "layers": 2, "heads": 4, "ff": 256, "decoder_layers": 2,
            "max_source": 64, "max_target": 24, "max_query": 32, "beam": 1,
            "vocab_size": 10000, "dropout": 0.1, "lr": 2e-3, "warmup": 0.1,
            "weight_decay": 0.0, "batch_size": 16, "clip": 1.0, "overlap": 8,
            "negatives": 3, "copy": True, "epochs": 8, "threads": 1},
    "paper": {"hidden": 768, "layers": 12, "heads": 12, "ff": 3072, "decoder_layers": 6,
              "max_source": 256, "max_target": 128, "max_query": 64, "beam": 10,
              "vocab_size": 50265, "dropout": 0.1, "lr": 5e-5, "warmup": 0.0,
              "weight_decay": 0.0, "batch_size": 32, "clip": 1.0, "overlap": 8,
              "negatives": 0, "copy": False, "epochs": 10, "threads": 0},
}  # fmt: skip
# From ``weights`` (a pretrained encoder), where they differ from the defaults above: at
# ``cpu``, code_search fine-tunes a ``bench models pretrain`` encoder best at a quarter of the
# from-scratch rate (ruby-stdlib validation MRR 0.494 at 5e-4, 0.475 at 2.5e-4, 0.462 at
# 2e-3), while code_to_text keeps 2e-3 (BLEU 9.98, against 9.53 at 1e-3 and 9.26 at 5e-4).
# ``paper``'s rates are already CodeXGLUE's fine-tuning ones.
FROM_WEIGHTS: dict[str, dict[str, dict[str, Any]]] = {
    "cpu": {"code_search": {"lr": 5e-4}},
}
POSITIVE = ("decoder_layers", "max_source", "max_target", "max_query", "beam")


# --- tokenizers -------------------------------------------------------------------------------


class SubtokenTokenizer:
    """Without pretrained weights: lower-cased code sub-tokens and docstring words of the
    training split, most frequent first (ties alphabetical), after PAD, UNK, <s> and </s>.
    A folder from ``bench models pretrain`` keeps its vocabulary in VOCABULARY."""

    pad_id, unk_id, cls_id, sep_id = 0, 1, 2, 3
    SPECIAL = ("<pad>", "<unk>", "<s>", "</s>")

    def __init__(self, words: Sequence[str]) -> None:
        self.words = [*self.SPECIAL, *words]
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def read(cls, path: Path) -> SubtokenTokenizer:
        try:
            words = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: not a JSON list of words ({exc})") from None
        if (
            not isinstance(words, list)
            or tuple(words[:4]) != cls.SPECIAL
            or not all(isinstance(w, str) for w in words)
            or len(set(words)) != len(words)
        ):
            raise InputError(f"{path}: not a list of distinct words that starts with "
                             f"{', '.join(cls.SPECIAL)}")  # fmt: skip
        return cls(words[4:])

    @classmethod
    def build(cls, codes: Iterable[Sequence[str]], texts: Iterable[Sequence[str]], size: int
              ) -> SubtokenTokenizer:  # fmt: skip
        counts: Counter[str] = Counter()
        for tokens in codes:
            counts.update(p for t in tokens for p in subtokens(t))
        for words in texts:
            counts.update(w.lower() for w in words)
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return cls([w for w, _ in ranked[: max(0, size - 4)]])

    def __len__(self) -> int:
        return len(self.words)

    def code(self, rows: Sequence[Sequence[str]]) -> list[list[int]]:
        return [[self.index.get(p, 1) for t in tokens for p in subtokens(t)] for tokens in rows]

    def text(self, rows: Sequence[Sequence[str]]) -> list[list[int]]:
        return [[self.index.get(w.lower(), 1) for w in words] for words in rows]

    def decode(self, ids: Sequence[int]) -> list[str]:
        return [self.words[i] for i in ids if i > 3]


class PretrainedTokenizer:
    """The weights folder's own tokenizer (BPE for CodeBERT): tokens joined by spaces."""

    def __init__(self, hf: Any) -> None:
        self.hf = hf
        self.words = None
        self.pad_id, self.unk_id = hf.pad_token_id, hf.unk_token_id
        self.cls_id = hf.cls_token_id if hf.cls_token_id is not None else hf.bos_token_id
        self.sep_id = hf.sep_token_id if hf.sep_token_id is not None else hf.eos_token_id
        if None in (self.pad_id, self.cls_id, self.sep_id):
            raise InputError("the weights' tokenizer has no pad, <s>/[CLS] or </s>/[SEP] token")

    def __len__(self) -> int:
        return len(self.hf)

    def code(self, rows: Sequence[Sequence[str]]) -> list[list[int]]:
        if not rows:
            return []
        texts = [" ".join(tokens) for tokens in rows]
        return self.hf(texts, add_special_tokens=False)["input_ids"]

    text = code

    def decode(self, ids: Sequence[int]) -> list[str]:
        return self.hf.decode(list(ids), skip_special_tokens=True).split()[:256]


Tokenizer = SubtokenTokenizer | PretrainedTokenizer


def special_ids(tok: Tokenizer) -> list[int]:
    """The ids that stand for no word: padding, <s>, </s> and the unknown token (if any)."""
    return sorted({i for i in (tok.pad_id, tok.cls_id, tok.sep_id, tok.unk_id) if i is not None})


# --- the encoder (Hugging Face RoBERTa's layout and parameter names) ---------------------------


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

    def forward(self, ids: Tensor, extra: Tensor | None = None) -> Tensor:
        """RoBERTa's positions: pad_id + 1, + 2, ... over the non-pad tokens, pad_id on pads."""
        real = (ids != self.pad_id).long()
        positions = torch.cumsum(real, dim=1) * real + self.pad_id
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

    def forward(self, x: Tensor, keep: Tensor) -> Tensor:
        b, n, h = x.shape
        proj = self.attention["self"]
        q, k, v = (proj[name](x).view(b, n, self.heads, -1).transpose(1, 2)
                   for name in ("query", "key", "value"))  # fmt: skip
        mask = keep[:, None, None, :]  # [B, 1, 1, N]: attend to real tokens only
        p = self.p if self.training else 0.0
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        a = self.attention["output"]["dense"](a.transpose(1, 2).reshape(b, n, h))
        x = self.attention["output"]["LayerNorm"](x + self.dropout(a))
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

    def forward(self, ids: Tensor, extra: Tensor | None = None) -> Tensor:
        keep = ids != self.embeddings.pad_id
        x = self.embeddings(ids, extra)
        for layer in self.encoder["layer"]:
            x = layer(x, keep)
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


# --- the two heads -----------------------------------------------------------------------------


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


def token_losses(model: Seq2Seq, memory: Memory, target: Tensor) -> tuple[Tensor, Tensor]:
    """(sum of token NLLs, token count) per sample of the teacher-forced target [B, T]."""
    logp = model.log_probs(memory, target[:, :-1])
    gold = target[:, 1:]
    nll = -logp.gather(2, gold[:, :, None])[:, :, 0]
    real = gold != model.encoder.embeddings.pad_id
    return (nll * real).sum(1), real.sum(1)


@torch.no_grad()
def beam_search(model: Seq2Seq, memory: Memory, bos: int, eos: int, beam: int,
                max_len: int) -> list[tuple[list[int], float]]:  # fmt: skip
    """Best hypothesis per source by total log-probability (as CodeXGLUE, no length penalty),
    with its mean token log-probability; ``beam`` 1 is greedy decoding."""
    b, device = memory.states.shape[0], memory.states.device
    memory = memory.repeat(beam)
    seqs = torch.full((b * beam, 1), bos, dtype=torch.long, device=device)
    scores = torch.full((b, beam), -math.inf, device=device)
    scores[:, 0] = 0.0
    done = torch.zeros(b * beam, dtype=torch.bool, device=device)
    cache = None
    for _ in range(max_len - 1):
        logp, cache = model.next_log_probs(memory, seqs, cache)
        # A finished hypothesis only extends by padding, at no cost.
        logp[done] = -math.inf
        logp[done, model.encoder.embeddings.pad_id] = 0.0
        vocab = logp.shape[1]
        total = (scores.view(-1, 1) + logp).view(b, beam * vocab)
        scores, flat = total.topk(beam, dim=1)
        rows = (flat // vocab + torch.arange(b, device=device)[:, None] * beam).view(-1)
        words = (flat % vocab).view(-1, 1)
        seqs = torch.cat([seqs[rows], words], dim=1)
        cache = [c[rows] for c in cache]
        done = done[rows] | (words[:, 0] == eos)
        if bool(done.view(b, beam)[:, 0].all()):
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


# --- inputs ------------------------------------------------------------------------------------


def read_rows(path: Path, fields: dict[str, bool], key: str = "id") -> list[dict[str, Any]]:
    """The lines of one file, each named by a unique string ``key``; ``fields`` maps each
    other key read to whether it is a token list (else a bool), all required."""
    rows, seen = [], set()
    for where, r in jsonl(path):
        if not isinstance(r, dict) or not isinstance(r.get(key), str):
            raise InputError(f"{where}: not a JSON object with a string '{key}'")
        for field, is_list in fields.items():
            v = r.get(field)
            ok = (isinstance(v, list) and all(isinstance(t, str) for t in v)) if is_list \
                else isinstance(v, bool)  # fmt: skip
            if not ok:
                kind = "a list of strings" if is_list else "true or false"
                raise InputError(f"{where}: '{field}' is not {kind}")
        if r[key] in seen:
            raise InputError(f"{where}: repeated {key} {r[key]!r}")
        seen.add(r[key])
        rows.append(r)
    return rows


def pad(seqs: Sequence[Sequence[int]], value: int, device: torch.device) -> Tensor:
    out = torch.full((len(seqs), max(len(s) for s in seqs)), value, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out.to(device)


def length_batches(lengths: Sequence[int], size: int) -> list[list[int]]:
    """Indices in runs of ``size`` by length, so that a prediction batch holds little padding."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [order[i : i + size] for i in range(0, len(order), size)]


def prob(x: float) -> float:
    return round(min(max(x, 0.0), 1.0), 6)


class CodeToText:
    """code_to_text: <s> code </s> -> <s> docstring </s>."""

    def __init__(self, rows: dict[str, list[dict]], tok: Tokenizer, hp: dict[str, Any]) -> None:
        self.rows, self.tok, self.hp = rows, tok, hp
        cut = int(hp["max_source"]) - 2
        self.source = {s: [[tok.cls_id, *ids[:cut], tok.sep_id]
                           for ids in tok.code([r["source_tokens"] for r in rows[s]])]
                       for s in SPLITS}  # fmt: skip
        cut = int(hp["max_target"]) - 2
        self.target = [[tok.cls_id, *ids[:cut], tok.sep_id]
                       for ids in tok.text([r["doc_tokens"] for r in rows["train"]])]  # fmt: skip

    def losses(self, model: Seq2Seq, idx: Sequence[int], device: torch.device) -> Tensor:
        """Per-sample mean token NLL; the batch loss is their token-weighted mean."""
        memory = model.encode(pad([self.source["train"][i] for i in idx], self.tok.pad_id,
                                  device))  # fmt: skip
        target = pad([self.target[i] for i in idx], self.tok.pad_id, device)
        total, count = token_losses(model, memory, target)
        self._weights = count
        return total / count.clamp_min(1)

    def batch_loss(self, losses: Tensor) -> Tensor:
        return (losses * self._weights).sum() / self._weights.sum().clamp_min(1)

    def lines(self, model: Seq2Seq, size: int, device: torch.device) -> Iterator[str]:
        beam, max_len = int(self.hp["beam"]), int(self.hp["max_target"])
        for split in SPLITS:
            out: list[dict[str, Any]] = [{} for _ in self.rows[split]]
            for idx in length_batches([len(x) for x in self.source[split]], size):
                memory = model.encode(pad([self.source[split][i] for i in idx],
                                          self.tok.pad_id, device))  # fmt: skip
                found = beam_search(model, memory, self.tok.cls_id, self.tok.sep_id, beam,
                                    max_len)  # fmt: skip
                if split == "train":
                    target = pad([self.target[i] for i in idx], self.tok.pad_id, device)
                    total, count = token_losses(model, memory, target)
                    nll = (total / count.clamp_min(1)).tolist()
                for k, (i, (ids, mean_lp)) in enumerate(zip(idx, found, strict=True)):
                    line = {"tokens": self.tok.decode(ids), "score": prob(math.exp(mean_lp))}
                    if split == "train":
                        line |= {
                            "loss": round(max(nll[k], 0.0), 6),
                            "p_given": prob(math.exp(-nll[k])),
                        }
                    out[i] = line
            for r, line in zip(self.rows[split], out, strict=True):
                yield json.dumps({"id": r["id"], "split": split, **line}) + "\n"


class CodeSearch:
    """code_search: <s> query </s> code </s> -> p(match), with the overlap flags."""

    def __init__(self, rows: dict[str, list[dict]], codes: dict[str, dict[str, list[str]]],
                 tok: Tokenizer, hp: dict[str, Any]) -> None:  # fmt: skip
        self.rows, self.tok, self.hp = rows, tok, hp
        # Queries are read as code (sub-tokens without weights), so both sides share ids.
        self.query = {s: tok.code([r["query_tokens"] for r in rows[s]]) for s in SPLITS}
        self.code = {"train": tok.code([r["code_tokens"] for r in rows["train"]])}
        self.keys: dict[str, dict[str, int]] = {}
        for s in ("valid", "test"):
            keys = list(codes[s])
            self.keys[s] = {k: i for i, k in enumerate(keys)}
            self.code[s] = tok.code([codes[s][k] for k in keys])
        self.match = [bool(r["match"]) for r in rows["train"]]
        self.level = self.idf_levels(len(tok), int(hp["overlap"]))

    def idf_levels(self, vocab: int, levels: int) -> np.ndarray:
        """Per token id, the overlap level it gets when shared: 1..levels by its inverse
        document frequency over the training queries and codes (rarer, higher), 0 for the
        unknown and special tokens, which say nothing about a match."""
        docs = self.query["train"] + self.code["train"]
        df = np.zeros(vocab)
        for ids in docs:
            df[list(set(ids))] += 1
        idf = np.log((1 + len(docs)) / (1 + df))
        top = max(float(idf.max()), 1e-9)
        level = 1 + np.minimum((idf / top * levels).astype(np.int64), levels - 1)
        for i in special_ids(self.tok):
            if 0 <= i < vocab:
                level[i] = 0
        return level if levels > 0 else np.zeros(vocab, dtype=np.int64)

    def pair(self, query: list[int], code: list[int]) -> tuple[list[int], list[int]]:
        """The pair's ids and, per position, the token's overlap level where it also occurs on
        the other side (else 0)."""
        q = query[: int(self.hp["max_query"])]
        c = code[: max(int(self.hp["max_source"]) - len(q) - 3, 0)]
        ids = [self.tok.cls_id, *q, self.tok.sep_id, *c, self.tok.sep_id]
        qs, cs, level = set(q), set(c), self.level
        shared = [0, *(level[t] if t in cs else 0 for t in q), 0,
                  *(level[t] if t in qs else 0 for t in c), 0]  # fmt: skip
        return ids, [int(v) for v in shared]

    def tensors(self, pairs: list[tuple[list[int], list[int]]], device: torch.device
                ) -> tuple[Tensor, Tensor]:  # fmt: skip
        return (pad([p[0] for p in pairs], self.tok.pad_id, device),
                pad([p[1] for p in pairs], 0, device))  # fmt: skip

    def losses(self, model: PairClassifier, idx: Sequence[int], device: torch.device) -> Tensor:
        """Per-sample losses of the given pairs. With ``negatives`` k > 0, each query is also
        paired with the codes of the next k samples of the batch as non-matches (in-batch
        negatives), which enter the batch loss only: ranking is learnt from contrasts the
        random pairs of the training file seldom offer."""
        pairs = [(self.query["train"][i], self.code["train"][i]) for i in idx]
        y = [int(self.match[i]) for i in idx]
        for shift in range(1, min(int(self.hp["negatives"]), len(idx) - 1) + 1):
            for k, i in enumerate(idx):
                code = self.code["train"][idx[(k + shift) % len(idx)]]
                if code != self.code["train"][i]:
                    pairs.append((self.query["train"][i], code))
                    y.append(0)
        ids, shared = self.tensors([self.pair(q, c) for q, c in pairs], device)
        losses = F.cross_entropy(model(ids, shared), torch.tensor(y, device=device),
                                 reduction="none")  # fmt: skip
        self._extra = losses[len(idx) :]
        return losses[: len(idx)]

    def batch_loss(self, losses: Tensor) -> Tensor:
        return torch.cat([losses, self._extra]).mean()

    def p_match(self, model: PairClassifier, pairs: list[tuple[list[int], list[int]]],
                device: torch.device) -> list[float]:  # fmt: skip
        """p(match) in float64 from the logit difference, so that confident scores stay apart
        rather than tie at 1.0 (ties count against the model in MRR)."""
        logits = model(*self.tensors(pairs, device)).double()
        return torch.sigmoid(logits[:, 1] - logits[:, 0]).tolist()

    def lines(self, model: PairClassifier, size: int, device: torch.device) -> Iterator[str]:
        for idx in (list(range(i, min(i + size, len(self.match))))
                    for i in range(0, len(self.match), size)):  # fmt: skip
            p = self.p_match(model, [self.pair(self.query["train"][i], self.code["train"][i])
                                     for i in idx], device)  # fmt: skip
            for i, pm in zip(idx, p, strict=True):
                pg = min(max(pm if self.match[i] else 1 - pm, 1e-12), 1.0)
                line = {"id": self.rows["train"][i]["id"], "split": "train", "score": prob(pm),
                        "loss": round(-math.log(pg), 6), "p_given": prob(pg)}  # fmt: skip
                yield json.dumps(line) + "\n"
        for split in ("valid", "test"):
            for r, query in zip(self.rows[split], self.query[split], strict=True):
                cands = [self.keys[split][k] for k in r["candidates"]]
                scores = [0.0] * len(cands)
                for chunk in length_batches([len(self.code[split][c]) for c in cands], size):
                    p = self.p_match(model, [self.pair(query, self.code[split][cands[j]])
                                             for j in chunk], device)  # fmt: skip
                    for j, pm in zip(chunk, p, strict=True):
                        scores[j] = pm
                yield json.dumps({"id": r["id"], "split": split, "scores": scores}) + "\n"


# --- the run -----------------------------------------------------------------------------------


def read_task(input_dir: Path) -> dict[str, Any]:
    """task.json, checked for codebert."""
    task = trainer.read_task(input_dir)
    if task.get("task") not in TASKS:
        raise InputError(f"task.json: codebert does {' and '.join(TASKS)} only")
    if task.get("representation") != REPRESENTATIONS[task["task"]]:
        raise InputError(f"task.json: representation {task.get('representation')!r} is not "
                         f"{REPRESENTATIONS[task['task']]}")  # fmt: skip
    weights = task.get("weights")
    if weights is not None and not (isinstance(weights, str) and Path(weights).is_dir()):
        raise InputError(f"task.json: weights {weights!r} is not a folder")
    return task


def check_hyperparameters(hp: dict[str, Any]) -> None:
    """What trainer.prepare does not check: bounds between sizes, and non-negative numbers."""
    if hp["max_source"] < hp["max_query"] + 4 or hp["max_target"] < 3:
        raise InputError("task.json: max_source must exceed max_query + 3, max_target be >= 3")
    for key in ("overlap", "negatives"):
        if not isinstance(hp[key], int) or isinstance(hp[key], bool) or hp[key] < 0:
            raise InputError(f"task.json: {key} must be an integer >= 0, not {hp[key]!r}")
    if not isinstance(hp["copy"], bool):
        raise InputError(f"task.json: copy must be true or false, not {hp['copy']!r}")
    for key in ("lr", "dropout", "warmup", "weight_decay", "clip"):
        if not isinstance(hp[key], int | float) or isinstance(hp[key], bool) or hp[key] < 0:
            raise InputError(f"task.json: {key} must be a number >= 0, not {hp[key]!r}")


def load_pretrained(folder: Path, dropout: float) -> tuple[Encoder, Tokenizer]:
    """The encoder and tokenizer of a local Hugging Face RoBERTa folder (e.g. a saved
    microsoft/codebert-base, or one from ``bench models pretrain`` with its sub-token
    vocabulary), loaded with transformers and copied into this file's encoder."""
    from transformers import AutoModel, AutoTokenizer

    try:
        hf = AutoModel.from_pretrained(folder, local_files_only=True)
        tok: Any = (SubtokenTokenizer.read(folder / VOCABULARY) if (folder / VOCABULARY).exists()
                    else AutoTokenizer.from_pretrained(folder, local_files_only=True))  # fmt: skip
    except (OSError, ValueError) as exc:
        line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"weights {folder} cannot be loaded: {line}") from None
    cfg = hf.config
    if cfg.model_type not in ("roberta", "xlm-roberta") or cfg.hidden_act != "gelu":
        raise InputError(f"weights {folder}: a {cfg.model_type} model with {cfg.hidden_act}; "
                         "codebert loads RoBERTa-style encoders (gelu)")  # fmt: skip
    sizes = {"vocab": cfg.vocab_size, "hidden": cfg.hidden_size, "layers": cfg.num_hidden_layers,
             "heads": cfg.num_attention_heads, "ff": cfg.intermediate_size,
             "positions": cfg.max_position_embeddings, "types": cfg.type_vocab_size,
             "pad_id": cfg.pad_token_id, "eps": cfg.layer_norm_eps}  # fmt: skip
    encoder = Encoder(sizes, dropout)
    state = {
        k: v
        for k, v in hf.state_dict().items()
        if k.startswith(("embeddings.", "encoder.")) and not k.endswith("position_ids")
    }
    missing, unexpected = encoder.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise InputError(f"weights {folder}: parameters do not fit a RoBERTa encoder "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")  # fmt: skip
    if len(tok) > cfg.vocab_size:
        raise InputError(f"weights {folder}: the tokenizer has {len(tok)} tokens, the model "
                         f"{cfg.vocab_size}")  # fmt: skip
    return encoder, tok if isinstance(tok, SubtokenTokenizer) else PretrainedTokenizer(tok)


def save_docstring_model(model: Seq2Seq, path: Path) -> None:
    """The whole code_to_text model (its output layer is the word vectors, stored once), with
    the decoder's depth and copy setting in the file's metadata."""
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    meta = {"decoder_layers": str(len(model.decoder.layers)), "copy": json.dumps(model.copy)}
    save_file(state, str(path), metadata=meta)


def docstring_model(folder: Path) -> tuple[dict[str, Tensor], dict[str, Any]] | None:
    """A weights folder's code_to_text model (DOCSTRING_MODEL) and the settings it was built
    with, or None where the folder has none."""
    path = folder / DOCSTRING_MODEL
    if not path.exists():
        return None
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not a dict)
        shape = {"decoder_layers": int(meta["decoder_layers"]), "copy": json.loads(meta["copy"])}
    except (OSError, ValueError, KeyError, SafetensorError) as exc:
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"weights {folder}: {DOCSTRING_MODEL} cannot be read: {line}") from None
    if shape["decoder_layers"] < 1 or not isinstance(shape["copy"], bool):
        raise InputError(f"weights {folder}: {DOCSTRING_MODEL} has no decoder settings {shape}")
    return state, shape


def random_encoder(tok: SubtokenTokenizer, hp: dict[str, Any], task: str) -> Encoder:
    longest = int(hp["max_source"]) if task == "code_search" else max(
        int(hp["max_source"]), int(hp["max_target"]))  # fmt: skip
    sizes = {"vocab": len(tok), "hidden": int(hp["hidden"]), "layers": int(hp["layers"]),
             "heads": int(hp["heads"]), "ff": int(hp["ff"]), "positions": longest + 2,
             "types": 1, "pad_id": tok.pad_id, "eps": 1e-5}  # fmt: skip
    if sizes["hidden"] % sizes["heads"]:
        raise InputError("task.json: hidden must be a multiple of heads")
    return Encoder(sizes, float(hp["dropout"]))


def build(task: str, encoder: Encoder, hp: dict[str, Any], tok: Tokenizer, pretrained: bool
          ) -> nn.Module:  # fmt: skip
    """The task's model around ``encoder``; new layers get RoBERTa's initialization, and the
    encoder too unless ``pretrained``."""
    dropout = float(hp["dropout"])
    head = (
        Seq2Seq(encoder, int(hp["decoder_layers"]), dropout, bool(hp["copy"]), special_ids(tok))
        if task == "code_to_text"
        else PairClassifier(encoder, dropout, int(hp["overlap"]))
    )
    for name, module in head.named_children():
        if name not in ("encoder", "overlap", "lm_head"):  # lm_head: the tied embeddings
            init_weights(module)
    if not pretrained:
        init_weights(encoder)
        init_word_vectors(encoder)
    return head


def init_word_vectors(encoder: Encoder) -> None:
    """From scratch, word vectors of norm ~1 rather than RoBERTa's 0.02 * sqrt(hidden): the
    tied output layer reads them after a tanh, and with small ones every next-token
    distribution stays near uniform for many epochs. The embedding LayerNorm makes the scale
    irrelevant on the input side."""
    words = encoder.embeddings.word_embeddings
    nn.init.normal_(words.weight, std=encoder.sizes["hidden"] ** -0.5)
    nn.init.zeros_(words.weight[words.padding_idx])


def read_inputs(input_dir: Path, task: dict[str, Any]) -> tuple[dict, dict, dict[str, str]]:
    """The three splits (and code_search's candidate codes) as rows; the files read."""
    files = trainer.split_files(task)
    if task["task"] == "code_to_text":
        fields = {s: {"source_tokens": True, **({"doc_tokens": True} if s == "train" else {})}
                  for s in SPLITS}  # fmt: skip
    else:
        fields = {"train": {"query_tokens": True, "code_tokens": True, "match": False},
                  "valid": {"query_tokens": True, "candidates": True},
                  "test": {"query_tokens": True, "candidates": True}}  # fmt: skip
    rows = {s: read_rows(input_dir / files[s], fields[s]) for s in SPLITS}
    codes: dict[str, dict[str, list[str]]] = {}
    if task["task"] == "code_search":
        names = task.get("codes", {})
        for s in ("valid", "test"):
            codes[s] = {r["key"]: r["code_tokens"]
                        for r in read_rows(input_dir / names.get(s, f"{s}.codes.jsonl"),
                                           {"code_tokens": True}, key="key")}  # fmt: skip
            for r in rows[s]:
                gone = next((k for k in r["candidates"] if k not in codes[s]), None)
                if gone is not None:
                    raise InputError(f"{files[s]}: query {r['id']!r} names unknown code {gone!r}")
            files[f"{s}-codes"] = names.get(s, f"{s}.codes.jsonl")
    if not rows["train"]:
        raise InputError(f"{files['train']} holds no samples")
    return rows, codes, files


def setup(name: str, rows: dict[str, list[dict]], codes: dict[str, dict[str, list[str]]],
          hp: dict[str, Any], weights: Path | None
          ) -> tuple[nn.Module, Tokenizer, CodeToText | CodeSearch, str]:  # fmt: skip
    """The model, its tokenizer and the encoded splits, from ``weights`` or from scratch, and
    a tag naming the starting point (for the checkpoint's fingerprint). With weights, the
    encoder's sizes replace the profile's in ``hp``; for code_to_text, where the folder holds
    a code_to_text model (DOCSTRING_MODEL), the whole model starts from it, with its decoder
    settings."""
    tag, saved = "codebert", None
    if weights is not None:
        from benchmark.weights import weights_fingerprint

        encoder, tok = load_pretrained(weights, float(hp["dropout"]))
        tag += ":" + weights_fingerprint(weights)
        longest = int(hp["max_source"]) if name == "code_search" else max(
            int(hp["max_source"]), int(hp["max_target"]))  # fmt: skip
        if longest + tok.pad_id + 1 > encoder.sizes["positions"]:
            room = encoder.sizes["positions"] - tok.pad_id - 1
            raise InputError(f"task.json: max_source/max_target {longest} exceed the weights' "
                             f"{room} positions")  # fmt: skip
        hp.update({k: encoder.sizes[k] for k in ("hidden", "layers", "heads", "ff")})
        saved = docstring_model(weights) if name == "code_to_text" else None
        if saved is not None:
            hp.update(saved[1])
    else:
        if name == "code_to_text":
            texts = (r["doc_tokens"] for r in rows["train"])
            code_rows = (r["source_tokens"] for r in rows["train"])
        else:
            texts = iter(())
            code_rows = (t for r in rows["train"] for t in (r["query_tokens"], r["code_tokens"]))
        tok = SubtokenTokenizer.build(code_rows, texts, int(hp["vocab_size"]))
        encoder = random_encoder(tok, hp, name)
    data = CodeToText(rows, tok, hp) if name == "code_to_text" else CodeSearch(rows, codes, tok, hp)
    model = build(name, encoder, hp, tok, weights is not None)
    if saved is not None:
        try:
            missing, unexpected = model.load_state_dict(saved[0], strict=False)
        except RuntimeError as exc:  # a tensor of another shape
            raise InputError(f"weights {weights}: {DOCSTRING_MODEL} does not fit the model: "
                             f"{str(exc).strip().splitlines()[-1].strip()}") from None  # fmt: skip
        if [k for k in missing if k != "lm_head.weight"] or unexpected:
            raise InputError(f"weights {weights}: {DOCSTRING_MODEL} does not fit the model "
                             f"(missing {missing[:3]}, unexpected {unexpected[:3]})")  # fmt: skip
    return model, tok, data, tag


def defaults_for(task: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """DEFAULTS, with FROM_WEIGHTS's settings for the task where it starts from weights."""
    if not task.get("weights"):
        return DEFAULTS
    name = task["task"]
    return {p: {**hp, **FROM_WEIGHTS.get(p, {}).get(name, {})} for p, hp in DEFAULTS.items()}


def run(input_dir: Path, output_dir: Path, events: trainer.Events) -> None:
    """Train on the input folder's task with the one trainer, from ``weights`` if given."""
    task = read_task(input_dir)
    name = task["task"]
    settings = trainer.prepare(task, defaults_for(task), POSITIVE)
    hp, ctx = settings.hp, settings.ctx
    check_hyperparameters(hp)
    started = time.perf_counter()
    rows, codes, files = read_inputs(input_dir, task)
    weights = Path(task["weights"]) if task.get("weights") else None
    model, tok, data, tag = setup(name, rows, codes, hp, weights)
    model = model.to(ctx.device)
    trainer.log(f"read {', '.join(f'{len(rows[s])} {s}' for s in SPLITS)} samples, {len(tok)} "
                f"tokens{' from ' + str(weights) if weights else ''} in "
                f"{time.perf_counter() - started:.1f}s; hyperparameters {json.dumps(hp)}"
                )  # fmt: skip

    n, size = len(rows["train"]), int(hp["batch_size"])
    optimizer, schedule = optimizer_and_schedule(model, hp, int(hp["epochs"]) * math.ceil(n / size))
    # Without gradients a batch needs far less memory: predict in larger batches (4x on CUDA).
    eval_size = size * (4 if ctx.device.type == "cuda" else 2) * (8 if name == "code_search" else 1)
    run = trainer.Fit(
        model=model,
        optimizer=optimizer,
        train_epoch=lambda order: train_epoch(model, optimizer, schedule, data, order, hp, ctx),
        prediction_lines=lambda: data.lines(model, eval_size, ctx.device),  # type: ignore[arg-type]
        vocabularies=[tok.words],
        samples=n,
        schedule=schedule,
        start={"weights": str(weights) if weights else None},
    )
    fingerprint = trainer.input_fingerprint(input_dir, files, tag)
    trainer.fit(run, settings, task, fingerprint, output_dir, events)


def optimizer_and_schedule(
    model: nn.Module, hp: dict[str, Any], steps: int
) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW, its rate warmed up linearly over ``warmup`` of ``steps``, then decayed linearly
    to 0 (fine-tuning, and both stages of ``bench models pretrain``)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(hp["lr"]), eps=1e-8,
                                  weight_decay=float(hp["weight_decay"]))  # fmt: skip
    total = max(1, steps)
    warm = int(float(hp["warmup"]) * total)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(
        (step + 1) / max(warm, 1), max(0.0, (total - step) / max(total - warm, 1))))  # fmt: skip
    return optimizer, schedule


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer,
                schedule: torch.optim.lr_scheduler.LRScheduler, data: CodeToText | CodeSearch,
                order: np.ndarray, hp: dict[str, Any], ctx: trainer.Context) -> float:  # fmt: skip
    """One pass of AdamW steps over ``order`` in batches of ``batch_size``; the mean loss."""
    total, size = 0.0, int(hp["batch_size"])
    for begin in range(0, len(order), size):
        idx = order[begin : begin + size].tolist()
        with ctx.amp():
            losses = data.losses(model, idx, ctx.device)  # type: ignore[arg-type]
        optimizer.zero_grad(set_to_none=True)
        data.batch_loss(losses).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), float(hp["clip"]))
        optimizer.step()
        schedule.step()
        total += float(losses.detach().sum())
    return total / max(len(order), 1)


def parameter_counts(task: str = "code_to_text") -> dict[str, int]:
    """Parameters per profile without weights, with a full ``vocab_size`` vocabulary, the
    model run once on a two-sample batch (for ``bench models list``)."""
    counts = {}
    for profile, hp in DEFAULTS.items():
        torch.manual_seed(0)
        tok = SubtokenTokenizer([f"w{i}" for i in range(int(hp["vocab_size"]) - 4)])
        model = build(task, random_encoder(tok, hp, task), hp, tok, False).eval()
        ids = torch.tensor([[2, 5, 6, 3], [2, 7, 3, 0]])
        with torch.inference_mode():
            if task == "code_to_text":
                out = model.log_probs(model.encode(ids), ids[:, :3])
            else:
                out = model(ids, torch.zeros_like(ids))
        if not torch.isfinite(out).all():
            raise RuntimeError(f"codebert at profile {profile} gives non-finite outputs")
        counts[profile] = sum(p.numel() for p in model.parameters())
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    return trainer.command_line(__doc__, lambda a, events: run(a.input, a.output, events), argv)


if __name__ == "__main__":
    sys.exit(main())
