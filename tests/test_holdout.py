"""The holdout split and the membership section of metrics.json, end to end: the draw is
stratified and seeded, a protocol-3 model's holdout predictions reach the attacks, a perfect
memorizer is found at any false positive rate and a model that memorizes nothing is not, and a
protocol-2 model gets no holdout and says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from benchmark import holdout
from benchmark.metrics.membership import MIN_SIDE
from benchmark.protocol import HOLDOUT

MANIFEST = """
[memorizer]
tasks = ["var_misuse"]
representation = "great-jsonl"
command = ["{python}", "{script}", "--remembers", "{remembers}"]
protocol = {protocol}
"""


def _pool(n: int, noisy: int) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    ids = [f"s{i:03d}" for i in range(n)]
    flags = [i < noisy for i in range(n)]
    splits = {"train": pl.DataFrame({"id": ids, "x": range(n)}),
              "valid": pl.DataFrame({"id": ["v0"], "x": [0]}),
              "test": pl.DataFrame({"id": ["t0"], "x": [0]})}  # fmt: skip
    labels = pl.DataFrame({"sample_id": [*ids, "v0", "t0"],
                           "split": ["train"] * n + ["valid", "test"],
                           "noisy": [*flags, False, False]})  # fmt: skip
    return splits, labels


def test_the_holdout_is_a_seeded_draw_stratified_by_the_noise_mask() -> None:
    splits, labels = _pool(200, 50)
    out, relabelled = holdout.carve(splits, labels, 0.1, seed=3)
    held = relabelled.filter(pl.col("split") == HOLDOUT)
    # round(0.1 x 150) clean and round(0.1 x 50) noisy samples, so the noise rate stays 0.25
    assert (held.height, int(held["noisy"].sum())) == (20, 5)
    assert sorted(out[HOLDOUT]["id"]) == sorted(held["sample_id"])
    assert out["train"].height == 180 and not set(out["train"]["id"]) & set(held["sample_id"])
    assert relabelled.filter(pl.col("split") == "train")["noisy"].mean() == 0.25
    assert relabelled.filter(pl.col("split").is_in(["valid", "test"])).height == 2
    again, _ = holdout.carve(splits, labels, 0.1, seed=3)
    other, _ = holdout.carve(splits, labels, 0.1, seed=4)
    assert again[HOLDOUT].equals(out[HOLDOUT])
    assert set(other[HOLDOUT]["id"]) != set(out[HOLDOUT]["id"])


def _run(tmp_path: Path, remembers: str, protocol: int) -> dict:
    manifest = tmp_path / f"{remembers}-{protocol}.toml"
    script = Path(__file__).with_name("memorizer.py")
    manifest.write_text(MANIFEST.format(python=Path(sys.executable).as_posix(),
                                        script=script.as_posix(), remembers=remembers,
                                        protocol=protocol))  # fmt: skip
    env = {**os.environ, "BENCH_MODELS": str(manifest)}
    results = tmp_path / f"results-{remembers}-{protocol}"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmark", "run", "--model", "memorizer", "--profile", "smoke",
         "--noise", "0.5", "--results", str(results), "--json"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.slow
def test_a_perfect_memorizer_is_found_and_a_model_that_memorizes_nothing_is_not(tmp_path):
    found = _run(tmp_path, "train", 3)
    assert found["noise"]["n_holdout"] == 16 and found["noise"]["n_train"] == 144
    member = found["membership"]
    assert (member["nonmembers"], member["n_members"], member["n_nonmembers"]) == (
        HOLDOUT, 144, 16)  # fmt: skip
    for at in ("selected", "last"):
        for subset in ("all", "clean", "noisy"):
            figures = member[at]["loss"][subset]
            assert figures["auroc"]["value"] == 1.0
            assert figures["tpr_at_1pct_fpr"]["value"] == 1.0
            assert figures["tpr_at_0_1pct_fpr"]["value"] == 1.0
        # the memorizer's confidence says nothing about membership: chance, ties counting half
        assert member[at]["confidence"]["all"]["auroc"]["value"] == 0.5
    assert member["last"]["loss"]["clean"]["n_nonmembers"] == 8

    blind = _run(tmp_path, "none", 3)["membership"]["last"]["loss"]["all"]
    # The same loss distribution for members and non-members: AUROC near one half, its
    # interval around it, and almost no member found before the first false positive.
    assert blind["auroc"]["low"] < 0.5 < blind["auroc"]["high"]
    assert blind["tpr_at_1pct_fpr"]["value"] < 0.2


@pytest.mark.slow
def test_a_protocol_2_model_gets_no_holdout_and_no_attacks(tmp_path):
    metrics = _run(tmp_path, "train", 2)
    assert metrics["noise"]["n_holdout"] == 0 and metrics["noise"]["n_train"] == 160
    assert metrics["membership"] == {
        "nonmembers": None,
        "why": "no holdout samples were predicted: the model speaks protocol 2, or the training "
        "pool held none out",
    }


def test_the_reference_models_hand_the_attacks_a_holdout(tmp_path):
    """ggnn at the smoke profile: the holdout's loss and p_given reach the table, and every
    attack's figures are in range."""
    results = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmark", "run", "--model", "ggnn", "--profile", "smoke",
         "--epochs", "1", "--noise", "0.5", "--results", str(results), "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    member = json.loads(proc.stdout)["membership"]["last"]
    for attack in ("loss", "confidence"):
        for subset in ("all", "clean", "noisy"):
            figures = member[attack][subset]
            auroc = figures["auroc"]
            if min(figures["n_members"], figures["n_nonmembers"]) < MIN_SIDE:
                assert subset != "all" and auroc["low"] is auroc["high"] is None
                continue
            assert 0 <= auroc["low"] <= auroc["value"] <= auroc["high"] <= 1
    [table] = results.rglob("samples.parquet")
    held = pl.read_parquet(table).filter(pl.col("split") == HOLDOUT)
    assert held.height == 16 and held["loss"].is_not_null().all()
    assert np.isfinite(held["loss"].to_numpy()).all()


@pytest.mark.slow
def test_a_subset_sweep_measures_counterfactual_memorization_and_lira(tmp_path):
    """Four memorizer models, each on its own half of the pool: every sample is trained on by
    some and held out by others; the memorizer's p(given) is ~1 in and exp(-(1..3)) out, so
    each sample's counterfactual memorization is large, and LiRA and the loss attack find
    every member."""
    manifest = tmp_path / "memorizer.toml"
    script = Path(__file__).with_name("memorizer.py")
    manifest.write_text(MANIFEST.format(python=Path(sys.executable).as_posix(),
                                        script=script.as_posix(), remembers="train",
                                        protocol=3))  # fmt: skip
    env = {**os.environ, "BENCH_MODELS": str(manifest)}
    results = tmp_path / "results"
    argv = [sys.executable, "-m", "benchmark", "sweep", "--models", "memorizer", "--noise",
            "0.5", "--seeds", "1", "--subsets", "4", "--profile", "smoke", "--results",
            str(results), "--json"]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert (summary["units"], summary["complete"]) == (4, 4)
    units = sorted((results / "subsets").rglob("metrics.json"))
    assert [json.loads(p.read_text())["subset"] for p in units] == [
        {"index": k, "share": 0.5} for k in range(4)]  # fmt: skip
    # each subset model trains on half the pool (round(0.5 x 80) clean and noisy each)
    assert {json.loads(p.read_text())["noise"]["n_train"] for p in units} == {80}
    assert not list(results.glob("var_misuse/*/memorizer"))  # never a leaderboard entry
    [cell] = summary["membership"]
    assert (cell["model"], cell["noise_rate"], cell["models"], cell["samples"]) == (
        "memorizer", 0.5, 4, 160)  # fmt: skip
    for side in ("clean", "noisy"):
        assert cell["memorization"][side]["mean"] > 0.6
    assert cell["lira"]["auroc"]["value"] == 1.0 and cell["loss_attack"]["auroc"]["value"] == 1.0
    assert cell["lira_logit"] == "p_given"  # the memorizer writes no logit_given
    [sweep_files] = (results / ".sweeps").glob("*/membership.parquet")
    table = pl.read_parquet(sweep_files)
    assert table.height == 160
    both = table.filter((pl.col("times_in") > 0) & (pl.col("times_out") > 0))
    assert (both["times_in"] + both["times_out"] == 4).all()
    assert (both["memorization"] > 0.6).all()
    # the findings page's section: the command that made the units, and the cell's figures
    from benchmark import findings_membership

    page = "\n".join(findings_membership.section(results))
    assert "--models memorizer --noise-kind label --noise 0.5 --seeds 1 --profile smoke " \
        "--subsets 4 --subset-share 0.5" in page  # fmt: skip
    assert "| 0.5 | 1 | " in page and "| 1.000 | 1.000 | 1.000 | 1.000 |" in page
    assert "the logit of `p_given` in 1 of 1 cells, whose models do not write" in page
    # the same command again: every unit is complete, the tables are the same
    again = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0 and json.loads(again.stdout)["skipped"] == 4
    assert json.loads(again.stdout)["membership"] == summary["membership"]
    # a subset model of another share (or epochs) is another experiment, never in this cell
    from benchmark.metrics import counterfactual
    from tests.units import seal

    other = units[3].parent
    run = json.loads((other / "run.json").read_text())
    run["config"]["subset_share"] = 0.3
    (other / "run.json").write_text(json.dumps(run))
    seal(other)
    with pytest.raises(ValueError, match=f"{other} was run with subset_share 0.3 where .* has "
                       "0.5; a cell's subset models share their settings"):  # fmt: skip
        counterfactual.read_grid([u.parent for u in units])
    page = "\n".join(findings_membership.section(results))
    assert "3 subset models per cell" in page and "--subsets 3 --subset-share 0.5" in page


def test_subsets_need_a_protocol_3_model_and_a_share_inside_0_1(tmp_path):
    def sweep(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "benchmark", "sweep", "--noise", "0", "--seeds", "1",
             "--profile", "smoke", "--results", str(tmp_path / "r"), *extra],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    proc = sweep("--models", "ggnn", "--subsets", "4", "--subset-share", "1.5")
    assert proc.returncode == 2 and "--subset-share 1.5 is outside (0, 1)" in proc.stderr
    proc = sweep("--models", "ggnn", "--subsets", "1")
    assert proc.returncode == 2 and "--subsets must be 0 or at least 2" in proc.stderr


@pytest.mark.parametrize(("share", "does"), [("0.999", "holds out"), ("0.001", "trains on")])
def test_a_subset_share_that_empties_a_side_is_one_line(tmp_path, share, does):
    """A share that rounds to every sample of the pool (or none) leaves no holdout (or no
    training set): no counterfactual figure can come of it, so the unit is refused, where it
    had counted as a success with null figures (found by probing)."""
    results = tmp_path / "r"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmark", "run", "--model", "ggnn", "--noise", "0",
         "--profile", "smoke", "--subset", "0", "--subset-share", share, "--results",
         str(results)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert f"--subset-share {share} {does} none of the 160 training samples at profile" in line
    assert not list(results.rglob("metrics.json"))


def test_min_k_joins_the_attacks_where_the_model_writes_target_logprobs() -> None:
    """A method_name table by hand: members' targets have no surprising token, non-members'
    have one; the loss is the same for all, so only Min-K% (and zlib, by the label's length)
    can tell them apart."""
    from benchmark.metrics import attacks

    rows = []
    for i in range(40):
        split = "train" if i < 20 else HOLDOUT
        logprobs = [-0.1] * 5 if split == "train" else [-0.1] * 4 + [-6.0]
        rows.append({"epoch": 1, "split": split, "loss": 1.0, "noisy": i % 2 == 0,
                     "top_score": 0.5, "given_label": ["get", "value"],
                     "target_logprobs": logprobs})  # fmt: skip
    rows.append({"epoch": 1, "split": "test", "loss": None, "noisy": False, "top_score": 0.5,
                 "given_label": ["x"], "target_logprobs": None})  # fmt: skip
    found = attacks.summarize(pl.DataFrame(rows).lazy(), "method_name", 1, 1)
    at = found["last"]
    # lowest 20% of 5 tokens = 1 token: -0.1 for members, -6 for non-members
    assert at["min_k"]["all"]["auroc"]["value"] == 1.0
    assert at["min_k"]["noisy"]["tpr_at_1pct_fpr"]["value"] == 1.0
    assert at["loss"]["all"]["auroc"]["value"] == 0.5  # all tied
    assert found["n_members"] == 20 and found["n_nonmembers"] == 20
    without = pl.DataFrame(rows).drop("target_logprobs").lazy()
    assert "min_k" not in attacks.summarize(without, "method_name", 1, 1)["last"]
