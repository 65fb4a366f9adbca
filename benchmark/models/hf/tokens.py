"""The samples' word tokens as the checkpoint's sub-words, and the special ids each family
wraps them with."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmark.trainer import InputError

MAX_PIECES = 8  # sub-words kept of one token (a long literal would fill the input)


class Words:
    """Sub-word ids of word tokens, each word encoded once (as it would follow a space, as in
    running text) and cached; the special ids with fallbacks (BERT has no bos, T5 no bos nor
    cls, GPT-2 no pad)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tok = tokenizer
        self.cache: dict[str, list[int]] = {}
        t = tokenizer
        self.eos = first(t.eos_token_id, t.sep_token_id, t.pad_token_id)
        if self.eos is None:  # id 0 stood in, often <unk>: every unknown word ended the text
            raise InputError("weights: the tokenizer names no end token (eos_token, sep_token "
                             "or pad_token); set one in its tokenizer_config.json")  # fmt: skip
        self.bos = first(t.bos_token_id, t.cls_token_id)  # None: the family has none
        self.cls = first(t.cls_token_id, t.bos_token_id, self.eos)
        self.sep = first(t.sep_token_id, self.eos)
        self.pad = first(t.pad_token_id, self.eos)
        self.unk = first(t.unk_token_id, self.eos)  # a word that encodes to no sub-word
        self.specials = {i for i in (self.eos, self.bos, self.cls, self.sep, self.pad)
                         if i is not None}  # fmt: skip

    def __len__(self) -> int:
        return len(self.tok)

    def word(self, w: str) -> list[int]:
        ids = self.cache.get(w)
        if ids is None:
            ids = list(self.tok.encode(" " + w, add_special_tokens=False))
            if self._bare_space(ids):
                # a tokenizer that puts its own space before a text (SentencePiece's "▁")
                # made the space a piece of its own: the word as it stands, without a lone
                # space piece before it (a punctuation mark has no "▁(" of its own)
                ids = list(self.tok.encode(w, add_special_tokens=False)) or ids
                ids = ids[1:] if self._bare_space(ids) else ids
            ids = ids[:MAX_PIECES]
            self.cache[w] = ids
        return ids

    def _bare_space(self, ids: list[int]) -> bool:
        return len(ids) > 1 and not self.tok.decode(ids[:1]).strip()

    def ids(self, words: Sequence[str], limit: int) -> list[int]:
        out: list[int] = []
        for w in words:
            out.extend(self.word(w))
            if len(out) >= limit:
                break
        return out[:limit]

    def decode(self, ids: Sequence[int]) -> list[str]:
        """Generated ids as word tokens: the tokenizer's text, split at white space."""
        kept = [i for i in ids if i not in self.specials]
        return self.tok.decode(kept, skip_special_tokens=True).split()


class SubtokenVocabulary:
    """A ``bench models pretrain`` folder's tokenizer: its sub-token vocabulary (subtokens.json,
    read as codebert reads it), behind the few members of a Hugging Face tokenizer that Words
    uses, so that such a folder loads as ``hf`` as well."""

    def __init__(self, path: Path) -> None:
        from benchmark.models.codebert.tokenizers import SubtokenTokenizer

        self.vocab = SubtokenTokenizer.read(path)
        v = self.vocab
        self.pad_token_id, self.unk_token_id = v.pad_id, v.unk_id
        self.cls_token_id = self.bos_token_id = v.cls_id
        self.sep_token_id = self.eos_token_id = v.sep_id

    def __len__(self) -> int:
        return len(self.vocab)

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [i for w in text.split() for i in self.vocab.code([[w]])[0]]

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        return " ".join(self.vocab.decode(list(ids)))


def first(*values: int | None) -> Any:
    return next((v for v in values if v is not None), None)
