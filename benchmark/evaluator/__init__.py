"""Turn a model's predictions into the per-sample table with the scorer of the task's spec.

Every scorer has the signature `score(labels, predictions) -> pl.DataFrame` and yields a table
with at least `sample_id`, `split`, `epoch`, `noisy`, `loss`, `correct_given` and
`correct_true`, which is what the task-independent run summary relies on.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from benchmark.tasks import TASKS

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


__all__ = ["Scorer", "get_scorer", "score"]
