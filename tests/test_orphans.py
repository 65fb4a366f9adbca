"""No orphans: a `bench run` killed with SIGKILL takes its model along, a process (the process
runner's leash) or a container (the docker runner's watchdog), and the same command run again
at once takes the unit over, resumes from the last checkpoint and ends with the metrics of an
uninterrupted run. So does a run stopped by Ctrl-C or SIGTERM (scancel, a Slurm time limit),
which keeps its staging folder for the rerun. Real signals to real `bench run` processes
training GGNN at the smoke profile; the docker test uses the suite's GGNN image
(tests/docker_fixtures.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from benchmark import run as run_module
from benchmark import trainer
from benchmark.runner import docker as sandbox
from benchmark.runner import process as process_runner

# Enough epochs (~0.1 s each) that a model left running would still train long after the kill.
EPOCHS = "80"
UNIT = Path("var_misuse/python-stdlib/ggnn/noise-label-0.25/seed-0")


def bench_run(results: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "benchmark", "run", "--model", "ggnn", "--noise", "0.25",
            "--profile", "smoke", "--epochs", EPOCHS, "--results", str(results), "--json",
            *extra]  # fmt: skip


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The unit of an uninterrupted run (the runners give the same: test_docker_runner)."""
    results = tmp_path_factory.mktemp("reference")
    done = subprocess.run(bench_run(results), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return results / UNIT


def same_metrics(a: object, b: object) -> bool:
    """Equal, floats to 1e-12 relative: polars' parallel group-by may add a mean's terms in
    another order from one run to the next (the per-sample tables are compared exactly)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_metrics(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_metrics(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-12, abs=1e-15)
    return a == b


def same_result(unit: Path, reference: Path, metrics: dict) -> None:
    """The unit scored every sample as the reference run did, and so its metrics."""
    table = pl.read_parquet(unit / "samples.parquet")
    assert table.equals(pl.read_parquet(reference / "samples.parquet"))
    assert same_metrics(metrics, json.loads((reference / "metrics.json").read_text()))


def kill_after_checkpoint(
    argv: list[str], results: Path, timeout: float, sig: int = signal.SIGKILL
) -> tuple[Path, list[int], str]:
    """Start `bench run`; send it ``sig`` once its model has saved a checkpoint; return the
    unit's staging output folder, where the model works, the processes working there then, and
    what `bench run` wrote on stderr."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    found: list[Path] = []
    while not found and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
        found = list(results.glob(f".tmp/*/output/{trainer.CHECKPOINT}"))
    if not found:
        proc.kill()
        pytest.fail(f"no checkpoint was saved: {proc.communicate()[1][-2000:]}")
    output = found[0].parent
    model = working_in(output)
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    expected = -sig if sig == signal.SIGKILL else 128 + sig  # bench's own exit status
    assert proc.returncode == expected, err[-2000:]
    return output, model, err


def working_in(output: Path) -> list[int]:
    """The live processes whose command line names ``output`` (the model and its leash)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if str(output).encode() in cmdline:
                pids.append(int(entry.name))
    return pids


def alive(pids: list[int], output: Path) -> list[int]:
    """Those of ``pids`` that are still the same processes, working in ``output``."""
    return [p for p in working_in(output) if p in pids]


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped is dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def events(output: Path) -> list[dict]:
    lines = (output / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def assert_resumed(unit: Path) -> None:
    """The unit's events hold the killed start and the rerun's, which resumed after it."""
    starts = [e for e in events(unit) if e["event"] == "start"]
    assert len(starts) == 2 and starts[1].get("resumed_after_epoch", 0) >= 1, starts
    epochs = [e["epoch"] for e in events(unit) if e["event"] == "epoch_end"]
    assert epochs == list(range(1, int(EPOCHS) + 1))


@pytest.mark.slow
def test_a_killed_run_takes_its_model_along_and_a_rerun_resumes(reference, tmp_path):
    results = tmp_path / "results"
    argv = bench_run(results)
    output, model, _ = kill_after_checkpoint(argv, results, timeout=300)
    assert model, "the model was not found running before the kill"
    again = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 5
    while alive(model, output) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = alive(model, output)
    if left:
        again.kill()
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    assert left == [], "the model outlived its bench run"
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err[-2000:]
    same_result(results / UNIT, reference, json.loads(out))
    assert_resumed(results / UNIT)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stopped_run_keeps_its_checkpoint_and_the_rerun_resumes(reference, tmp_path, sig):
    """Ctrl-C or SIGTERM is no failure: the model stops with its run, nothing goes to
    .failed, the line says how far it got, and the same command resumes the unit."""
    results = tmp_path / "results"
    argv = bench_run(results)
    output, model, err = kill_after_checkpoint(argv, results, timeout=300, sig=sig)
    assert model, "the model was not found running before the stop"
    deadline = time.monotonic() + 5
    while alive(model, output) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert alive(model, output) == [], "the model outlived its bench run"
    [line] = [ln for ln in err.splitlines() if "resumes this unit" in ln]
    done = len({e["epoch"] for e in events(output) if e["event"] == "epoch_end"})
    why = "interrupted" if sig == signal.SIGINT else "stopped by SIGTERM"
    assert line == (f"{why} after {done} of {EPOCHS} epochs: the same command resumes this unit "
                    f"from the model's last checkpoint, kept in {output.parent}")  # fmt: skip
    assert (output / trainer.CHECKPOINT).is_file() and not (results / ".failed").exists()
    again = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"going on from {output.parent}: {done} of {EPOCHS} epochs done\n" in again.stderr
    same_result(results / UNIT, reference, json.loads(again.stdout))
    assert_resumed(results / UNIT)
    assert list((results / ".tmp").iterdir()) == []


def test_output_is_removed_whole_or_not_at_all(tmp_path):
    """The harness renames a staged folder before removing it: a kill halfway through the
    removal leaves the model's output whole or out of the way, never a checkpoint without its
    epoch files; the next removal clears what such a kill left."""
    staged = tmp_path / "staged"
    for name in ("output", ".output-removed"):  # the second as a kill mid-removal leaves it
        (staged / name / "predictions").mkdir(parents=True)
        (staged / name / "predictions" / "epoch-001.jsonl").write_text("{}\n")
        (staged / name / trainer.CHECKPOINT).write_bytes(b"x")
    run_module._remove(staged / "output")
    assert list(staged.iterdir()) == []


def test_the_leash_reports_the_model_as_the_model_ends(tmp_path):
    """Exit status, death by a signal and a command that cannot start read as without it."""
    code = "import os, sys; sys.exit(3)"
    leash = [sys.executable, "-m", "benchmark.runner.process", str(os.getpid()), "--"]
    assert subprocess.run([*leash, sys.executable, "-c", code]).returncode == 3
    kill = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    assert subprocess.run([*leash, sys.executable, "-c", kill]).returncode == -signal.SIGKILL
    (tmp_path / "in").mkdir()
    with pytest.raises(process_runner.UnitFailed, match=r"^could not start the model \(/nope"):
        process_runner.run(["/nope/model"], tmp_path / "in", tmp_path / "out", tmp_path / "log", 30)


def test_the_leash_kills_what_the_model_started(tmp_path):
    """The model's own child goes too when the harness dies: the leash kills the group."""
    pidfile = tmp_path / "grandchild.pid"
    model = (f"import subprocess, sys, time; p = subprocess.Popen(['sleep', '300']); "
             f"open({str(pidfile)!r}, 'w').write(str(p.pid)); time.sleep(300)")  # fmt: skip
    harness = (f"import subprocess, sys, time; from benchmark.runner.process import leashed; "
               f"subprocess.Popen(leashed([sys.executable, '-c', {model!r}]), "
               f"start_new_session=True); time.sleep(300)")  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", harness])
    deadline = time.monotonic() + 60
    while not pidfile.exists() or not pidfile.read_text():
        assert proc.poll() is None, "the harness failed to start the model"
        assert time.monotonic() < deadline, "the model did not start its child"
        time.sleep(0.05)
    grandchild = int(pidfile.read_text())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 5
    while running(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    if running(grandchild):
        os.kill(grandchild, signal.SIGKILL)
        pytest.fail("the model's child outlived the harness")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_docker_run_stops_its_container_and_a_rerun_resumes(
    built_images, reference, tmp_path, sig
):
    import docker

    client = docker.from_env(timeout=120)
    results = tmp_path / "results"
    argv = bench_run(results, "--runner", "docker")
    output, _, _ = kill_after_checkpoint(argv, results, timeout=600, sig=sig)
    label = {"label": f"{sandbox.LABEL}={output.resolve()}"}
    deadline = time.monotonic() + 30
    while client.containers.list(all=True, filters=label) and time.monotonic() < deadline:
        time.sleep(0.25)
    left = client.containers.list(all=True, filters=label)
    for container in left:
        container.remove(force=True)
    assert left == [], "the container outlived its bench run"
    trained = [e["epoch"] for e in events(output) if e["event"] == "epoch_end"]
    assert len(trained) < int(EPOCHS), "the container trained on after its bench run died"
    again = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    same_result(results / UNIT, reference, json.loads(again.stdout))
    assert_resumed(results / UNIT)
