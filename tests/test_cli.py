"""`bench run` and `bench leaderboard show` end to end, with the real GGNN process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from benchmark.datasets import DATASETS
from benchmark.models import MODELS
from benchmark.results import REQUIRED, read_manifest, write_manifest
from benchmark.tasks import TASKS
from native import sources

BENCH = [sys.executable, "-m", "benchmark"]


def bench(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([*BENCH, *args], capture_output=True, text=True, env=os.environ.copy())
    if check and proc.returncode != 0:
        raise AssertionError(f"bench {' '.join(args)} failed:\n{proc.stderr}")
    return proc


def smoke(results: Path, *extra: str) -> dict:
    out = bench("run", "--model", "ggnn", "--noise", "0.25", "--profile", "smoke",
                "--results", str(results), "--json", *extra)  # fmt: skip
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> tuple[Path, dict]:
    results = tmp_path_factory.mktemp("results")
    return results, smoke(results)


def test_metrics_contract(first_run):
    _, m = first_run
    for key in ("task", "model", "dataset", "seed", "profile", "noise", "selected_epoch", "test",
                "train_clean", "train_noisy", "memorization_rate", "generalization_gap",
                "noise_detection_auroc"):  # fmt: skip
        assert key in m
    assert (m["task"], m["model"], m["dataset"], m["profile"]) == (
        "var_misuse", "ggnn", "python-stdlib", "smoke",
    )  # fmt: skip
    assert set(m["test"]) >= {"no_bug_acc", "loc_acc", "repair_acc", "joint_acc"}
    assert m["noise"]["n_noisy"] == round(0.25 * m["noise"]["n_train"]) > 0
    assert 1 <= m["selected_epoch"] <= 2 and len(m["per_epoch"]) == 2


def test_results_folder(first_run):
    results, m = first_run
    unit = results / "var_misuse" / "python-stdlib" / "ggnn" / "noise-label-0.25" / "seed-0"
    assert all((unit / f).is_file() for f in REQUIRED)
    assert json.loads((unit / "metrics.json").read_text()) == m
    run = json.loads((unit / "run.json").read_text())
    assert run["config"]["seed"] == 0 and run["dataset"]["fingerprint"]
    assert run["hardware"]["parameters"] > 0
    table = pl.read_parquet(unit / "samples.parquet")
    assert {"sample_id", "split", "epoch", "noisy", "correct_given", "correct_true",
            "loss"} <= set(table.columns)  # fmt: skip
    n = m["noise"]["n_train"]
    train = table.filter(pl.col("split") == "train")
    assert train.height == 2 * n and train["noisy"].sum() == 2 * m["noise"]["n_noisy"]
    labels = pl.read_parquet(unit / "labels.parquet")  # the noise mask, saved with the run
    assert labels.filter(pl.col("split") == "train")["noisy"].sum() == m["noise"]["n_noisy"]
    assert not (results / ".tmp").exists() or not any((results / ".tmp").iterdir())


def test_same_seed_same_mask_and_metrics(first_run, tmp_path):
    results, m = first_run
    again = smoke(tmp_path)
    assert again == m
    path = "var_misuse/python-stdlib/ggnn/noise-label-0.25/seed-0/labels.parquet"
    assert pl.read_parquet(results / path).equals(pl.read_parquet(tmp_path / path))


def test_other_seed_other_mask(first_run, tmp_path):
    results, m = first_run
    other = smoke(tmp_path, "--seed", "1")
    assert other["noise"]["n_noisy"] == m["noise"]["n_noisy"]
    a = pl.read_parquet(
        results / "var_misuse/python-stdlib/ggnn/noise-label-0.25/seed-0/labels.parquet"
    )
    b = pl.read_parquet(
        tmp_path / "var_misuse/python-stdlib/ggnn/noise-label-0.25/seed-1/labels.parquet"
    )
    assert not a["noisy"].equals(b["noisy"])


def test_complete_unit_is_not_run_again(first_run):
    results, m = first_run
    proc = bench("run", "--model", "ggnn", "--noise", "0.25", "--profile", "smoke",
                 "--results", str(results), "--json")  # fmt: skip
    assert json.loads(proc.stdout) == m and "is complete" in proc.stderr


def test_leaderboard_shows_the_run(first_run):
    results, m = first_run
    out = json.loads(bench("leaderboard", "show", "--results", str(results), "--json").stdout)
    (row,) = [r for r in out["rows"] if "0.25" in r["scores"]]
    assert row["model"] == "ggnn" and row["seeds"] == 1
    assert row["scores"]["0.25"]["mean"] == m["test"]["acc"]
    assert row["memorization_rate"] == m["memorization_rate"]
    text = bench("leaderboard", "show", "--results", str(results)).stdout
    assert "ggnn" in text


def test_compare_with_the_baseline_with_itself_and_with_no_run(first_run, tmp_path):
    """`bench compare` scores each run at its selected epoch, as its metrics.json does."""
    results, m = first_run
    unit = results / "var_misuse/python-stdlib/ggnn/noise-label-0.25/seed-0"
    base = json.loads(bench("run", "--model", "baseline", "--noise", "0.25", "--profile", "smoke",
                            "--results", str(tmp_path), "--json").stdout)  # fmt: skip
    other = tmp_path / "var_misuse/python-stdlib/baseline/noise-label-0.25/seed-0"
    r = json.loads(bench("compare", str(unit), str(other), "--json").stdout)
    assert (r["task"], r["split"], r["metric"], r["replicates"]) == ("var_misuse", "test", "acc",
                                                                     1000)  # fmt: skip
    assert r["a"] == pytest.approx(m["test"]["acc"]) and r["b"] == pytest.approx(
        base["test"]["acc"]
    )
    assert r["low"] <= r["difference"] <= r["high"]
    same = bench("compare", str(unit), str(unit), "--metric", "joint_acc", "--split", "valid")
    assert "A - B +0, 95% interval [+0, +0]; A not above B in 100.0%" in same.stdout
    assert same.stdout.rstrip().endswith("resamplings: the same")
    proc = bench("compare", str(unit), str(tmp_path), check=False)
    assert proc.returncode == 2 and "is not a complete run" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    pool = tmp_path / "pool"  # a folder of seeds: here one run's rows twice, so the same answer
    for seed in (0, 3):
        shutil.copytree(unit, pool / f"seed-{seed}")
        for name in ("metrics.json", "run.json"):
            data = json.loads((pool / f"seed-{seed}" / name).read_text())
            (data["config"] if name == "run.json" else data)["seed"] = seed
            (pool / f"seed-{seed}" / name).write_text(json.dumps(data))
        write_manifest(pool / f"seed-{seed}", read_manifest(unit)["settings"])
    pooled = json.loads(bench("compare", str(pool), str(other), "--json").stdout)
    assert (pooled["runs_a"], pooled["runs_b"]) == (2, 1)
    assert {k: v for k, v in pooled.items() if k not in ("a_run", "runs_a")} == {
        k: v for k, v in r.items() if k not in ("a_run", "runs_a")
    }
    assert "(mean of 2 runs)" in bench("compare", str(pool), str(other)).stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "nope"], f"unknown model 'nope'; choose from: {', '.join(sorted(MODELS))}"),
        (
            ["--model", "ggnn", "--task", "nope"],
            f"unknown task 'nope'; choose from: {', '.join(sorted(TASKS))}",
        ),
        (
            ["--model", "ggnn", "--dataset", "nope"],
            f"unknown dataset 'nope'; choose from: {', '.join(sorted(DATASETS))}",
        ),
        (["--model", "ggnn", "--noise", "1.5"], "noise rate 1.5 is outside [0, 1]"),
        (["--model", "ggnn", "--noise", "-0.1"], "noise rate -0.1 is outside [0, 1]"),
        (["--model", "ggnn", "--profile", "huge"], "unknown profile 'huge'"),
        (["--model", "ggnn", "--bogus"], "No such option: --bogus"),
    ],
)
def test_bad_options_get_one_line_and_status_2(args, message, tmp_path):
    proc = bench("run", *args, "--results", str(tmp_path), check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert proc.stdout == ""


@pytest.mark.parametrize(
    ("lang", "task", "pattern"),
    [("python", "var_misuse", "*.py"), ("ruby", "code_to_text", "*.rb")],
)
def test_any_source_folder_is_a_dataset(lang, task, pattern, tmp_path):
    """`--dataset dir:PATH` builds the task's samples from a user's own source tree, and its
    units go by the resolved path and the language."""
    if lang == "python":
        root = sources.python_stdlib()
    else:
        rubylib = subprocess.run(["ruby", "-e", "print RbConfig::CONFIG['rubylibdir']"],
                                 capture_output=True, text=True, check=True).stdout  # fmt: skip
        root = Path(rubylib)
    src = tmp_path / "src"
    files = sorted(root.rglob(pattern))[:400]
    for f in files:
        dest = src / f.relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(f.read_bytes())
    out = bench("run", "--task", task, "--model", "baseline", "--dataset", f"dir:{src}",
                "--noise", "0.5", "--profile", "smoke", "--results", str(tmp_path / "r"),
                "--json")  # fmt: skip
    m = json.loads(out.stdout)
    assert m["dataset"] == f"dir:{src.resolve()}:{lang}" and m["noise"]["n_noisy"] == round(
        0.5 * m["noise"]["n_train"]
    )
    missing = bench("run", "--task", task, "--model", "baseline", "--dataset",
                    f"dir:{tmp_path / 'nope'}", check=False)  # fmt: skip
    assert missing.returncode == 2 and f"{tmp_path / 'nope'} does not exist" in missing.stderr
