"""Merging result folders: each unit once, bad ones reported and left out (no training: the
folders are written by hand, which is all the scan reads)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from benchmark.exports import to_csv
from benchmark.report_seal import write_seal
from benchmark.results import Unit
from benchmark.site import publish
from benchmark.standings import collect, leaderboard
from tests.units import seal


def unit_folder(root: Path, unit: Unit, acc: float, **override) -> Path:
    folder = unit.path(root)
    folder.mkdir(parents=True)
    m = {"task": unit.task, "dataset": unit.dataset, "model": unit.model, "seed": unit.seed,
         "profile": "smoke", "noise": {"kind": unit.noise_kind, "rate": unit.noise_rate},
         "selection": {"metric": "acc"}, "test": {"acc": acc}, "memorization_rate": 0.5,
         "noise_detection_auroc": 0.6, **override}  # fmt: skip
    # one epoch, selected: its entry holds the unit's scores, as the harness writes them
    m = {"selected_epoch": 1, "per_epoch": [{"epoch": 1, "train": {}, "test": m["test"],
                                             "memorization_rate": m.get("memorization_rate")}],
         **m}  # fmt: skip
    run = {"config": {"task": unit.task, "dataset": unit.dataset, "model": unit.model,
                      "noise_kind": unit.noise_kind, "noise_rate": unit.noise_rate,
                      "seed": unit.seed, "profile": "smoke"},
           "hardware": {"cpu": "x", "device": "cpu", "parameters": 10}, "seconds": 2.0}  # fmt: skip
    (folder / "metrics.json").write_text(json.dumps(m))
    (folder / "run.json").write_text(json.dumps(run))
    (folder / "samples.parquet").write_bytes(b"")
    return seal(folder)


def u(model: str = "m", rate: float = 0.0, seed: int = 0) -> Unit:
    return Unit("var_misuse", "python-stdlib", model, "label", rate, seed)


def test_identical_copies_count_once_and_conflicts_are_left_out(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    unit_folder(a, u(seed=0), 0.5)
    unit_folder(b, u(seed=0), 0.5)  # the same unit copied from another machine
    unit_folder(a, u(seed=1), 0.6)
    unit_folder(b, u(seed=1), 0.7)  # a different result for the same unit
    found = collect([a, b])
    assert [r.unit for r in found.runs] == [u(seed=0)]
    (warning,) = found.warnings
    assert "conflicting" in warning
    assert str(a) in warning and str(b) in warning


def test_incomplete_and_mismatched_units_are_reported_not_shown(tmp_path):
    unit_folder(tmp_path, u("ok"), 0.5)
    (unit_folder(tmp_path, u("partial"), 0.5) / "samples.parquet").unlink()
    unit_folder(tmp_path, u("liar"), 0.5, model="someone-else")
    unit_folder(tmp_path, u("odd", seed=3), 0.5, seed=4)
    found = collect([tmp_path, tmp_path / "missing"])
    assert [r.unit.model for r in found.runs] == ["ok"]
    text = "\n".join(found.warnings)
    assert "partial" in text and "incomplete" in text
    assert text.count("provenance mismatch") == 2
    assert "no such results folder" in text


def test_rows_rank_by_robustness_with_intervals(tmp_path):
    for seed, acc in enumerate((0.8, 0.6)):
        unit_folder(tmp_path, u("steady", 0.0, seed), acc)
        unit_folder(tmp_path, u("steady", 0.5, seed), acc - 0.1)
        unit_folder(tmp_path, u("fragile", 0.0, seed), acc + 0.1)
        unit_folder(tmp_path, u("fragile", 0.5, seed), acc - 0.5)
    rows, _ = leaderboard([tmp_path])
    assert [(r["model"], r["rank"]) for r in rows] == [("steady", 1), ("fragile", 2)]
    steady = rows[0]
    assert steady["seeds"] == 2 and abs(steady["clean"]["mean"] - 0.7) < 1e-12
    assert steady["clean"]["ci_low"] < 0.7 < steady["clean"]["ci_high"]
    assert abs(steady["robustness"] - 0.65) < 1e-12  # mean of 0.7 and 0.6
    assert steady["memorization_rate"] == 0.5 and steady["parameters"] == 10


def test_a_name_with_a_slash_keeps_one_folder_level(tmp_path):
    folder = unit_folder(tmp_path, u("</script>/../x"), 0.5)
    assert folder.parent.parent.parent.parent == tmp_path / "var_misuse"
    assert [r.unit.model for r in collect([tmp_path]).runs] == ["</script>/../x"]


def test_model_page_embeds_report_figures_when_a_report_exists(tmp_path):
    folder = unit_folder(tmp_path / "r", u("m", 0.25), 0.5)
    report = folder.parents[1] / "report"  # `bench report` on the model's folder
    (report / "figures").mkdir(parents=True)
    (report / "report.html").write_text("<html>report</html>")
    (report / "figures" / "curves.png").write_bytes(b"\x89PNG")
    write_seal(report, [folder])  # as bench report leaves it (tests/test_report_input.py)
    rows, found = leaderboard([tmp_path / "r"])
    publish(rows, found, tmp_path / "site")
    (model_page,) = (tmp_path / "site").glob("model-*.html")
    text = model_page.read_text()
    assert 'href="reports/' in text and "<img" in text and "curves" in text
    copied = sorted(p.name for p in (tmp_path / "site" / "reports").iterdir())
    assert len(copied) == 2 and any(n.endswith("curves.png") for n in copied)
    # the index, the task page, the model page and the run page; no URL leaves the site
    pages = sorted((tmp_path / "site").glob("*.html"))
    assert len(pages) == 4
    assert not any("http://" in p.read_text() or "https://" in p.read_text() for p in pages)


def test_csv_export_defuses_spreadsheet_formulas(tmp_path):
    """A model named like a formula is text in a spreadsheet; figures stay numbers."""
    evil = '=HYPERLINK("http://x","y")'
    unit_folder(tmp_path, u(evil, 0.0), 0.5)
    unit_folder(tmp_path, u(evil, 0.5), 0.4)
    rows, _ = leaderboard([tmp_path])
    (record,) = csv.DictReader(io.StringIO(to_csv(rows)))
    assert record["model"] == "'" + evil
    assert float(record["clean"]) == 0.5 and float(record["score@0.5"]) == 0.4


def test_each_row_shows_its_floor_and_the_gain_above_it(tmp_path):
    """The floor is the model's test score at the task's floor rate of label noise (0.5 for
    var_misuse, whose labels are flipped); the gain, its clean score above it with a Welch
    interval over seeds; a gain whose interval includes 0 is flagged."""
    from scipy import stats

    from benchmark.exports import export
    from benchmark.metrics.sweep import robustness

    scores = {"reads": ([0.61, 0.63, 0.65], [0.20, 0.22, 0.21]),
              "guesses": ([0.31, 0.36, 0.27], [0.30, 0.26, 0.33])}  # fmt: skip
    for model, (clean, floor) in scores.items():
        for seed, (c, f) in enumerate(zip(clean, floor, strict=True)):
            unit_folder(tmp_path, u(model, 0.0, seed), c)
            unit_folder(tmp_path, u(model, 0.5, seed), f)
            unit_folder(tmp_path, u(model, 1.0, seed), 0.01)  # flipped: the truth inverted
    rows, _ = leaderboard([tmp_path])
    by_model = {r["model"]: r for r in rows}
    for model, (clean, floor) in scores.items():
        row = by_model[model]
        ci = stats.ttest_ind(clean, floor, equal_var=False).confidence_interval(0.95)
        assert row["gain"]["diff"] == pytest.approx(sum(clean) / 3 - sum(floor) / 3)
        assert (row["gain"]["low"], row["gain"]["high"]) == pytest.approx((ci.low, ci.high))
        assert row["floor"]["mean"] == pytest.approx(sum(floor) / 3)
    assert by_model["reads"]["learns"] is True and by_model["guesses"]["learns"] is False
    md = export(rows, [], "md")
    assert "not learning from the code" in md.split("guesses")[1].splitlines()[0]
    assert "not learning" not in md.split("reads")[1].splitlines()[0]
    publish(rows, collect([tmp_path]), tmp_path / "site")
    board = next((tmp_path / "site").glob("task-*.html")).read_text()
    assert "gain over floor [95%]" in board and "not learning from the code" in board
    found = {g["model"]: g for g in robustness(f.parent for f in tmp_path.rglob("metrics.json"))}
    assert found["guesses"]["learns"] is False and found["reads"]["learns"] is True


def test_a_unit_named_apart_from_its_model_is_shown_under_its_name(tmp_path):
    """`bench run --model hf --name NAME` (or hf's folder-and-mode default): the path and
    metrics.json carry the name, run.json's config the model and the name."""
    folder = unit_folder(tmp_path, u("tiny-t5-lora"), 0.5)
    run = json.loads((folder / "run.json").read_text())
    run["config"] |= {"model": "hf", "name": "tiny-t5-lora"}
    (folder / "run.json").write_text(json.dumps(run))
    seal(folder)
    found = collect([tmp_path])
    assert [r.unit.model for r in found.runs] == ["tiny-t5-lora"] and not found.warnings
    run["config"]["name"] = "another"
    (folder / "run.json").write_text(json.dumps(run))
    seal(folder)
    (warning,) = collect([tmp_path]).warnings
    assert "provenance mismatch" in warning


def test_a_row_pools_only_units_run_with_its_newest_settings(tmp_path):
    """Seeds of 10 epochs beside a seed of 50, or a floor trained from other weights, are
    not pooled into one row: the newest unit's settings stand, the others are warnings."""

    def run_with(unit: Unit, acc: float, started: str, **config) -> Path:
        folder = unit_folder(tmp_path, unit, acc)
        run = json.loads((folder / "run.json").read_text())
        run["config"] |= {"epochs": 10, "weights": None, **config}
        run["started"] = started
        (folder / "run.json").write_text(json.dumps(run))
        return seal(folder)

    run_with(u(seed=0), 0.5, "2026-01-01T00:00:00")
    run_with(u(seed=1), 0.6, "2026-01-02T00:00:00")
    run_with(u(seed=2), 0.9, "2026-01-03T00:00:00", epochs=50)
    run_with(u(rate=0.5, seed=2), 0.1, "2026-01-03T01:00:00", epochs=50)
    run_with(u(rate=0.5, seed=0), 0.4, "2026-01-02T12:00:00", epochs=50, weights="/w")
    rows, found = leaderboard([tmp_path])
    (row,) = rows
    assert row["runs"] == [f"var_misuse/python-stdlib/m/label/{rate}/2" for rate in (0.5, 0)]
    assert row["clean"]["mean"] == 0.9 and row["floor"]["mean"] == 0.1 and row["seeds"] == 1
    text = "\n".join(found.warnings)
    assert text.count("other settings") == 3, text
    assert "epochs 10 where the newest has 50" in text
    assert "weights /w where the newest has None" in text


def test_the_floor_is_where_labels_carry_nothing_about_the_code():
    """Flipped labels at noise 1.0 are the truth inverted, which a model learns (a floor below
    chance: code_search's MRR 0.012 against 0.028 for random ranking, found by probing), so
    the tasks that flip take their floor at 0.5, where a flipped label is independent of the
    true one; those that give each noisy sample another's label take it at 1.0."""
    import numpy as np
    import polars as pl

    from benchmark.metrics.sweep import floor_rate
    from benchmark.tasks import TASKS
    from benchmark.tasks.var_misuse.noise import flip_labels

    assert {t: floor_rate(t) for t in TASKS} == {
        "var_misuse": 0.5, "code_search": 0.5, "method_name": 1.0, "code_to_text": 1.0}
    n = 400
    bug = np.random.default_rng(0).random(n) < 0.5
    train = pl.DataFrame({"has_bug": bug, "error_location": np.where(bug, 1, 0),
                          "repair_targets": [[2] if b else [] for b in bug],
                          "source_tokens": [["a", "b", "a"]] * n,
                          "repair_candidates": [[0, 1, 2]] * n})  # fmt: skip
    for rate, agree in ((1.0, 0.0), (0.5, 0.5)):
        noisy = np.zeros(n, bool)
        noisy[np.random.default_rng(1).permutation(n)[: int(rate * n)]] = True
        given = flip_labels(train, noisy, 0)["given_has_bug"].to_numpy()
        assert abs(np.mean(given == bug) - agree) < 0.06
