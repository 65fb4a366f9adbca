"""Whether a metrics.json holds what the harness could have computed: the unit's identity, and
every score a finite number in its metric's range. A leaderboard must never rank a figure that
no model can reach (a test accuracy of 7.5), however the file came to hold it."""

from __future__ import annotations

from typing import Any

from benchmark import metrics as task_metrics
from benchmark.metrics.summary import SELECTION_SPLIT, SUBSETS, select_epoch
from benchmark.numbers import finite
from benchmark.tasks import TASKS
from benchmark.tasks.lines import number

# Metrics that are not shares in [0, 1].
SCALES: dict[str, tuple[float, float]] = {"bleu": (0.0, 100.0)}
# Run-level figures that are shares or probabilities, at the top level and in every epoch.
SHARES = ("memorization_rate", "memorization_rate_last", "noise_detection_auroc",
          "mean_p_given", "output_critical_sample_ratio", "gini_train_loss")  # fmt: skip
IDENTITY = ("task", "model", "dataset", "seed", "noise", "selection", "test")


def scale(metric: str) -> tuple[float, float]:
    """The range a task metric's scores lie in: BLEU in points, the others shares."""
    return SCALES.get(metric, (0.0, 1.0))


def _in(value: Any, low: float, high: float) -> bool:
    """None (no rows to average) or a finite number in [low, high]."""
    return value is None or number(value, low, high)


def _scores(entry: dict[str, Any], names: tuple[str, ...], where: str) -> list[str]:
    out = []
    for subset in SUBSETS:
        values = entry.get(subset, {})
        if not isinstance(values, dict):
            out.append(f"{where}{subset} is not an object")
            continue
        for name in names:
            low, high = scale(name)
            if not _in(values.get(name), low, high):
                out.append(f"{where}{subset}.{name} = {values.get(name)!r} is outside "
                           f"[{low:g}, {high:g}]")  # fmt: skip
    for name in SHARES:
        if not _in(entry.get(name), 0.0, 1.0):
            out.append(f"{where}{name} = {entry.get(name)!r} is outside [0, 1]")
    scores = entry.get("avg_predicted_score", {})
    if not isinstance(scores, dict) or not all(_in(v, 0.0, 1.0) for v in scores.values()):
        out.append(f"{where}avg_predicted_score holds a value outside [0, 1]")
    return out


def _agreement(metrics: dict[str, Any], epochs: list[dict[str, Any]], higher: bool) -> list[str]:
    """What the harness writes twice, from one computation, must agree: the scores and the
    memorization rate at the selected epoch with that epoch's in per_epoch, and the selected
    epoch with the best validation score (the earliest of equals), as summary.py selects it.
    A hand-edited score is caught here, where it was not edited in both places."""
    if not epochs:
        return []
    by_epoch = {e.get("epoch"): e for e in epochs}
    selected = metrics.get("selected_epoch")
    if selected not in by_epoch:
        return [f"selected_epoch {selected!r} is not an epoch of per_epoch"]
    at = by_epoch[selected]
    out = [f"{name} is not epoch {selected}'s in per_epoch" for name in SUBSETS
           if name in metrics and metrics[name] != at.get(name)]  # fmt: skip
    last = epochs[-1]
    for name, entry in (("memorization_rate", at), ("memorization_rate_last", last)):
        if name in metrics and metrics[name] != entry.get("memorization_rate"):
            out.append(f"{name} is not epoch {entry.get('epoch')}'s in per_epoch")
    primary = metrics["selection"]["metric"]  # selected as summary.py selects it
    scores = {(e.get("epoch"), SELECTION_SPLIT): e.get(SELECTION_SPLIT) for e in epochs}
    found = {key: {primary: finite(values.get(primary) if isinstance(values, dict) else None)}
             for key, values in scores.items()}  # fmt: skip
    try:
        best = select_epoch(found, [e.get("epoch") for e in epochs], primary, higher)
    except ValueError:  # no epoch has a validation score: nothing to check it against
        return out
    if best != selected:
        out.append(f"selected_epoch {selected} is not the epoch of the best valid {primary} "
                   f"({best})")  # fmt: skip
    return out


def problems(metrics: Any) -> list[str]:
    """What is wrong with a parsed metrics.json; empty when it could be the harness's."""
    if not isinstance(metrics, dict):
        return ["metrics.json is not a JSON object"]
    missing = [k for k in IDENTITY if k not in metrics]
    if missing:
        return [f"metrics.json lacks {', '.join(missing)}"]
    try:
        spec = task_metrics.get(str(metrics["task"]))
    except ValueError as e:
        return [str(e)]
    names = spec.METRICS
    selection, test = metrics["selection"], metrics["test"]
    if not (isinstance(selection, dict) and selection.get("metric") in names):
        return [f"selection names no metric of task {metrics['task']}"]
    if not isinstance(test, dict) or test.get(selection["metric"]) is None:
        return [f"test.{selection['metric']} is missing"]
    out = _scores(metrics, names, "")
    epochs = metrics.get("per_epoch", [])
    if not isinstance(epochs, list) or not all(isinstance(e, dict) for e in epochs):
        return [*out, "per_epoch is not a list of epochs"]
    if not epochs:  # the harness writes one entry an epoch, and trains one at least
        return [*out, "per_epoch holds no epoch"]
    for entry in epochs:
        out += _scores(entry, names, f"epoch {entry.get('epoch')}: ")
        if not all(isinstance(entry.get(split), dict) for split in ("train", "test")):
            out.append(f"epoch {entry.get('epoch')} has no train or no test scores")
    task = TASKS.get(str(metrics["task"]))
    out += _agreement(metrics, epochs, task.higher_is_better if task else True)
    detection = metrics.get("detection") or {}
    if not isinstance(detection, dict):
        return [*out, "detection is not an object"]
    for name in ("auroc", "auprc"):
        for signal, values in detection.items():
            if isinstance(values, dict) and not _in(values.get(name), 0.0, 1.0):
                out.append(f"detection.{signal}.{name} is outside [0, 1]")
    return out
