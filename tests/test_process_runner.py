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


LINES = """
import pathlib, sys
out = pathlib.Path(sys.argv[sys.argv.index("--output") + 1])
(out / "events.jsonl").write_bytes(pathlib.Path(sys.argv[1]).read_bytes())
"""
START, DONE = b'{"event": "start"}\n', b'{"event": "done"}\n'


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        (START + b"\xff\xfe" * 64 + b"\n" + DONE, "events.jsonl line 2 is not JSON"),
        (START + b"[" * 100_000 + b"]" * 100_000 + b"\n" + DONE, "line 2 is not JSON"),
        (START + b"[1, 2]\n" + DONE, "line 2 is not an event (a JSON object with a string"),
        (START + b'{"epoch": 1}\n' + DONE, "line 2 is not an event"),
        (DONE, "exited without writing its 'start' event"),
        (START, "exited without writing its 'done' event"),
    ],
)
def test_events_that_are_not_events_fail_the_unit(
    tmp_path: Path, written: bytes, expected: str
) -> None:
    """Every line must be an event (only a last line still being written is waited for): a
    model that writes garbage, or never starts, does not complete as if it had."""
    (tmp_path / "in").mkdir()
    (tmp_path / "events").write_bytes(written)
    command = (sys.executable, "-c", LINES, str(tmp_path / "events"))
    with pytest.raises(UnitFailed) as failed:
        process_runner.run(command, tmp_path / "in", tmp_path / "out", tmp_path / "log", 30)
    assert expected in str(failed.value) and "\n" not in str(failed.value)


def test_a_last_event_without_its_newline_counts_once_whole(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "events").write_bytes(START + DONE.rstrip())
    command = (sys.executable, "-c", LINES, str(tmp_path / "events"))
    events = process_runner.run(command, tmp_path / "in", tmp_path / "out", tmp_path / "log", 30)
    assert [e["event"] for e in events] == ["start", "done"]


def test_a_folder_in_place_of_the_events_fails_the_unit(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    model = "import pathlib, sys; out = pathlib.Path(sys.argv[sys.argv.index('--output') + 1]); "
    model += "(out / 'events.jsonl' / 'x').mkdir(parents=True)"
    with pytest.raises(UnitFailed, match=r"^the model's events\.jsonl is not a regular file$"):
        process_runner.run((sys.executable, "-c", model), tmp_path / "in", tmp_path / "out",
                           tmp_path / "log", 30)  # fmt: skip
