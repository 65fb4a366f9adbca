"""The harness's per-task data hooks, now the task's spec (benchmark.tasks.spec)."""

from __future__ import annotations

from benchmark.tasks import TASKS
from benchmark.tasks.spec import TaskSpec


def task_hooks(task: str) -> TaskSpec:
    """The task's spec: its prepare, write_inputs, read_predictions (and the rest)."""
    return TASKS[task]
