"""Acceptance 1: every task x noise kind runs end to end with the baseline model (smoke)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from benchmark.noise import NOISE_KINDS
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
