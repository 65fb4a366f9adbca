"""The published site draws its own figures: a board's test score against noise rate (a line
and a 95% band per model), the training score on the given labels beside it and the
memorization scatter, read in real headless Chromium at phone and desktop widths, with no
network request and no console error."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.results import Unit
from benchmark.site_charts import Series, _ticks, line_chart
from tests.cdp import Browser
from tests.units import seal

MODELS, RATES, SEEDS = ("alpha", "beta"), (0.0, 0.5, 1.0), (0, 1)
WIDTHS = (390, 1280)


def unit(root: Path, model: str, rate: float, seed: int) -> None:
    """A finished var_misuse unit whose scores fall with the noise (beta more than alpha)."""
    u = Unit("var_misuse", "python-stdlib", model, "label", rate, seed)
    folder = u.path(root)
    folder.mkdir(parents=True)
    drop = 0.2 if model == "alpha" else 0.4
    test = 0.7 - drop * rate + 0.01 * seed
    train = 0.9 - 0.05 * rate + 0.01 * seed
    memorized = (0.3 if model == "alpha" else 0.6) if rate else None
    # the selected (last) epoch's scores are the unit's, as the harness writes them
    per_epoch = [{"epoch": e, "train": {"acc": train - 0.1 * (3 - e)},
                  "test": {"acc": test - 0.05 * (3 - e)}, "memorization_rate": memorized}
                 for e in (1, 2, 3)]  # fmt: skip
    m = {"task": u.task, "dataset": u.dataset, "model": model, "seed": seed, "profile": "smoke",
         "noise": {"kind": "label", "rate": rate}, "selection": {"metric": "acc"},
         "selected_epoch": 3, "train": {"acc": train}, "test": {"acc": test},
         "memorization_rate": memorized,
         "noise_detection_auroc": 0.7 if rate else None, "per_epoch": per_epoch}  # fmt: skip
    run = {"config": {"task": u.task, "dataset": u.dataset, "model": model, "noise_kind": "label",
                      "noise_rate": rate, "seed": seed, "profile": "smoke", "epochs": 3},
           "hardware": {"cpu": "x", "device": "cpu", "parameters": 10}, "seconds": 2.0,
           "command": ["bench", "run", "--model", model]}  # fmt: skip
    (folder / "metrics.json").write_text(json.dumps(m))
    (folder / "run.json").write_text(json.dumps(run))
    (folder / "samples.parquet").write_bytes(b"")
    seal(folder)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("results")
    for model in MODELS:
        for rate in RATES:
            for seed in SEEDS:
                unit(root, model, rate, seed)
    out = root.parent / "site"
    argv = [sys.executable, "-m", "benchmark", "leaderboard", "publish", "--out", str(out),
            "--results", str(root)]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


def test_ticks_are_round_and_cover_the_range() -> None:
    assert _ticks(0.12, 0.87) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]  # enclosing, so no band spills
    t = _ticks(0.0, 1.0)
    assert t[0] == 0.0 and t[-1] == 1.0 and len(t) >= 4
    t = _ticks(0.437, 0.772)
    assert t[0] <= 0.437 and t[-1] >= 0.772
    svg = line_chart("t", "x", "y", [Series("a", [(0.0, 0.5, 0.4, 0.6), (1.0, 0.2, None, None)])])
    assert svg.count('class="line"') == 1 and svg.count('class="band"') == 1
    assert "<title>t</title>" in svg and 'role="img"' in svg


def test_a_chart_of_equal_scores_ends() -> None:
    """Ten seeds at 0.525 have a mean interval about 1e-16 wide: its axis took steps of 1e-17,
    which left 0.525 where it was, and bench leaderboard publish grew until the kernel killed
    it (found by probing)."""
    from benchmark.metrics.sweep import mean_interval

    band = mean_interval([0.525] * 10)
    assert 0 < band["ci_high"] - band["ci_low"] < 1e-15 or band["ci_low"] == band["ci_high"]
    svg = line_chart("t", "x", "y", [Series("a", [(0.0, band["mean"], band["ci_low"],
                                                   band["ci_high"])])])  # fmt: skip
    assert svg.count('class="line"') == 1
    ticks = _ticks(0.525 - 1e-17, 0.525 + 1e-17)
    assert 2 <= len(ticks) <= 12 and ticks[0] <= 0.525 <= ticks[-1]


def charts_of(b: Browser) -> list[dict]:
    """Each chart of the page: its title, and the models of its lines, bands and points."""
    return b.eval("""[...document.querySelectorAll('svg.chart')].map(s => ({
        title: s.querySelector('title').textContent,
        lines: [...s.querySelectorAll('.line')].map(e => e.dataset.model),
        bands: [...s.querySelectorAll('.band')].map(e => e.dataset.model),
        points: [...s.querySelectorAll('.point')].map(e => e.dataset.model),
        label: s.getAttribute('aria-label')}))""")


def shoot(b: Browser, width: int, path: Path) -> None:
    """The page at ``width`` CSS pixels, whole, as a PNG; the page must not scroll sideways."""
    b.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=900,
           deviceScaleFactor=1, mobile=width < 600)  # fmt: skip
    assert b.eval("document.documentElement.scrollWidth") <= width + 1
    shot = b.call("Page.captureScreenshot", session=True, format="png", captureBeyondViewport=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    assert path.stat().st_size > 5000


def test_every_board_shows_its_charts_in_chromium(site: Path, tmp_path: Path) -> None:
    shots = Path(os.environ.get("BENCH_SITE_SHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with Browser() as b:
        b.call("Network.enable", session=True)
        b.call("Log.enable", session=True)
        b.open(site / "index.html")
        (small,) = charts_of(b)  # one board: its small chart leads the index
        assert sorted(small["lines"]) == sorted(MODELS) and sorted(small["bands"]) == sorted(MODELS)
        assert "alpha" in small["label"] and "How to read the charts" in b.eval(
            "document.body.innerText"
        )
        for width in WIDTHS:
            shoot(b, width, shots / f"index-{width}.png")

        b.follow("h3 a")  # the board's task page
        test, train, scatter = charts_of(b)
        assert test["title"].startswith("Test acc by label noise")
        assert sorted(test["lines"]) == sorted(MODELS) and sorted(test["bands"]) == sorted(MODELS)
        assert train["title"].startswith("Train acc on the given labels")
        assert sorted(train["lines"]) == sorted(MODELS)
        assert sorted(scatter["points"]) == sorted(MODELS)
        commands = b.eval("[...document.querySelectorAll('td.cmd')].map(c => c.innerText)")
        assert sorted(commands) == sorted(
            f"bench sweep --task var_misuse --dataset python-stdlib --models {m} --noise-kind "
            "label --noise 0,0.5,1 --seeds 2 --profile smoke --epochs 3"
            for m in MODELS
        )
        for width in WIDTHS:
            shoot(b, width, shots / f"board-{width}.png")

        b.call("Emulation.clearDeviceMetricsOverride", session=True)
        b.follow("tbody tr td:nth-child(2) a")  # a model's page
        figures = charts_of(b)
        assert len(figures) == 4  # test, train, scatter, and test per epoch at each rate
        assert sorted(figures[3]["lines"]) == [f"noise {r:g}" for r in RATES]
        assert "No bench report" not in b.eval("document.body.innerText")
        for width in WIDTHS:
            shoot(b, width, shots / f"model-{width}.png")

        b.call("Emulation.setEmulatedMedia", session=True,
               features=[{"name": "prefers-color-scheme", "value": "dark"}])  # fmt: skip
        dark = b.eval("getComputedStyle(document.body).backgroundColor")
        assert dark == "rgb(22, 22, 22)", dark
        shoot(b, 1280, shots / "model-1280-dark.png")

        requests = [e["params"]["request"]["url"] for e in b.events
                    if e.get("method") == "Network.requestWillBeSent"]  # fmt: skip
        assert requests and all(u.startswith("file://") for u in requests), requests
        errors = [e for e in b.events if e.get("method") in ("Runtime.exceptionThrown",)
                  or (e.get("method") == "Runtime.consoleAPICalled"
                      and e["params"].get("type") == "error")
                  or (e.get("method") == "Log.entryAdded"
                      and e["params"]["entry"].get("level") == "error")]  # fmt: skip
        assert errors == []
