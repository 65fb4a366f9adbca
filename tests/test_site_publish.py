"""`bench leaderboard publish` never deletes what it did not write: the site is built beside
``--out`` and swapped in, a folder that is not a site it published is refused with one line,
a re-publish replaces a site it wrote whole, and a wrong --results replaces nothing (no
training: units are written by hand)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmark import site
from benchmark.site import MARKER, SiteError, publish
from benchmark.standings import leaderboard
from tests.test_standings import u, unit_folder


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def publish_cli(results: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmark", "leaderboard", "publish",
                           "--results", str(results), "--out", str(out)],
                          capture_output=True, text=True)  # fmt: skip


@pytest.fixture
def results(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    for model in ("keeps", "goes"):
        unit_folder(root, u(model, 0.0), 0.6)
        unit_folder(root, u(model, 0.5), 0.4)
    return root


def test_a_folder_publish_did_not_write_is_refused_and_kept(results: Path, tmp_path: Path):
    out = tmp_path / "www"
    (out / "reports").mkdir(parents=True)
    (out / "index.html").write_text("<p>my own home page</p>")
    (out / "notes.txt").write_text("mine")
    (out / "reports" / "q3.html").write_text("<p>my own report</p>")
    before = tree(out)
    proc = publish_cli(results, out)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not a site bench published" in lines[0], proc.stderr
    assert tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results", "www"]


def test_a_file_as_out_is_refused(results: Path, tmp_path: Path):
    out = tmp_path / "site.html"
    out.write_text("mine")
    proc = publish_cli(results, out)
    assert proc.returncode == 2 and "is a file, not a folder" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and out.read_text() == "mine"


def test_a_republish_replaces_the_site_it_wrote(results: Path, tmp_path: Path):
    out = tmp_path / "site"
    out.mkdir()  # an empty folder is taken
    first = publish(*leaderboard([results]), out)
    assert (out / MARKER).is_file() and set(first) <= set(out.iterdir())
    gone = [p.name for p in out.glob("model-goes-*.html")]
    assert len(gone) == 1
    for rate in (0.0, 0.5):  # the model's units are removed: its page must not linger
        for f in u("goes", rate).path(results).iterdir():
            f.unlink()
    proc = publish_cli(results, out)
    assert proc.returncode == 0, proc.stderr
    assert not (out / gone[0]).exists() and list(out.glob("model-keeps-*.html"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results", "site"]


def test_a_file_added_to_a_published_site_is_not_deleted(results: Path, tmp_path: Path):
    out = tmp_path / "site"
    publish(*leaderboard([results]), out)
    (out / "CNAME").write_text("bench.example.org")
    before = tree(out)
    with pytest.raises(SiteError, match=r"holds CNAME, which bench did not publish"):
        publish(*leaderboard([results]), out)
    assert tree(out) == before


def test_a_failed_publish_leaves_the_old_site(results: Path, tmp_path: Path, monkeypatch):
    out = tmp_path / "site"
    publish(*leaderboard([results]), out)
    before = tree(out)

    def broken(*args: object) -> list[str]:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(site, "write_pages", broken)
    with pytest.raises(OSError):
        publish(*leaderboard([results]), out)
    assert tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results", "site"]


def test_a_wrong_results_folder_leaves_the_site(results: Path, tmp_path: Path):
    """A mistyped --results, a file, or a folder with no complete run is one line, and the
    site published before stays as it was rather than being replaced by an empty one."""
    out = tmp_path / "site"
    publish(*leaderboard([results]), out)
    before = tree(out)
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "empty").mkdir()
    for wrong, status, says in [
        (tmp_path / "resluts", 2, "does not exist"),
        (tmp_path / "notes.txt", 2, "is a file, not a folder"),
        (tmp_path / "empty", 1, "no complete runs under"),
    ]:
        proc = publish_cli(wrong, out)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == status and len(lines) == 1 and says in lines[0], proc.stderr
        assert tree(out) == before


def test_export_keeps_the_last_file_on_a_wrong_results_folder(results: Path, tmp_path: Path):
    out = tmp_path / "board.csv"

    def export(results_folder: Path, to: Path = out) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "benchmark", "leaderboard", "export",
                               "--results", str(results_folder), "--out", str(to)],
                              capture_output=True, text=True)  # fmt: skip

    assert export(results).returncode == 0
    before = out.read_text()
    assert "keeps" in before and "goes" in before
    (tmp_path / "empty").mkdir()
    for wrong, to, says in [
        (tmp_path / "resluts", out, "does not exist"),
        (tmp_path / "empty", out, "no complete runs under"),
        (results, tmp_path, "is a folder; name the file to write"),
        (results, out / "sub.csv", "cannot write"),
    ]:
        proc = export(wrong, to)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode != 0 and len(lines) == 1 and says in lines[0], proc.stderr
        assert out.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["board.csv", "empty", "results"]
    show = subprocess.run([sys.executable, "-m", "benchmark", "leaderboard", "show", "--json",
                           "--results", str(tmp_path / "resluts")],
                          capture_output=True, text=True)  # fmt: skip
    assert show.returncode == 2 and show.stdout == ""
    assert show.stderr.strip() == f"error: --results {tmp_path / 'resluts'} does not exist"
