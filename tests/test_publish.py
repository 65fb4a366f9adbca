"""Publishing a finished dataset build (shards.publish): renamed into place, a race lost to an
identical build is no error, anything else is."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from benchmark.shards import publish

SAMPLES = pl.DataFrame({"id": ["a", "b"], "split": ["train", "test"]})


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def write_atomically(out: Path, samples: pl.DataFrame, info: dict) -> None:
    """A build as the builders make one: a temporary folder beside ``out``, published, and
    removed whatever happened (it is gone once renamed)."""
    tmp = out.with_name(f".build-{info['name']}")
    tmp.mkdir()
    try:
        samples.write_parquet(tmp / "samples.parquet")
        publish(tmp, out, info)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_a_finished_build_is_renamed_into_place(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    write_atomically(out, SAMPLES, {"name": "ds"})
    assert json.loads((out / "info.json").read_text()) == {"name": "ds"}
    assert pl.read_parquet(out / "samples.parquet").equals(SAMPLES)
    assert names(tmp_path) == ["ds"]


def test_a_build_another_process_finished_first_stays(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    write_atomically(out, SAMPLES, {"name": "first"})
    write_atomically(out, SAMPLES, {"name": "second"})
    assert json.loads((out / "info.json").read_text()) == {"name": "first"}
    assert names(tmp_path) == ["ds"]


def test_a_failed_rename_without_a_finished_build_is_an_error(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    out.mkdir()
    (out / "stray.txt").write_text("not a finished build: no info.json")
    with pytest.raises(OSError):
        write_atomically(out, SAMPLES, {"name": "ds"})
    assert names(tmp_path) == ["ds"] and names(out) == ["stray.txt"]
