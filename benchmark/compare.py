"""Does run A beat run B? A paired bootstrap over the samples both runs were scored on.

Two runs of the same task on the same dataset predict the same test samples, so the question
is answered per sample (Koehn, 2004, paired bootstrap resampling): each replicate draws n of
the samples with replacement, and both runs are scored on that same draw with the task's own
``aggregate`` (micro F1 for method_name, mean sentence BLEU, MRR, ...). The interval is the
central 95% of the replicates' A - B; ``p_not_better`` is the share of replicates where A does
not score above B. Each run counts at its own selected epoch, as in its metrics.json.

A side may also be several runs of one model (its seeds): its score is the mean of its runs'
scores, and each replicate draws the runs with replacement as well as the samples, so that the
interval covers seed-to-seed variation too; one lucky seed does not make a clear win.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from benchmark import console
from benchmark import metrics as task_metrics
from benchmark.pooling import SETTINGS, settings_of
from benchmark.results import is_complete, verify
from benchmark.standings import unit_from_metrics, unit_from_run

SPLITS = ("valid", "test")
# What reading a damaged parquet file raises: polars' errors or a panic of its reader (and
# the OS's errors, in READ_ERRORS).
POLARS_ERRORS = (pl.exceptions.PolarsError, pl.exceptions.PanicException)
READ_ERRORS = (*POLARS_ERRORS, OSError)
# The types the readers filter and compute these columns of samples.parquet with.
_TYPES = {
    "split": ("text", lambda t: t == pl.String or isinstance(t, pl.Categorical | pl.Enum)),
    "epoch": ("integers", lambda t: t.is_integer()),
    "noisy": ("booleans", lambda t: t == pl.Boolean),
    "correct_given": ("booleans", lambda t: t == pl.Boolean),
    "loss": ("numbers", lambda t: t.is_numeric()),
    "p_given": ("numbers", lambda t: t.is_numeric()),
    "top_score": ("numbers", lambda t: t.is_numeric()),
}


def runs_in(path: Path) -> list[Path]:
    """A complete run, or the complete seed-N runs in a folder of one model's seeds; a seed
    left out as incomplete is a warning line, since the pooled mean is then over fewer."""
    if is_complete(path):
        return [path]
    folders = [p for p in path.glob("seed-*") if p.name[5:].isdigit()]
    seeds = [p for p in folders if is_complete(p)]
    if not seeds:
        raise ValueError(f"{path} is not a complete run (it needs run.json, metrics.json and "
                         "samples.parquet) nor a folder of complete seed-N runs")  # fmt: skip
    for p in sorted(set(folders) - set(seeds)):
        console.err.print(f"warning: {p} is not a complete run; left out", highlight=False,
                          soft_wrap=True)  # fmt: skip
    return sorted(seeds, key=lambda p: int(p.name[5:]))


def first_line(error: BaseException) -> str:
    """An exception's message as one short line (polars' go on with the query plan)."""
    text = str(error).strip()
    return text.splitlines()[0].split("; valid columns")[0] if text else type(error).__name__


def read_object(unit: Path, name: str) -> dict[str, Any]:
    """The JSON object in ``unit``/``name``; ValueError naming both where it is not one. A
    re-signed manifest vouches for a file's bytes, not that the harness wrote them."""
    try:
        value = json.loads((unit / name).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"{unit}: {name} cannot be read ({type(e).__name__})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{unit}: {name} is not a JSON object")
    return value


def sample_schema(unit: Path, needs: Iterable[str]) -> pl.Schema:
    """The schema of ``unit``'s samples.parquet, once it has the columns ``needs`` with the
    types they are read as; ValueError naming the unit and the file otherwise."""
    try:
        schema = pl.scan_parquet(unit / "samples.parquet").collect_schema()
    except READ_ERRORS as e:
        raise ValueError(f"{unit}: samples.parquet cannot be read (not a parquet file: "
                         f"{first_line(e)})") from None  # fmt: skip
    missing = [c for c in needs if c not in schema]
    if missing:
        raise ValueError(f"{unit}: samples.parquet lacks columns {', '.join(missing)}")
    for column in needs:
        what, fits = _TYPES.get(column, ("", lambda _: True))
        if not fits(schema[column]):
            raise ValueError(f"{unit}: samples.parquet's column {column} holds "
                             f"{schema[column]}, not {what}")  # fmt: skip
    return schema


def unit_files(unit: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """run.json's config and metrics.json, once both name one unit as the leaderboard requires
    (standings.check); ValueError naming the unit and the file otherwise."""
    run, metrics = read_object(unit, "run.json"), read_object(unit, "metrics.json")
    names = {}
    for name, read, data in (("run.json", unit_from_run, run),
                             ("metrics.json", unit_from_metrics, metrics)):  # fmt: skip
        try:
            names[name] = read(data)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ValueError(f"{unit}: {name} does not name its unit "
                             f"({type(e).__name__}: {first_line(e)})") from None  # fmt: skip
    in_run, in_metrics = names["run.json"], names["metrics.json"]
    if in_run != in_metrics:
        raise ValueError(f"{unit}: run.json names {in_run}, metrics.json {in_metrics}")
    return run["config"], metrics


def scored_rows(unit: Path, split: str) -> tuple[dict[str, Any], pl.DataFrame]:
    """A complete run's config and its per-sample rows of ``split`` at its selected epoch,
    each checked here, so that a damaged unit is named rather than failing the bootstrap."""
    if not is_complete(unit):
        raise ValueError(
            f"{unit} is not a complete run (it needs run.json, metrics.json and samples.parquet)"
        )
    reason = verify(unit)
    if reason is not None:
        raise ValueError(f"{unit}: {reason}; it cannot be compared")
    config, metrics = unit_files(unit)
    epoch = metrics.get("selected_epoch")
    if not isinstance(epoch, int) or isinstance(epoch, bool):
        raise ValueError(f"{unit}: metrics.json has no selected_epoch (an epoch number)")
    sample_schema(unit, ("sample_id", "split", "epoch"))
    try:
        rows = (  # a scan: only the row groups of the epoch are read, not every epoch's
            pl.scan_parquet(unit / "samples.parquet")
            .filter((pl.col("split") == split) & (pl.col("epoch") == epoch))
            .collect()
        )
    except READ_ERRORS as e:
        raise ValueError(f"{unit}: samples.parquet cannot be read ({first_line(e)})") from None
    if rows.is_empty():
        raise ValueError(f"{unit} has no {split} samples at its selected epoch {epoch}")
    try:  # one row through the task's aggregate: its columns are there, of usable types
        one = rows.head(1).with_columns(pl.lit(0).alias("rep"))
        task_metrics.get(config["task"]).aggregate(one, "true", ("rep",)).collect()
    except POLARS_ERRORS as e:
        raise ValueError(f"{unit}: samples.parquet cannot be scored as {config['task']} "
                         f"({first_line(e)})") from None  # fmt: skip
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


def _pooled(
    known: task_metrics.TaskMetrics, runs: Sequence[pl.DataFrame], draws: pl.DataFrame,
    metric: str, rng: np.random.Generator,
) -> tuple[float, np.ndarray]:  # fmt: skip
    """The runs' mean score, and per replicate the mean over a draw (with replacement) of the
    runs, each scored on the replicate's draw of the samples."""
    scored = [_scores(known, rows, draws, metric) for rows in runs]
    whole = float(np.mean([s[0] for s in scored]))
    boot = np.stack([s[1] for s in scored])  # [runs, replicates]
    if len(runs) == 1:
        return whole, boot[0]
    replicates = boot.shape[1]
    pick = rng.integers(0, len(runs), size=(replicates, len(runs)))
    return whole, boot[pick, np.arange(replicates)[:, None]].mean(1)


def paired_bootstrap(
    task: str,
    a: pl.DataFrame | Sequence[pl.DataFrame],
    b: pl.DataFrame | Sequence[pl.DataFrame],
    metric: str | None = None,
    replicates: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """A's and B's ``metric`` (the task's primary by default), A - B and its 95% interval.
    A and B are each one run's rows, or several runs' (pooled as the module says)."""
    known = task_metrics.get(task)
    metric = metric or known.PRIMARY
    if metric not in known.METRICS:
        raise ValueError(f"unknown metric {metric!r} for {task}; choose from: "
                         f"{', '.join(known.METRICS)}")  # fmt: skip
    runs_a = [a] if isinstance(a, pl.DataFrame) else list(a)
    runs_b = [b] if isinstance(b, pl.DataFrame) else list(b)
    ids = set(runs_a[0]["sample_id"])
    for rows in runs_a + runs_b:
        other = set(rows["sample_id"])
        if other != ids or rows.height != len(other):
            raise ValueError(f"the runs were not scored on the same samples ({len(ids ^ other)} "
                             "differ): compare runs of one dataset and split")  # fmt: skip
    n = len(ids)
    rng = np.random.default_rng(seed)
    draw = rng.integers(0, n, size=(replicates, n))
    draws = pl.DataFrame({"rep": np.repeat(np.arange(replicates), n), "row": draw.ravel()})
    score_a, boot_a = _pooled(known, runs_a, draws, metric, rng)
    score_b, boot_b = _pooled(known, runs_b, draws, metric, rng)
    diff = boot_a - boot_b
    low, high = np.percentile(diff, [2.5, 97.5])
    return {"task": task, "metric": metric, "samples": n, "replicates": replicates,
            "runs_a": len(runs_a), "runs_b": len(runs_b), "a": score_a, "b": score_b,
            "difference": score_a - score_b, "low": float(low), "high": float(high),
            "p_not_better": float(np.mean(diff <= 0)),
            "verdict": verdict(diff, low, high, max(abs(score_a), abs(score_b)))}  # fmt: skip


# Differences below this (relative to the scores) are float noise, not a difference: two runs
# that score the same up to summation order would otherwise read "A not above B in 60%".
SAME = 1e-9


def verdict(diff: np.ndarray, low: float, high: float, scale: float) -> str:
    """``A above B`` or ``B above A`` where the interval excludes 0, ``the same`` where no
    resampling tells them apart beyond float noise, else ``no clear difference``."""
    if np.all(np.abs(diff) <= SAME * max(scale, 1.0)):
        return "the same"
    if low > 0:
        return "A above B"
    return "B above A" if high < 0 else "no clear difference"


def _one_model(path: Path, folders: list[Path], configs: list[dict[str, Any]]) -> None:
    """A folder of seeds holds one model's runs, each in the seed-N folder of its seed: a copy
    of another model's unit among them, or a link to another seed, would be pooled as one
    more seed; ValueError naming the folder otherwise."""
    for folder, config in zip(folders, configs, strict=True):
        if config.get("seed") != int(folder.name[5:]):
            raise ValueError(f"{folder}: holds the run of seed {config.get('seed')}; a folder of "
                             "seeds pools each seed once, from its own seed-N folder")  # fmt: skip
    keys = ("task", "dataset", "noise_kind", "noise_rate")
    held = {(str(c.get("name") or c.get("model")), *(str(c.get(k)) for k in keys))
            for c in configs}  # fmt: skip
    if len(held) > 1:
        runs = "; ".join(" ".join(h) for h in sorted(held))
        raise ValueError(f"{path}: its seeds are runs of more than one model or noise ({runs})")
    by_seed = [settings_of(c) for c in configs]
    for i, key in enumerate(SETTINGS):
        values = sorted({settings[i] for settings in by_seed})
        if len(values) > 1:
            raise ValueError(f"{path}: its seeds were run with different {key} "
                             f"({', '.join(values)}); pool only seeds of one setting")  # fmt: skip


def compare_runs(
    unit_a: Path, unit_b: Path, split: str = "test", metric: str | None = None,
    replicates: int = 1000,
) -> dict[str, Any]:  # fmt: skip
    """``paired_bootstrap`` on ``split`` of two complete runs, or folders of seed-N runs (see
    ``runs_in``); all must be of one task and dataset."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from: {', '.join(SPLITS)}")
    sides = []
    for path in (unit_a, unit_b):
        folders = runs_in(path)
        sides.append([scored_rows(u, split) for u in folders])
        if folders != [path]:
            _one_model(path, folders, [config for config, _ in sides[-1]])
    first = sides[0][0][0]
    for config, _ in sides[0] + sides[1]:
        for key in ("task", "dataset"):
            if config[key] != first[key]:
                raise ValueError(f"the runs differ in {key}: {first[key]} and {config[key]}")
    out = paired_bootstrap(first["task"], [r for _, r in sides[0]], [r for _, r in sides[1]],
                           metric, replicates)  # fmt: skip
    return {"a_run": str(unit_a), "b_run": str(unit_b), "dataset": first["dataset"],
            "split": split, **out}  # fmt: skip
