"""Issue 8's acceptance: concurrent runs land once each, the published site works in a real
browser and agrees with the result folders, and a hostile model name stays text everywhere."""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.results import Unit, dataset_fingerprint
from benchmark.standings import collect
from tests.cdp import Browser
from tests.units import seal

BENCH = [sys.executable, "-m", "benchmark"]
XSS = "<script>alert(1)</script>"
RATES, SEEDS = (0.0, 0.25), (0, 1, 2, 3)


def bench(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([*BENCH, *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def eight(tmp_path_factory) -> Path:
    """Eight smoke runs (2 noise rates x 4 seeds) started at once into one results folder."""
    root = tmp_path_factory.mktemp("concurrent")
    procs = [
        subprocess.Popen([*BENCH, "run", "--model", "ggnn", "--noise", str(rate), "--seed",
                          str(seed), "--profile", "smoke", "--epochs", "1", "--results",
                          str(root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for rate in RATES for seed in SEEDS
    ]  # fmt: skip
    for p in procs:
        _out, err = p.communicate()
        assert p.returncode == 0, err[-3000:]
    return root


def test_eight_concurrent_runs_appear_once_complete(eight):
    found = collect([eight])
    assert found.warnings == []
    units = sorted((r.unit.noise_rate, r.unit.seed) for r in found.runs)
    assert units == sorted((rate, seed) for rate in RATES for seed in SEEDS)
    assert not [p for p in (eight / ".tmp").iterdir()]  # nothing left half-written
    # merging the same folder twice (as from a second machine) still counts each unit once
    assert len(collect([eight, eight]).runs) == 8


def craft(src: Path, root: Path, model: str, scale: float = 1.0, **changes) -> Path:
    """A copy of a real unit folder as another model's (test scores scaled by ``scale``)."""
    m = json.loads((src / "metrics.json").read_text())
    r = json.loads((src / "run.json").read_text())
    m["model"] = r["config"]["model"] = model
    m["test"] = {k: v * scale for k, v in m["test"].items()}
    for e in m["per_epoch"]:  # the selected epoch's scores are written there too
        e["test"] = {k: None if v is None else v * scale for k, v in e["test"].items()}
    m.update(changes)
    unit = Unit(m["task"], m["dataset"], model, m["noise"]["kind"], m["noise"]["rate"], m["seed"])
    dest = unit.path(root)
    shutil.copytree(src, dest)
    (dest / "metrics.json").write_text(json.dumps(m))
    (dest / "run.json").write_text(json.dumps(r))
    # sealed as that model's own run of the same dataset would be
    return seal(dest, dataset_fingerprint(src))


@pytest.fixture(scope="module")
def merged(eight, tmp_path_factory) -> tuple[list[Path], Path]:
    """A second results folder with crafted models and two bad units; the site of both."""
    other = tmp_path_factory.mktemp("other")
    for src in sorted(eight.glob("*/*/ggnn/noise-*/seed-[01]")):
        craft(src, other, "tiny-rnn", scale=0.5)
        craft(src, other, XSS, scale=0.9)
    src = next(eight.glob("*/*/ggnn/noise-label-0.25/seed-0"))
    bad = craft(src, other, "broken")
    (bad / "samples.parquet").unlink()  # incomplete
    liar = craft(src, other, "liar")
    liar.rename(liar.parent / "seed-7")  # metrics.json says seed 0
    # edited after it completed: a test acc no model can reach, which would rank first
    forger = craft(src, other, "forger")
    m = json.loads((forger / "metrics.json").read_text())
    m["test"]["acc"] = 7.5
    (forger / "metrics.json").write_text(json.dumps(m))
    site = tmp_path_factory.mktemp("site")
    proc = bench("leaderboard", "publish", "--results", str(eight), "--results", str(other),
                 "--out", str(site))  # fmt: skip
    assert "incomplete" in proc.stderr and "provenance mismatch" in proc.stderr
    assert "forger" in proc.stderr and "was changed after the unit completed" in proc.stderr
    return [eight, other], site


def expected_robustness(roots: list[Path]) -> dict[str, float]:
    """Each model's robustness, recomputed from its metrics.json files alone."""
    scores: dict[str, dict[float, list[float]]] = {}
    for root in roots:
        for f in root.glob("*/*/*/noise-*/seed-*/metrics.json"):
            m = json.loads(f.read_text())
            if (f.parent / "samples.parquet").exists() and f.parent.name == f"seed-{m['seed']}" \
                    and m["model"] != "forger":  # fmt: skip
                scores.setdefault(m["model"], {}).setdefault(m["noise"]["rate"], []).append(
                    m["test"]["acc"]
                )
    out = {}
    for model, by_rate in scores.items():
        rates = sorted(by_rate)
        means = [sum(by_rate[r]) / len(by_rate[r]) for r in rates]
        area = sum((b - a) * (x + y) / 2 for a, b, x, y in
                   zip(rates, rates[1:], means, means[1:], strict=False))  # fmt: skip
        out[model] = area / (rates[-1] - rates[0]) if len(rates) > 1 else means[0]
    return out


def test_site_in_chromium(merged):
    roots, site = merged
    expected = expected_robustness(roots)
    with Browser() as b:
        b.open(site / "index.html")
        assert "incomplete" in b.eval("document.body.innerText")
        b.follow("ul li a")  # the one task
        column = b.eval("[...document.querySelectorAll('thead th')].map(h => h.textContent)"
                        ".indexOf('robustness')")  # fmt: skip
        b.click(f"thead th:nth-child({column + 1})")
        rows = b.eval(
            f"[...document.querySelectorAll('tbody tr')].map(r => [r.cells[1].innerText, "
            f"parseFloat(r.cells[{column}].getAttribute('data-v'))])"
        )
        assert [m for m, _ in rows] == sorted(expected, key=expected.get)
        for model, shown in rows:
            assert math.isclose(shown, expected[model], rel_tol=1e-9)
        assert "broken" not in expected or "broken" not in [m for m, _ in rows]

        models = "[...document.querySelectorAll('tbody tr')].map(r => r.cells[1].innerText)"
        b.click("thead th:nth-child(2)")  # by model name
        names = b.eval(models)
        assert sorted(names) == sorted(expected)
        assert b.eval("document.querySelector('th[aria-sort]').innerText") == "model"
        b.follow(f"tbody tr:nth-child({names.index('ggnn') + 1}) td:nth-child(2) a")
        assert b.eval("document.querySelector('h1').innerText") == "Model ggnn"
        n_runs = b.eval("document.querySelectorAll('table')[1].tBodies[0].rows.length")
        assert n_runs == len(list(roots[0].glob("*/*/ggnn/noise-*/seed-*")))

        b.follow("a[href^='run-']")
        facts = b.eval("Object.fromEntries([...document.querySelectorAll('dt')]"
                       ".map(dt => [dt.innerText, dt.nextElementSibling.innerText]))")  # fmt: skip
        rate, seed = float(facts["noise"].split()[1]), int(facts["seed"])
        folder = Unit("var_misuse", facts["dataset"], "ggnn", "label", rate, seed).path(roots[0])
        run = json.loads((folder / "run.json").read_text())
        assert facts["dataset fingerprint"] == run["dataset"]["fingerprint"]
        assert facts["noise"].endswith(f"(version {run['noise']['version']} of the kind)")
        assert facts["command line"] == " ".join(run["command"])
        assert run["code"]["git_commit"] in facts["code version"]
        assert facts["image digest"].startswith("none")
        assert facts["result folder"] == str(folder)
        assert b.dialogs() == []


def test_hostile_name_is_text_everywhere(merged, tmp_path):
    roots, site = merged
    pages = sorted(site.glob("*.html"))
    with Browser() as b:
        shown = 0
        for page in pages:
            raw = page.read_text()
            assert XSS not in raw  # never markup
            b.open(page)
            text = b.eval("document.body.innerText")
            if "alert(1)" in raw:
                assert XSS in text, page.name
                shown += 1
        assert b.dialogs() == []
    # the index, the task's page, the model's page and its run pages (named in their title)
    units = [f for f in roots[1].rglob("metrics.json") if json.loads(f.read_text())["model"] == XSS]
    assert shown == 3 + len(units) and len(units) == 4
    results = [a for root in roots for a in ("--results", str(root))]
    for fmt in ("csv", "json", "md"):
        out = tmp_path / f"board.{fmt}"
        bench("leaderboard", "export", *results, "--format", fmt, "--out", str(out))
        text = out.read_text()
        if fmt == "csv":
            assert XSS in [r["model"] for r in csv.DictReader(io.StringIO(text))]
        elif fmt == "json":
            assert XSS in [r["model"] for r in json.loads(text)["rows"]]
        else:
            assert XSS not in text and "&lt;script&gt;alert\\(1\\)&lt;/script&gt;" in text
    show = bench("leaderboard", "show", *results).stdout
    assert XSS in show
