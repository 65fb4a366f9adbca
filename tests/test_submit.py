"""``bench submit`` with real containers: a folder becomes an image, is verified, swept and
listed on the leaderboard under its name with its provenance; a bad name or a rule-breaking
image is refused with one line and leaves nothing behind.

Needs a docker daemon and the ``bench-os:bookworm`` base (tests/docker/); without them these
tests fail.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.results import is_complete
from benchmark.submit import BadSubmission, check_name, source_hash
from tests import docker_fakes as fakes

BENCH = [sys.executable, "-m", "benchmark"]
QUICK = ["--profile", "smoke", "--noise", "0,1"]


@pytest.fixture(scope="module")
def client():
    return fakes.require_docker()


def model_folder(path: Path, behavior: str = "good") -> Path:
    path.mkdir(parents=True)
    (path / "Dockerfile").write_text(fakes.dockerfile(behavior))
    (path / "model.py").write_text(fakes.MODEL)
    return path


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*BENCH, *args], capture_output=True, text=True)


def test_a_folder_is_built_verified_swept_and_listed(client, tmp_path):
    folder = model_folder(tmp_path / "my-model")
    results = tmp_path / "results"
    out = bench("submit", str(folder), "--name", "my-model", *QUICK, "--results", str(results),
                "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout)
    assert summary["ok"] and summary["verify"]["passed"]
    record = json.loads((results / ".submissions" / "my-model.json").read_text())
    image = client.images.get(record["image"])
    assert record["image"] == f"bench-submission:{source_hash(folder)[:16]}"
    assert record["image_id"] == image.id and record["digest"] == image.id
    assert record["source"] == str(folder.resolve())
    assert record["source_hash"] == source_hash(folder)
    assert record["submitted"] and record["tasks"] == ["var_misuse"]
    assert record["sweep"]["noise_rates"] == [0.0, 1.0]
    for rate in ("0", "1"):
        unit = results / f"var_misuse/python-stdlib/my-model/noise-label-{rate}/seed-0"
        assert is_complete(unit)
        run = json.loads((unit / "run.json").read_text())
        assert run["image"]["digest"] == image.id
        assert run["submission"]["source_hash"] == source_hash(folder)
        assert run["submission"]["verified"] is True
    board = bench("leaderboard", "show", "--results", str(results), "--json")
    rows = json.loads(board.stdout)["rows"]
    assert [r["model"] for r in rows] == ["my-model"]
    site = tmp_path / "site"
    published = bench("leaderboard", "publish", "--results", str(results), "--out", str(site))
    assert published.returncode == 0, published.stderr[-2000:]
    pages = "".join(p.read_text() for p in site.glob("run-*.html"))
    assert image.id in pages and "my-model on " in pages
    # Submitting the same folder again is the same submission: everything is already done.
    again = bench("submit", str(folder), "--name", "my-model", *QUICK, "--results", str(results),
                  "--json")  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    assert all(s["skipped"] == s["units"] for s in json.loads(again.stdout)["sweeps"])


@pytest.mark.parametrize(
    "name", ["<script>alert(1)</script>", "My Model", "", "-x", "a" * 65, "ggnn", "../up"]
)
def test_a_bad_name_is_one_line(tmp_path, name):
    with pytest.raises(BadSubmission):
        check_name(name)
    out = bench("submit", fakes.BASE, "--name", name, "--results", str(tmp_path))
    assert out.returncode == 2
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: name"), out.stderr
    assert not (tmp_path / ".submissions").exists()


def test_a_rule_breaking_image_is_refused(client, tmp_path):
    image = fakes.build(client, "malformed")
    results = tmp_path / "results"
    out = bench("submit", image, "--name", "sloppy", *QUICK, "--results", str(results))
    assert out.returncode == 1
    assert "rule 'predictions'" in out.stderr and "scores must be finite" in out.stderr
    assert "predictions" in out.stdout  # the verify table
    assert not (results / ".submissions").exists()
    assert not (results / "var_misuse").exists()
    # With --json, stdout is the verify report as JSON (not the table), stderr the one line.
    out = bench("submit", image, "--name", "sloppy", *QUICK, "--results", str(results), "--json")
    got = json.loads(out.stdout)
    assert out.returncode == 1 and got["ok"] is False and "rule 'predictions'" in got["error"]
    assert got["verify"]["passed"] is False
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors == out.stderr.strip().splitlines()[-1:]


def test_a_taken_name_keeps_its_image(client, tmp_path):
    results = tmp_path / "results"
    first = bench("submit", fakes.build(client, "good"), "--name", "taken", *QUICK,
                  "--results", str(results))  # fmt: skip
    assert first.returncode == 0, first.stderr[-2000:]
    other = bench("submit", fakes.build(client, "slow"), "--name", "taken", *QUICK,
                  "--results", str(results))  # fmt: skip
    assert other.returncode == 2
    assert "was submitted on" in other.stderr and "--replace" in other.stderr
    record = json.loads((results / ".submissions" / "taken.json").read_text())
    assert record["image_id"] == client.images.get(fakes.build(client, "good")).id
    before = {p: p.read_bytes() for p in results.rglob("*") if p.is_file()}

    # --replace with an image that breaks the protocol changes nothing.
    bad = bench("submit", fakes.build(client, "malformed"), "--name", "taken", *QUICK,
                "--replace", "--results", str(results))  # fmt: skip
    assert bad.returncode == 1 and "rule 'predictions'" in bad.stderr
    assert {p: p.read_bytes() for p in results.rglob("*") if p.is_file()} == before

    # --replace with a good image: the old results move aside whole, the name starts over.
    new = bench("submit", fakes.build(client, "slow"), "--name", "taken", *QUICK,
                "--replace", "--results", str(results), "--json")  # fmt: skip
    assert new.returncode == 0, new.stderr[-2000:]
    assert json.loads(new.stdout)["ok"]
    record = json.loads((results / ".submissions" / "taken.json").read_text())
    slow_id = client.images.get(fakes.build(client, "slow")).id
    assert record["image_id"] == slow_id
    assert record["replaces"]["image_id"] == client.images.get(fakes.build(client, "good")).id
    moved = Path(record["replaces"]["results"])
    assert moved.parent == results / ".replaced"
    for path, data in before.items():
        rel = path.relative_to(results)
        if rel.parts[0] == "var_misuse":
            assert (moved / rel).read_bytes() == data, rel
    units = sorted(results.glob("var_misuse/python-stdlib/taken/noise-*/seed-0"))
    assert len(units) == 2 and all(is_complete(u) for u in units)
    for unit in units:
        run = json.loads((unit / "run.json").read_text())
        assert run["image"]["digest"] == slow_id
    board = json.loads(bench("leaderboard", "show", "--results", str(results), "--json").stdout)
    assert [r["model"] for r in board["rows"]] == ["taken"]


def test_a_folder_that_does_not_build_is_one_line(client, tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "Dockerfile").write_text(f"FROM {fakes.BASE}\nRUN exit 3\n")
    out = bench("submit", str(folder), "--name", "broken", "--results", str(tmp_path / "r"))
    assert out.returncode == 2
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "did not build: The command '/bin/sh -c exit 3'" in errors[0]


def test_a_copy_of_the_template_submits_on_the_suites_base(built_images, os_base, wheelhouse,
                                                           tmp_path):  # fmt: skip
    """What a researcher does first: copy containers/template and submit the folder. Its
    Dockerfile starts from ARG BASE, which gets the suite's base image."""
    folder = tmp_path / "mine"
    shutil.copytree(Path(__file__).parents[1] / "containers" / "template", folder)
    results = tmp_path / "results"
    out = bench("submit", str(folder), "--name", "mine", "--task", "var_misuse", *QUICK,
                "--base", os_base, "--wheelhouse", str(wheelhouse), "--results", str(results),
                "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout)
    assert summary["ok"] and summary["verify"]["passed"]
    assert summary["image"] != f"bench-submission:{source_hash(folder)[:16]}"  # base in its tag
    for rate in ("0", "1"):
        assert is_complete(results / f"var_misuse/python-stdlib/mine/noise-label-{rate}/seed-0")
