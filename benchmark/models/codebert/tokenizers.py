"""Sub-token vocabularies from the training split, or a pretrained folder's tokenizer."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from benchmark.models.varmisuse import subtokens
from benchmark.trainer import InputError


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
