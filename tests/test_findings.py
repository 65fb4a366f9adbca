"""`bench findings`: the intervals and verdicts by hand, and the page end to end at smoke."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from scipy import stats

from benchmark import findings as fd
from benchmark.metrics.sweep import difference_interval
from tests.units import seal


def test_difference_interval_is_welchs() -> None:
    a, b = [0.61, 0.63, 0.66], [0.02, 0.05, 0.01]
    got = difference_interval(a, b)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert got["diff"] == pytest.approx(sum(a) / 3 - sum(b) / 3)
    assert (got["low"], got["high"]) == pytest.approx((ci.low, ci.high))
    assert difference_interval([0.5], [0.1, 0.2]) == {"diff": pytest.approx(0.35),
                                                         "low": None, "high": None}  # fmt: skip
    assert difference_interval([], [0.1])["diff"] is None


def _unit(root: Path, rate: float, seed: int, train: list[float], test: list[float],
          epochs: int = 8) -> None:  # fmt: skip
    """A finished unit's metrics.json and run.json, with per-epoch train and test f1 (run.json
    says it trained for `epochs`, the cpu profile's by default, as its sweep would)."""
    folder = root / "method_name" / "jdk" / "code2vec" / f"noise-label-{rate:g}" / f"seed-{seed}"
    folder.mkdir(parents=True)
    per_epoch = [{"epoch": i + 1, "train": {"f1": tr}, "test": {"f1": te},
                  "gini_train_loss": 0.3, "avg_predicted_score": {"test": 0.4},
                  "memorization_rate": tr if rate else None}
                 for i, (tr, te) in enumerate(zip(train, test, strict=True))]  # fmt: skip
    metrics = {"task": "method_name", "model": "code2vec", "dataset": "jdk", "seed": seed,
               "noise": {"kind": "label", "rate": rate}, "selection": {"metric": "f1"},
               "selected_epoch": len(train), "test": {"f1": test[-1]},
               "memorization_rate_last": train[-1] if rate else None,
               "per_epoch": per_epoch}  # fmt: skip
    (folder / "metrics.json").write_text(json.dumps(metrics))
    run = {"started": "2026-12-04T10:00:00", "hardware": {"cpu": "x", "cores": 2, "device": "cpu"},
           "code": {"git_commit": "abcdef0123456", "git_dirty": False},
           "config": {"epochs": epochs, "weights": None}}  # fmt: skip
    (folder / "run.json").write_text(json.dumps(run))
    # the last epoch's test names: "get x" for every sample at noise 1, varied at 0
    names = [["get", "x"]] * 4 if rate else [["get", "x"], ["set", "y"], ["size"], ["get", "x"]]
    pl.DataFrame(
        {"epoch": [len(train)] * 4, "split": ["test"] * 4, "subtokens": names}
    ).write_parquet(folder / "samples.parquet")
    seal(folder)


def test_the_signature_shows_when_test_collapses_and_train_fits_the_noise(tmp_path) -> None:
    for seed, (clean, noisy) in enumerate([(0.40, 0.010), (0.38, 0.012), (0.39, 0.008)]):
        _unit(tmp_path, 0.0, seed, [0.5, 0.9], [0.35, clean])
        _unit(tmp_path, 1.0, seed, [0.1, 0.8 + seed / 100], [0.05, noisy])
    (case,), units = fd.collect(tmp_path, [("method_name", "code2vec", None)])
    assert case["collapses"] and case["fits_noise"]
    assert case["drop"]["diff"] == pytest.approx(0.39 - 0.01)
    assert case["fit"]["diff"] == pytest.approx(0.81 - 0.01)
    assert fd.verdict(case).startswith("**The signature shows.**")
    page = fd.write_page([case], units, tmp_path / "docs", "bench findings").read_text()
    assert "| method_name | code2vec | jdk | 0.390 [" in page and "| shows |" in page
    # a page of one case says so in its title rather than claiming every task
    assert page.startswith("# The study's finding, measured on method_name (not on var_misuse, "
                           "code_to_text, code_search)\n")  # fmt: skip
    assert "Not on this page: var_misuse:ggnn, code_to_text:codebert, code_search:codebert." in page
    assert (tmp_path / "docs" / "findings" / "method_name-code2vec.svg").is_file()
    # the sweep that makes the case's units, from what they record, under its section
    command = ("bench sweep --task method_name --dataset jdk --models code2vec --noise-kind "
               "label --noise 0,1 --seeds 3 --profile cpu")  # fmt: skip
    assert case["command"] == command and f"```\n{command}\n```" in page
    # distinct test outputs: 3 of 4 names at noise 0, 1 of 4 at noise 1
    assert case["table"][0.0]["distinct_test_outputs"]["mean"] == 0.75
    assert case["table"][1.0]["distinct_test_outputs"]["mean"] == 0.25


def test_a_test_score_that_does_not_move_is_called_a_floor(tmp_path) -> None:
    for seed, score in enumerate([0.30, 0.32, 0.31]):
        _unit(tmp_path, 0.0, seed, [0.5, 0.9], [0.3, score])
        _unit(tmp_path, 1.0, seed, [0.2, 0.7], [0.3, score - 0.005 * (seed - 1)])
    (case,), _ = fd.collect(tmp_path, [("method_name", "code2vec", None)])
    assert not case["collapses"] and case["fits_noise"]
    text = fd.verdict(case)
    assert text.startswith("**The signature does not show.**") and "floor" in text


def test_a_case_without_two_rates_is_one_line(tmp_path) -> None:
    _unit(tmp_path, 0.0, 0, [0.5], [0.3])
    with pytest.raises(ValueError, match="fewer than two noise rates"):
        fd.collect(tmp_path, [("method_name", "code2vec", None)])
    with pytest.raises(ValueError, match="not TASK:MODEL"):
        fd.parse_cases("var_misuse")
    assert fd.parse_cases("code_to_text:codebert:ruby-debian, var_misuse:ggnn") == [
        ("code_to_text", "codebert", "ruby-debian"),
        ("var_misuse", "ggnn", None),
    ]


@pytest.mark.parametrize(("args", "says"), [
    (["--cases", "var_misuse:nosuch"], "unknown model 'nosuch'"),
    (["--cases", "var_misuse:code2vec"], "model 'code2vec' does not do task 'var_misuse'"),
    (["--cases", "var_misuse:ggnn:nosuchds"], "unknown dataset 'nosuchds'"),
    (["--noise", "0,abc"], "noise rate 'abc' is not a number"),
    (["--noise", "0,5"], "noise rate 5.0 is outside [0, 1]"),
    (["--profile", "huge"], "unknown profile 'huge'"),
])  # fmt: skip
def test_no_sweep_checks_its_options_too(tmp_path, args: list[str], says: str) -> None:
    """A typo is named as such, not taken for a sweep that has not run yet."""
    proc = subprocess.run([sys.executable, "-m", "benchmark", "findings", "--results",
                           str(tmp_path / "r"), "--out", str(tmp_path / "docs"), *args,
                           "--no-sweep"], capture_output=True, text=True)  # fmt: skip
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and says in lines[0], proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_units_of_another_dataset_are_not_mixed_in(tmp_path) -> None:
    """A results folder that holds a task's runs on two datasets: each case reads its own."""
    for seed in range(2):
        _unit(tmp_path, 0.0, seed, [0.5, 0.9], [0.3, 0.4])
        _unit(tmp_path, 1.0, seed, [0.2, 0.7], [0.1, 0.01])
    other = tmp_path / "method_name" / "java-small"
    (tmp_path / "method_name" / "jdk").rename(other)
    for f in other.rglob("metrics.json"):
        f.write_text(f.read_text().replace('"dataset": "jdk"', '"dataset": "java-small"'))
        seal(f.parent)
    for seed in range(2):
        _unit(tmp_path, 0.0, seed, [0.5, 0.9], [0.3, 0.2])
        _unit(tmp_path, 1.0, seed, [0.2, 0.7], [0.1, 0.02])
    (jdk,), _ = fd.collect(tmp_path, [("method_name", "code2vec", None)])
    (small,), _ = fd.collect(tmp_path, [("method_name", "code2vec", "java-small")])
    assert (jdk["dataset"], small["dataset"]) == ("jdk", "java-small")
    assert jdk["table"][0.0]["test_last"]["mean"] == pytest.approx(0.2)
    assert small["table"][0.0]["test_last"]["mean"] == pytest.approx(0.4)
    assert "--dataset java-small" in small["command"] and small["table"][0.0]["seeds"] == 2


@pytest.mark.slow
def test_bench_findings_runs_its_sweeps_and_writes_the_page(tmp_path) -> None:
    results, docs = tmp_path / "results", tmp_path / "docs"
    argv = [sys.executable, "-m", "benchmark", "findings", "--results", str(results), "--out",
            str(docs), "--cases", "var_misuse:baseline", "--noise", "0,1", "--seeds", "2",
            "--profile", "smoke", "--max-parallel", "1"]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr[-2000:]
    page = (docs / "findings.md").read_text()
    assert "--cases var_misuse:baseline" in page and "## var_misuse (baseline" in page
    svg = (docs / "findings" / "var_misuse-baseline.svg").read_text()
    assert "noise 0" in svg and "noise 1" in svg and "Gini of the training loss" in svg
    # Again on complete sweeps: nothing runs, and the same bytes come out.
    again = subprocess.run([*argv, "--no-sweep"], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    assert (docs / "findings.md").read_text().replace("--no-sweep", "").split() == page.split()
    assert (docs / "findings" / "var_misuse-baseline.svg").read_text() == svg
    bad = subprocess.run([*argv[:-2], "--cases", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "TASK:MODEL" in bad.stderr


def test_train_and_test_are_compared_in_a_metric_both_have() -> None:
    """code_search's MRR ranks held-out queries only; memorization is read in pair accuracy."""
    last = {"train": {"mrr": None, "pair_acc": 0.9}, "test": {"mrr": 0.3, "pair_acc": 0.6}}
    from benchmark.metrics.summary import fit_metric

    for primary in ("mrr", "pair_acc"):
        assert fit_metric({"selection": {"metric": primary}, "per_epoch": [last]}) == "pair_acc"


@pytest.mark.parametrize("damage", ["run.json gone", "run.json a folder", "metrics.json a link"])
def test_a_damaged_unit_is_left_out_of_the_case_not_the_page(tmp_path, capsys,
                                                             damage: str) -> None:
    """One unit's run.json gone or a folder was an errno message that refused the whole page;
    a metrics.json linked to /dev/zero was read to the end of the memory (found by probing):
    a unit that does not verify is now left out with a warning, before it is read."""
    for seed in range(3):
        _unit(tmp_path, 0.0, seed, [0.5, 0.9], [0.3, 0.4])
        _unit(tmp_path, 1.0, seed, [0.2, 0.7], [0.1, 0.01])
    folder = tmp_path / "method_name" / "jdk" / "code2vec" / "noise-label-0" / "seed-2"
    name = damage.split()[0]
    (folder / name).unlink()
    if damage.endswith("folder"):
        (folder / name).mkdir()
    elif damage.endswith("link"):
        (folder / name).symlink_to("/dev/zero")
    (case,), _ = fd.collect(tmp_path, [("method_name", "code2vec", None)])
    assert case["table"][0.0]["seeds"] == 2 and case["table"][1.0]["seeds"] == 3
    err = capsys.readouterr().err
    assert f"warning: {folder}: " in err and "left out" in err, err


@pytest.mark.parametrize(("file", "edit", "says"), [
    ("metrics.json", lambda m: {**m, "per_epoch": []}, "per_epoch holds no epoch"),
    ("metrics.json", lambda m: {**m, "per_epoch": [{k: v for k, v in e.items() if k != "test"}
                                                   for e in m["per_epoch"]]},
     "has no train or no test scores"),
    ("run.json", lambda r: {**r, "code": "x"}, "run.json's code is not as the harness writes it"),
])  # fmt: skip
def test_a_resigned_unit_of_the_wrong_shape_is_left_out(tmp_path, capsys, file, edit, says):
    """Each was a traceback, or 'error: test', that refused the page (found by probing)."""
    for seed in range(3):
        _unit(tmp_path, 0.0, seed, [0.5, 0.9], [0.3, 0.4])
        _unit(tmp_path, 1.0, seed, [0.2, 0.7], [0.1, 0.01])
    folder = tmp_path / "method_name" / "jdk" / "code2vec" / "noise-label-1" / "seed-0"
    (folder / file).write_text(json.dumps(edit(json.loads((folder / file).read_text()))))
    seal(folder)
    (case,), _ = fd.collect(tmp_path, [("method_name", "code2vec", None)])
    assert case["table"][1.0]["seeds"] == 2 and case["table"][0.0]["seeds"] == 3
    err = capsys.readouterr().err
    assert f"warning: {folder}: " in err and says in err, err


def test_the_page_is_written_from_its_sweeps_grid_only(tmp_path, capsys) -> None:
    """With --no-sweep the page named its --noise, --seeds and --profile as its source but
    wrote up every unit it found, of other rates, seeds or profiles too (found by probing)."""
    from benchmark.sweep_spec import make_spec

    for seed in range(3):
        for rate in (0.0, 0.5, 1.0):
            _unit(tmp_path, rate, seed, [0.5, 0.9], [0.3, 0.4 - rate / 3])
    grid = make_spec("method_name", None, "code2vec", "0,1", "label", 2, "cpu", None, "auto",
                     "process")  # fmt: skip
    (case,), _ = fd.collect(tmp_path, [("method_name", "code2vec", None)], [grid])
    assert case["rates"] == [0.0, 1.0]
    assert [case["table"][r]["seeds"] for r in (0.0, 1.0)] == [2, 2]
    assert "5 units under" in capsys.readouterr().err
    (everything,), _ = fd.collect(tmp_path, [("method_name", "code2vec", None)])
    assert everything["rates"] == [0.0, 0.5, 1.0]
    # units of other epochs are another experiment: seed 3 at 2 epochs is left out too
    for rate in (0.0, 1.0):
        _unit(tmp_path, rate, 3, [0.5, 0.9], [0.3, 0.4 - rate / 3], epochs=2)
    grid = make_spec("method_name", None, "code2vec", "0,1", "label", 4, "cpu", None, "auto",
                     "process")  # fmt: skip
    (case,), _ = fd.collect(tmp_path, [("method_name", "code2vec", None)], [grid])
    assert [case["table"][r]["seeds"] for r in (0.0, 1.0)] == [3, 3]
    assert "5 units under" in capsys.readouterr().err
