"""`bench report` on a real smoke run (GGNN, half the labels noisy) and on a set of runs.

The set adds a copy of the run relabelled as another noise rate and seed: the report reads only
metrics.json and samples.parquet, so this exercises the sweep page (curves per rate, intervals
over seeds) without training twice.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.metrics import memorization
from benchmark.report import write_report
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


def figure_stems(folder: Path) -> set[str]:
    return {p.stem for p in (folder / "figures").iterdir()}


def check_report(out: Path, runs: list[str]) -> str:
    """Both files exist and show every figure; the page is self-contained."""
    page = (out / "report.html").read_text()
    markdown = (out / "report.md").read_text()
    expected = {"curves", "robustness"}
    for name in runs:
        expected |= {f"loss-{name}", f"cartography-{name}", f"roc-{name}",
                     f"predicted-score-{name}"}  # fmt: skip
    assert figure_stems(out) == expected
    for stem in expected:
        for fmt in ("png", "svg", "pdf"):
            assert (out / "figures" / f"{stem}.{fmt}").stat().st_size > 1000, (stem, fmt)
        assert f"figures/{stem}.png" in markdown
        assert f'<figure id="{stem}"><img' in page
    assert page.count('src="data:image/png;base64,') == len(expected)
    assert not re.search(r"https?://|//cdn|<script|<link|@import|url\(", page)
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
