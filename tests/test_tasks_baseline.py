"""Acceptance 1: every task x noise kind runs end to end with the baseline model (smoke); and
its labelled lines carry the log-odds of their p_given."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmark import datasets, noise
from benchmark.evaluator import score, scored
from benchmark.metrics import epochs
from benchmark.metrics.summary import summarize
from benchmark.models import baseline
from benchmark.noise import NOISE_KINDS
from benchmark.numbers import logistic
from benchmark.profiles import PROFILES, select_splits
from benchmark.run import SAMPLES_ROW_GROUP
from benchmark.tasks.hooks import task_hooks
from benchmark.tasks.lines import ReadAhead
from benchmark.tasks.spec import TaskSpec
from tests.test_metrics_doc import undocumented

CASES = [(task, kind) for task, kinds in NOISE_KINDS.items() for kind in kinds]


@pytest.mark.parametrize(("task", "kind"), CASES)
def test_baseline_runs_every_task_and_noise_kind(task, kind, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "benchmark", "run", "--task", task, "--model", "baseline",
         "--noise", "0.5", "--noise-kind", kind, "--profile", "smoke",
         "--results", str(tmp_path), "--json"],
        capture_output=True, text=True, env=os.environ.copy(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = json.loads(proc.stdout)
    assert m["task"] == task and m["noise"]["kind"] == kind
    # round(0.5 x n) of the n training samples the kind can change, less the holdout's share
    (run,) = [json.loads(p.read_text()) for p in tmp_path.rglob("run.json")]
    assert run["noise"]["kind"] == kind and run["noise"]["version"] >= 1
    k = round(0.5 * run["noise"]["changeable"])
    assert m["noise"]["n_noisy"] == k - round(0.1 * k) > 0
    # of the samples trained on (the holdout carved out), those the kind can change
    assert m["noise"]["n_noisy"] <= m["noise"]["n_changeable"] <= m["noise"]["n_train"]
    if kind == "label":
        assert m["noise"]["n_changeable"] == m["noise"]["n_train"]
    primary = m["selection"]["metric"]
    assert m["test"][primary] is not None and m["valid"][primary] is not None
    # Every key of every task's metrics.json is defined, with its original, in docs/metrics.md.
    assert not undocumented(m), f"docs/metrics.md lacks: {', '.join(undocumented(m))}"


def smoke_inputs(task: str, folder: Path, epochs: int) -> tuple[TaskSpec, dict, pl.DataFrame]:
    """The baseline's input folder for the task's smoke splits with 50% label noise, written
    by ``bench run``'s own hooks; the hooks, the splits and the labels frame."""
    name = next(n for n, d in datasets.DATASETS.items() if task in d.tasks)
    splits = select_splits(datasets.load(name).samples, PROFILES["smoke"])
    hooks = task_hooks(task)
    splits, labels = hooks.prepare(splits, noise.mask(splits["train"].height, 0.5, 0), "label", 0)
    hooks.write_inputs(folder, {"task": task, "model": "baseline", "seed": 0, "epochs": epochs,
                                "device": "cpu", "profile": "smoke", "hyperparameters": {}},
                       splits)  # fmt: skip
    return hooks, splits, labels


@pytest.mark.parametrize("task", list(NOISE_KINDS))
def test_every_labelled_line_has_the_log_odds_of_its_p_given(task, tmp_path):
    """The baseline on each task's smoke input (``bench run``'s own hooks), with a holdout split
    (a copy of train): every train and holdout line's ``logit_given`` is finite and its
    logistic is the line's ``p_given``."""
    inp = tmp_path / "in"
    smoke_inputs(task, inp, epochs=1)
    spec = json.loads((inp / "task.json").read_text())
    spec["files"]["holdout"] = spec["files"]["train"]
    (inp / "task.json").write_text(json.dumps(spec))
    assert baseline.main(["--input", str(inp), "--output", str(tmp_path / "out")]) == 0
    lines = [json.loads(x) for x in
             (tmp_path / "out/predictions/epoch-001.jsonl").read_text().splitlines()]  # fmt: skip
    labelled = [r for r in lines if r["split"] in ("train", "holdout")]
    assert {r["split"] for r in labelled} == {"train", "holdout"}
    for r in labelled:
        assert math.isfinite(r["logit_given"]) and r["logit_given"] == round(r["logit_given"], 6)
        assert abs(logistic(r["logit_given"]) - r["p_given"]) <= 1e-5, r
    assert all("logit_given" not in r for r in lines if r["split"] in ("valid", "test"))


def test_a_certain_neighbour_vote_has_finite_log_odds():
    """With one training label every neighbour votes for it: p_given is 1 exactly, and its
    log-odds is large and finite; a label no neighbour has keeps its exact log-odds."""
    train = [{"id": str(i), "source_tokens": ["getValue", f"x{i}"], "label": ["get"]}
             for i in range(3)]  # fmt: skip
    other = [{"id": "o", "source_tokens": ["getValue"], "label": ["set"]}]
    got = baseline._knn(train, "label", [("get",)] * 3, {"train": train, "holdout": other})
    for _, _, p_given, logit in got["train"]:
        assert p_given == 1.0 and 700 < logit < 800
    ((_, _, p_given, logit),) = got["holdout"]
    assert p_given == pytest.approx(0.1 / 3.1)
    assert logit == round(math.log(0.1 / 3.0), 6)  # the 0.1 smoothing against the 3 votes


@given(st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0, -math.inf]), min_size=1, max_size=30),
       st.integers(1, 8))
def test_nearest_are_the_first_of_a_stable_argsort(values: list[float], k: int) -> None:
    """Ties (many, at few distinct similarities) go to the earlier sample, as argsort's."""
    sims = np.array(values)
    assert baseline._nearest(sims, k).tolist() == np.argsort(-sims, kind="stable")[:k].tolist()


def test_neighbours_found_a_chunk_of_rows_at_a_time_are_those_of_the_whole_matrix(monkeypatch):
    """A split's similarities against train are made a few rows at a time (the whole matrix
    of 80,000 methods is 38 GiB): the same votes, train's own row left out in every chunk."""
    rng = np.random.default_rng(0)
    words = ["get", "set", "value", "size", "add", "name", "id", "list"]
    train = [{"id": f"t{i}", "source_tokens": list(rng.choice(words, 4)),
              "label": [str(rng.choice(words[:3]))]} for i in range(40)]  # fmt: skip
    held = [{"id": f"h{i}", "source_tokens": list(rng.choice(words, 3)), "label": ["get"]}
            for i in range(9)]  # fmt: skip
    labels = [tuple(r["label"]) for r in train]
    whole = baseline._knn(train, "label", labels, {"train": train, "holdout": held})
    monkeypatch.setattr(baseline, "CHUNK_CELLS", 3 * len(train))  # 3 rows a chunk
    assert baseline._knn(train, "label", labels, {"train": train, "holdout": held}) == whole


@pytest.mark.parametrize("task", list(NOISE_KINDS))
def test_scoring_epoch_by_epoch_gives_the_table_of_all_epochs_at_once(task, tmp_path, monkeypatch):
    """`bench run` scores each epoch file as the model writes it: for every task, the epochs'
    tables in order are the table that scoring every epoch at once gives, and samples.parquet
    has the same bytes either way. The summary reads it a slice of epochs at a time: a slice
    per epoch gives the summary of one slice."""
    hooks, splits, labels = smoke_inputs(task, tmp_path / "in", epochs=3)
    out = tmp_path / "out"
    assert baseline.main(["--input", str(tmp_path / "in"), "--output", str(out)]) == 0
    at_once = score(task, labels, hooks.read_predictions(out, 3, splits))
    ahead = ReadAhead(out, scored(task, labels, hooks.epoch_reader(splits)), tmp_path / "scored")
    ahead.read(1)  # as the model finished it; 2 and 3 are read by finish
    by_epoch = ahead.finish(3)
    assert at_once.height == 3 * sum(s.height for s in splits.values())
    assert by_epoch.collect().equals(at_once)
    files = [tmp_path / "at-once.parquet", tmp_path / "by-epoch.parquet"]
    at_once.write_parquet(files[0], row_group_size=SAMPLES_ROW_GROUP)  # as bench run did
    by_epoch.sink_parquet(files[1], row_group_size=SAMPLES_ROW_GROUP)  # as it does
    assert files[0].read_bytes() == files[1].read_bytes()
    whole = summarize(pl.scan_parquet(files[1]), task)
    monkeypatch.setattr(epochs, "SLICE_ROWS", 1)
    assert epochs.slices(pl.scan_parquet(files[1])) == [[1], [2], [3]]
    assert summarize(pl.scan_parquet(files[1]), task) == whole
