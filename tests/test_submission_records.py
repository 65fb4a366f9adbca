"""A file in ``results/.submissions`` that is not a record `bench submit` wrote (edited by
hand, cut short, from another version) registers no model and is a warning line: it blocks no
run of any other model, the reference models included (no docker needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.models import MODELS
from benchmark.submit import RECORDS, broken, load, register

GOOD = {"name": "mymodel", "image": "mine:1", "image_id": "sha256:" + "0" * 64,
        "tasks": ["var_misuse"]}  # fmt: skip
# file name -> (its content, what the warning says)
BAD = {
    "nonetasks": ({"name": "nonetasks", "image_id": "sha256:1"}, "'tasks' is not a list"),
    "emptytasks": ({"name": "emptytasks", "tasks": [], "image_id": "sha256:1"}, "'tasks' is"),
    "noimage": ({"name": "noimage", "tasks": ["var_misuse"]}, "'image_id' is not a string"),
    "alist": ([1, 2], "not a JSON object"),
    "renamed": ({**GOOD, "name": "other"}, "its name is 'other', not 'renamed'"),
}


def write(results: Path, name: str, record: object) -> None:
    folder = results / RECORDS
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(record))


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_malformed_record_is_named_and_registers_nothing(name: str, tmp_path: Path):
    record, says = BAD[name]
    write(tmp_path, name, record)
    write(tmp_path, "mymodel", GOOD)
    lines = broken(tmp_path)
    assert len(lines) == 1 and says in lines[0] and f"{name}.json" in lines[0], lines
    assert load(tmp_path, name) is None and load(tmp_path, "mymodel") == GOOD
    try:
        register(tmp_path)
        assert name not in MODELS and MODELS["mymodel"].tasks == ("var_misuse",)
    finally:
        MODELS.pop("mymodel", None)


def test_a_cut_short_record_is_named(tmp_path: Path):
    (tmp_path / RECORDS).mkdir()
    (tmp_path / RECORDS / "cut.json").write_text('{"name": "cut", "tas')
    assert broken(tmp_path) == [
        f"{tmp_path / RECORDS / 'cut.json'} is not a submission record bench wrote (cannot be "
        "read (Unterminated string starting at: line 1 column 17 (char 16))); model 'cut' is "
        "not registered"
    ]


def test_a_reference_model_runs_beside_a_malformed_record(tmp_path: Path):
    results = tmp_path / "results"
    write(results, "mymodel", {"name": "mymodel"})
    proc = subprocess.run([sys.executable, "-m", "benchmark", "run", "--model", "baseline",
                           "--profile", "smoke", "--results", str(results), "--json"],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "mymodel.json is not a submission record" in warnings[0]
    assert json.loads(proc.stdout)["model"] == "baseline"
    assert json.loads((results / RECORDS / "mymodel.json").read_text()) == {"name": "mymodel"}


@pytest.mark.parametrize("name", ["", "../up", "x y", "Upper", "y" * 65])
def test_a_manifest_model_needs_a_model_name(name: str, tmp_path: Path, monkeypatch,
                                             capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    """A $BENCH_MODELS name names folders and pages as a submission's does: the manifest is
    left out with a warning naming why, rather than failing later on a path."""
    from benchmark.models.manifests import from_environment

    manifest = tmp_path / "models.toml"
    manifest.write_text(f'[{json.dumps(name)}]\ntasks = ["var_misuse"]\ncommand = ["true"]\n')
    monkeypatch.setenv("BENCH_MODELS", str(manifest))
    assert from_environment(set()) == {}
    assert "is not a model name" in capsys.readouterr().err


def test_a_manifest_model_with_a_plain_name_is_read(tmp_path: Path, monkeypatch) -> None:
    from benchmark.models.manifests import from_environment

    manifest = tmp_path / "models.toml"
    manifest.write_text('["my-model.v2"]\ntasks = ["var_misuse"]\ncommand = ["true"]\n')
    monkeypatch.setenv("BENCH_MODELS", str(manifest))
    assert list(from_environment(set())) == ["my-model.v2"]


def test_a_record_under_a_reference_models_name_is_refused(tmp_path: Path):
    """bench submit refuses the name, but a record planted under it was read: `bench run
    --runner docker --model ggnn` would have run its image (found by probing)."""
    write(tmp_path, "ggnn", {**GOOD, "name": "ggnn"})
    (line,) = broken(tmp_path)
    assert "ggnn.json" in line and "'ggnn' is a reference model's name" in line
    assert load(tmp_path, "ggnn") is None
