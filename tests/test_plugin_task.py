"""A fifth task from outside the suite: tests/plugins/toy_task registers a task (its spec, one
noise kind, its metric), a dataset built in code and a model program through BENCH_PLUGINS,
and `bench run`, `bench leaderboard show` and `bench report` run it end to end at smoke, with
no edit to the suite's own files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = "tests.plugins.toy_task"


def bench(*args: str, plugins: str = PLUGIN) -> subprocess.CompletedProcess:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "BENCH_PLUGINS": plugins, "PYTHONPATH": path}
    return subprocess.run([sys.executable, "-m", "benchmark", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=600)  # fmt: skip


@pytest.mark.slow
def test_a_plugin_task_runs_end_to_end(tmp_path):
    results = tmp_path / "results"
    run = bench("run", "--task", "toy_parity", "--model", "toy-lookup", "--noise", "0.25",
                "--profile", "smoke", "--results", str(results), "--json")  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    m = json.loads(run.stdout)
    assert (m["task"], m["dataset"], m["model"]) == ("toy_parity", "toy-bits", "toy-lookup")
    assert m["selection"]["metric"] == "acc"
    # a plugin's model speaks protocol 2 unless it says otherwise: no holdout split
    assert m["noise"] == {"kind": "label", "rate": 0.25, "n_train": 160, "n_changeable": 160,
                          "n_noisy": 40, "n_holdout": 0}  # fmt: skip
    assert m["membership"]["nonmembers"] is None
    assert m["test"]["acc"] > 0.5  # parity on unseen strings, the noisy given label on seen
    assert m["memorization_rate"] is not None

    show = bench("leaderboard", "show", "--results", str(results), "--json")
    assert show.returncode == 0, show.stderr[-3000:]
    (row,) = [r for r in json.loads(show.stdout)["rows"] if r["model"] == "toy-lookup"]
    assert row["scores"]["0.25"]["mean"] == m["test"]["acc"]

    report = bench("report", str(results))
    assert report.returncode == 0, report.stderr[-3000:]
    text = (results / "report" / "report.md").read_text()
    assert "toy-lookup-label-0.25-seed0" in text  # the run, by its folder's name


def test_the_plugin_task_is_listed_in_the_help():
    proc = bench("run", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "toy_parity" in proc.stdout and "toy-lookup" in proc.stdout


def test_a_broken_plugin_is_one_line_and_status_2():
    proc = bench("run", "--help", plugins="tests.plugins.no_such_plugin")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "tests.plugins.no_such_plugin" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
