"""Turn a model's predictions into the per-sample table with the scorer of the task's spec.

Every scorer has the signature `score(labels, predictions) -> pl.DataFrame` and yields a table
with at least `sample_id`, `split`, `epoch`, `noisy`, `loss`, `correct_given` and
`correct_true`, which is what the task-independent run summary relies on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl

from benchmark.tasks import TASKS
from benchmark.tasks.lines import EpochReader

Scorer = Callable[[pl.DataFrame, pl.DataFrame], pl.DataFrame]


def get_scorer(task: str) -> Scorer:
    """The scorer of the task's spec; unknown tasks fail loudly rather than scoring with
    another's."""
    try:
        return TASKS[task].score
    except KeyError:
        known = ", ".join(sorted(TASKS))
        raise ValueError(f"no evaluator for task {task!r} (known: {known})") from None


def score(task: str, labels: pl.DataFrame, predictions: pl.DataFrame) -> pl.DataFrame:
    """Score predictions with the scorer of `task`."""
    return get_scorer(task)(labels, predictions)


def scored(task: str, labels: pl.DataFrame, reader: EpochReader) -> EpochReader:
    """An epoch reader whose rows come out scored. Every scorer judges each (sample, epoch)
    row on its own and sorts by epoch first, so the epochs' tables, in order, are the table
    that scoring all epochs at once gives."""
    scorer = get_scorer(task)

    def read(path: Path, epoch: int) -> pl.DataFrame:
        return scorer(labels, reader(path, epoch))

    return read


__all__ = ["Scorer", "get_scorer", "score", "scored"]
