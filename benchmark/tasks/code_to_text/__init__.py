"""Code to text (Ruby): generate the docstring's first sentence from the method's tokens.

Noise on the training split only: ``label`` swaps the docstrings among the noisy samples, each
getting another (benchmark.tasks.swaps); ``token-masking`` replaces every code token equal
(case-insensitively) to a content word of the docstring with ``<mask>``, drawn among the
methods that have one.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import polars as pl

from benchmark.protocol import LABELLED, SPLITS, present, write_task
from benchmark.tasks import lines
from benchmark.tasks.code_to_text import metrics
from benchmark.tasks.originals import SentenceBleu
from benchmark.tasks.spec import NoiseKinds, TaskSpec
from benchmark.tasks.swaps import swap_labels

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


noise_kind = NoiseKinds()
Noised = tuple[pl.DataFrame, list[list[str]]]  # the training split, its given docstrings


# 1 rotated the docstrings of the noisy samples, which gave a sample its own where two shared
# one, and the only noisy sample of a low rate always
@noise_kind("label", version=2)
def _label(train: pl.DataFrame, noisy: np.ndarray, seed: int) -> Noised:
    rng = np.random.default_rng([seed, 0x73776170])
    return train, swap_labels(train["doc_tokens"].to_list(), noisy, rng)


def _masked(tokens: list[str], doc: list[str]) -> list[str]:
    words = content_words(doc)
    return [MASK if t.lower() in words else t for t in tokens]


def _has_words_to_mask(train: pl.DataFrame) -> np.ndarray:
    """The methods whose code holds a content word of their docstring: the others would stay
    as they are (about 2 in 5 of the Ruby standard library's)."""
    docs, toks = train["doc_tokens"].to_list(), train["source_tokens"].to_list()
    return np.array([_masked(t, d) != t for t, d in zip(toks, docs, strict=True)], dtype=bool)


# 1 also masked methods with no such word, which it left as they were
@noise_kind("token-masking", version=2, changes=_has_words_to_mask)
def _token_masking(train: pl.DataFrame, noisy: np.ndarray, seed: int) -> Noised:
    docs = train["doc_tokens"].to_list()
    toks = train["source_tokens"].to_list()
    for i in np.flatnonzero(noisy).tolist():
        toks[i] = _masked(toks[i], docs[i])
    return train.with_columns(pl.Series("source_tokens", toks, LIST)), list(docs)


def prepare(
    splits: dict[str, pl.DataFrame], noisy: np.ndarray, kind: str, seed: int
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """Apply the noise to the training split; return the splits and the harness's labels."""
    train, given = noise_kind.of("code_to_text", kind)(splits["train"], noisy, seed)
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
    """task.json and one JSON-lines file per split: code tokens, train (and holdout)
    docstrings."""
    write_task(folder, task, splits, SPEC.representation)
    for s in present(splits):
        given = ["given_doc"] if s in LABELLED else []
        df = splits[s].select(["id", "source_tokens", *given])
        df.rename({"given_doc": "doc_tokens"}, strict=False).write_ndjson(folder / f"{s}.jsonl")


def epoch_reader(splits: dict[str, pl.DataFrame]) -> lines.EpochReader:
    """Reads one epoch file, checked against the samples the harness wrote."""
    return partial(lines.token_epoch, expected=lines.expected_ids(splits), field="tokens",
                   limit=256)  # fmt: skip


read_predictions = lines.all_epochs(epoch_reader)


JUDGED: dict[str, pl.DataType] = {
    name: dtype for side in ("given", "true")
    for name, dtype in ((f"bleu_{side}", pl.Float64()), (f"correct_{side}", pl.Boolean()))
}  # fmt: skip


def score(labels: pl.DataFrame, predictions: pl.DataFrame) -> pl.DataFrame:
    """Per (sample, epoch): smoothed BLEU-4 and exact match against both label sides."""
    t = predictions.join(labels.drop("split"), on="sample_id", how="inner", validate="m:1")
    scorer = SentenceBleu()  # each docstring split once, each prediction once a row

    def judge(part: pl.DataFrame) -> dict[str, list]:
        rows = [(scorer(g, p), scorer(y, p)) for g, y, p in
                zip(part["given_doc"].to_list(), part["true_doc"].to_list(),
                    part["tokens"].to_list(), strict=True)]  # fmt: skip
        cols: dict[str, list] = {}
        for k, side in enumerate(("given", "true")):
            cols[f"bleu_{side}"] = [r[k][0] for r in rows]
            cols[f"correct_{side}"] = [r[k][1] for r in rows]
        return cols

    return (
        t.with_columns(lines.judge_rows(t, judge, JUDGED))
        .with_columns(pl.col("score").alias("top_score"))
        .sort("epoch", "sample_id")
    )


SPEC = TaskSpec(
    name="code_to_text",
    language="ruby",
    representation="code-to-text-jsonl",
    noise_kinds=noise_kind,
    # ruby-debian, not ruby-stdlib: trained on ruby-stdlib's 1,886 methods, codebert at
    # --profile cpu scores within the floor's interval (docs/findings.md).
    default_dataset="ruby-debian",
    metrics=metrics,
    prepare=prepare,
    write_inputs=write_inputs,
    read_predictions=read_predictions,
    epoch_reader=epoch_reader,
    score=score,
    label_text="given_doc",
)
