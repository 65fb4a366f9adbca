"""A toy fifth task, declared outside the suite, as a plugin:
``BENCH_PLUGINS=tests.plugins.toy_task``.

toy_parity: is the number of "1" tokens in a bit string odd? Importing this module registers the
task (its spec, one noise kind, its metric), a dataset built in code, and a model program that
ships beside it, through the harness's public registries only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl

from benchmark.datasets import DatasetSpec, register_dataset
from benchmark.models import ModelSpec, register_model
from benchmark.protocol import SPLITS, ProtocolError, write_task
from benchmark.tasks import NoiseKinds, TaskSpec, lines, register_task
from tests.plugins.toy_task import metrics

TASK = "toy_parity"
DATASET = "toy-bits"
MODEL = "toy-lookup"
REPRESENTATION = "toy-parity-jsonl"
N_SAMPLES, N_BITS = 400, 8


def _split(i: int) -> str:
    return "test" if i % 10 == 0 else "valid" if i % 10 == 1 else "train"


def samples() -> pl.DataFrame:
    """The dataset, the same every time: N_SAMPLES bit strings, a tenth each valid and test."""
    bits = np.random.default_rng(0).integers(0, 2, size=(N_SAMPLES, N_BITS))
    return pl.DataFrame(
        {
            "id": [f"toy-{i:04d}" for i in range(N_SAMPLES)],
            "split": [_split(i) for i in range(N_SAMPLES)],
            "source_tokens": [[str(b) for b in row] for row in bits.tolist()],
            "label": [int(row.sum() % 2) for row in bits],
        }
    )


noise_kind = NoiseKinds()


@noise_kind("label")
def _flip(train: pl.DataFrame, noisy: np.ndarray, seed: int) -> tuple[pl.DataFrame, list[int]]:
    labels = train["label"].to_list()
    return train, [1 - y if n else y for y, n in zip(labels, noisy.tolist(), strict=True)]


def prepare(
    splits: dict[str, pl.DataFrame], noisy: np.ndarray, kind: str, seed: int
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    train, given = noise_kind.of(TASK, kind)(splits["train"], noisy, seed)
    splits = {**splits, "train": train.with_columns(pl.Series("given_label", given))}
    frames = [
        splits[s].select(
            pl.col("id").alias("sample_id"), pl.lit(s).alias("split"),
            pl.Series("noisy", noisy) if s == "train" else pl.lit(False).alias("noisy"),
            pl.col("label").alias("true_label"),
            pl.col("given_label" if s == "train" else "label").alias("given_label"),
        )
        for s in SPLITS
    ]  # fmt: skip
    return splits, pl.concat(frames)


def write_inputs(folder: Path, task: dict, splits: dict[str, pl.DataFrame]) -> None:
    write_task(folder, task, splits, REPRESENTATION)
    for s in SPLITS:
        df = splits[s].select(["id", "source_tokens"] + (["given_label"] if s == "train" else []))
        df.rename({"given_label": "label"}, strict=False).write_ndjson(folder / f"{s}.jsonl")


def _check(r: dict, where: str, extra: object) -> dict:
    if r.get("label") not in (0, 1) or isinstance(r.get("label"), bool):
        raise ProtocolError(f"{where}: 'label' must be 0 or 1")
    if not lines.number(r.get("score")):
        raise ProtocolError(f"{where}: 'score' must be a finite number in [0, 1]")
    return {"label": r["label"], "score": float(r["score"])}


def read_predictions(folder: Path, epochs: int, splits: dict[str, pl.DataFrame]) -> pl.DataFrame:
    schema = {"label": pl.Int64, "score": pl.Float64}
    return lines.read_predictions(folder, epochs, lines.expected_ids(splits), _check, schema)


def score(labels: pl.DataFrame, predictions: pl.DataFrame) -> pl.DataFrame:
    t = predictions.join(labels.drop("split"), on="sample_id", how="inner", validate="m:1")
    return t.with_columns(
        (pl.col("label") == pl.col("given_label")).alias("correct_given"),
        (pl.col("label") == pl.col("true_label")).alias("correct_true"),
        pl.col("score").alias("top_score"),
    ).sort("epoch", "sample_id")


SPEC = register_task(
    TaskSpec(
        name=TASK,
        language="bits",
        representation=REPRESENTATION,
        noise_kinds=noise_kind,
        default_dataset=DATASET,
        metrics=metrics,
        prepare=prepare,
        write_inputs=write_inputs,
        read_predictions=read_predictions,
        score=score,
    )
)
register_dataset(DatasetSpec(DATASET, (TASK,), build=samples))
register_model(
    ModelSpec(MODEL, (TASK,), REPRESENTATION, (sys.executable, "-m", f"{__name__}.model"))
)
