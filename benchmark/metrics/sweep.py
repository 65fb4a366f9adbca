"""Robustness of a model across a sweep: test score against noise rate, from result folders.

A sweep's units are independent folders, so this reads only their metrics.json files (never
the per-sample tables) and can be called on any set of folders, complete sweeps or not. Units
are grouped by (task, dataset, model, noise kind); within a group, the seeds at each noise rate
give a mean with a 95% Student-t interval, clipped to the range the metric's scores lie in
(over two or three seeds, an accuracy's interval can run from -0.4 to 1.1, which says no more
than [0, 1] and reads as a fault). The area under the mean score-vs-rate curve,
divided by the span of rates, is the robustness: the mean test score over the noise range, so
that sweeps over the same rates compare directly.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.metrics.checks import scale
from benchmark.tasks import TASKS

CONFIDENCE = 0.95
Bounds = tuple[float, float]
SHARE: Bounds = (0.0, 1.0)  # accuracies, rates, AUROCs, probabilities
SIGNED: Bounds = (-1.0, 1.0)  # Spearman's rho; counterfactual memorization (a share minus a share)


def run_folders(path: Path) -> list[Path]:
    """The run folders at or under `path`: those that hold a metrics.json, outside the hidden
    folders where the harness keeps units moved aside (.quarantine, .replaced, .failed) and
    units being made (.tmp), which would otherwise be counted again beside their reruns."""
    if (path / "metrics.json").is_file():
        return [path]
    found = (p.relative_to(path) for p in path.rglob("metrics.json"))
    return sorted(path / p.parent for p in found if not any(s.startswith(".") for s in p.parts))


def mean_interval(
    values: Sequence[float], within: Bounds | None = None
) -> dict[str, float | int | None]:
    """Mean and 95% Student-t interval over seeds, clipped to ``within``, the range the values
    can take; the interval is None for a single seed, where it is undefined (not zero-width)."""
    from scipy import stats  # a second to import: only where an interval is computed

    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    n = int(x.size)
    if n == 0:
        return {"n": 0, "mean": None, "ci_low": None, "ci_high": None}
    mean = float(x.mean())
    if n < 2:
        return {"n": n, "mean": mean, "ci_low": None, "ci_high": None}
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    low, high = _clip(mean - half, mean + half, within)
    return {"n": n, "mean": mean, "ci_low": low, "ci_high": high}


def _clip(low: float, high: float, within: Bounds | None) -> tuple[float, float]:
    return (low, high) if within is None else (max(low, within[0]), min(high, within[1]))


def difference_interval(
    a: Sequence[float], b: Sequence[float], within: Bounds | None = None
) -> dict[str, float | None]:
    """mean(a) - mean(b) with a 95% Welch interval over the seeds, clipped to what a
    difference of two values ``within`` can be; no interval with fewer than two seeds a side
    (it would be a guess, not a measurement)."""
    from scipy import stats

    x = np.asarray([v for v in a if v is not None and math.isfinite(v)], dtype=np.float64)
    y = np.asarray([v for v in b if v is not None and math.isfinite(v)], dtype=np.float64)
    if not (x.size and y.size):
        return {"diff": None, "low": None, "high": None}
    diff = float(x.mean() - y.mean())
    if x.size < 2 or y.size < 2:
        return {"diff": diff, "low": None, "high": None}
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = math.sqrt(vx + vy)
    if se == 0.0:
        return {"diff": diff, "low": diff, "high": diff}
    df = (vx + vy) ** 2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, df) * se)
    span = None if within is None else (within[0] - within[1], within[1] - within[0])
    low, high = _clip(diff - half, diff + half, span)
    return {"diff": diff, "low": low, "high": high}


# The control: the same model trained on labels that carry nothing about the code (label noise
# at the task's floor rate) can learn nothing from it, so its test score is the task's floor.
FLOOR_KIND = "label"


def floor_rate(task: str) -> float:
    """The label-noise rate of ``task``'s control (``TaskSpec.floor_rate``): 1.0 where a noisy
    label is another sample's, 0.5 where labels are flipped; 1.0 for a task unknown here."""
    spec = TASKS.get(task)
    return spec.floor_rate if spec is not None else 1.0


def floor_and_gain(
    clean: Sequence[float], floor: Sequence[float], within: Bounds | None = None
) -> dict[str, Any]:
    """The floor (mean and interval over its seeds), the clean score's gain above it (Welch
    interval), and whether the model learns from the code: True when the gain's interval lies
    above 0, False when it includes 0 (or the gain is not positive), None when unmeasured."""
    gain = difference_interval(clean, floor, within)
    if gain["diff"] is None:
        learns = None
    elif gain["low"] is None:
        learns = None if gain["diff"] > 0 else False
    else:
        learns = gain["low"] > 0
    return {"floor": mean_interval(list(floor), within), "gain": gain, "learns": learns}


def normalized_area(rates: Sequence[float], scores: Sequence[float]) -> float | None:
    """Trapezoid area under score(rate) divided by the span of rates (the score itself for a
    single rate); None when there is no point."""
    if not rates:
        return None
    if len(rates) == 1 or rates[-1] == rates[0]:
        return float(np.mean(scores))
    r, s = np.asarray(rates, dtype=np.float64), np.asarray(scores, dtype=np.float64)
    return float(np.sum((r[1:] - r[:-1]) * (s[1:] + s[:-1]) / 2.0) / (r[-1] - r[0]))


def _test_score(m: dict[str, Any]) -> tuple[str, float | None]:
    metric = m.get("selection", {}).get("metric", "acc")
    value = m.get("test", {}).get(metric)
    return metric, None if value is None else float(value)


def robustness(folders: Iterable[Path]) -> list[dict[str, Any]]:
    """One summary per (task, dataset, model, noise kind) of the given run folders.

    Each has `metric` (the task's selection metric, read at the selected epoch on test),
    `points` (per noise rate: n, mean, ci_low, ci_high, drop = mean at the lowest rate minus
    mean here, seeds), `area` (normalized area of the mean curve), `area_seeds` (mean and
    interval of per-seed areas, over seeds that have every rate), and `floor`, `gain` and
    `learns` (`floor_and_gain` of the lowest rate's scores against the same model's runs at
    the task's floor rate of label noise among the folders; None where those are missing).
    """
    groups: dict[tuple[str, str, str, str], dict[float, dict[int, float]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    metric_of: dict[tuple[str, str, str, str], str] = {}
    for folder in folders:
        try:  # a folder whose metrics are not a run's is left out, never fatal
            m = json.loads((Path(folder) / "metrics.json").read_text())
            noise = m.get("noise", {})
            key = (m["task"], m.get("dataset", ""), m["model"], noise.get("kind", "label"))
            metric, value = _test_score(m)
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            continue
        metric_of[key] = metric
        if value is not None:
            groups[key][float(noise.get("rate", 0.0))][int(m.get("seed", 0))] = value
    out = []
    for key in sorted(groups):
        by_rate = groups[key]
        rates = sorted(by_rate)
        within = scale(metric_of[key])
        points = []
        for rate in rates:
            seeds = by_rate[rate]
            points.append(
                {"rate": rate, **mean_interval(list(seeds.values()), within),
                 "seeds": sorted(seeds)}
            )  # fmt: skip
        base = points[0]["mean"]
        for p in points:
            p["drop"] = None if base is None or p["mean"] is None else base - p["mean"]
        complete = set.intersection(*(set(by_rate[r]) for r in rates))
        per_seed = [normalized_area(rates, [by_rate[r][s] for r in rates]) for s in complete]
        task, dataset, model, kind = key
        control = groups.get((task, dataset, model, FLOOR_KIND), {}).get(floor_rate(task))
        clean = list(by_rate[rates[0]].values())
        versus = (floor_and_gain(clean, list(control.values()), within)
                  if control and rates[0] == 0.0
                  else {"floor": None, "gain": None, "learns": None})  # fmt: skip
        out.append(
            {
                "task": task,
                "dataset": dataset,
                "model": model,
                "noise_kind": kind,
                "metric": metric_of[key],
                "points": points,
                "area": normalized_area(rates, [p["mean"] for p in points]),
                "area_seeds": mean_interval([a for a in per_seed if a is not None], within),
                **versus,
            }
        )
    return out
