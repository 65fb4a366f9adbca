"""Robustness of a model across a sweep: test score against noise rate, from result folders.

A sweep's units are independent folders, so this reads only their metrics.json files (never
the per-sample tables) and can be called on any set of folders, complete sweeps or not. Units
are grouped by (task, dataset, model, noise kind); within a group, the seeds at each noise rate
give a mean with a 95% Student-t interval. The area under the mean score-vs-rate curve,
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

CONFIDENCE = 0.95


def run_folders(path: Path) -> list[Path]:
    """The run folders at or under `path`: those that hold a metrics.json."""
    if (path / "metrics.json").is_file():
        return [path]
    return sorted(p.parent for p in path.rglob("metrics.json"))


def mean_interval(values: Sequence[float]) -> dict[str, float | int | None]:
    """Mean and 95% Student-t interval over seeds; the interval is None for a single seed,
    where it is undefined (not zero-width)."""
    from scipy import stats  # a second to import: only where an interval is computed

    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    n = int(x.size)
    if n == 0:
        return {"n": 0, "mean": None, "ci_low": None, "ci_high": None}
    mean = float(x.mean())
    if n < 2:
        return {"n": n, "mean": mean, "ci_low": None, "ci_high": None}
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return {"n": n, "mean": mean, "ci_low": mean - half, "ci_high": mean + half}


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
    mean here, seeds), `area` (normalized area of the mean curve) and `area_seeds` (mean and
    interval of per-seed areas, over seeds that have every rate).
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
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        metric_of[key] = metric
        if value is not None:
            groups[key][float(noise.get("rate", 0.0))][int(m.get("seed", 0))] = value
    out = []
    for key in sorted(groups):
        by_rate = groups[key]
        rates = sorted(by_rate)
        points = []
        for rate in rates:
            seeds = by_rate[rate]
            points.append(
                {"rate": rate, **mean_interval(list(seeds.values())), "seeds": sorted(seeds)}
            )
        base = points[0]["mean"]
        for p in points:
            p["drop"] = None if base is None or p["mean"] is None else base - p["mean"]
        complete = set.intersection(*(set(by_rate[r]) for r in rates))
        per_seed = [normalized_area(rates, [by_rate[r][s] for r in rates]) for s in complete]
        task, dataset, model, kind = key
        out.append(
            {
                "task": task,
                "dataset": dataset,
                "model": model,
                "noise_kind": kind,
                "metric": metric_of[key],
                "points": points,
                "area": normalized_area(rates, [p["mean"] for p in points]),
                "area_seeds": mean_interval([a for a in per_seed if a is not None]),
            }
        )
    return out


def summarize_sweep(folders: Iterable[Path]) -> dict[str, Any]:
    """What a sweep's summary file holds: `{"robustness": robustness(folders)}`."""
    return {"robustness": robustness(folders)}
