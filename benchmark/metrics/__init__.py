"""Task metrics behind one small interface, so the run summary is the same for every task.

A task provides a module (or any object) satisfying `TaskMetrics`: its metric names, the
primary metric used to select the epoch (higher is better), and an `aggregate` that computes all
metrics per group of the per-sample table in a single group_by. Method naming (F1), BLEU- or
MRR-scored tasks register theirs with `register` under their task name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import polars as pl

from benchmark.tasks.code_search import metrics as code_search
from benchmark.tasks.code_to_text import metrics as code_to_text
from benchmark.tasks.method_name import metrics as method_name
from benchmark.tasks.var_misuse import metrics as var_misuse


class TaskMetrics(Protocol):
    """What the run summary needs from a task's metric module."""

    NAME: str
    PRIMARY: str
    METRICS: tuple[str, ...]

    def aggregate(
        self, table: pl.DataFrame | pl.LazyFrame, side: str, by: Sequence[str] = ...
    ) -> pl.LazyFrame:
        """Columns `by` plus one per name in METRICS (None where a group has nothing to
        average), against the labels of `side` ("given" or "true")."""
        ...


_REGISTRY: dict[str, TaskMetrics] = {
    m.NAME: m for m in (var_misuse, method_name, code_to_text, code_search)
}


def register(metrics: TaskMetrics) -> None:
    """Make a task's metrics available under `metrics.NAME`."""
    if metrics.PRIMARY not in metrics.METRICS:
        raise ValueError(f"primary metric {metrics.PRIMARY!r} is not one of {metrics.METRICS}")
    _REGISTRY[metrics.NAME] = metrics


def get(task: str) -> TaskMetrics:
    """The metrics of `task`; an unknown task is an error, never a silent default."""
    try:
        return _REGISTRY[task]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ValueError(f"no metrics for task {task!r} (known: {known})") from None


def tasks() -> list[str]:
    """Names of the tasks that have metrics."""
    return sorted(_REGISTRY)


__all__ = ["TaskMetrics", "get", "register", "tasks", "var_misuse"]
