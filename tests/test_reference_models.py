"""The reference var-misuse models on the shared trainer: GREAT, Transformer and BiRNN train
through ``python -m benchmark.models.NAME`` and write outputs the harness accepts; a trainer (and
code2seq's method_name loop) killed with SIGKILL resumes from its last checkpoint and ends with
the bytes of an uninterrupted run;
the harness re-uses a unit's staging folder; ``bench models list`` counts every model.

Inputs are made from the real GREAT shard, as in test_ggnn.py.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from benchmark import trainer
from benchmark.cli import app
from benchmark.models import rnn
from benchmark.results import Unit, UnitBusy, release, staging
from benchmark.tasks.var_misuse import read_predictions
from tests.test_code2vec import make_input as make_method_input
from tests.test_ggnn import SHARD, events, make_input

VAR_MISUSE = ("great", "transformer", "rnn")


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    """The shard's samples in the protocol's layout (as test_ggnn.py's ``great_rows``)."""
    out = []
    with open(SHARD, encoding="utf-8") as f:
        for i, line in enumerate(f):
            r = json.loads(line)
            out.append({
                "id": f"great-{i}",
                "source_tokens": r["source_tokens"],
                "edges": [e[:3] for e in r["edges"]],
                "repair_candidates": [c for c in r["repair_candidates"] if isinstance(c, int)],
                **{k: r[k] for k in ("has_bug", "error_location", "repair_targets")},
            })  # fmt: skip
    return out


def trainer_command(model: str, input_dir: Path, output_dir: Path) -> list[str]:
    return [sys.executable, "-m", f"benchmark.models.{model}",
            "--input", str(input_dir), "--output", str(output_dir)]  # fmt: skip


def expected_frame(input_dir: Path) -> dict[str, pl.DataFrame]:
    """What the harness knows of each split's samples, from the input folder itself."""
    cols = ["id", "repair_candidates"]
    return {s: pl.read_ndjson(input_dir / f"{s}.jsonl").select(cols)
            for s in ("train", "valid", "test")}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("model", VAR_MISUSE)
def test_smoke_profile_trains_and_writes_valid_outputs(
    model: str, rows: list[dict], tmp_path: Path
) -> None:
    input_dir = make_input(tmp_path / "in", rows, (160, 40, 40), {}, epochs=2)
    out = tmp_path / "out"
    result = subprocess.run(trainer_command(model, input_dir, out), capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    got = events(out)
    assert [e["event"] for e in got] == ["start", "epoch_end", "epoch_end", "done"]
    assert got[0]["parameters"] > 0 and got[0]["hyperparameters"]["hidden"] == 16
    assert all(e["samples_per_s"] > 0 for e in got[1:3])
    table = read_predictions(out, 2, expected_frame(input_dir))  # the harness's own checks
    assert table.height == 2 * 240


@pytest.mark.slow
def test_great_fits_a_small_training_set(rows: list[dict], tmp_path: Path) -> None:
    """Edge bias, attention and head learn together: 48 functions are fitted in 12 epochs."""
    hp = {"hidden": 32, "dropout": 0.0, "lr": 0.01, "batch_tokens": 1500}
    input_dir = make_input(tmp_path / "in", rows, (48, 8, 8), hp, epochs=12)
    result = subprocess.run(trainer_command("great", input_dir, tmp_path / "out"),
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    losses = [e["train_loss"] for e in events(tmp_path / "out") if e["event"] == "epoch_end"]
    assert losses[-1] < 0.15 * losses[0], losses
    last = (tmp_path / "out" / "predictions" / "epoch-012.jsonl").read_text().splitlines()
    train = [json.loads(line) for line in last if '"split": "train"' in line]
    assert sum(r["p_given"] > 0.5 for r in train) >= 0.8 * len(train)


def kill_mid_epoch_then_resume(
    command: Callable[[Path], list[str]], tmp_path: Path, timeout: float = 120,
    into_epoch_s: float = 0.1,
) -> None:  # fmt: skip
    """Run ``command(output)`` to the end; run it again in another folder, SIGKILL it
    ``into_epoch_s`` after its first checkpoint (early in its second epoch), start it once more:
    it must resume and end with the same bytes. ``timeout`` bounds each run. The kill comes no
    later than a quarter of the first run's shortest epoch: tiny models' epochs take 0.2 s,
    so a fixed delay could land after the last one."""
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    done = subprocess.run(command(reference), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    epochs = [e["seconds"] for e in events(reference) if e["event"] == "epoch_end"]
    into_epoch_s = min(into_epoch_s, min(epochs) / 4)

    proc = subprocess.Popen(command(resumed), stderr=subprocess.DEVNULL)
    checkpoint = resumed / trainer.CHECKPOINT
    deadline = time.monotonic() + timeout
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(into_epoch_s)  # into epoch 2's training steps
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    killed = [e["event"] for e in events(resumed)]
    assert "done" not in killed and killed.count("epoch_end") < 3, killed

    again = subprocess.run(command(resumed), capture_output=True, text=True, timeout=timeout)
    assert again.returncode == 0, again.stderr
    assert "resuming after epoch" in again.stderr
    got = events(resumed)
    assert [e["epoch"] for e in got if e["event"] == "epoch_end"] == [1, 2, 3]
    assert got[-1]["event"] == "done"
    losses = [e["train_loss"] for e in got if e["event"] == "epoch_end"]
    assert losses == [e["train_loss"] for e in events(reference) if e["event"] == "epoch_end"]
    for epoch in range(1, 4):
        name = f"predictions/epoch-{epoch:03d}.jsonl"
        assert (resumed / name).read_bytes() == (reference / name).read_bytes(), name


@pytest.mark.slow
def test_sigkill_mid_epoch_then_restart_ends_as_an_uninterrupted_run(
    rows: list[dict], tmp_path: Path
) -> None:
    """Dropout on, so the restored RNG states matter as much as the weights and Adam's."""
    hp = {"dropout": 0.1, "hidden": 16}
    input_dir = make_input(tmp_path / "in", rows, (240, 30, 30), hp, epochs=3)
    kill_mid_epoch_then_resume(lambda out: trainer_command("transformer", input_dir, out), tmp_path)


@pytest.mark.slow
def test_code2seq_killed_mid_epoch_resumes_to_the_same_bytes(tmp_path: Path) -> None:
    """The method_name loop (methodname.py, shared with code2vec) under a real SIGKILL."""
    hp = {"dropout": 0.2, "path_dropout": 0.2}
    input_dir = make_method_input(tmp_path / "in", (3000, 50, 50), 3, hp)
    command = [sys.executable, "-m", "benchmark.models.code2seq", "--input", str(input_dir)]
    kill_mid_epoch_then_resume(lambda out: [*command, "--output", str(out)], tmp_path)


def test_checkpoint_of_another_input_is_a_one_line_error(rows: list[dict], tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = make_input(tmp_path / "a", rows, (20, 5, 5), {}, epochs=1)
    assert rnn.main(["--input", str(first), "--output", str(out)]) == 0
    other = make_input(tmp_path / "b", rows, (21, 5, 5), {}, epochs=1)
    assert rnn.main(["--input", str(other), "--output", str(out)]) == 1
    message = events(out)[-1]["message"]
    assert "belongs to another input or model" in message and "\n" not in message


def test_torn_event_line_is_cut_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"event": "start"}\n{"event": "epoch_e')
    log = trainer.Events(path)
    log.emit("done")
    log.close()
    assert [json.loads(line)["event"] for line in path.read_text().splitlines()] == [
        "start",
        "done",
    ]


def test_staging_folder_is_fixed_per_unit_and_locked(tmp_path: Path) -> None:
    unit = Unit("var_misuse", "python-stdlib", "great", "label", 0.25, 1)
    first = staging(tmp_path, unit, "cpu/8/auto")
    (first / "output").mkdir()
    with pytest.raises(UnitBusy, match="another process is running this unit"):
        staging(tmp_path, unit, "cpu/8/auto")
    other = staging(tmp_path, unit, "smoke/2/auto")
    assert other != first
    release(first)
    release(other)
    again = staging(tmp_path, unit, "cpu/8/auto")
    assert again == first and (again / "output").is_dir()  # a re-run finds its checkpoints
    release(again)


def test_models_list_json_counts_every_model() -> None:
    result = CliRunner().invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert {"ggnn", *VAR_MISUSE} <= set(rows)
    for name in ("ggnn", *VAR_MISUSE):
        assert rows[name]["tasks"] == ["var_misuse"] and rows[name]["inputs"] == "great-jsonl"
        counts = rows[name]["parameters"]
        assert 0 < counts["smoke"] < counts["cpu"] < counts["paper"], (name, counts)
    for name in ("code2vec", "code2seq"):
        assert rows[name]["tasks"] == ["method_name"]
        assert rows[name]["inputs"] == "method-name-jsonl"
        counts = rows[name]["parameters"]
        assert 0 < counts["smoke"] < counts["cpu"] < counts["paper"], (name, counts)
    assert all(r["source"] == "reference" for r in rows.values())
    # GREAT is the Transformer plus one vector per edge type.
    assert rows["great"]["parameters"]["smoke"] > rows["transformer"]["parameters"]["smoke"]


@pytest.mark.parametrize("model", VAR_MISUSE)
def test_profiles_pass_the_trainers_checks(model: str) -> None:
    defaults = importlib.import_module(f"benchmark.models.{model}").DEFAULTS
    for profile in ("smoke", "cpu", "paper"):
        hp = trainer.hyperparameters({"profile": profile}, defaults)
        assert hp == defaults[profile]
    with pytest.raises(trainer.InputError, match="hidden must be a positive integer"):
        trainer.hyperparameters({"hyperparameters": {"hidden": 0}}, defaults)
