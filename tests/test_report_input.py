"""`bench compare` and `bench report` on unit folders damaged after they completed, whose
manifest was then re-signed (by a buggy writer, or on another machine), so that the integrity
check passes them: each is one error line naming the unit and the file, a non-zero exit, no
traceback, no output on stdout, and nothing else changed (an earlier report stays whole).

The units are written by hand from the hand-computed var_misuse example (tests/test_metrics)
and sealed as a finished `bench run` seals them; nothing is trained."""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from benchmark.metrics.summary import summarize
from benchmark.results import MANIFEST, Unit
from benchmark.tasks.var_misuse.scoring import score
from tests.test_metrics import LABELS, PREDICTIONS
from tests.units import seal

BENCH = [sys.executable, "-m", "benchmark"]


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*BENCH, *args], capture_output=True, text=True, timeout=300)


@functools.cache
def example() -> tuple[pl.DataFrame, dict]:
    table = score(LABELS, PREDICTIONS)
    return table, summarize(table, "var_misuse")


def make_unit(root: Path, seed: int = 0, model: str = "m") -> Path:
    """A complete, sealed var_misuse unit of the hand-computed example."""
    unit = Unit("var_misuse", "python-stdlib", model, "label", 0.5, seed)
    folder = unit.path(root)
    folder.mkdir(parents=True)
    table, metrics = example()
    table.write_parquet(folder / "samples.parquet")
    (folder / "metrics.json").write_text(json.dumps({
        **metrics, "task": unit.task, "dataset": unit.dataset, "model": model, "seed": seed,
        "noise": {"kind": unit.noise_kind, "rate": unit.noise_rate}}))  # fmt: skip
    config = {"task": unit.task, "dataset": unit.dataset, "model": model, "seed": seed,
              "noise_kind": unit.noise_kind, "noise_rate": unit.noise_rate}  # fmt: skip
    (folder / "run.json").write_text(json.dumps({"config": config}))
    (folder / "events.jsonl").write_text('{"event": "done"}\n')
    return seal(folder)


def resign(folder: Path) -> None:
    """Record the files' present sizes and hashes in the manifest, as a writer that signs
    whatever it finds would: the integrity check then passes the damage."""
    manifest = json.loads((folder / MANIFEST).read_text())
    for name in manifest["files"]:
        data = (folder / name).read_bytes()
        manifest["files"][name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (folder / MANIFEST).write_text(json.dumps(manifest))


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (None for a folder)."""
    return {p.relative_to(root).as_posix(): None if p.is_dir() else p.read_bytes()
            for p in sorted(root.rglob("*"))}  # fmt: skip


def refused(proc: subprocess.CompletedProcess, *parts: str) -> str:
    """The one error line, once it holds each of ``parts``."""
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith("error: ")
    for part in parts:
        assert part in line
    return line


def samples(edit: Callable[[pl.DataFrame], pl.DataFrame]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        edit(pl.read_parquet(folder / "samples.parquet")).write_parquet(folder / "samples.parquet")

    return damage


def write(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_bytes(data)


def edit_json(name: str, edit: Callable[[dict], object]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        value = json.loads((folder / name).read_text())
        (folder / name).write_text(json.dumps(edit(value)))

    return damage


def damaged_pages(folder: Path) -> None:
    """Overwrite the data pages and keep the footer: the schema reads, the rows do not."""
    data = bytearray((folder / "samples.parquet").read_bytes())
    footer = int.from_bytes(data[-8:-4], "little")
    data[4 : len(data) - 8 - footer] = b"A" * (len(data) - 12 - footer)
    (folder / "samples.parquet").write_bytes(bytes(data))


# damage: (what it does, what compare says or None where it compares, what report says or None)
DAMAGES: dict[str, tuple[Callable[[Path], None], str | None, str | None]] = {
    "samples not parquet": (
        write("samples.parquet", b"not a parquet file\n" * 200),
        "samples.parquet cannot be read (not a parquet file",
        "samples.parquet cannot be read (not a parquet file",
    ),
    "samples of another schema": (
        samples(lambda _: pl.DataFrame({"x": [1, 2]})),
        "samples.parquet lacks columns sample_id, split, epoch",
        "samples.parquet lacks columns sample_id, split, epoch, noisy, loss, correct_given",
    ),
    "samples split of numbers": (
        samples(lambda t: t.with_columns(pl.lit(1).alias("split"))),
        "samples.parquet's column split holds Int32, not text",
        "samples.parquet's column split holds Int32, not text",
    ),
    "samples damaged inside": (
        damaged_pages,
        "samples.parquet cannot be read (parquet",
        "samples.parquet cannot be read (",
    ),
    "samples without a task column": (
        samples(lambda t: t.drop("correct_true")),
        "samples.parquet cannot be scored as var_misuse (",
        None,  # the report does not read it
    ),
    "samples without training rows": (
        samples(lambda t: t.filter(pl.col("split") != "train")),
        None,  # the test rows are all compare reads
        "samples.parquet has no training rows",
    ),
    "run config null": (
        edit_json("run.json", lambda r: {**r, "config": None}),
        "run.json does not name its unit (TypeError",
        None,  # the report reads no run.json
    ),
    "run garbled": (
        write("run.json", b"{garbled"),
        "run.json cannot be read (JSONDecodeError)",
        None,
    ),
    "run config lacks keys": (
        edit_json("run.json", lambda r: {"config": {"dataset": "python-stdlib"}}),
        "run.json does not name its unit (KeyError: 'task')",
        None,
    ),
    "metrics garbled": (
        write("metrics.json", b"{garbled"),
        "unreadable metrics.json (JSONDecodeError)",
        "unreadable metrics.json (JSONDecodeError)",
    ),
    "metrics without selected epoch": (
        edit_json("metrics.json", lambda m: {k: v for k, v in m.items() if k != "selected_epoch"}),
        "metrics.json: selected_epoch None is not an epoch of per_epoch",
        None,
    ),
    "metrics noise not an object": (
        edit_json("metrics.json", lambda m: {**m, "noise": "label"}),
        "metrics.json does not name its unit (TypeError",
        "metrics.json has no noise kind and rate",
    ),
    "metrics detection entry not an object": (
        edit_json("metrics.json", lambda m: {**m, "detection": {**m["detection"], "aum": 1}}),
        None,
        "metrics.json is not as the harness writes it (AttributeError",
    ),
}


def damage(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """Results with a unit damaged as DAMAGES[name] says (re-signed), and a sound one."""
    bad, good = make_unit(tmp_path / "results"), make_unit(tmp_path / "results", seed=1)
    DAMAGES[name][0](bad)
    resign(bad)
    return bad, good


@pytest.mark.parametrize("name", [n for n, d in DAMAGES.items() if d[1]])
def test_compare_names_the_damaged_unit_and_file(tmp_path: Path, name: str) -> None:
    bad, good = damage(tmp_path, name)
    before = tree(tmp_path)
    for a, b in ((bad, good), (good, bad)):
        line = refused(bench("compare", str(a), str(b), "--json"), f"{bad}: ", DAMAGES[name][1])
        assert str(good) not in line
    assert tree(tmp_path) == before


@pytest.mark.parametrize("name", [n for n, d in DAMAGES.items() if d[2]])
def test_report_names_the_damaged_unit_and_keeps_the_last_report(tmp_path: Path, name: str) -> None:
    bad, _ = damage(tmp_path, name)
    out = tmp_path / "report"
    (out / "figures").mkdir(parents=True)
    (out / "report.html").write_text("the last report")
    (out / "figures" / "curves.png").write_bytes(b"its figure")
    before = tree(tmp_path)
    refused(bench("report", str(bad), "--out", str(out)), str(bad), DAMAGES[name][2])
    assert tree(tmp_path) == before  # no figure of the failed one, nothing left beside it


@pytest.mark.parametrize("name", ["samples damaged inside", "samples without training rows"])
def test_a_unit_whose_rows_do_not_read_loses_its_figures_not_the_report(
    tmp_path: Path, name: str
) -> None:
    """Damage past the footer shows only once the rows are read: it refused the report of
    every other unit (found by probing). Alone, the unit still fails its report, as above."""
    bad, _ = damage(tmp_path, name)
    proc = bench("report", str(tmp_path / "results"), "--out", str(tmp_path / "report"))
    assert proc.returncode == 0, proc.stderr
    warning, wrote = proc.stderr.splitlines()
    assert warning.startswith(f"warning: {bad}: samples.parquet ")
    assert warning.endswith("; its figures left out") and wrote.startswith("wrote ")
    figures = {p.stem for p in (tmp_path / "report" / "figures").glob("*.png")}
    assert "loss-m-label-0.5-seed1" in figures and "loss-m-label-0.5-seed0" not in figures


def test_a_damaged_unit_among_others_is_left_out_with_a_warning(tmp_path: Path) -> None:
    """As a unit that does not verify: the report goes on with the others."""
    bad, _ = damage(tmp_path, "samples not parquet")
    proc = bench("report", str(tmp_path / "results"), "--out", str(tmp_path / "report"))
    assert proc.returncode == 0, proc.stderr
    warning, wrote = proc.stderr.splitlines()
    assert warning.startswith(f"warning: {bad}: samples.parquet cannot be read (")
    assert wrote.startswith("wrote ")
    assert "m-label-0.5-seed1" in (tmp_path / "report" / "report.md").read_text()
    assert "seed0" not in (tmp_path / "report" / "report.md").read_text()


def test_files_compare_and_report_do_not_read_may_be_garbled(tmp_path: Path) -> None:
    bad, good = make_unit(tmp_path), make_unit(tmp_path, seed=1)
    (bad / "events.jsonl").write_bytes(b"{garbled\n\xff")
    resign(bad)
    proc = bench("compare", str(bad), str(good), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["task"] == "var_misuse"
    proc = bench("report", str(bad), "--out", str(tmp_path / "report"))
    assert proc.returncode == 0, proc.stderr


def test_report_out_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    unit = make_unit(tmp_path / "results")
    out = tmp_path / "report"
    out.write_text("not a folder")
    before = tree(tmp_path)
    refused(bench("report", str(unit), "--out", str(out)), f"{out} is a file")
    assert tree(tmp_path) == before


def test_a_model_named_with_a_slash_keeps_its_figures_in_the_report(tmp_path: Path) -> None:
    """A model may be called anything ('/', '..'): its figures are still files of figures/."""
    unit = make_unit(tmp_path / "results", model="../org/m")
    out = tmp_path / "report"
    proc = bench("report", str(unit), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert {p.parent for p in tmp_path.rglob("*.png")} == {out / "figures"}
    markdown = (out / "report.md").read_text()
    for figure in (out / "figures").glob("*.png"):
        assert f"figures/{figure.name}" in markdown


def test_a_run_whose_losses_are_not_finite_is_reported(tmp_path: Path) -> None:
    """A model that diverged writes infinite losses: no loss histogram or loss ROC to draw,
    the rest of the report as ever, and no warning."""
    unit = make_unit(tmp_path / "results")
    samples(lambda t: t.with_columns(pl.lit(float("inf")).alias("loss")))(unit)
    resign(unit)
    proc = bench("report", str(unit), "--out", str(tmp_path / "report"))
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith("wrote ")


def test_one_epoch_of_code_search_draws_whole_epochs_and_its_training_figure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The curves of a one-epoch run had fractional epoch ticks run together, and
    code_search's training panel drew its MRR, which is null on train by construction, so
    the panel was empty (found by probing)."""
    from benchmark import report

    drawn: list = []
    monkeypatch.setattr(report, "_save", lambda fig, *_: drawn.append(fig))
    epoch = {"epoch": 1, "train": {"mrr": None, "pair_acc": 0.75},
             "test": {"mrr": 0.4, "pair_acc": 0.6}, "memorization_rate": 0.5}  # fmt: skip
    metrics = {"task": "code_search", "dataset": "ruby-stdlib", "model": "m", "seed": 0,
               "noise": {"kind": "label", "rate": 0.5}, "selection": {"metric": "mrr"},
               "per_epoch": [epoch]}  # fmt: skip
    report.fig_curves([report.Run(tmp_path / "unit", metrics)], tmp_path)
    (fig,) = drawn
    train, test, memorized = fig.axes[:3]
    assert train.get_title() == "train pair_acc (given labels)"
    assert list(train.lines[0].get_ydata()) == [0.75]
    for ax in (train, test, memorized):
        low, high = ax.get_xlim()
        assert [t for t in ax.get_xticks() if low <= t <= high] == [1.0]


def test_a_folder_of_seeds_pools_only_the_seeds_it_holds(tmp_path: Path) -> None:
    """compare pooled a copy of another model's unit put among the seeds, a seed folder linked
    to another, or a seed of other epochs, as one more seed; and left an incomplete seed out
    without a word (found by probing)."""
    root = tmp_path / "results"
    a = make_unit(root, seed=0).parent
    make_unit(root, seed=1)
    b = make_unit(root, seed=0, model="other").parent
    proc = bench("compare", str(a), str(b), "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["runs_a"] == 2, proc.stderr
    (a / "seed-2").symlink_to(a / "seed-1")
    refused(bench("compare", str(a), str(b), "--json"), f"{a / 'seed-2'}: holds the run of seed 1")
    (a / "seed-2").unlink()
    shutil.copytree(make_unit(root, seed=7, model="other"), a / "seed-7")
    refused(bench("compare", str(a), str(b)), f"error: {a}: its seeds are runs of more than one "
            "model or noise (m var_misuse python-stdlib label 0.5; other var_misuse")  # fmt: skip
    shutil.rmtree(a / "seed-7")
    run = json.loads((a / "seed-1" / "run.json").read_text())
    (a / "seed-1" / "run.json").write_text(json.dumps({"config": run["config"] | {"epochs": 50}}))
    resign(a / "seed-1")
    refused(bench("compare", str(a), str(b)), f"error: {a}: its seeds were run with different "
            "epochs (50, None); pool only seeds of one setting")  # fmt: skip
    (a / "seed-1" / "samples.parquet").unlink()
    proc = bench("compare", str(a), str(b), "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["runs_a"] == 1, proc.stderr
    assert proc.stderr.splitlines() == [f"warning: {a / 'seed-1'} is not a complete run; left out"]


def test_the_site_publishes_a_report_only_as_bench_report_wrote_it(tmp_path: Path) -> None:
    """publish copied any report.html found beside the runs into the site and linked it as
    their full report: one written or edited by hand (a script in it would be published), or
    one whose runs were run again since (found by probing)."""
    root = tmp_path / "results"
    model = make_unit(root, seed=0).parents[1]
    make_unit(root, seed=1)
    assert bench("report", str(model)).returncode == 0

    def publish(site: str) -> subprocess.CompletedProcess:
        done = bench("leaderboard", "publish", "--results", str(root), "--out",
                     str(tmp_path / site))  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done

    done = publish("site1")
    assert "not published" not in done.stderr
    pages = sorted(p.name for p in (tmp_path / "site1" / "reports").glob("*.html"))
    assert len(pages) == 1 and "full report" in "".join(
        p.read_text() for p in (tmp_path / "site1").glob("model-*.html"))  # fmt: skip
    page = model / "report" / "report.html"
    page.write_text(page.read_text() + "<script>alert(1)</script>")
    done = publish("site2")
    assert f"warning: {model / 'report'}: its report.html was changed after bench report " \
           "wrote it; not published" in done.stderr  # fmt: skip
    assert not (tmp_path / "site2" / "reports").exists()
    assert bench("report", str(model)).returncode == 0  # written again: published again
    assert "not published" not in publish("site3").stderr
    unit = model / "noise-label-0.5" / "seed-1"  # its run made again: the figures are not its
    metrics = json.loads((unit / "metrics.json").read_text())
    (unit / "metrics.json").write_text(json.dumps(metrics, indent=1))
    resign(unit)
    done = publish("site4")
    assert "its run noise-label-0.5/seed-1 was run again or changed since" in done.stderr
    (model / "report" / ".bench-report.json").unlink()
    assert "has no .bench-report.json that bench report wrote" in publish("site5").stderr
