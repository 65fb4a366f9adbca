"""``--runner process`` on real child processes: the same start-event rules as the docker runner
(a name with markup fails the unit), and the model's own failures become one-line reasons."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from benchmark.runner import UnitFailed
from benchmark.runner import process as process_runner

MODEL = """
import json, pathlib, sys
out = pathlib.Path(sys.argv[sys.argv.index("--output") + 1])
start = json.loads(sys.argv[1])
with open(out / "events.jsonl", "w") as f:
    f.write(json.dumps(start) + "\\n")
    f.write(json.dumps({"event": "done"}) + "\\n")
"""


def run_model(tmp_path: Path, start: dict) -> list[dict]:
    command = (sys.executable, "-c", MODEL, json.dumps(start))
    (tmp_path / "in").mkdir()
    return process_runner.run(command, tmp_path / "in", tmp_path / "out", tmp_path / "log", 30)


def test_a_plain_start_event_passes(tmp_path: Path) -> None:
    start = {"event": "start", "name": "tiny-model", "parameters": 12}
    assert [e["event"] for e in run_model(tmp_path, start)] == ["start", "done"]


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ({"name": "<script>alert(1)</script>"}, "start event names it '<script>"),
        ({"hyperparameters": {"note": "<b>bold</b>"}}, "holds '<b>bold</b>', which is not plain"),
        ({"parameters": -3}, "parameters=-3, not a count"),
    ],
)
def test_markup_in_the_start_event_fails_the_unit(
    tmp_path: Path, start: dict, expected: str
) -> None:
    with pytest.raises(UnitFailed, match=r"^the model's ") as failed:
        run_model(tmp_path, {"event": "start", **start})
    assert expected in str(failed.value) and "\n" not in str(failed.value)
