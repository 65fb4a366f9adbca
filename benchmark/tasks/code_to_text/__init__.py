"""Code to text (Ruby): generate the docstring's first sentence from the method's tokens.

Noise on the training split only: ``label`` swaps the docstrings among the noisy samples (a
seeded rotation, so each gets another's); ``token-masking`` replaces every code token equal
(case-insensitively) to a content word of the docstring with ``<mask>``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from benchmark.protocol import SPLITS, write_task
from benchmark.tasks import lines
from benchmark.tasks.originals import sentence_bleu, split_puncts

NOISE_KINDS = ("label", "token-masking")
LIST = pl.List(pl.String)
MASK = "<mask>"
STOPWORDS = frozenset(
    [
        "the",
        "a",
        "an",
        "of",
        "to",
        "in",
        "and",
        "or",
        "for",
        "is",
        "are",
        "be",
        "by",
        "with",
        "this",
        "that",
        "it",
        "its",
        "if",
        "on",
        "as",
        "at",
        "from",
        "returns",
        "return",
        "given",
        "new",
        "self",
        "true",
        "false",
        "nil",
    ]
)


def content_words(doc: list[str]) -> set[str]:
    """Lower-cased docstring words worth masking: letters only, 3+ long, not stopwords."""
    return {w.lower() for w in doc if w.isalpha() and len(w) >= 3} - STOPWORDS


def prepare(
    splits: dict[str, pl.DataFrame], noisy: np.ndarray, kind: str, seed: int
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """Apply the noise to the training split; return the splits and the harness's labels."""
    train = splits["train"]
    docs = train["doc_tokens"].to_list()
    given = list(docs)
    idx = np.flatnonzero(noisy)
    if kind == "label":
        order = np.random.default_rng([seed, 0x73776170]).permutation(idx)
        for a, b in zip(order.tolist(), np.roll(order, 1).tolist(), strict=True):
            given[a] = docs[b]
    elif kind == "token-masking":
        toks = train["source_tokens"].to_list()
        for i in idx.tolist():
            words = content_words(docs[i])
            toks[i] = [MASK if t.lower() in words else t for t in toks[i]]
        train = train.with_columns(pl.Series("source_tokens", toks, LIST))
    else:
        raise ValueError(f"code_to_text has no noise kind {kind!r}")
    splits = {**splits, "train": train.with_columns(pl.Series("given_doc", given, LIST))}
    frames = [
        splits[s].select(
            pl.col("id").alias("sample_id"), pl.lit(s).alias("split"),
            pl.Series("noisy", noisy) if s == "train" else pl.lit(False).alias("noisy"),
            pl.col("doc_tokens").alias("true_doc"),
            pl.col("given_doc" if s == "train" else "doc_tokens").alias("given_doc"),
        )
        for s in SPLITS
    ]  # fmt: skip
    return splits, pl.concat(frames)


def write_inputs(folder: Path, task: dict, splits: dict[str, pl.DataFrame]) -> None:
    """task.json and one JSON-lines file per split: code tokens, train docstrings."""
    write_task(folder, task, splits, "code-to-text-jsonl")
    for s in SPLITS:
        df = splits[s].select(["id", "source_tokens"] + (["given_doc"] if s == "train" else []))
        df.rename({"given_doc": "doc_tokens"}, strict=False).write_ndjson(folder / f"{s}.jsonl")


def read_predictions(folder: Path, epochs: int, splits: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Every epoch's predictions, checked against the samples the harness wrote."""
    return lines.read_token_predictions(folder, epochs, splits, "tokens", 256)


def score(labels: pl.DataFrame, predictions: pl.DataFrame) -> pl.DataFrame:
    """Per (sample, epoch): smoothed BLEU-4 and exact match against both label sides."""
    t = predictions.join(labels.drop("split"), on="sample_id", how="inner", validate="m:1")
    pred = t["tokens"].to_list()
    cols: dict[str, list] = {}
    for side in ("given", "true"):
        refs = t[f"{side}_doc"].to_list()
        cols[f"bleu_{side}"] = [sentence_bleu(y, p) for y, p in zip(refs, pred, strict=True)]
        cols[f"correct_{side}"] = [
            split_puncts(" ".join(y)) == split_puncts(" ".join(p))
            for y, p in zip(refs, pred, strict=True)
        ]
    return (
        t.with_columns(pl.DataFrame(cols))
        .with_columns(pl.col("score").alias("top_score"))
        .sort("epoch", "sample_id")
    )
