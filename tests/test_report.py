"""`bench report` on a real smoke run (GGNN, half the labels noisy) and on a set of runs.

The set adds a copy of the run relabelled as another noise rate and seed: the report reads only
metrics.json and samples.parquet, so this exercises the sweep page (curves per rate, intervals
over seeds) without training twice. The Membership section is tried on that run (its holdout
split) beside the units of a subset sweep of the synthetic memorizer (tests/memorizer.py, a
protocol-3 model that trains nothing, so the sweep takes seconds).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from benchmark import datasets
from benchmark.cli import app
from benchmark.metrics import counterfactual, membership, memorization
from benchmark.report import TOP_MEMORIZED, write_report
from tests.units import seal

BENCH = [sys.executable, "-m", "benchmark"]
RUN_KEYS = (
    "per_epoch", "generalization_gap", "generalization_gap_last", "memorization_rate",
    "memorization_half_epoch", "gini_train_loss", "avg_predicted_score", "mean_p_given",
    "output_critical_sample_ratio",
    "forgetting_events", "aum", "cartography", "detection", "noise_detection_auroc",
)  # fmt: skip


def bench(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([*BENCH, *args], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise AssertionError(f"bench {' '.join(args)} failed:\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    results = tmp_path_factory.mktemp("results")
    bench("run", "--model", "ggnn", "--noise", "0.5", "--profile", "smoke",
          "--results", str(results))  # fmt: skip
    (metrics,) = results.rglob("metrics.json")
    return metrics.parent


MEMORIZER = """
[memorizer]
tasks = ["var_misuse"]
representation = "great-jsonl"
command = ["{python}", "{script}", "--remembers", "train"]
protocol = 3
"""
CELL = "memorizer-label-0.5-seed0"  # the subset sweep's one cell


@pytest.fixture(scope="module")
def subset_results(run_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Results holding the GGNN run (an ordinary run with a holdout split) and the three
    subset units of one memorizer cell."""
    results = tmp_path_factory.mktemp("subset-results")
    manifest = tmp_path_factory.mktemp("models") / "memorizer.toml"
    manifest.write_text(MEMORIZER.format(python=Path(sys.executable).as_posix(),
                                         script=Path(__file__).with_name("memorizer.py")
                                         .as_posix()))  # fmt: skip
    proc = subprocess.run(
        [*BENCH, "sweep", "--models", "memorizer", "--noise", "0.5", "--seeds", "1",
         "--subsets", "3", "--profile", "smoke", "--results", str(results)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "BENCH_MODELS": str(manifest)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    shutil.copytree(run_folder, results / run_folder.relative_to(run_folder.parents[4]))
    return results


def cell_folders(results: Path) -> list[Path]:
    return sorted(p.parent for p in (results / "subsets").rglob("metrics.json"))


def figure_stems(folder: Path) -> set[str]:
    return {p.stem for p in (folder / "figures").iterdir()}


def section(markdown: str, heading: str) -> str:
    """The Markdown from `heading` to the next heading of its level or above."""
    level = heading.split(" ")[0]
    start = markdown.index(f"\n{heading}\n")
    ends = [m.start() for m in re.finditer(rf"\n#{{1,{len(level)}}} ", markdown[start + 1 :])]
    return markdown[start : start + 1 + ends[0]] if ends else markdown[start:]


def check_report(
    out: Path, runs: list[str], holdout: bool = True, extra: Iterable[str] = ()
) -> str:
    """Both files exist and show every figure; the page is self-contained. A run with a
    holdout split adds its membership ROC; `extra`: the subset cells' figures."""
    page = (out / "report.html").read_text()
    markdown = (out / "report.md").read_text()
    expected = {"curves", "robustness", *extra}
    for name in runs:
        expected |= {f"loss-{name}", f"cartography-{name}", f"roc-{name}",
                     f"predicted-score-{name}"}  # fmt: skip
        expected |= {f"membership-roc-{name}"} if holdout else set()
    assert figure_stems(out) == expected
    for stem in expected:
        for fmt in ("png", "svg", "pdf"):
            assert (out / "figures" / f"{stem}.{fmt}").stat().st_size > 1000, (stem, fmt)
        assert f"figures/{stem}.png" in markdown
        assert f'<figure id="{stem}"><img' in page
    assert page.count('src="data:image/png;base64,') == len(expected)
    # (the listed samples' code may quote a URL: the page is searched without it)
    assert not re.search(r"https?://|//cdn|<script|<link|@import|url\(", re.sub(
        r"<td>[^<]*</td>", "", page))  # fmt: skip
    assert re.findall(r'src="([^"]{0,11})', page) == ["data:image/"] * len(expected)
    return page


@pytest.mark.slow
def test_metrics_json_carries_every_metric(run_folder: Path) -> None:
    m = json.loads((run_folder / "metrics.json").read_text())
    for key in RUN_KEYS:
        assert key in m, key
    assert set(m["detection"]) == set(memorization.SIGNALS)
    assert m["detection"]["cleanlab"]["view"] == "two-class"  # GGNN writes p_no_bug
    train = pl.read_parquet(run_folder / "samples.parquet").filter(pl.col("split") == "train")
    assert train["p_other"].null_count() == 0 and train["p_no_bug"].null_count() == 0


@pytest.mark.slow
def test_report_on_a_run(run_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    proc = bench("report", str(run_folder), "--out", str(out))
    assert "report.html" in proc.stderr
    page = check_report(out, ["ggnn-label-0.5-seed0"])
    assert "ggnn-label-0.5-seed0" in page and "AUROC cleanlab" in page


@pytest.mark.slow
def test_report_on_a_set_of_runs(run_folder: Path, tmp_path: Path) -> None:
    root = tmp_path / "sweep"
    shutil.copytree(run_folder, root / "a")
    m = json.loads((run_folder / "metrics.json").read_text())
    m["noise"]["rate"], m["seed"] = 0.25, 1
    shutil.copytree(run_folder, root / "b")
    (root / "b" / "metrics.json").write_text(json.dumps(m))
    seal(root / "b")  # as if run with those settings
    # A unit whose metrics.json was edited or is garbage is left out with one warning, and
    # the report goes on with the others.
    shutil.copytree(run_folder, root / "c")
    (root / "c" / "metrics.json").write_text("not json")
    write_report(root)  # in-process (the CLI is tested above); default out: PATH/report
    check_report(root / "report", ["ggnn-label-0.5-seed0", "ggnn-label-0.25-seed1"])
    summary = json.loads((root / "report" / "robustness.json").read_text())["robustness"]
    assert [p["rate"] for p in summary[0]["points"]] == [0.25, 0.5]
    result = CliRunner().invoke(app, ["report", str(root / "c")])
    assert result.exit_code == 2 and "left out: they do not verify" in result.output


@pytest.mark.slow
def test_runs_of_several_tasks_get_a_section_each(run_folder: Path, tmp_path: Path) -> None:
    """A results folder of two tasks was drawn as one curve per (model, rate): a method_name
    score and a var_misuse score averaged, under the first run's metric (found by probing).
    Units moved aside (.quarantine, .replaced) were counted again beside their reruns."""
    root = tmp_path / "results"
    shutil.copytree(run_folder, root / run_folder.relative_to(run_folder.parents[4]))
    proc = bench("run", "--model", "baseline", "--task", "method_name", "--noise", "0.5",
                 "--profile", "smoke", "--results", str(root))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    shutil.copytree(run_folder, root / ".quarantine" / "ggnn-moved-aside")
    write_report(root, tmp_path / "report")
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert markdown.startswith("# Memorization report: 2 runs under results\n")
    headings = [line for line in markdown.splitlines() if line.startswith("## ")]
    assert headings == ["## method_name on jdk, label noise",
                        "## var_misuse on python-stdlib, label noise"]  # fmt: skip
    method = section(markdown, "## method_name on jdk, label noise")
    assert "### Runs" in method and "method_name-jdk-baseline-label-0.5-seed0" in method
    assert "var_misuse-python-stdlib-ggnn" not in method
    ggnn = "var_misuse-python-stdlib-ggnn-label-0.5-seed0"
    stems = figure_stems(tmp_path / "report")
    assert {"curves-1", "curves-2", "robustness-1", "robustness-2", f"loss-{ggnn}",
            f"membership-roc-{ggnn}"} <= stems and "curves" not in stems  # fmt: skip
    summary = json.loads((tmp_path / "report" / "robustness.json").read_text())["robustness"]
    assert sorted((g["task"], g["metric"], [p["n"] for p in g["points"]]) for g in summary) == [
        ("method_name", "f1", [1]), ("var_misuse", "acc", [1])]  # fmt: skip


def test_a_noise_0_run_has_no_memorization_curve_and_no_warning(
    run_folder: Path, tmp_path: Path
) -> None:
    """At noise 0 no sample is noisy, so every epoch's memorization rate is None: the curve
    is left out quietly, not drawn from an empty mean with a RuntimeWarning on stderr."""
    root = tmp_path / "clean"
    shutil.copytree(run_folder, root / "a")
    m = json.loads((run_folder / "metrics.json").read_text())
    m["noise"]["rate"] = 0.0
    m["memorization_rate"] = m["memorization_rate_last"] = None  # as at noise 0
    for e in m["per_epoch"]:
        e["memorization_rate"] = None
    (root / "a" / "metrics.json").write_text(json.dumps(m))
    seal(root / "a")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        write_report(root)
    assert (root / "report" / "report.md").is_file()


def test_report_without_runs_is_an_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
def test_page_renders_in_a_browser_without_network(run_folder: Path, tmp_path: Path) -> None:
    """Headless Chromium in a network namespace of its own (no interface but loopback).

    .ci/run installs Chromium; a machine without it or without unshare fails here, loudly.
    """
    assert CHROMIUM, "chromium is not installed (Debian: apt-get install chromium)"
    assert shutil.which("unshare"), "unshare (util-linux) is not installed"
    write_report(run_folder, tmp_path / "report")
    shot = tmp_path / "shot.png"
    command = ["unshare", "-n", str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
               f"--screenshot={shot}", "--window-size=1280,2400",
               (tmp_path / "report" / "report.html").as_uri()]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.strip()[-500:]
    assert shot.exists() and shot.stat().st_size > 50_000  # figures drawn, not a blank page


@pytest.mark.slow
def test_a_run_metric_declared_once_shows_everywhere(run_folder: Path, tmp_path: Path) -> None:
    """One `register` (as a plugin would make it) and the metric is a field of the leaderboard's
    JSON rows, a column of the published site's tables and of the report: no other edit."""
    from benchmark.metrics import schema

    results = run_folder.parents[4]
    toy = schema.RunMetric(
        "toy_top_score_test", "toy top score", "toy top", higher_is_better=True,
        description="the mean score of the model's top prediction on test",
        value=lambda m: m["avg_predicted_score"]["test"], noisy_only=False,
    )  # fmt: skip
    before = list(schema.RUN_METRICS)
    schema.register(toy)
    try:
        expected = json.loads((run_folder / "metrics.json").read_text())
        expected = expected["avg_predicted_score"]["test"]
        shown = CliRunner().invoke(app, ["leaderboard", "show", "--json", "--results",
                                         str(results)])  # fmt: skip
        assert shown.exit_code == 0, shown.output
        (row,) = json.loads(shown.stdout)["rows"]
        assert row["toy_top_score_test"] == pytest.approx(expected)
        site = tmp_path / "site"
        published = CliRunner().invoke(app, ["leaderboard", "publish", "--out", str(site),
                                             "--results", str(results)])  # fmt: skip
        assert published.exit_code == 0, published.output
        pages = [p.read_text() for p in site.rglob("*.html")]
        assert any(">toy top<" in p and f"{expected:.3f}" in p for p in pages)
        assert any("toy top score" in p for p in pages)  # the run's page
        write_report(run_folder, tmp_path / "report")
        markdown = (tmp_path / "report" / "report.md").read_text()
        assert "toy top" in markdown and f"{expected:.3f}" in markdown
    finally:
        schema.RUN_METRICS[:] = before


@pytest.mark.slow
def test_membership_section_beside_the_runs(subset_results: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    write_report(subset_results, out)
    extra = {f"memorization-{CELL}", f"lira-roc-{CELL}"}
    page = check_report(out, ["ggnn-label-0.5-seed0"], extra=extra)
    markdown = (out / "report.md").read_text()
    assert "1 runs and 3 subset units under" in markdown
    # The subset units are in no ordinary table or figure: trained on half the pool.
    for heading in ("## Runs", "## Robustness", "## Figures"):
        assert "memorizer" not in section(markdown, heading), heading
    summary = json.loads((out / "robustness.json").read_text())["robustness"]
    assert [g["model"] for g in summary] == ["ggnn"]

    member = section(markdown, "## Membership")
    assert 'id="membership-roc-ggnn-label-0.5-seed0"' in page
    # the single-run attacks: every attack, all / clean / noisy, with intervals where each
    # side has 10 samples or more (the smoke holdout's 16 split into 8 clean, 8 noisy)
    attacks = section(member, "### Single-run attacks")
    for attack in ("loss", "confidence"):
        for subset in ("all", "clean", "noisy"):
            found = re.search(
                rf"\| ggnn-label-0\.5-seed0 \| \d+ \| {attack} \| {subset} \| "
                r"(\d+) \| (\d+) \| [\d.]+( \[[\d.]+, [\d.]+\])? \|",
                attacks,
            )
            assert found, (attack, subset)
            enough = min(int(found[1]), int(found[2])) >= membership.MIN_SIDE
            assert (found[3] is not None) == enough and (enough or subset != "all"), found[0]
    assert "zlib" not in attacks  # var_misuse has no label text
    assert "| confidence (test as non-members) | all | 144 |" in attacks
    # the cell: a perfect memorizer, which LiRA and the loss attack find at any FPR
    cells = section(member, "### Counterfactual memorization (subset units)")
    assert re.search(rf"\| {CELL} \| 3 \| 160 \| 0\.\d+ \(n \d+\) \| 0\.\d+ \(n \d+\) \| "
                     r"1\.000 \[1\.000, 1\.000\] \| 1\.000 \[1\.000, 1\.000\] \| "
                     r"1\.000 \[1\.000, 1\.000\]", cells)  # fmt: skip
    proxies = section(cells, "#### Proxies: Spearman correlation with counterfactual memorization")
    assert "| cell | signal | Spearman rho | 95% interval | n |" in proxies
    for name in counterfactual.PROXIES:
        assert re.search(rf"\| {CELL} \| {name} \| (-?[\d.]+|-) \| .* \| \d+ \|", proxies), name
    # the most memorized samples, highest first, with their labels and code
    listed = section(cells, f"#### {CELL}")
    rows = [r for r in listed.splitlines() if re.match(r"\| \d+ \|", r)]
    assert len(rows) == TOP_MEMORIZED
    cells_of = [r.split(" | ") for r in rows]
    scores = [float(c[3]) for c in cells_of]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0.5
    assert all("has_bug" in c[6] and "has_bug" in c[7] and " def " in f" {c[8]}" for c in cells_of)
    noisy = [c for c in cells_of if c[2] == "true"]
    assert all(c[6] != c[7] for c in noisy)  # a noisy sample's given label is not its own
    for stem in extra:
        assert f"figures/{stem}.png" in listed


@pytest.mark.slow
def test_subset_units_alone_and_without_their_dataset(
    subset_results: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder of subset units only: no ordinary section, the Membership section whole; a
    dataset that cannot be read costs the code column, not the report."""

    def unreadable(name: str) -> datasets.Dataset:
        raise FileNotFoundError(f"no cache for {name}\nsecond line")

    monkeypatch.setattr(datasets, "load", unreadable)
    out = tmp_path / "alone"
    write_report(subset_results / "subsets", out)
    markdown = (out / "report.md").read_text()
    assert markdown.startswith("# Memorization report: 3 subset units under subsets\n")
    assert "## Runs" not in markdown and "## Figures" not in markdown
    assert figure_stems(out) == {f"memorization-{CELL}", f"lira-roc-{CELL}"}
    assert ("code not shown: dataset python-stdlib could not be loaded (no cache for "
            "python-stdlib)\n") in markdown  # fmt: skip
    rows = [r.split(" | ") for r in markdown.splitlines() if re.match(r"\| \d+ \|", r)]
    assert len(rows) == TOP_MEMORIZED and all(r[8] == "- |" for r in rows)
    # one unit of a cell is no cell: said, not drawn
    single = cell_folders(subset_results)[0]
    write_report(single, tmp_path / "single")
    markdown = (tmp_path / "single" / "report.md").read_text()
    assert f"{CELL}: one subset unit; counterfactual memorization needs two or more" in markdown
    assert not (tmp_path / "single" / "figures").exists()


@pytest.mark.slow
def test_the_cell_roc_scores_are_the_cell_figures(subset_results: Path, tmp_path: Path) -> None:
    """The LiRA and loss-attack scores behind the cell's ROC give the figures
    counterfactual.cell reports, on p_given and losses made less tidy than the memorizer's."""
    rng = np.random.default_rng(0)
    folders = []
    for k, folder in enumerate(cell_folders(subset_results)):
        copy = tmp_path / f"subset-{k}"
        shutil.copytree(folder, copy)
        rows = pl.read_parquet(copy / "samples.parquet")
        p = np.clip(rows["p_given"].to_numpy() + rng.normal(0, 0.3, rows.height), 0.01, 0.99)
        rows.with_columns(pl.Series("p_given", p), pl.Series("loss", -np.log(p))).write_parquet(
            copy / "samples.parquet")  # fmt: skip
        folders.append(copy)
    _, figures = counterfactual.cell(folders, resamples=0)
    grid = counterfactual.read_grid(folders)
    inclusion, scores, pairs = counterfactual.attack_pairs(grid)
    assert inclusion.shape == (3, 160) and 0 < pairs.sum() < pairs.size
    for name, key in (("LiRA", "lira"), ("loss", "loss_attack")):  # on the same pairs
        member, nonmember = scores[name][inclusion & pairs], scores[name][~inclusion & pairs]
        assert 0.5 < figures[key]["auroc"]["value"] < 1  # not the memorizer's perfect score
        assert membership.auroc(member, nonmember) == pytest.approx(
            figures[key]["auroc"]["value"], abs=1e-6)  # fmt: skip
        assert membership.tpr_at_fpr(member, nonmember, 0.01) == pytest.approx(
            figures[key]["tpr_at_1pct_fpr"]["value"], abs=1e-6)  # fmt: skip


@pytest.mark.slow
def test_a_run_without_a_holdout_gets_the_report_it_had(run_folder: Path, tmp_path: Path) -> None:
    """A protocol-2 run (no holdout split) has no Membership section and no membership ROC."""
    folder = tmp_path / "run"
    shutil.copytree(run_folder, folder)
    samples = pl.read_parquet(folder / "samples.parquet").filter(pl.col("split") != "holdout")
    samples.write_parquet(folder / "samples.parquet")
    m = json.loads((folder / "metrics.json").read_text())
    m["membership"] = {"nonmembers": None, "why": "no holdout split: the model speaks protocol 2"}
    (folder / "metrics.json").write_text(json.dumps(m))
    seal(folder)
    write_report(folder, tmp_path / "report")
    check_report(tmp_path / "report", ["ggnn-label-0.5-seed0"], holdout=False)
    assert "Membership" not in (tmp_path / "report" / "report.md").read_text()
