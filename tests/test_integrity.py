"""A figure the suite shows is one it can vouch for: a unit counts only while its manifest
verifies and its scores are in range; one that does not is left out of every table, and moved
aside (never deleted) and run again by `bench run` and `bench sweep`."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmark import options
from benchmark import sweep as sw
from benchmark.executors.local import LocalExecutor
from benchmark.metrics.checks import problems
from benchmark.results import (
    KEPT,
    Unit,
    quarantine,
    read_manifest,
    release,
    staging,
    verify,
    write_manifest,
)
from benchmark.standings import _unit_from_path, collect
from benchmark.tasks import TASKS
from native.sources import python_stdlib
from tests.units import fake_unit, metrics_of, seal

BENCH = [sys.executable, "-m", "benchmark"]


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*BENCH, *args], capture_output=True, text=True, env=os.environ.copy())


def unit(model: str = "m", seed: int = 0) -> Unit:
    return Unit("var_misuse", "python-stdlib", model, "label", 0.0, seed)


def test_an_intact_unit_verifies_and_any_change_is_named(tmp_path: Path) -> None:
    folder = fake_unit(tmp_path, unit(), {"config": {}})
    assert verify(folder) is None
    (folder / "samples.parquet").write_text("[]")
    assert verify(folder) == "samples.parquet was changed after the unit completed"
    seal(folder)
    (folder / "run.json").unlink()
    assert verify(folder) == "run.json is missing"
    (folder / "manifest.json").write_text("[1, 2]")
    assert verify(folder) == "manifest.json is not a manifest this harness writes"
    (folder / "manifest.json").unlink()
    assert verify(folder).startswith("no manifest.json")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m["test"].update(acc=7.5), "test.acc = 7.5 is outside [0, 1]"),
        (lambda m: m["test"].update(acc=float("nan")), "outside [0, 1]"),
        (lambda m: m["test"].update(acc="0.9"), "outside [0, 1]"),
        # JSON integers have no bound; float() and math.isfinite raise on this one
        (lambda m: m["test"].update(acc=10**400), "test.acc = 1000000"),
        (lambda m: m.update(memorization_rate=-0.1), "memorization_rate = -0.1"),
        (lambda m: m.pop("test"), "lacks test"),
        (lambda m: m.update(task="poetry"), "no metrics for task 'poetry'"),
        (lambda m: m.update(per_epoch=[{"epoch": 1, "valid": {"acc": 2}}]), "epoch 1: valid"),
        (lambda m: m["per_epoch"][0].update(valid=[1]), "epoch 1: valid is not an object"),
        (lambda m: m.update(avg_predicted_score={"test": 3}), "avg_predicted_score"),
        (lambda m: m.update(detection=[1, 2]), "detection is not an object"),  # found by fuzzing
    ],
)
def test_scores_out_of_range_are_caught_even_under_a_forged_manifest(change, message) -> None:
    m = metrics_of(unit())
    assert problems(m) == []
    change(m)
    assert any(message in p for p in problems(m)), problems(m)
    assert problems("garbage") == ["metrics.json is not a JSON object"]


def test_bleu_is_on_its_own_scale() -> None:
    test = {"bleu": 31.5, "exact_match": 0.1}
    m = {**metrics_of(unit()), "task": "code_to_text", "selection": {"metric": "bleu"},
         "test": test, "per_epoch": [{"epoch": 1, "train": {}, "test": test}]}  # fmt: skip
    assert problems(m) == []
    m["test"]["bleu"] = 131.5  # in both places: it is one dict
    assert problems(m) == ["test.bleu = 131.5 is outside [0, 100]",
                           "epoch 1: test.bleu = 131.5 is outside [0, 100]"]  # fmt: skip


def test_leaderboard_leaves_out_a_tampered_unit_and_one_of_an_older_dataset(
    tmp_path: Path,
) -> None:
    good = fake_unit(tmp_path, unit("a"), {"config": {}, "started": "2026-12-02"}, "new")
    fake_unit(tmp_path, unit("b"), {"config": {}, "started": "2026-12-01"}, "old")
    forged = fake_unit(tmp_path, unit("c"), {"config": {}, "started": "2026-12-01"}, "new")
    (forged / "metrics.json").write_text(
        json.dumps({**metrics_of(unit("c")), "test": {"acc": 7.5}})
    )
    found = collect([tmp_path])
    assert [r.folder for r in found.runs] == [good]
    assert any("made from an older version of dataset python-stdlib" in w
               for w in found.warnings)  # fmt: skip
    assert any("c/noise-label-0/seed-0: metrics.json was changed" in w for w in found.warnings)


@pytest.mark.parametrize(
    ("file", "change"),
    [
        ("metrics.json", lambda m: m["noise"].update(rate=10**400)),
        ("metrics.json", lambda m: m.update(seed=float("inf"))),
        ("run.json", lambda r: r["config"].update(noise_rate=10**400)),
    ],
)
def test_a_unit_naming_itself_with_a_number_too_long_for_a_float_is_left_out(
    tmp_path: Path, file: str, change
) -> None:
    """It was an OverflowError traceback in every reader of the folder (found by probing)."""
    config = {"task": "var_misuse", "dataset": "python-stdlib", "model": "m",
              "noise_kind": "label", "noise_rate": 0.0, "seed": 0}  # fmt: skip
    good = fake_unit(tmp_path, unit("a"), {"config": {**config, "model": "a"}})
    bad = fake_unit(tmp_path, unit("m"), {"config": config})
    content = json.loads((bad / file).read_text())
    change(content)
    (bad / file).write_text(json.dumps(content))
    found = collect([tmp_path])
    assert [r.folder for r in found.runs] == [good]
    assert [w for w in found.warnings if "OverflowError" in w and "m/noise-label-0/seed-0" in w]


def test_quarantine_moves_everything_aside_and_says_why(tmp_path: Path) -> None:
    folder = fake_unit(tmp_path, unit(), {"config": {}})
    files = sorted(p.name for p in folder.iterdir())
    dest = quarantine(folder, tmp_path, "metrics.json was changed")
    assert not folder.exists() and sorted(p.name for p in dest.iterdir()) == files
    assert dest.parent == tmp_path / ".quarantine"
    assert Path(f"{dest}.reason.txt").read_text() == "metrics.json was changed\n"


def test_a_hostile_model_name_keeps_its_lock_and_staging_inside_results(tmp_path: Path) -> None:
    results = tmp_path / "results"
    for name in ("../../escaped", "a/b", ".."):
        staged = staging(results, Unit("var_misuse", "python-stdlib", name, "label", 0.5, 0))
        release(staged)
        assert staged.parent == results / ".tmp", staged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]
    assert all(p.parent == results / ".locks" for p in (results / ".locks").iterdir())


def test_sweep_runs_a_unit_again_when_it_does_not_verify(tmp_path: Path) -> None:
    spec = sw.SweepSpec("var_misuse", "python-stdlib", ("baseline",), "label", (0.0,), (0,),
                        "smoke", 1)  # fmt: skip
    from benchmark import datasets

    today = datasets.load("python-stdlib").fingerprint
    (u,) = spec.units()
    folder = fake_unit(tmp_path, u, {"config": {"profile": "smoke", "epochs": 1}}, today)
    engine = sw.Sweep(spec, tmp_path, LocalExecutor(1))
    assert engine._done(u)
    (folder / "metrics.json").write_text("garbage")
    assert not engine._done(u)
    seal(folder, "an older dataset")
    assert not engine._done(u)


def test_a_unit_made_with_an_older_noise_kind_is_left_out(tmp_path: Path) -> None:
    """Version 1 of code_to_text's token masking called unchanged samples noisy: its units
    measured other noise, and no reader may pool them with today's (a unit from before
    versions recorded none: version 1)."""

    def unit(u: Unit, run: dict) -> Path:
        folder = fake_unit(tmp_path, u, run)
        m = metrics_of(u)
        m.update(selection={"split": "valid", "metric": "bleu"}, test={"bleu": 0.5},
                 per_epoch=[{"epoch": 1, "train": {}, "test": {"bleu": 0.5}}])  # fmt: skip
        (folder / "metrics.json").write_text(json.dumps(m))
        return seal(folder)

    old = Unit("code_to_text", "ruby-stdlib", "m", "token-masking", 0.5, 0)
    folder = unit(old, {"config": {"profile": "smoke"}})
    assert verify(folder) == ("made with version 1 of code_to_text's noise kind token-masking, "
                              "which is now version 2")  # fmt: skip
    found = collect([tmp_path])
    assert not found.runs and any("noise kind token-masking" in w for w in found.warnings)
    clean = Unit("code_to_text", "ruby-stdlib", "m", "token-masking", 0.0, 0)  # nothing noised
    assert verify(unit(clean, {"config": {"profile": "smoke"}})) is None
    now = Unit("code_to_text", "ruby-stdlib", "m2", "token-masking", 0.5, 0)
    assert verify(unit(now, {"noise": {"kind": "token-masking", "version": 2}})) is None
    label = Unit("var_misuse", "python-stdlib", "m", "label", 0.5, 0)  # still version 1
    assert verify(fake_unit(tmp_path, label, {})) is None
    odd = Unit("var_misuse", "python-stdlib", "m3", "label", 0.5, 0)
    assert verify(fake_unit(tmp_path, odd, {"noise": {"version": "1"}})) == (
        "run.json's noise is not as the harness writes it")  # fmt: skip


@pytest.mark.slow
def test_bench_run_moves_a_garbage_unit_aside_and_runs_it_again(tmp_path: Path) -> None:
    results = tmp_path / "r"
    args = ("run", "--model", "baseline", "--noise", "0.5", "--profile", "smoke",
            "--results", str(results), "--json")  # fmt: skip
    first = bench(*args)
    assert first.returncode == 0, first.stderr[-2000:]
    (metrics,) = results.rglob("metrics.json")
    metrics.write_text("{ garbage")
    again = bench(*args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "metrics.json was changed after the unit completed; moved to" in again.stderr
    # the same unit again (polars may sum floats in another order: the last digit can move)
    rerun, before = json.loads(again.stdout), json.loads(first.stdout)
    assert rerun["test"] == pytest.approx(before["test"])
    assert rerun["per_epoch"][-1]["train"] == pytest.approx(before["per_epoch"][-1]["train"])
    assert verify(metrics.parent) is None
    (kept,) = (results / ".quarantine").glob("*-seed-0-*[0-9]")
    assert (kept / "metrics.json").read_text() == "{ garbage"  # nothing lost
    shown = bench("leaderboard", "show", "--results", str(results), "--json")
    board = json.loads(shown.stdout)
    assert shown.returncode == 0 and len(board["rows"]) == 1 and board["warnings"] == []


@pytest.mark.slow
def test_a_unit_is_not_reused_after_its_dir_corpus_changed(tmp_path: Path) -> None:
    src, stdlib = tmp_path / "src", python_stdlib()
    for f in sorted(stdlib.rglob("*.py"))[:300]:
        dest = src / f.relative_to(stdlib)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(f.read_bytes())
    args = ("run", "--model", "baseline", "--noise", "0", "--profile", "smoke", "--dataset",
            f"dir:{src}", "--results", str(tmp_path / "r"))  # fmt: skip
    assert bench(*args).returncode == 0
    same = bench(*args)
    assert same.returncode == 0 and "is complete" in same.stderr
    victim = sorted(src.rglob("*.py"))[0]
    victim.write_text(victim.read_text() + "\n\ndef added(a, b):\n    return a + b + a\n")
    changed = bench(*args)
    assert changed.returncode == 0, changed.stderr[-2000:]
    assert "made from another version of dataset" in changed.stderr
    assert len(list((tmp_path / "r" / ".quarantine").iterdir())) == 2  # the unit, its reason


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(sorted({k for spec in TASKS.values() for k in spec.noise_kinds})),
    rate=st.floats(0.0, 1.0),
)
def test_every_rate_bench_takes_names_a_folder_read_back_as_that_unit(kind: str, rate: float):
    """The folder keeps a rate as ``:g`` writes it: 5e-05 was read back as kind 'label-5e' at
    rate 5, and more than 6 significant digits shared another rate's folder and its figures;
    -0.0 named 'noise-label--0'. bench refuses the second and makes the last 0.0."""
    try:
        rate = options.noise_rate(rate)
    except options.BadOption as e:
        assert "has more than the 6 significant digits" in str(e) and f"{rate:g}" in str(e)
        return
    made = Unit("var_misuse", "python-stdlib", "m", kind, rate, 3)
    root = Path("/results")
    assert _unit_from_path(root, made.path(root)) == made
    assert math.copysign(1.0, made.noise_rate) == 1.0


def test_noise_rates_outside_the_range_are_named_as_given() -> None:
    for rate in (1.0000001, -0.5, float("nan")):
        with pytest.raises(options.BadOption, match=f"noise rate {rate!r} is outside"):
            options.noise_rate(rate)
    assert str(options.noise_rate(-0.0)) == "0.0"


@pytest.mark.parametrize("name", sorted(KEPT))
def test_a_file_where_bench_keeps_a_folder_is_one_line_before_any_work(
    tmp_path: Path, name: str
) -> None:
    """Each was a FileExistsError traceback once the unit was built (found by probing)."""
    (tmp_path / name).write_text("the user's")
    for command in (["run", "--model", "baseline"], ["sweep", "--models", "baseline"]):
        done = bench(*command, "--noise", "0", "--profile", "smoke", "--results", str(tmp_path))
        assert done.returncode == 2 and done.stderr.splitlines() == [
            f"error: --results {tmp_path}: {tmp_path / name} is a file, not the folder where "
            f"bench keeps {KEPT[name]}; move it away"
        ], done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    assert (tmp_path / name).read_text() == "the user's"


@pytest.mark.parametrize("alias", ["m/noise-label-0.0/seed-0", "%6D/noise-label-0/seed-0",
                                   "m/noise-label-0/seed-00"])  # fmt: skip
def test_a_copy_of_a_unit_under_another_spelling_of_its_path_is_left_out(
    tmp_path: Path, alias: str
) -> None:
    """It was read as the same unit, and the two conflicting copies took the unit bench made
    off the board (found by probing)."""
    good = fake_unit(tmp_path, unit("m"), {"config": {}})
    copy = tmp_path / "var_misuse" / "python-stdlib" / alias
    shutil.copytree(good, copy)
    found = collect([tmp_path])
    assert [r.folder for r in found.runs] == [good]
    assert found.warnings == [f"{copy}: not where bench puts its unit ({good}); not shown"]


def test_a_manifest_naming_a_file_outside_its_unit_is_malformed(tmp_path: Path) -> None:
    """verify hashed /etc/hostname when the manifest listed it (found by probing)."""
    folder = fake_unit(tmp_path, unit(), {"config": {}})
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["/etc/hostname"] = {"bytes": 1, "sha256": "0" * 64}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert verify(folder) == "manifest.json has a malformed entry for '/etc/hostname'"


@pytest.mark.parametrize("run_json", ['{"config": {"profile": "smoke"}}', "[]", "{ garbage"])
def test_a_resigned_run_json_without_its_settings_is_one_line(tmp_path: Path, run_json: str):
    """bench run read its settings unchecked once the unit verified: a KeyError traceback
    where a hand re-signed run.json lacked them (found by probing)."""
    results = tmp_path / "r"
    args = ("run", "--model", "baseline", "--noise", "0.5", "--profile", "smoke",
            "--results", str(results))  # fmt: skip
    assert bench(*args).returncode == 0
    (run,) = results.rglob("run.json")
    run.write_text(run_json)
    write_manifest(run.parent, read_manifest(run.parent)["settings"])
    again = bench(*args)
    assert again.returncode == 1 and again.stderr.splitlines() == [
        f"error: unit failed: {run.parent} already holds a run with profile "
        f"{'smoke' if 'config' in run_json else None} and None epochs; pass --force to replace "
        "it or --results to write elsewhere"]  # fmt: skip
    assert run.read_text() == run_json


def test_a_score_edited_in_one_of_the_two_places_the_harness_writes_it_is_caught() -> None:
    """metrics.json holds the selected epoch's scores twice, from one computation; a score
    edited at the top and re-signed went onto the leaderboard (found by probing)."""
    m = {**metrics_of(unit(), acc=0.525), "selected_epoch": 2, "memorization_rate": 0.25,
         "memorization_rate_last": 0.5,
         "per_epoch": [{"epoch": 1, "train": {}, "valid": {"acc": 0.4}, "test": {"acc": 0.3},
                        "memorization_rate": 0.1},
                       {"epoch": 2, "train": {}, "valid": {"acc": 0.6}, "test": {"acc": 0.525},
                        "memorization_rate": 0.25},
                       {"epoch": 3, "train": {}, "valid": {"acc": 0.6}, "test": {"acc": 0.55},
                        "memorization_rate": 0.5}]}  # fmt: skip
    assert problems(m) == []  # the earliest of equal valid scores is selected
    assert problems({**m, "test": {"acc": 0.99}}) == ["test is not epoch 2's in per_epoch"]
    assert problems({**m, "memorization_rate_last": 0.4}) == [
        "memorization_rate_last is not epoch 3's in per_epoch"]  # fmt: skip
    later = {**m, "selected_epoch": 3, "test": {"acc": 0.55}, "memorization_rate": 0.5}
    assert problems(later) == ["selected_epoch 3 is not the epoch of the best valid acc (2)"]
    assert problems({**m, "selected_epoch": 9}) == ["selected_epoch 9 is not an epoch of per_epoch"]


def test_the_manifests_dataset_version_must_be_the_one_run_json_records(tmp_path: Path) -> None:
    """The manifest's settings are hashed nowhere: set to another version on the newest unit,
    they took every other unit off the board as older (found by probing). run.json, whose
    bytes the manifest vouches for, records the version too."""
    intact = [fake_unit(tmp_path, unit(m), {"config": {}, "started": "2026-12-01",
                                            "dataset": {"fingerprint": "v1"}}, "v1")
              for m in ("a", "b")]  # fmt: skip
    run = {"config": {}, "started": "2026-12-02", "dataset": {"fingerprint": "v1"}}
    newest = fake_unit(tmp_path, unit("c"), run, "bogus")
    found = collect([tmp_path])
    assert [r.folder for r in found.runs] == intact
    assert found.warnings == [f"{newest}: manifest.json's dataset fingerprint 'bogus' is not "
                              "run.json's (v1); not shown"]  # fmt: skip


@pytest.mark.parametrize(("field", "value"), [("hardware", []), ("code", "x"), ("dataset", "x"),
                                              ("started", 5), ("command", 3)])  # fmt: skip
def test_a_run_json_of_the_wrong_shape_is_left_out_of_the_board(
    tmp_path: Path, field: str, value
) -> None:
    """Re-signed, each was a traceback in leaderboard show or publish (found by probing)."""
    good = fake_unit(tmp_path, unit("a"), {"config": {}})
    fake_unit(tmp_path, unit("b"), {"config": {}, field: value})
    found = collect([tmp_path])
    assert [r.folder for r in found.runs] == [good]
    assert [w for w in found.warnings if f"run.json's {field} is not as the harness writes it"
            in w]  # fmt: skip


def test_a_unit_with_no_dataset_version_can_be_the_newest(tmp_path: Path) -> None:
    """Its None beside another unit's version at the same start was a TypeError traceback."""
    a = fake_unit(tmp_path, unit("a"), {"config": {}, "started": "2026-12-01"}, None)
    fake_unit(tmp_path, unit("b"), {"config": {}, "started": "2026-12-01"}, "v1")
    found = collect([tmp_path])
    assert len(found.runs) == 1 and found.runs[0].folder != a
