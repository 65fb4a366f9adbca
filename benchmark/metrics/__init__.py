"""Task metrics behind one small interface, so the run summary is the same for every task.

A task's spec (benchmark.tasks) holds a module (or any object) satisfying `TaskMetrics`: its
metric names, the primary metric used to select the epoch, and an `aggregate` that computes all
metrics per group of the per-sample table in a single group_by.
"""

from __future__ import annotations

from benchmark.tasks import TASKS, TaskMetrics


def get(task: str) -> TaskMetrics:
    """The metrics of `task`; an unknown task is an error, never a silent default."""
    try:
        return TASKS[task].metrics
    except KeyError:
        known = ", ".join(sorted(TASKS))
        raise ValueError(f"no metrics for task {task!r} (known: {known})") from None


def tasks() -> list[str]:
    """Names of the tasks that have metrics."""
    return sorted(TASKS)


__all__ = ["TaskMetrics", "get", "tasks"]
