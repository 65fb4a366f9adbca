"""Method naming (Java): predict a method's name as sub-tokens from its tokens and paths.

Noise on the training split only, over the seeded mask: ``label`` shuffles the names of the
noisy samples among them, each getting another (benchmark.tasks.swaps); ``statement-deletion``
deletes one statement of the body, drawn among the methods that have one; ``name-leakage``
declares a local variable named like the method at the top of its body. Input noise re-derives
the tokens and path contexts by parsing the changed method.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import polars as pl

from benchmark.protocol import LABELLED, SPLITS, present, write_task
from benchmark.tasks import lines
from benchmark.tasks.method_name import metrics
from benchmark.tasks.methods import java_features
from benchmark.tasks.originals import subtoken_counts
from benchmark.tasks.spec import NoiseKinds, TaskSpec
from benchmark.tasks.swaps import swap_labels

LIST = pl.List(pl.String)


def _rng(seed: int, salt: int) -> np.random.Generator:
    return np.random.default_rng([seed, salt])


def _reparse(train: pl.DataFrame, noisy: np.ndarray, seed: int, kind: str) -> pl.DataFrame:
    rng = _rng(seed, 0x73746D74)
    toks, ctxs = train["source_tokens"].to_list(), train["contexts"].to_list()
    for i in np.flatnonzero(noisy).tolist():
        row = train.row(i, named=True)
        code = row["code"].encode()
        if kind == "statement-deletion":
            lo, hi = row["stmt_spans"][int(rng.integers(len(row["stmt_spans"])))]
            code = code[:lo] + code[hi:]
        else:
            at = row["body_start"]
            code = code[:at] + f" Object {row['name']} = null;".encode() + code[at:]
        got = java_features(code.decode("utf-8", "replace"), row["id"])
        if got is not None:
            toks[i], ctxs[i] = got
    return train.with_columns(
        pl.Series("source_tokens", toks, LIST), pl.Series("contexts", ctxs, LIST)
    )


noise_kind = NoiseKinds()
Noised = tuple[pl.DataFrame, list[list[str]]]  # the training split, its given names


@noise_kind("label", version=2)  # 1 drew each a name from the whole split, with replacement
def _label(train: pl.DataFrame, noisy: np.ndarray, seed: int) -> Noised:
    return train, swap_labels(train["label"].to_list(), noisy, _rng(seed, 0x6C61626C))


def _has_statements(train: pl.DataFrame) -> np.ndarray:
    return (train["stmt_spans"].list.len() > 0).to_numpy()


# 1 also masked methods with an empty body, which it left as they were
@noise_kind("statement-deletion", version=2, changes=_has_statements)
def _statement_deletion(train: pl.DataFrame, noisy: np.ndarray, seed: int) -> Noised:
    train = _reparse(train, noisy, seed, "statement-deletion")
    return train, train["label"].to_list()


@noise_kind("name-leakage")
def _name_leakage(train: pl.DataFrame, noisy: np.ndarray, seed: int) -> Noised:
    train = _reparse(train, noisy, seed, "name-leakage")
    return train, train["label"].to_list()


def prepare(
    splits: dict[str, pl.DataFrame], noisy: np.ndarray, kind: str, seed: int
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """Apply the noise to the training split; return the splits and the harness's labels."""
    train, given = noise_kind.of("method_name", kind)(splits["train"], noisy, seed)
    splits = {**splits, "train": train.with_columns(pl.Series("given_label", given, LIST))}
    frames = []
    for s in SPLITS:
        df = splits[s]
        frames.append(df.select(
            pl.col("id").alias("sample_id"), pl.lit(s).alias("split"),
            pl.Series("noisy", noisy) if s == "train" else pl.lit(False).alias("noisy"),
            pl.col("label").alias("true_label"),
            pl.col("given_label" if s == "train" else "label").alias("given_label"),
        ))  # fmt: skip
    return splits, pl.concat(frames)


def write_inputs(folder: Path, task: dict, splits: dict[str, pl.DataFrame]) -> None:
    """task.json and one JSON-lines file per split: tokens, path contexts, train labels."""
    write_task(folder, task, splits, SPEC.representation)
    for s in present(splits):
        cols = ["id", "source_tokens", "contexts"]
        df = splits[s].select(cols + (["given_label"] if s in LABELLED else []))
        df.rename({"given_label": "label"}, strict=False).write_ndjson(folder / f"{s}.jsonl")


def epoch_reader(splits: dict[str, pl.DataFrame]) -> lines.EpochReader:
    """Reads one epoch file, checked against the samples the harness wrote."""
    return partial(lines.token_epoch, expected=lines.expected_ids(splits), field="subtokens",
                   limit=64)  # fmt: skip


read_predictions = lines.all_epochs(epoch_reader)


JUDGED: dict[str, pl.DataType] = {
    name: dtype for side in ("given", "true") for name, dtype in (
        (f"tp_{side}", pl.Int64()), (f"fp_{side}", pl.Int64()), (f"fn_{side}", pl.Int64()),
        (f"correct_{side}", pl.Boolean()))
}  # fmt: skip


def _judge(t: pl.DataFrame) -> dict[str, list]:
    cols: dict[str, list] = {}
    pred = t["subtokens"].to_list()
    for side in ("given", "true"):
        counts = [subtoken_counts(y, p) for y, p in zip(t[f"{side}_label"].to_list(), pred,
                                                         strict=True)]  # fmt: skip
        for k, name in enumerate(("tp", "fp", "fn")):
            cols[f"{name}_{side}"] = [c[k] for c in counts]
        cols[f"correct_{side}"] = [c[3] for c in counts]
    return cols


def score(labels: pl.DataFrame, predictions: pl.DataFrame) -> pl.DataFrame:
    """Per (sample, epoch): code2seq's tp/fp/fn and exact match against both label sides."""
    t = predictions.join(labels.drop("split"), on="sample_id", how="inner", validate="m:1")
    return (
        t.with_columns(lines.judge_rows(t, _judge, JUDGED))
        .with_columns(pl.col("score").alias("top_score"))
        .sort("epoch", "sample_id")
    )


SPEC = TaskSpec(
    name="method_name",
    language="java",
    representation="method-name-jsonl",
    noise_kinds=noise_kind,
    default_dataset="jdk",
    metrics=metrics,
    prepare=prepare,
    write_inputs=write_inputs,
    read_predictions=read_predictions,
    epoch_reader=epoch_reader,
    score=score,
    label_text="given_label",
)
