"""Does run A beat run B? A paired bootstrap over the samples both runs were scored on.

Two runs of the same task on the same dataset predict the same test samples, so the question
is answered per sample (Koehn, 2004, paired bootstrap resampling): each replicate draws n of
the samples with replacement, and both runs are scored on that same draw with the task's own
``aggregate`` (micro F1 for method_name, mean sentence BLEU, MRR, ...). The interval is the
central 95% of the replicates' A - B; ``p_not_better`` is the share of replicates where A does
not score above B. Each run counts at its own selected epoch, as in its metrics.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from benchmark import metrics as task_metrics
from benchmark.results import is_complete, read_json

SPLITS = ("valid", "test")


def scored_rows(unit: Path, split: str) -> tuple[dict[str, Any], pl.DataFrame]:
    """A complete run's config and its per-sample rows of ``split`` at its selected epoch."""
    if not is_complete(unit):
        raise ValueError(
            f"{unit} is not a complete run (it needs run.json, metrics.json and samples.parquet)"
        )
    config = read_json(unit / "run.json")["config"]
    epoch = read_json(unit / "metrics.json")["selected_epoch"]
    rows = pl.read_parquet(unit / "samples.parquet").filter(
        (pl.col("split") == split) & (pl.col("epoch") == epoch)
    )
    if rows.is_empty():
        raise ValueError(f"{unit} has no {split} samples at its selected epoch {epoch}")
    return config, rows


def _scores(
    known: task_metrics.TaskMetrics, rows: pl.DataFrame, draws: pl.DataFrame, metric: str
) -> tuple[float, np.ndarray]:
    """The metric on all rows, and on each replicate's draw of them."""
    aggregate = known.aggregate
    # List columns (tokens, docstrings) are not scored and would be copied per draw.
    rows = rows.select(c for c, t in rows.schema.items() if not isinstance(t, pl.List))
    rows = rows.sort("sample_id").with_row_index("row").with_columns(pl.col("row").cast(pl.Int64))
    whole = aggregate(rows.with_columns(pl.lit(0).alias("rep")), "true", ("rep",)).collect()
    boot = aggregate(draws.join(rows, on="row", how="left"), "true", ("rep",)).collect()
    return float(whole[metric][0]), boot.sort("rep")[metric].cast(pl.Float64).to_numpy()


def paired_bootstrap(
    task: str,
    a: pl.DataFrame,
    b: pl.DataFrame,
    metric: str | None = None,
    replicates: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """A's and B's ``metric`` (the task's primary by default), A - B and its 95% interval."""
    known = task_metrics.get(task)
    metric = metric or known.PRIMARY
    if metric not in known.METRICS:
        raise ValueError(f"unknown metric {metric!r} for {task}; choose from: "
                         f"{', '.join(known.METRICS)}")  # fmt: skip
    ids_a, ids_b = set(a["sample_id"]), set(b["sample_id"])
    if ids_a != ids_b or a.height != len(ids_a) or b.height != len(ids_b):
        raise ValueError(f"the runs were not scored on the same samples ({len(ids_a ^ ids_b)} "
                         "differ): compare runs of one dataset and split")  # fmt: skip
    n = a.height
    draw = np.random.default_rng(seed).integers(0, n, size=(replicates, n))
    draws = pl.DataFrame({"rep": np.repeat(np.arange(replicates), n), "row": draw.ravel()})
    score_a, boot_a = _scores(known, a, draws, metric)
    score_b, boot_b = _scores(known, b, draws, metric)
    diff = boot_a - boot_b
    low, high = np.percentile(diff, [2.5, 97.5])
    return {"task": task, "metric": metric, "samples": n, "replicates": replicates, "a": score_a,
            "b": score_b, "difference": score_a - score_b, "low": float(low),
            "high": float(high), "p_not_better": float(np.mean(diff <= 0))}  # fmt: skip


def compare_runs(
    unit_a: Path, unit_b: Path, split: str = "test", metric: str | None = None,
    replicates: int = 1000,
) -> dict[str, Any]:  # fmt: skip
    """``paired_bootstrap`` of two complete runs on ``split``; both must be of one task and
    dataset."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from: {', '.join(SPLITS)}")
    config_a, rows_a = scored_rows(unit_a, split)
    config_b, rows_b = scored_rows(unit_b, split)
    for key in ("task", "dataset"):
        if config_a[key] != config_b[key]:
            raise ValueError(f"the runs differ in {key}: {config_a[key]} and {config_b[key]}")
    out = paired_bootstrap(config_a["task"], rows_a, rows_b, metric, replicates)
    return {"a_run": str(unit_a), "b_run": str(unit_b), "dataset": config_a["dataset"],
            "split": split, **out}  # fmt: skip
