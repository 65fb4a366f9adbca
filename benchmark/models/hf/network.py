"""One module around a checkpoint's backbone for every family and task: the states of a
sequence, a pooled pair vector, each target token's log-probability (teacher forced) and
greedy generation. Its state dict holds only what trains, so a checkpoint of a frozen or LoRA
run is the head and the adapters, not a copy of the backbone."""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.models import odds
from benchmark.models.codebert.data import pad as padded
from benchmark.models.hf import families
from benchmark.models.hf.config import GENERATION
from benchmark.models.hf.heads import PairHead, TextDecoder
from benchmark.models.hf.tokens import Words
from benchmark.models.packed import GraphBatch
from benchmark.models.varmisuse import PointerHead, Pointers
from benchmark.trainer import InputError, end_check_every, to_device, to_host


@functools.cache
def cache_name() -> str:
    """What the installed transformers calls the key/value cache, in a forward's arguments and
    its output: ``cache`` since 5.x (which warns of ``past_key_values``, to go in 5.40),
    ``past_key_values`` before."""
    from transformers.modeling_outputs import CausalLMOutputWithPast

    return "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"


def pad(seqs: Sequence[Sequence[int]], value: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Right-padded ids (codebert's ``pad``) and their attention mask."""
    ids = padded(seqs, value, device)
    lengths = torch.tensor([len(s) for s in seqs])
    return ids, to_device((torch.arange(ids.shape[1]) < lengths[:, None]).long(), device)


class Network(nn.Module):
    def __init__(self, loaded: families.Loaded, words: Words, task: str, hp: dict[str, Any]
                 ) -> None:  # fmt: skip
        super().__init__()
        self.family, self.words, self.task = loaded.family, words, task
        mode = hp["finetune"]
        if task in GENERATION and self.family != "encoder" and loaded.output_missing and \
                mode == "lora":  # fmt: skip
            raise InputError("weights: the checkpoint holds no output layer (a language-model "
                             "head), so LoRA would generate through random frozen weights; "
                             "use --finetune full or head, which train it")  # fmt: skip
        # var_misuse and code_search read states alone: an encoder-decoder's encoder and a
        # causal model's body, so that no unused decoder or output layer is trained or counted
        self.backbone = loaded.backbone
        if task not in GENERATION and self.family != "encoder":
            self.backbone = (loaded.backbone.get_encoder() if self.family == "seq2seq"
                             else loaded.backbone.base_model)  # fmt: skip
        hidden, dropout = families.hidden_size(self.backbone), float(hp["dropout"])
        self.limit = families.positions(self.backbone)
        self.start_id = words.cls
        if self.family == "seq2seq":
            start = getattr(self.backbone.config, "decoder_start_token_id", None)
            self.start_id = words.pad if start is None else int(start)
        self.overlap: nn.Embedding | None = None
        if task == "code_search":
            self.pair_head = PairHead(hidden, dropout)
            if int(hp["overlap"]):  # codebert's exact-match feature, zero at the start
                width = families.embedding_size(self.backbone)
                self.overlap = nn.Embedding(int(hp["overlap"]) + 1, width)
                nn.init.zeros_(self.overlap.weight)
        elif task in GENERATION and self.family == "encoder":
            heads, width = families.attention_heads(self.backbone), families.embedding_size(
                self.backbone)  # fmt: skip
            self.decoder = TextDecoder(self.backbone.get_input_embeddings(),
                                       int(hp["decoder_layers"]), heads if width % heads == 0
                                       else 1, dropout, int(hp["max_target"]) + 1,
                                       hidden)  # fmt: skip
        elif task == "var_misuse":  # GREAT's two pointers over each token's pointer sub-word
            self.pointer_head = PointerHead(hidden)
            self.pointer_dropout = nn.Dropout(dropout)
            self.beyond = nn.Parameter(torch.zeros(hidden))  # a token past the input's end
        if mode == "lora":
            self.backbone = families.lora(self.backbone, hp)
        elif mode == "head":
            families.freeze(self.backbone, task in GENERATION and self.family != "encoder")
        # A causal model without position ids re-reads its source and prefix at each step
        self.cached = self.family != "causal" or families.takes_positions(self.backbone)
        self.trained = {n for n, p in self.named_parameters(remove_duplicate=False)
                        if p.requires_grad}  # fmt: skip
        if not self.trained:
            raise InputError(f"finetune {mode!r} leaves nothing to train for {task}")

    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    # What a checkpoint holds: the trained parameters only (the rest is the weights folder's).
    def state_dict(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        full = super().state_dict(*args, **kwargs)
        prefix = kwargs.get("prefix", "")
        return OrderedDict((k, v) for k, v in full.items() if k[len(prefix) :] in self.trained)

    def load_state_dict(self, state: Any, strict: bool = True, assign: bool = False) -> Any:
        result = super().load_state_dict(state, strict=False, assign=assign)
        missing = [k for k in result.missing_keys if k in self.trained]
        if strict and (missing or result.unexpected_keys):
            raise InputError(f"the checkpoint does not fit the model (missing {missing[:3]}, "
                             f"unexpected {result.unexpected_keys[:3]})")  # fmt: skip
        return result

    # -- sequences as the family wants them
    def source(self, ids: list[int]) -> list[int]:
        """The code (or a pair) as the backbone reads it; a causal model's ends with the
        separator after which the target is written."""
        w = self.words
        if self.family == "encoder":
            return [w.cls, *ids, w.sep]
        return [*([w.bos] if w.bos is not None else []), *ids, w.eos]

    def pair(self, query: list[int], code: list[int], filler: int | None = None) -> list[int]:
        """The pair as the family reads it; with ``filler``, that in place of each special
        token (to lay out a value per position alongside the ids)."""
        w = self.words
        cls, sep, bos, eos = (w.cls, w.sep, w.bos, w.eos) if filler is None else (
            filler, filler, None if w.bos is None else filler, filler)  # fmt: skip
        if self.family == "encoder":
            return [cls, *query, sep, *code, sep]
        return [*([bos] if bos is not None else []), *query, sep, *code, eos]

    def states(self, ids: Tensor, mask: Tensor, extra: Tensor | None = None,
               segments: Tensor | None = None) -> Tensor:  # fmt: skip
        """The last layer's states; ``extra`` is added to the word embeddings' output, where
        the model itself goes on (Pegasus and Marian scale it after the lookup, which
        ``inputs_embeds`` would skip); ``segments``: BERT's token types, where it has them."""
        reader = self.backbone
        if self.family == "seq2seq" and self.task in GENERATION:
            reader = self.backbone.get_encoder()
        hook = None
        if extra is not None:
            hook = self.backbone.get_input_embeddings().register_forward_hook(
                lambda _module, _args, out: out + extra.to(out.dtype))  # fmt: skip
        try:
            types = {} if segments is None else {"token_type_ids": segments}
            return reader(input_ids=ids, attention_mask=mask, **types).last_hidden_state
        finally:
            if hook is not None:
                hook.remove()

    def pair_logits(self, pairs: list[tuple[list[int], list[int]]], device: torch.device
                    ) -> Tensor:  # fmt: skip
        """(no match, match) logits of each pair (its ids and overlap levels): from the first
        state (encoder), the mean of the encoder's states (seq2seq) or the last token's state
        (causal)."""
        ids, mask = pad([p[0] for p in pairs], self.words.pad, device)
        extra = None
        if self.overlap is not None:
            extra = self.overlap(pad([p[1] for p in pairs], 0, device)[0])
        h = self.states(ids, mask, extra, self.segments(ids, mask))
        if self.family == "encoder":
            pooled = h[:, 0]
        elif self.family == "seq2seq":
            m = mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * m).sum(1) / m.sum(1).clamp_min(1)
        else:
            pooled = h[torch.arange(len(pairs), device=device), mask.sum(1) - 1]
        return self.pair_head(pooled.float())

    def segments(self, ids: Tensor, mask: Tensor) -> Tensor | None:
        """A pair's token types for an encoder that has two (BERT, ELECTRA): 0 up to the first
        separator, 1 after it, as BERT was trained on sentence pairs; None for the others
        (RoBERTa has one type)."""
        if self.family != "encoder" or getattr(self.backbone.config, "type_vocab_size", 1) < 2:
            return None
        first = (ids == self.words.sep).int().argmax(1, keepdim=True)
        after = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0) > first
        return after.long() * mask

    def pointers(self, functions: Sequence[tuple[list[int], list[int]]], batch: GraphBatch,
                 device: torch.device) -> Pointers:  # fmt: skip
        """var_misuse: the location and repair pointers over a batch of functions (a
        packed.GraphBatch of their pointer positions), each function its ids (as ``source``
        wraps them) and the position of each of its tokens' pointer sub-word there (-1: past
        the input's end, where the token's state is a learned vector)."""
        ids, mask = pad([f[0] for f in functions], self.words.pad, device)
        h = self.states(ids, mask).float()
        at = to_device(torch.tensor([p for f in functions for p in f[1]], dtype=torch.long),
                       device)  # fmt: skip
        # A function has one entry of ``at`` per token, so each entry's function is the
        # batch's node-to-function map.
        states = h[batch.batch, at.clamp_min(0)]
        states = torch.where((at >= 0).unsqueeze(-1), states, self.beyond.float())
        return self.pointer_head(self.pointer_dropout(states), batch)

    # -- generation
    def encode(self, sources: list[list[int]], device: torch.device) -> Any:
        """What every decoding step reuses: the source's states (encoder, seq2seq), or the
        sources themselves (causal: the target continues them)."""
        if self.family == "causal":
            return sources
        ids, mask = pad(sources, self.words.pad, device)
        return self.states(ids, mask), mask

    def next_logits(self, memory: Any, inputs: list[list[int]], device: torch.device) -> Tensor:
        """Logits (B, T + 1, V) of the token after the start and after each of ``inputs``
        (all of one length T)."""
        if self.family == "causal":
            seqs = [[*s, *x] for s, x in zip(memory, inputs, strict=True)]
            ids, mask = pad(seqs, self.words.pad, device)
            logits = self.backbone(input_ids=ids, attention_mask=mask).logits
            at = torch.tensor([[len(s) - 1 + k for k in range(len(inputs[0]) + 1)]
                               for s in memory], device=device)  # fmt: skip
            return logits.gather(1, at.unsqueeze(-1).expand(-1, -1, logits.shape[-1]))
        states, mask = memory
        dec, _ = pad([[self.start_id, *x] for x in inputs], self.words.pad, device)
        if self.family == "encoder":
            return self.decoder(states, mask, dec)
        from transformers.modeling_outputs import BaseModelOutput

        return self.backbone(encoder_outputs=BaseModelOutput(last_hidden_state=states),
                             attention_mask=mask, decoder_input_ids=dec).logits  # fmt: skip

    def token_log_probs(self, sources: list[list[int]], targets: list[list[int]],
                        device: torch.device, log_odds: bool = False, memory: Any = None
                        ) -> tuple[Tensor, ...]:  # fmt: skip
        """Each target token's log-probability given the source and the tokens before it
        (B, T), and the mask of real tokens; with ``log_odds``, also each target's log-odds of
        its geometric mean probability from the same logits (odds.of_sequence), for the
        prediction lines' ``logit_given``. ``memory``: ``encode``'s of the sources, if made."""
        width = max(len(t) for t in targets)
        padded = [[*t, *[self.words.pad] * (width - len(t))] for t in targets]
        memory = self.encode(sources, device) if memory is None else memory
        logits = self.next_logits(memory, [t[:-1] for t in padded], device)
        logits = logits.float()
        target, mask = pad(targets, self.words.pad, device)
        lp = F.log_softmax(logits, -1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
        out = (lp * mask, mask)
        if not log_odds:
            return out
        return *out, odds.of_sequence(logits, target, mask.bool())

    def greedy(self, sources: list[list[int]], max_len: int, device: torch.device,
               memory: Any = None) -> list[tuple[list[int], float]]:  # fmt: skip
        """Each source's greedy continuation up to its end token or ``max_len`` tokens, and
        the mean log-probability of its tokens (``memory``: ``encode``'s of the sources, if
        made). The tokens stay on the device until the end, which is asked for every
        ``end_check_every`` steps (on a GPU each question waits for it); steps past a row's end
        change nothing that is returned."""
        eos, every = self.words.eos, end_check_every(device)
        memory = self.encode(sources, device) if memory is None else memory
        logits, state = self.first_step(sources, memory, device)
        steps: list[tuple[Tensor, Tensor]] = []
        ended = torch.zeros(len(sources), dtype=torch.bool, device=device)
        for step in range(max_len):
            best, ids = F.log_softmax(logits.float(), -1).max(-1)
            steps.append((ids, best))
            ended |= ids == eos
            if step + 1 == max_len or ((step + 1) % every == 0 and bool(ended.all())):
                break
            logits, state = self.next_step(state, ids, step)
        tokens, logps = to_host(torch.stack([ids for ids, _ in steps], 1),
                                torch.stack([lp for _, lp in steps], 1))  # fmt: skip
        out = []
        for prefix, lps in zip(tokens, logps, strict=True):
            end = prefix.index(eos) + 1 if eos in prefix else len(prefix)
            total = 0.0
            for p in lps[:end]:  # in order, as the sum was made token by token
                total += p
            out.append((prefix[:end], total / max(end, 1)))
        return out

    def first_step(self, sources: list[list[int]], memory: Any, device: torch.device
                   ) -> tuple[Tensor, Any]:  # fmt: skip
        """The logits (B, V) of each source's first generated token, and what the next steps
        reuse: the key/value cache of the backbone (causal, seq2seq) or of an encoder's
        TextDecoder, so that a step reads only the token it adds (a causal model without
        position ids re-reads its source and prefix, right-padded, as in training)."""
        if not self.cached:
            return self.next_logits(sources, [[] for _ in sources], device)[:, 0], (sources, None)
        if self.family == "causal":
            # Left-padded, so that every row's next token goes at the end; the positions count
            # real tokens only, as they do in training's right-padded rows.
            width = max(len(s) for s in sources)
            ids = padded([[self.words.pad] * (width - len(s)) + s for s in sources],
                         self.words.pad, device)  # fmt: skip
            mask = to_device(torch.tensor([[0] * (width - len(s)) + [1] * len(s)
                                           for s in sources]), device)  # fmt: skip
            positions = (mask.cumsum(1) - 1).clamp_min(0)
            out = self.backbone(input_ids=ids, attention_mask=mask, position_ids=positions,
                                use_cache=True)  # fmt: skip
            return out.logits[:, -1], (getattr(out, cache_name()), mask, positions[:, -1])
        states, mask = memory
        start = torch.full((len(sources), 1), self.start_id, dtype=torch.long, device=device)
        if self.family == "encoder":
            logits, cache = self.decoder.step(states, mask, start, None)
            return logits, (states, mask, start, cache)
        from transformers.modeling_outputs import BaseModelOutput

        memory = BaseModelOutput(last_hidden_state=states)
        out = self.backbone(encoder_outputs=memory, attention_mask=mask,
                            decoder_input_ids=start, use_cache=True)  # fmt: skip
        return out.logits[:, -1], (getattr(out, cache_name()), memory, mask)

    def next_step(self, state: Any, ids: Tensor, step: int) -> tuple[Tensor, Any]:
        """The logits (B, V) of the token after ``ids`` (B), the ``step``-th generated, and the
        state for the next step."""
        if not self.cached:
            sources, prefix = state
            prefix = ids[:, None] if prefix is None else torch.cat([prefix, ids[:, None]], 1)
            logits = self.next_logits(sources, prefix.tolist(), prefix.device)[:, -1]
            return logits, (sources, prefix)
        if self.family == "causal":
            past, mask, last = state
            mask = torch.cat([mask, mask.new_ones(len(ids), 1)], 1)
            at = last + step + 1
            out = self.backbone(input_ids=ids[:, None], attention_mask=mask,
                                position_ids=at[:, None], use_cache=True,
                                **{cache_name(): past})  # fmt: skip
            return out.logits[:, -1], (getattr(out, cache_name()), mask, last)
        if self.family == "encoder":
            states, mask, prefix, cache = state
            prefix = torch.cat([prefix, ids[:, None]], 1)
            logits, cache = self.decoder.step(states, mask, prefix, cache)
            return logits, (states, mask, prefix, cache)
        past, memory, mask = state
        out = self.backbone(encoder_outputs=memory, attention_mask=mask,
                            decoder_input_ids=ids[:, None], use_cache=True,
                            **{cache_name(): past})  # fmt: skip
        return out.logits[:, -1], (getattr(out, cache_name()), memory, mask)
