"""`bench sweep` on this machine: expansion, skipping, resuming after a kill, bounded retries."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmark import datasets
from benchmark import sweep as sw
from benchmark.executors.local import LocalExecutor
from benchmark.executors.local import cores as local_cores
from benchmark.profiles import PROFILES
from benchmark.results import Unit
from benchmark.sweep import BadOption, Store, Sweep, SweepBusy, SweepSpec, make_spec, status
from tests.sweeps import BENCH, SMOKE, bench, completed, settle, sweep, two_models
from tests.units import fake_unit


def grid(models: tuple[str, ...] = ("a", "b"), seeds: int = 2, epochs: int = 1) -> SweepSpec:
    return SweepSpec("var_misuse", "python-stdlib", models, "label", (0.0, 0.5),
                     tuple(range(seeds)), "smoke", epochs)  # fmt: skip


def fake_complete(results: Path, unit: Unit, profile: str = "smoke", epochs: int = 1) -> Path:
    """A complete unit folder as `bench run` leaves it, as far as the sweep looks: sealed,
    and made from today's dataset."""
    run = {"config": {"profile": profile, "epochs": epochs}}
    return fake_unit(results, unit, run, datasets.load(unit.dataset).fingerprint)


def test_grid_expands_to_every_unit_in_order():
    spec = grid()
    keys = [sw.unit_key(u) for u in spec.units()]
    assert len(keys) == len(set(keys)) == 8
    assert keys[:2] == ["a/noise-label-0/seed-0", "a/noise-label-0/seed-1"]
    assert keys[2] == "a/noise-label-0.5/seed-0"
    assert keys[-1] == "b/noise-label-0.5/seed-1"


def test_id_is_the_grid_not_where_it_runs():
    spec = grid()
    assert spec.id == grid().id and spec.id.startswith("var_misuse-")
    assert SweepSpec(**{**spec.__dict__, "device": "cuda"}).id == spec.id
    assert grid(seeds=3).id != spec.id and grid(epochs=2).id != spec.id


def test_make_spec_checks_and_dedupes():
    spec = make_spec("var_misuse", "python-stdlib", "ggnn, ggnn", "0,0.5,0.50", "label", 3,
                     "smoke", None, "auto", "process")  # fmt: skip
    assert spec.models == ("ggnn",) and spec.noise_rates == (0.0, 0.5)
    assert spec.seeds == (0, 1, 2) and spec.epochs == PROFILES["smoke"].epochs
    with pytest.raises(BadOption, match="unknown model 'nope'"):
        make_spec("var_misuse", "python-stdlib", "nope", "0", "label", 1, "smoke", None, "auto",
                  "process")  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--models", "nope"], "error: unknown model 'nope'; choose from: "),
        (["--models", "ggnn", "--noise", "0,1.5"], "error: noise rate 1.5 is outside [0, 1]"),
        (["--models", "ggnn", "--executor", "pbs"], "error: unknown executor 'pbs'"),
        (["--models", "ggnn", "--partition", "gpu"], "only --executor slurm takes --partition"),
        (["--models", "ggnn", "--units-per-job", "2"],
         "only --executor slurm takes --units-per-job"),
        (["--models", "ggnn", "--executor", "slurm", "--units-per-job", "0"],
         "--cpus-per-unit and --units-per-job >= 1"),
        (["--models", "ggnn", "--executor", "slurm", "--units-per-job", "2", "--max-parallel",
          "3"], "--max-parallel 3 is not a multiple of --units-per-job 2"),
        (["--models", "ggnn", "--executor", "slurm", "--units-per-job", "2", "--mem", "1.5G"],
         "--mem '1.5G' is not a size in whole K, M, G or T, which --units-per-job multiplies"),
        (["--models", "ggnn", "--sbatch", "qos=high"], "only --executor slurm takes --sbatch"),
        (["--models", "ggnn", "--executor", "slurm", "--sbatch", "array=0-9"],
         "--sbatch array: bench sweep sets --array itself"),
        (["--models", "ggnn", "--executor", "slurm", "--sbatch", "mem=9G"],
         "--sbatch mem: bench sweep sets --mem itself (use --mem)"),
        (["--models", "ggnn", "--executor", "slurm", "--sbatch", "gres=gpu:a100:1",
          "--gpus-per-unit", "1"], "--sbatch gres: --gpus-per-unit sets --gres; give one of them"),
        (["--models", "ggnn", "--executor", "slurm", "--sbatch", "--qos=high"],
         "--sbatch '--qos=high' is not NAME=VALUE or NAME"),
        (["--models", "ggnn", "--executor", "slurm", "--sbatch", "comment=a\nrm -rf ~"],
         "'a\\nrm -rf ~' is not a Slurm value"),
        (["--noise", "0"], "error: --models is required"),
    ],
)
def test_bad_options_get_one_line_and_status_2(args, message, tmp_path):
    proc = bench("sweep", *args, "--results", str(tmp_path))
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / ".sweeps").exists()


def test_complete_units_are_skipped_and_nothing_starts(tmp_path):
    spec = grid(models=("ggnn",))
    for unit in spec.units():
        fake_complete(tmp_path, unit)
    summary = Sweep(spec, tmp_path, LocalExecutor(1)).run(show_progress=False)
    assert summary["ok"] and summary["state"] == "complete"
    assert (summary["units"], summary["skipped"]) == (4, 4)
    assert (summary["ran"], summary["attempts"]) == (0, 0)
    assert not (tmp_path / ".sweeps" / spec.id / "logs").exists()  # no unit was started
    [st] = status(tmp_path)
    assert (st["sweep"], st["state"], st["complete"], st["pending"]) == (spec.id, "complete", 4, 0)


def test_unit_complete_with_other_settings_is_failed_not_overwritten(tmp_path):
    spec = grid(models=("ggnn",))
    units = spec.units()
    for unit in units[1:]:
        fake_complete(tmp_path, unit)
    fake_complete(tmp_path, units[0], epochs=5)
    summary = Sweep(spec, tmp_path, LocalExecutor(1)).run(show_progress=False)
    assert not summary["ok"] and summary["ran"] == 0 and summary["skipped"] == 3
    [failed] = summary["failed"]
    assert failed["unit"] == sw.unit_key(units[0])
    assert "profile smoke and 5 epochs" in failed["reason"]


def test_one_driver_per_sweep_and_status_sees_a_dead_one(tmp_path):
    spec = grid(models=("ggnn",))
    for unit in spec.units():
        fake_complete(tmp_path, unit)
    holder = Store(tmp_path, spec.id)
    holder.acquire()
    try:
        with pytest.raises(SweepBusy, match="already running"):
            Sweep(spec, tmp_path, LocalExecutor(1)).run(show_progress=False)
    finally:
        holder.release()
    Sweep(spec, tmp_path, LocalExecutor(1)).run(show_progress=False)
    state = holder.load()
    holder.save({**state, "state": "running"})  # as a driver killed by SIGKILL leaves it
    [st] = status(tmp_path)
    assert st["state"] == "interrupted"


# --- end to end: real `bench run` processes training real models ---------------------------


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory) -> tuple[Path, int, dict]:
    results = tmp_path_factory.mktemp("sweep")
    rc, summary, err = sweep(results, "--models", ",".join(two_models()), *SMOKE)
    assert rc == 0, err
    return results, rc, summary


@pytest.mark.slow
def test_local_sweep_completes_every_unit(local_sweep):
    results, _, summary = local_sweep
    assert summary["ok"] and summary["failed"] == []
    assert (summary["units"], summary["complete"]) == (8, 8)
    assert (summary["ran"], summary["skipped"]) == (8, 0)
    assert len(completed(results)) == 8
    # Issue 6's sweep summary: per model, test score against noise rate over both seeds.
    curves = {r["model"]: r for r in summary["robustness"]}
    assert set(curves) == set(two_models())
    for curve in curves.values():
        assert [p["rate"] for p in curve["points"]] == [0.0, 0.5]
        assert all(p["n"] == 2 for p in curve["points"]) and curve["area"] is not None


@pytest.mark.slow
def test_running_it_again_does_no_work(local_sweep):
    results, _, first = local_sweep
    before = completed(results)
    rc, summary, err = sweep(results, "--models", ",".join(two_models()), *SMOKE)
    assert rc == 0, err
    assert summary["sweep"] == first["sweep"]
    assert (summary["skipped"], summary["ran"], summary["attempts"]) == (8, 0, 0)
    assert completed(results) == before  # not one folder rewritten


@pytest.mark.slow
def test_status_from_another_shell(local_sweep):
    results, _, summary = local_sweep
    proc = bench("sweep", "status", "--results", str(results), "--json")
    assert proc.returncode == 0, proc.stderr
    [st] = json.loads(proc.stdout)
    assert (st["sweep"], st["state"], st["complete"], st["units_total"]) == (
        summary["sweep"], "complete", 8, 8,
    )  # fmt: skip
    table = bench("sweep", "status", "--results", str(results))
    assert summary["sweep"] in table.stdout and "8/8" in table.stdout


def _start(results: Path, args: list[str], log: Path) -> subprocess.Popen:
    """A sweep in its own process group, as a shell or a batch system would start it."""
    cmd = [*BENCH, "sweep", *args, "--results", str(results)]
    with log.open("ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=out, start_new_session=True)


def _wait(predicate, what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def _processes_under(results: Path) -> list[str]:
    """Command lines of live processes working in ``results`` (bench run and its model)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                state = next(ln for ln in (proc / "status").read_text().splitlines()
                             if ln.startswith("State:"))  # fmt: skip
            except (OSError, StopIteration):
                continue
            if str(results) in cmd and "zombie" not in state:
                found.append(cmd)
    return found


def _running_units(results: Path) -> int:
    [st] = status(results) or [{"running": 0}]
    return st["running"]


@pytest.mark.slow
def test_killed_sweep_completes_only_what_is_missing(tmp_path):
    results, log = tmp_path / "results", tmp_path / "sweep.log"
    args = ["--models", "ggnn", *SMOKE, "--max-parallel", "2"]
    total = 4

    # 1. SIGTERM to the sweep's process group once a unit is complete.
    proc = _start(results, args, log)
    _wait(lambda: len(completed(results)) >= 1, "a first complete unit")
    live = bench("sweep", "status", "--results", str(results), "--json")  # from another shell
    [st] = json.loads(live.stdout)
    assert st["state"] == "running" and st["complete"] >= 1, st
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM, log.read_text()
    _wait(lambda: not _processes_under(results), "the units to stop", timeout=60)
    first = completed(results)
    assert 1 <= len(first) < total

    # 2. SIGKILL to the group while the next units train: the units die with their sweep.
    proc = _start(results, args, log)
    _wait(lambda: _running_units(results) >= 1, "a unit to start")
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    _wait(lambda: not _processes_under(results), "orphaned units to stop", timeout=60)
    second = completed(results)
    assert {k: v for k, v in second.items() if k in first} == first
    [st] = status(results)
    assert st["state"] == "interrupted" and st["running"] == 0

    # 3. Run it again: only the missing units run, the complete ones are left alone.
    rc, summary, err = sweep(results, *args)
    assert rc == 0, err
    assert (summary["skipped"], summary["ran"]) == (len(second), total - len(second)), summary
    final = completed(results)
    assert len(final) == total and {k: final[k] for k in second} == second


FAILING_MODEL = """
[always-fails]
tasks = ["var_misuse"]
representation = "great-jsonl"
command = ["{python}", "-c", "import sys; print('out of cheese', file=sys.stderr); sys.exit(3)"]
"""


@pytest.mark.slow
def test_unit_that_always_fails_is_reported_and_others_go_on(tmp_path):
    manifest = tmp_path / "models.toml"
    manifest.write_text(FAILING_MODEL.format(python=Path(sys.executable).as_posix()))
    env = {**os.environ, "BENCH_MODELS": str(manifest)}
    results = tmp_path / "results"
    rc, summary, err = sweep(
        results, "--models", "always-fails,ggnn", "--noise", "0", "--seeds", "1",
        "--profile", "smoke", "--epochs", "1", "--retries", "1", env=env,
    )  # fmt: skip
    assert rc == 1, err
    assert (summary["state"], summary["complete"], summary["units"]) == ("failed", 1, 2)
    [failed] = summary["failed"]
    assert failed["unit"] == "always-fails/noise-label-0/seed-0" and failed["attempts"] == 2
    assert failed["reason"].startswith("the model exited with status 3: out of cheese")
    assert f"failed always-fails/noise-label-0/seed-0: {failed['reason']}" in err
    assert list(completed(results)) == ["var_misuse/python-stdlib/ggnn/noise-label-0/seed-0"]
    proc = bench("sweep", "status", "--results", str(results), "--json", env=env)
    [st] = json.loads(proc.stdout)
    assert (st["state"], st["failed"], st["complete"]) == ("failed", 1, 1)
    assert [u["reason"] for u in st["units"] if u["state"] == "failed"] == [failed["reason"]]


# --- the local executor on its own: real processes, no model --------------------------------


def test_a_pool_wider_than_the_gpus_shares_them_evenly(tmp_path, monkeypatch):
    """Small models leave a GPU idle most of an epoch: --max-parallel above the GPU count runs
    several units on each, as evenly as they go, and splits the cores among all of them."""
    from benchmark.executors.base import Job, JobState

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # a user's own setting is kept
    executor = LocalExecutor(max_parallel=4, use_gpus=True)
    assert executor.slots == 4
    show = ("import os, time; time.sleep(1.0); "
            "print(os.environ['CUDA_VISIBLE_DEVICES'], os.environ['OMP_NUM_THREADS'])")  # fmt: skip
    jobs = [Job(str(i), (sys.executable, "-c", show), tmp_path / f"{i}.log") for i in range(4)]
    handles = executor.submit(jobs)
    assert all(s.state == JobState.RUNNING for s in executor.status(handles).values())
    states = settle(executor, handles)
    assert all(s.state == JobState.SUCCEEDED for s in states.values()), states
    seen = sorted(executor.logs(h, j).split()[0] for h, j in zip(handles, jobs, strict=True))
    assert seen == ["0", "0", "1", "1"]
    threads = {executor.logs(h, j).split()[1] for h, j in zip(handles, jobs, strict=True)}
    assert threads == {str(max(1, local_cores() // 4))}


def test_local_pool_runs_jobs_reports_failures_and_cancels(tmp_path, monkeypatch):
    from benchmark.executors.base import Job, JobState

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    executor = LocalExecutor(use_gpus=True)  # one unit per GPU, each on its own
    assert executor.slots == 2
    py = sys.executable
    show_gpu = "import os, time; time.sleep(0.5); print(os.environ['CUDA_VISIBLE_DEVICES'])"
    jobs = [
        Job("a", (py, "-c", show_gpu), tmp_path / "a.log"),
        Job("b", (py, "-c", show_gpu), tmp_path / "b.log"),
        Job(
            "c", (py, "-c", "import sys; sys.exit('error: unit failed: boom')"), tmp_path / "c.log"
        ),
    ]
    handles = executor.submit(jobs)
    assert [s.state for s in executor.status(handles).values()].count(JobState.PENDING) == 1
    states = settle(executor, handles)
    assert [states[h].state for h in handles[:2]] == [JobState.SUCCEEDED] * 2
    gpus = {executor.logs(h, j).strip() for h, j in zip(handles[:2], jobs[:2], strict=True)}
    assert gpus == {"0", "1"}
    assert (states[handles[2]].state, states[handles[2]].reason) == (JobState.FAILED, "boom")

    [sleeper] = executor.submit(
        [Job("d", (py, "-c", "import time; time.sleep(60)"), tmp_path / "d.log")]
    )
    _wait(lambda: executor.status([sleeper])[sleeper].state == JobState.RUNNING, "the sleeper")
    t0 = time.monotonic()
    executor.cancel([sleeper])
    assert executor.status([sleeper])[sleeper].state == JobState.CANCELLED
    assert time.monotonic() - t0 < 10


def test_hf_units_go_by_the_checkpoint_and_mode(tmp_path):
    """hf's units are named as bench run names them (folder and mode, or --name), and each
    unit's command asks for that mode and name; the mode is part of the grid."""
    weights = tmp_path / "Tiny T5"
    weights.mkdir()

    def spec(*options: str | None) -> SweepSpec:
        return make_spec("code_to_text", None, "hf,codebert", "0", "label", 1, "smoke", None,
                         "cpu", "process", weights, *options)  # fmt: skip

    lora = spec("lora")
    assert [u.model for u in lora.units()] == ["tiny-t5-lora", "codebert"]
    argv = sw.bench_run_argv(lora, lora.units()[0], tmp_path)
    at = argv.index("--model")
    assert argv[at : at + 6] == ("--model", "hf", "--finetune", "lora", "--name", "tiny-t5-lora")
    assert "--finetune" not in sw.bench_run_argv(lora, lora.units()[1], tmp_path)
    assert spec().units()[0].model == "tiny-t5-full" and spec().id != lora.id
    assert spec("head", "mine").units()[0].model == "mine"
    with pytest.raises(BadOption, match="for a model that takes them"):
        make_spec("code_to_text", None, "codebert", "0", "label", 1, "smoke", None, "cpu",
                  "process", weights, "lora")  # fmt: skip
    with pytest.raises(BadOption, match="needs --weights"):
        make_spec("code_to_text", None, "hf", "0", "label", 1, "smoke", None, "cpu", "process")
    with pytest.raises(BadOption, match="another model of this sweep"):
        spec("full", "codebert")
    with pytest.raises(BadOption, match="unknown finetune mode"):
        spec("most")


@pytest.mark.slow
def test_a_retry_the_executor_refuses_once_is_submitted_again(tmp_path):
    """A failed unit's retry was taken off the retry list before its submission, so when
    that one submission failed (a controller timing out) the unit was lost: the sweep ended
    "complete" with it never run. Now it stays on the list and the next poll submits it."""
    from benchmark.executors.base import ExecutorError, Job

    class RefusesTheFirstRetry(LocalExecutor):
        submits = 0

        def submit(self, jobs):
            self.submits += 1
            if self.submits == 1:  # every unit's first attempt fails
                fail = (sys.executable, "-c", "import sys; sys.exit('error: unit failed: flaky')")
                jobs = [Job(j.name, fail, j.log) for j in jobs]
            elif self.submits == 2:
                raise ExecutorError("sbatch refused the array: Socket timed out on send/recv")
            return super().submit(jobs)

    spec = grid(("baseline",), seeds=1)
    executor = RefusesTheFirstRetry(2)
    summary = Sweep(spec, tmp_path, executor, poll_s=0.1).run(show_progress=False)
    assert (summary["ok"], summary["complete"], summary["units"]) == (True, 2, 2), summary
    assert executor.submits == 3
    assert len(completed(tmp_path)) == 2
    assert summary["attempts"] == 4  # the refused submission is no attempt


def test_a_cluster_is_polled_less_often_while_its_jobs_run_long(tmp_path):
    """squeue every 2 s through hours-long units loads a shared controller: the wait grows
    with the quiet time, to a quarter of it, up to the cap, and is short again after a
    change. A local pool is polled at its one rate."""
    cluster = Sweep(grid(), tmp_path, LocalExecutor(1), poll_s=2.0, poll_max_s=30.0)
    for quiet, wait in [(0, 2.0), (4, 2.0), (40, 10.0), (400, 30.0)]:
        cluster._changed_at = time.monotonic() - quiet
        assert cluster.delay() == pytest.approx(wait, abs=0.01), quiet
    local = Sweep(grid(), tmp_path, LocalExecutor(1), poll_s=0.5)
    local._changed_at = time.monotonic() - 400
    assert local.delay() == 0.5


def test_status_counts_the_units_held_at_a_submit_limit(tmp_path, capsys):
    """Units the executor refused at its submit limit are pending, and `bench sweep status`
    says how many of them the driver holds, and why, until it submits them."""
    from benchmark.cli.sweep import sweep_status
    from benchmark.executors.base import ExecutorBusy

    seen: list[dict] = []

    class OneQueued(LocalExecutor):  # a site's MaxSubmitJobsPerUser of 1
        def submit(self, jobs):
            if len(jobs) > 1 or self._queue or self._running:
                raise ExecutorBusy("sbatch refused the array: job submit limit")
            return super().submit(jobs)

        def status(self, handles):
            seen.append(status(tmp_path)[0])
            if len(seen) == 1:
                sweep_status(None, tmp_path, False)
            return super().status(handles)

    spec = grid(("baseline",), seeds=1)  # two units: one submitted, one held
    summary = Sweep(spec, tmp_path, OneQueued(1), poll_s=0.1).run(False)
    assert (summary["ok"], summary["complete"], summary["attempts"]) == (True, 2, 2), summary
    first = seen[0]
    assert (first["queued"] + first["running"], first["pending"], first["held"]) == (1, 1, 1)
    assert {u["held"] for u in first["units"] if u["state"] == "pending"} == {
        "sbatch refused the array: job submit limit"}
    out, err = capsys.readouterr()
    assert "1 (1 held)" in out
    assert "held " + summary["sweep"] + ": units waiting for jobs to leave the queue: 1 " \
        "(sbatch refused the array: job submit limit)" in " ".join(err.split())
    assert seen[-1]["held"] == 0  # the last unit submitted, its driver still running
    [after] = status(tmp_path)
    assert after["held"] == 0 and all(u["held"] is None for u in after["units"])
