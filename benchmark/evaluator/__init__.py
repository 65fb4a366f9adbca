"""Turn a model's predictions into the per-sample table, one scorer per task.

Every scorer has the signature `score(labels, predictions) -> pl.DataFrame` and yields a table
with at least `sample_id`, `split`, `epoch`, `noisy`, `loss`, `correct_given` and
`correct_true`, which is what the task-independent run summary relies on.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from benchmark.tasks import code_search, code_to_text, method_name
from benchmark.tasks.var_misuse import scoring as var_misuse

Scorer = Callable[[pl.DataFrame, pl.DataFrame], pl.DataFrame]

_SCORERS: dict[str, Scorer] = {
    "var_misuse": var_misuse.score,
    "method_name": method_name.score,
    "code_to_text": code_to_text.score,
    "code_search": code_search.score,
}


def register_scorer(task: str, scorer: Scorer) -> None:
    """Make a task's scorer available to the harness under its task name."""
    _SCORERS[task] = scorer


def get_scorer(task: str) -> Scorer:
    """Look up a task's scorer; unknown tasks fail loudly rather than scoring with another's."""
    try:
        return _SCORERS[task]
    except KeyError:
        known = ", ".join(sorted(_SCORERS))
        raise ValueError(f"no evaluator for task {task!r} (known: {known})") from None


def score(task: str, labels: pl.DataFrame, predictions: pl.DataFrame) -> pl.DataFrame:
    """Score predictions with the scorer registered for `task`."""
    return get_scorer(task)(labels, predictions)


__all__ = ["Scorer", "get_scorer", "register_scorer", "score", "var_misuse"]
