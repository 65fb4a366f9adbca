"""The benchmarks of tests/perf print every figure they promise on the CPU (issue 24's first
acceptance point), so that a GPU session finds them working: each runs here at the smoke
profile on a few functions, as a user runs it, and its ``--json`` is checked figure by figure.
Nothing is timed: the figures are measured, not judged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PERF = Path(__file__).resolve().parent / "perf"


def run_json(script: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, str(PERF / script), *args, "--json"],
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.mark.slow
def test_training_benchmark_prints_every_figure_on_cpu() -> None:
    out = run_json("training.py", "--profile", "smoke", "--samples", "40", "--threads", "1")
    assert out["device"] == "cpu"
    rows = {(r["model"], r.get("task")): r for r in out["rows"]}
    assert set(rows) == {("ggnn", None), ("great", None), ("transformer", None), ("rnn", None),
                         ("code2vec", None), ("code2seq", None),
                         ("codebert", "code_to_text"), ("codebert", "code_search")}  # fmt: skip
    for (model, _), r in rows.items():
        assert r["samples"] > 0 and r["seconds"] > 0 and r["samples_per_s"] > 0, model
        assert r["parameters"] > 0 and r["ops_per_batch"] > 0, model
        assert r["gflops_per_sample"] >= 0, model
        # CUDA's figures are None on the CPU, not made up; no peak rate, so no MFU.
        for key in ("peak_memory_mib", "gpu_busy", "host_syncs_per_batch", "mfu"):
            assert r[key] is None, (model, key)
        if model in ("ggnn", "great", "transformer", "rnn", "code2vec", "code2seq"):
            assert r["tokens_per_s"] > 0, model
        # The input pipeline alone, for every model (the host side a GPU can wait on).
        assert r["pipeline_headroom"] > 0, model
        assert r["pipeline_batches_per_s"] > 0 and r["model_batches_per_s"] > 0, model
    for model in ("ggnn", "great", "transformer", "rnn"):
        assert rows[(model, None)]["padding"] >= 1.0, model
    assert rows[("great", None)]["gflops_per_sample"] > 0


@pytest.mark.slow
def test_padding_benchmark_compares_both_ways() -> None:
    out = run_json("padding.py", "--profile", "cpu", "--model", "great")
    assert out["functions"] > 1000 and out["batch_tokens"] == 4000
    before, after = out["consecutive"], out["similar_length"]
    for r in (before, after):
        assert r["batches"] > 0 and r["planning_ms"] >= 0
        assert r["attention_over_needed"] >= 1.0 and r["padded_over_tokens"] >= 1.0
    # Whatever the machine: the batches of similar length pad python-stdlib far less.
    assert after["padded_over_tokens"] < 1.1 < 2.0 < before["padded_over_tokens"]


def test_padding_benchmark_names_an_unknown_model_in_one_line() -> None:
    done = subprocess.run([sys.executable, str(PERF / "padding.py"), "--model", "code2vec"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "invalid choice: 'code2vec'" in done.stderr.strip().splitlines()[-1]
