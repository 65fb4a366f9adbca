"""Counterfactual memorization over a subset sweep's models (``bench sweep --subsets K``).

Each cell of the sweep (model, noise, seed) has K units, each trained on its own seeded random
subset of the same training pool and predicting the rest as its holdout split, with the same
noise on the same samples. So every sample of the pool was trained on by some of the K models
and held out by the others, and its memorization can be measured as Feldman & Zhang (2020) and
Zhang et al. (2021) define it: the probability of its given label when trained on minus when
held out (``p_given`` at the last epoch, averaged over the models on each side). It is the
measure the cheap signals are judged against: each signal of a sample (its loss, AUM,
forgetting events and dataset-cartography statistics over the epochs, averaged over the models
that trained on it) ranks the samples, and its Spearman correlation with counterfactual
memorization, with a bootstrap interval, says how well it tracks it. LiRA (Carlini et al.
2022) uses the same models as shadow models: each model in turn is the target, the others fit
per-sample Gaussians of the logit of ``p_given`` in and out; its AUROC and TPR at low FPR stand
beside the single-model loss attack's on the same (model, sample) pairs.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import polars as pl

from benchmark import pooling
from benchmark.metrics import memorization
from benchmark.metrics.membership import (
    attack_figures,
    counterfactual,
    lira,
    lira_figures,
    log_odds,
)
from benchmark.metrics.membership import spearman as spearman_interval
from benchmark.protocol import HOLDOUT

SEED = 0  # of the bootstrap intervals: the same units give the same bytes
# The cheap per-sample signals judged against counterfactual memorization (sample_signals'
# columns), each averaged over the models that trained on the sample.
PROXIES = ("loss", "aum", "forgetting", "confidence", "variability", "correctness")
# What a cell's K models share beside their unit's name: the figures compare them, so one
# trained longer or on a larger share would be read as memorization.
SETTINGS = (*pooling.SETTINGS, "subset_share")


def settings(folder: Path) -> tuple[str, ...]:
    """The settings a subset unit's run.json records (ValueError where it does not read)."""
    try:
        config = json.loads((folder / "run.json").read_text()).get("config", {})
    except (OSError, ValueError, AttributeError, RecursionError) as e:
        raise ValueError(f"{folder}: run.json does not read ({e})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{folder}: run.json has no config")
    return pooling.settings_of(config, SETTINGS)


def _unit_rows(folder: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A subset unit's last-epoch rows of the pool (train and holdout) and its training
    samples' signals over the epochs."""
    lf = pl.scan_parquet(folder / "samples.parquet")
    last = lf.select(pl.col("epoch").max()).collect().item()
    # logit_given is optional in the protocol, and absent from units made before it was
    logit = pl.col("logit_given") if "logit_given" in lf.collect_schema() else pl.lit(None)
    rows = (
        lf.filter((pl.col("epoch") == last) & pl.col("split").is_in(["train", HOLDOUT]))
        .select(
            "sample_id",
            "split",
            "noisy",
            pl.col("loss").cast(pl.Float64),
            pl.col("p_given").cast(pl.Float64),
            logit.cast(pl.Float64).alias("logit_given"),
        )
        .collect()
    )
    signals = memorization.sample_signals(lf)
    return rows, signals.select("sample_id", *PROXIES)


class Grid(NamedTuple):
    """A cell's K subset units over its pool of n samples (sorted by id), at the last epoch:
    which model trained on which sample, its p_given, logit_given (NaN where the model does not
    write it) and loss there, and each training sample's cheap signals over the epochs (NaN
    where the model held the sample out)."""

    ids: np.ndarray  # [n]
    noisy: np.ndarray  # [n]
    inclusion: np.ndarray  # [K, n]
    p_given: np.ndarray  # [K, n]
    logit_given: np.ndarray  # [K, n]
    loss: np.ndarray  # [K, n]
    proxies: dict[str, np.ndarray]  # name -> [K, n]


def read_grid(folders: Sequence[Path]) -> Grid:
    """The grid of a cell's subset units; ValueError when they do not predict one pool, or
    were not run with the same settings."""
    first = settings(folders[0])
    for folder in folders[1:]:
        differ = pooling.differences(SETTINGS, settings(folder), first, str(folders[0]))
        if differ:
            raise ValueError(f"{folder} was run with {', '.join(differ)}; a cell's subset "
                             "models share their settings")  # fmt: skip
    units = [_unit_rows(f) for f in folders]
    ids = np.sort(units[0][0]["sample_id"].to_numpy())
    k, n = len(units), len(ids)
    grid = Grid(ids, np.zeros(n, dtype=bool), np.zeros((k, n), dtype=bool),
                *(np.full((k, n), np.nan) for _ in range(3)),
                {name: np.full((k, n), np.nan) for name in PROXIES})  # fmt: skip
    for j, (rows, signals) in enumerate(units):
        rows = rows.sort("sample_id")
        if not np.array_equal(rows["sample_id"].to_numpy(), ids):
            raise ValueError(f"{folders[j]} predicts another pool than {folders[0]}")
        grid.inclusion[j] = rows["split"].to_numpy() == "train"
        grid.p_given[j] = rows["p_given"].fill_null(np.nan).to_numpy()
        grid.logit_given[j] = rows["logit_given"].fill_null(np.nan).to_numpy()
        grid.loss[j] = rows["loss"].fill_null(np.nan).to_numpy()
        grid.noisy[:] |= rows["noisy"].fill_null(False).to_numpy()
        at = np.searchsorted(ids, signals["sample_id"].to_numpy())
        for name in PROXIES:
            grid.proxies[name][j, at] = signals[name].cast(pl.Float64).fill_null(np.nan).to_numpy()
    return grid


def attack_scores(grid: Grid) -> dict[str, np.ndarray]:
    """LiRA's and the loss attack's scores [K, n] of every (model, sample) pair: what their
    figures and ROC curves are made of."""
    return {"LiRA": lira(grid.inclusion, grid.p_given, logits=grid.logit_given),
            "loss": -grid.loss}  # fmt: skip


def attack_pairs(grid: Grid) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """The grid's inclusion, each attack's scores, and the (model, sample) pairs both attacks
    are judged on: those LiRA scores, where the other models hold the sample both in and out
    (none with 2 models, whose one shadow is either), so that the two compare."""
    scores = attack_scores(grid)
    return grid.inclusion, scores, np.isfinite(scores["LiRA"])


def cell(folders: Sequence[Path], resamples: int = 1000) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The per-sample table and the figures of one cell's K subset units."""
    return cell_of(read_grid(folders), resamples)


def cell_of(grid: Grid, resamples: int = 1000) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The per-sample table and the figures of a cell's grid."""
    inclusion, scores, pairs = attack_pairs(grid)
    mem = counterfactual(inclusion, grid.p_given)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a sample never in: its means are NaN
        lira_in = np.where(inclusion, scores["LiRA"], np.nan)
        table = pl.DataFrame({
            "sample_id": grid.ids, "noisy": grid.noisy, **mem,
            "lira": np.nanmean(lira_in, axis=0),  # mean LiRA score where it was a member
            **{name: np.nanmean(values, axis=0) for name, values in grid.proxies.items()},
        }).fill_nan(None)  # fmt: skip
    figures = {
        "models": inclusion.shape[0],
        "samples": inclusion.shape[1],
        "memorization": _by_noise(table),
        "lira": lira_figures(inclusion, scores["LiRA"], SEED, resamples),
        # what LiRA's phi was computed from: the models' logit_given, or p_given's clipped logit
        "lira_logit": log_odds(grid.p_given, grid.logit_given)[1],
        "loss_attack": attack_figures(
            scores["loss"][inclusion & pairs],
            scores["loss"][~inclusion & pairs],
            seed=SEED,
            resamples=resamples,
        ),
        "proxies": _proxies(table, resamples),
    }
    if not pairs.any():
        figures["why"] = (f"no attack: LiRA needs 3 subset models at least, and "
                          f"{len(inclusion)} leave no sample both in and out of a target's "
                          "shadow models")  # fmt: skip
    return table, figures


def _by_noise(table: pl.DataFrame) -> dict[str, Any]:
    """Mean counterfactual memorization of all, clean and noisy samples."""
    out = {}
    for name, rows in (("all", table), ("clean", table.filter(~pl.col("noisy"))),
                       ("noisy", table.filter(pl.col("noisy")))):  # fmt: skip
        values = rows["memorization"].drop_nulls()
        out[name] = {"n": values.len(), "mean": None if values.is_empty() else values.mean()}
    return out


def _proxies(table: pl.DataFrame, resamples: int) -> dict[str, Any]:
    """Spearman's rho of each signal with counterfactual memorization (its sign: a signal
    that falls as memorization rises, as the loss does, correlates negatively)."""
    mem = table["memorization"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    out = {}
    for name in PROXIES:
        x = table[name].cast(pl.Float64).fill_null(np.nan).to_numpy()
        out[name] = spearman_interval(x, mem, seed=SEED, resamples=resamples)
    return out
