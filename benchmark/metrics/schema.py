"""The run-level metrics that reach the leaderboard: each declared once, here.

The leaderboard's rows, its CSV/JSON/Markdown exports, the terminal table, the published site
and `bench report` iterate over ``RUN_METRICS``; a metric declared with ``register`` (by the
suite or by a plugin) appears in all of them with no other edit. ``value`` reads it from one
unit's metrics.json; a board row holds its mean over the model's units (over those with noise
only, where the metric means nothing at noise 0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmark.numbers import finite

# Version of metrics.json's layout; written into every metrics.json as ``schema``.
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class RunMetric:
    key: str  # the field of a leaderboard row, and its CSV/JSON column
    title: str  # in sentences and on a run's page
    column: str  # a table's column heading
    higher_is_better: bool
    description: str
    value: Callable[[dict[str, Any]], Any]  # from one unit's metrics.json
    noisy_only: bool = True  # averaged over the units with noise > 0 only
    in_report: bool = True  # a column of `bench report`'s run table

    def of(self, metrics: dict[str, Any]) -> float | None:
        """The metric of one unit, or None where it is missing or not a finite number."""
        try:
            v = self.value(metrics)
        except (KeyError, TypeError, AttributeError, ValueError, ZeroDivisionError):
            return None
        return finite(v)


RUN_METRICS: list[RunMetric] = []


def register(metric: RunMetric) -> RunMetric:
    """Declare a run-level metric (one of the same key is replaced); returns it."""
    RUN_METRICS[:] = [m for m in RUN_METRICS if m.key != metric.key] + [metric]
    return metric


register(RunMetric(
    "memorization_rate", "memorization rate", "memorization", higher_is_better=False,
    description="share of the noisy training samples predicted as their given (wrong) label, "
                "at the selected epoch",
    value=lambda m: m.get("memorization_rate"),
))  # fmt: skip
register(RunMetric(
    "detection_auroc", "detection AUROC", "AUROC", higher_is_better=True,
    description="how well the training loss tells the noisy samples from the clean ones "
                "(area under the ROC curve)",
    value=lambda m: m.get("noise_detection_auroc"),
    in_report=False,  # the report shows the AUROC of every detection signal
))  # fmt: skip


def _loss_attack(m: dict[str, Any], figure: str) -> Any:
    """The loss attack's figure over all members at the selected epoch (metrics.json's
    membership section; None for a run without a holdout split)."""
    return m["membership"]["selected"]["loss"]["all"][figure]["value"]


register(RunMetric(
    "membership_auroc", "membership AUROC (loss attack)", "MIA AUROC", higher_is_better=False,
    description="how well the loss tells training samples from held-out samples of the same "
                "pool (area under the ROC curve; 0.5: no trace of membership)",
    value=lambda m: _loss_attack(m, "auroc"),
    noisy_only=False,
))  # fmt: skip
register(RunMetric(
    "membership_tpr_1pct", "membership TPR at 1% FPR (loss attack)", "MIA TPR@1%",
    higher_is_better=False,
    description="share of training samples the loss attack finds while it wrongly accuses 1% "
                "of held-out samples",
    value=lambda m: _loss_attack(m, "tpr_at_1pct_fpr"),
    noisy_only=False,
))  # fmt: skip
