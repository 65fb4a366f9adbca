"""`bench sweep --executor slurm` through a real one-node Slurm cluster on this machine.

The cluster (Debian's slurm-wlm with munge) is started by tests/slurm/start-cluster.sh, which
CI also runs before the tests. If it cannot start, these tests fail with its reason: a sweep
that was never run through Slurm must not pass as one that was.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmark.sweep import status
from tests.sweeps import BENCH, SMOKE, completed, settle, sweep, two_models

START = Path(__file__).resolve().parent / "slurm" / "start-cluster.sh"


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    proc = subprocess.run(["bash", str(START)], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines() or ["no output"]
        pytest.fail(f"the Slurm cluster did not start ({START.name}): {lines[-1]}", pytrace=False)


def _max_array_size() -> int:
    out = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, check=True)
    [line] = [ln for ln in out.stdout.splitlines() if ln.startswith("MaxArraySize")]
    return int(line.split("=")[1])


def _queue(name: str) -> list[str]:
    out = subprocess.run(["squeue", "--noheader", f"--name={name}", "--format=%i %T"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return out.stdout.split()


@pytest.mark.slow
def test_slurm_sweep_completes_all_units(slurm_cluster, tmp_path):
    args = ["--models", ",".join(two_models()), *SMOKE, "--executor", "slurm"]
    rc, summary, err = sweep(tmp_path, *args)
    assert rc == 0, err
    assert (summary["executor"], summary["units"], summary["complete"]) == ("slurm", 8, 8), err
    assert len(completed(tmp_path)) == 8
    files = tmp_path / ".sweeps" / summary["sweep"] / "slurm"
    # More units than the cluster's MaxArraySize (4 on the test cluster): as many arrays as
    # it takes, where one array of 8 would have been refused and the whole sweep with it.
    size = _max_array_size()
    assert size < 8
    arrays = list(files.glob("array-*.sh"))
    assert len(arrays) == -(-8 // size), arrays
    assert len(list(files.glob("slurm-*.out"))) == 8
    assert _queue(f"bench-{summary['sweep']}") == []
    again = sweep(tmp_path, *args)[1]
    assert (again["skipped"], again["ran"]) == (8, 0)
    assert len(list(files.glob("array-*.sh"))) == len(arrays)  # nothing submitted again


@pytest.mark.slow
def test_killed_driver_leaves_jobs_running_and_the_next_run_follows_them(slurm_cluster, tmp_path):
    args = ["--models", "ggnn", "--profile", "smoke", "--epochs", "1", "--noise", "0",
            "--seeds", "2", "--executor", "slurm"]  # fmt: skip
    cmd = [*BENCH, "sweep", *args, "--results", str(tmp_path)]
    with (tmp_path / "driver.log").open("wb") as log:
        driver = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 120
    while not (sweeps := status(tmp_path)) or not sweeps[0]["running"]:
        assert time.monotonic() < deadline, (tmp_path / "driver.log").read_text()
        time.sleep(0.5)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    sweep_id = sweeps[0]["sweep"]
    assert _queue(f"bench-{sweep_id}")  # the jobs outlive their driver

    rc, summary, err = sweep(tmp_path, *args)
    assert rc == 0, err
    assert summary["complete"] == 2 and "keep running" not in err
    assert len(list((tmp_path / ".sweeps" / sweep_id / "slurm").glob("array-*.sh"))) == 1


def test_slurm_executor_submits_reports_failures_and_cancels(slurm_cluster, tmp_path):
    """The executor interface on its own, with plain commands as array tasks."""
    from benchmark.executors.base import Job, JobState
    from benchmark.executors.slurm import SlurmExecutor

    name = f"bench-test-{os.getpid()}"
    executor = SlurmExecutor(tmp_path / "slurm", name)
    py = sys.executable
    jobs = [
        Job("ok", (py, "-c", "print('hello')"), tmp_path / "logs" / "ok.log"),
        Job("bad", (py, "-c", "import sys; sys.exit('error: unit failed: boom')"),
            tmp_path / "logs" / "bad.log"),
        Job("slow", (py, "-c", "import time; time.sleep(120)"), tmp_path / "logs" / "slow.log"),
    ]  # fmt: skip
    handles = executor.submit(jobs)
    assert len({h.split("_")[0] for h in handles}) == 1  # one array
    deadline = time.monotonic() + 120
    while (states := executor.status(handles))[handles[2]].state != JobState.RUNNING or not all(
        states[h].state.finished for h in handles[:2]
    ):
        assert time.monotonic() < deadline, states
        time.sleep(0.5)
    assert states[handles[0]].state == JobState.SUCCEEDED
    assert executor.logs(handles[0], jobs[0]).strip() == "hello"
    assert (states[handles[1]].state, states[handles[1]].reason) == (JobState.FAILED, "boom")
    executor.cancel([handles[2]])
    deadline = time.monotonic() + 60
    while (state := executor.status([handles[2]])[handles[2]]).state != JobState.CANCELLED:
        assert time.monotonic() < deadline and not state.state.finished, state
        time.sleep(0.5)
    assert _queue(name) == []


def test_sbatch_options_reach_every_job(slurm_cluster, tmp_path):
    """--sbatch NAME=VALUE and a bare NAME become #SBATCH lines: a comment, and a hold that
    keeps the job pending (JobHeldUser) until it is cancelled."""
    from benchmark.executors.base import Job, JobState
    from benchmark.executors.slurm import SlurmExecutor
    from benchmark.sweep import sbatch_options

    name = f"bench-test-sbatch-{os.getpid()}"
    extra = sbatch_options(["comment=from-bench", "hold"])
    executor = SlurmExecutor(tmp_path / "slurm", name, sbatch=extra)
    assert "comment=from-bench, hold" in executor.describe()
    jobs = [Job(f"held{i}", (sys.executable, "-c", "print('hello')"),
                tmp_path / "logs" / f"held{i}.log") for i in range(3)]  # fmt: skip
    handles = executor.submit(jobs)
    states = executor.status(handles)
    assert all((st.state, st.reason) == (JobState.PENDING, "JobHeldUser")
               for st in states.values()), states  # fmt: skip
    out = subprocess.run(["squeue", "--noheader", f"--name={name}", "--format=%k"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert set(out.stdout.split()) == {"from-bench"}
    # A pending task has no record of its own: cancelled, it is read from its array's.
    executor.cancel(handles[1:2])
    assert settle(executor, handles[1:2], 60, every=0.5)[handles[1]].state == JobState.CANCELLED
    assert executor.status(handles[::2])[handles[0]].state == JobState.PENDING
    executor.cancel(handles[::2])
    states = settle(executor, handles, 60, every=0.5)
    assert all(st.state == JobState.CANCELLED for st in states.values()), states
    assert not any(job.log.exists() for job in jobs)


def test_an_sbatch_option_that_sbatch_does_not_know_is_its_one_line(slurm_cluster, tmp_path):
    from benchmark.executors.base import Job
    from benchmark.executors.slurm import SlurmError, SlurmExecutor

    executor = SlurmExecutor(tmp_path / "slurm", "bench-test-unknown", sbatch={"no-such": "1"})
    job = Job("x", (sys.executable, "-c", "print('hello')"), tmp_path / "logs" / "x.log")
    with pytest.raises(SlurmError) as refused:
        executor.submit([job])
    assert str(refused.value).endswith("unrecognized option '--no-such=1'"), refused.value
    assert not list((tmp_path / "slurm").glob("array-*.sh"))


def test_an_array_task_id_is_read_as_scontrol_writes_it():
    from benchmark.executors.slurm import NO_VAL, holds

    assert holds("3", 3) and not holds("3", 2)
    assert holds("0-7%2", 7) and not holds("0-7%2", 8)
    assert holds("1,4-9:2", 6) and not holds("1,4-9:2", 5) and holds("1,4-9:2", 1)
    assert holds(str(NO_VAL), 12) and not holds("", 0) and not holds("N/A", 0)


def test_a_job_slurm_will_never_start_fails_its_unit_and_is_cancelled(slurm_cluster, tmp_path):
    """More CPUs than the one node has: the job would pend for ever (PartitionConfig here);
    its unit fails with Slurm's reason, and the job leaves the queue."""
    from benchmark.executors.base import Job, JobState
    from benchmark.executors.slurm import SlurmExecutor

    name = f"bench-test-never-{os.getpid()}"
    executor = SlurmExecutor(tmp_path / "slurm", name, cpus_per_unit=4096)
    job = Job("big", (sys.executable, "-c", "print('hello')"), tmp_path / "logs" / "big.log")
    handle = executor.submit([job])[0]
    deadline = time.monotonic() + 60
    while not (state := executor.status([handle])[handle]).state.finished:
        assert time.monotonic() < deadline, state
        time.sleep(0.5)
    assert state.state == JobState.FAILED
    assert (state.reason or "").startswith(f"slurm will not start job {handle} as asked (")
    deadline = time.monotonic() + 30
    while _queue(name):
        assert time.monotonic() < deadline, _queue(name)
        time.sleep(0.5)


@pytest.mark.slow
def test_a_unit_slurm_stops_resumes_on_its_retry(slurm_cluster, tmp_path):
    """SIGTERM to every process of the unit's job, as Slurm sends at a time limit (before its
    SIGKILL), after the model's first checkpoint: the retry resumes from that checkpoint instead
    of training from the first epoch again, and nothing goes to .failed. (A plain scancel
    marks the job cancelled, which the sweep takes as the user's word and does not retry.)"""
    from benchmark.trainer import CHECKPOINT

    args = ["--models", "ggnn", "--profile", "smoke", "--epochs", "80", "--noise", "0",
            "--seeds", "1", "--executor", "slurm", "--retries", "1"]  # fmt: skip
    cmd = [*BENCH, "sweep", *args, "--results", str(tmp_path), "--json"]
    driver = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob(f".tmp/*/output/{CHECKPOINT}")):
        assert driver.poll() is None and time.monotonic() < deadline, driver.communicate()[1]
        time.sleep(0.05)
    [sweep_id] = [s["sweep"] for s in status(tmp_path)]
    subprocess.run(["scancel", "--signal=TERM", "--full", f"--name=bench-{sweep_id}"], check=True)
    out, err = driver.communicate(timeout=300)
    assert driver.returncode == 0, err
    summary = json.loads(out)
    assert (summary["complete"], summary["attempts"]) == (1, 2), err
    [unit] = completed(tmp_path)
    events = [json.loads(line) for line in (tmp_path / unit / "events.jsonl").open()]
    starts = [e for e in events if e["event"] == "start"]
    assert len(starts) == 2 and starts[1]["resumed_after_epoch"] >= 1, starts
    assert not (tmp_path / ".failed").exists()


def _times(log: Path) -> tuple[float, float]:
    start, end = log.read_text().split()
    return float(start), float(end)


def test_max_parallel_holds_across_arrays(slurm_cluster, tmp_path):
    """Slurm's %N throttle holds within one array; under --max-parallel each array waits for
    the one before it, so the cap holds across a grid split by MaxArraySize, and for retries."""
    from benchmark.executors.base import Job, JobState
    from benchmark.executors.slurm import SlurmError, SlurmExecutor

    name = f"bench-test-cap-{os.getpid()}"
    executor = SlurmExecutor(tmp_path / "slurm", name, max_parallel=1)
    size = executor.most_per_submit()
    assert size == _max_array_size()
    code = "import time; print(time.time()); time.sleep(0.5); print(time.time())"

    def jobs(tag: str, n: int) -> list[Job]:
        return [Job(f"{tag}{i}", (sys.executable, "-c", code), tmp_path / "logs" / f"{tag}{i}.log")
                for i in range(n)]  # fmt: skip

    with pytest.raises(SlurmError, match=f"exceed one array \\(MaxArraySize = {size}, 1 unit"):
        executor.submit(jobs("x", size + 1))
    first, second = jobs("a", size), jobs("b", 2)
    handles = executor.submit(first) + executor.submit(second)
    scripts = sorted((tmp_path / "slurm").glob("array-*.sh"))
    assert f"--dependency=afterany:{handles[0].split('_')[0]}" in scripts[1].read_text()
    states = settle(executor, handles, 120, every=0.5)
    assert all(s.state == JobState.SUCCEEDED for s in states.values())
    spans = sorted(_times(job.log) for job in first + second)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), spans  # one at a time

    # The newest array has left the queue, so the next one waits for none (a dependency on
    # a job the controller has forgotten would be refused).
    [third] = executor.submit(jobs("c", 1))
    assert "--dependency" not in sorted((tmp_path / "slurm").glob("array-*.sh"))[-1].read_text()
    assert settle(executor, [third], 120, every=0.5)[third].state == JobState.SUCCEEDED


def test_units_that_share_a_job_run_at_once_and_report_apart(slurm_cluster, tmp_path):
    """--units-per-job 2: one array task runs two units side by side, each with its own
    cores, log and exit status; a unit alone in the last task runs as well; a unit done
    before its job is settled at once, and cancelling a unit cancels its job."""
    from benchmark.executors.base import Job, JobState
    from benchmark.executors.slurm import SlurmExecutor

    name = f"bench-test-shared-{os.getpid()}"
    executor = SlurmExecutor(tmp_path / "slurm", name, units_per_job=2, max_parallel=2)
    assert executor.most_per_submit() == 2 * _max_array_size()
    code = ("import os, sys, time; print(time.time(), os.environ['OMP_NUM_THREADS']); "
            "time.sleep(1); print(time.time()); sys.exit(sys.argv[1] or None)")  # fmt: skip
    jobs = [Job(f"u{i}", (sys.executable, "-c", code, ["", "error: unit failed: boom", ""][i]),
                tmp_path / "logs" / f"u{i}.log") for i in range(3)]  # fmt: skip
    handles = executor.submit(jobs)
    [script] = (tmp_path / "slurm").glob("array-*.sh")
    text = script.read_text()
    assert "#SBATCH --array=0-1%1" in text and "#SBATCH --cpus-per-task=2" in text, text
    states = settle(executor, handles, 120, every=0.5)
    assert [states[h].state for h in handles] == [JobState.SUCCEEDED, JobState.FAILED,
                                                  JobState.SUCCEEDED]  # fmt: skip
    assert states[handles[1]].reason == "boom"
    assert len(list((tmp_path / "slurm").glob("slurm-*.out"))) == 2  # two jobs for three units
    spans = []
    for job in jobs:
        first, last = job.log.read_text().splitlines()[:2]
        start, threads = first.split()
        assert threads == "1"  # --cpus-per-unit each, not the job's 2
        spans.append((float(start), float(last)))
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1], spans  # side by side
    assert spans[2][0] >= max(spans[0][1], spans[1][1]), spans  # at most 2 units at once

    # A unit that ends while the other of its job runs is settled then, not with the job.
    pair = executor.submit([
        Job("quick", (sys.executable, "-c", "print('hi')"), tmp_path / "logs" / "quick.log"),
        Job("slow", (sys.executable, "-c", "import time; time.sleep(120)"),
            tmp_path / "logs" / "slow.log"),
    ])  # fmt: skip
    deadline = time.monotonic() + 60
    while (states := executor.status(pair))[pair[0]].state != JobState.SUCCEEDED:
        assert time.monotonic() < deadline and not states[pair[0]].state.finished, states
        time.sleep(0.5)
    assert states[pair[1]].state == JobState.RUNNING
    executor.cancel(pair[1:])
    assert settle(executor, pair[1:], 60, every=0.5)[pair[1]].state == JobState.CANCELLED
    assert _queue(name) == []


def test_a_shared_jobs_units_spread_over_its_gpus(tmp_path):
    """The batch script as a job with GPUs 3 and 5 runs it (no GPU here for Slurm to give):
    its three units get 3, 5 and 3, and the job's status is its failed unit's."""
    from benchmark.executors.base import Job
    from benchmark.executors.slurm import SlurmExecutor

    executor = SlurmExecutor(tmp_path / "slurm", "spread", gpus_per_unit=2, units_per_job=3)
    code = "import os, sys; print(os.environ['CUDA_VISIBLE_DEVICES']); sys.exit(int(sys.argv[1]))"
    jobs = [Job(f"u{i}", (sys.executable, "-c", code, str(3 * (i == 1))),
                tmp_path / "logs" / f"u{i}.log") for i in range(4)]  # fmt: skip
    script = tmp_path / "array.sh"
    script.write_text(executor.script(jobs))
    assert "#SBATCH --gres=gpu:2" in script.read_text()
    env = {**os.environ, "SLURM_ARRAY_TASK_ID": "0", "CUDA_VISIBLE_DEVICES": "3,5"}
    proc = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    logs = [job.log.read_text().strip() for job in jobs[:3]]
    assert logs == ["3", "5", "3"]
    assert [job.log.with_suffix(".rc").read_text().strip() for job in jobs[:3]] == ["0", "3", "0"]
    assert not jobs[3].log.exists()  # the next task's


@pytest.mark.slow
def test_a_sweep_of_units_that_share_jobs_completes(slurm_cluster, tmp_path):
    args = ["--models", "ggnn", "--profile", "smoke", "--epochs", "1", "--noise", "0,0.5",
            "--seeds", "1", "--executor", "slurm", "--units-per-job", "2"]  # fmt: skip
    rc, summary, err = sweep(tmp_path, *args)
    assert rc == 0, err
    assert (summary["units"], summary["complete"], summary["attempts"]) == (2, 2, 2), summary
    assert len(completed(tmp_path)) == 2
    files = tmp_path / ".sweeps" / summary["sweep"] / "slurm"
    assert len(list(files.glob("slurm-*.out"))) == 1  # one job ran both
    [state] = status(tmp_path)
    assert (state["state"], state["complete"]) == ("complete", 2), state


@pytest.mark.slow
def test_a_refused_array_keeps_the_units_already_taken(slurm_cluster, tmp_path):
    """sbatch takes the first array of a grid and refuses the second, for a reason waiting
    does not lift (the account's partition access changed): the sweep stops with the reason,
    the first array's units are followed, not submitted again, and the next run of the sweep
    submits only the rest."""
    from benchmark.executors.slurm import SlurmError, SlurmExecutor
    from benchmark.sweep import Store, Sweep, SweepError, SweepSpec

    class RefusesTheSecond(SlurmExecutor):
        calls = 0

        def submit(self, jobs):
            type(self).calls += 1
            if type(self).calls == 2:
                raise SlurmError("sbatch refused the array: sbatch: error: Batch job submission "
                                 "failed: Invalid account or account/partition combination "
                                 "specified")  # fmt: skip
            return super().submit(jobs)

    spec = SweepSpec("var_misuse", "python-stdlib", ("baseline",), "label", (0.0, 0.5),
                     (0, 1, 2), "smoke", 1)  # fmt: skip
    files = Store(tmp_path, spec.id).files / "slurm"
    with pytest.raises(SweepError, match="Invalid account") as stopped:
        Sweep(spec, tmp_path, RefusesTheSecond(files, f"bench-{spec.id}"), poll_s=1).run(False)
    size = _max_array_size()
    assert stopped.value.summary["ok"] is False
    [state] = status(tmp_path)
    assert (state["state"], state["pending"]) == ("error", 6 - size), state
    assert len(list(files.glob("array-*.sh"))) == 1

    executor = SlurmExecutor(files, f"bench-{spec.id}")
    summary = Sweep(spec, tmp_path, executor, poll_s=1).run(show_progress=False)
    assert summary["ok"] and summary["complete"] == 6, summary
    assert len(list(files.glob("array-*.sh"))) == 2  # the rest, in one array
    assert len(list(files.glob("slurm-*.out"))) == 6  # each unit ran once


@pytest.mark.slow
def test_a_sweep_past_the_users_submit_limit_waits_and_submits_the_rest(slurm_cluster, tmp_path):
    """The test cluster's `capped` partition holds a user to 3 queued jobs, as a site's QOS
    MaxSubmitJobsPerUser does, and Slurm refuses past it with the same accounting error. A
    sweep of 6 units used to stop at that refusal; it now submits what fits, in smaller
    arrays, waits for its jobs to finish, and submits the rest: every unit once."""
    grid = ["--models", "baseline", "--profile", "smoke", "--epochs", "1", "--noise", "0,0.5",
            "--seeds", "3", "--executor", "slurm", "--partition", "capped"]  # fmt: skip
    rc, summary, err = sweep(tmp_path, *grid)
    assert rc == 0, err
    assert (summary["units"], summary["complete"], summary["attempts"]) == (6, 6, 6), summary
    [said] = [ln for ln in err.splitlines() if ln.startswith("waiting")]
    assert not said.startswith("waiting: 6 units"), said  # the first arrays fit, in pieces
    assert said.endswith("sbatch refused the array: sbatch: error: Batch job submission failed: "
                         "Job violates accounting/QOS policy (job submit limit, user's size "
                         "and/or time limits))"), said  # fmt: skip
    files = tmp_path / ".sweeps" / summary["sweep"] / "slurm"
    assert len(list(files.glob("slurm-*.out"))) == 6  # each unit ran once
    arrays = [p.read_text() for p in files.glob("array-*.sh")]  # a refused one is not kept
    sizes = [int(re.search(r"--array=0-(\d+)", a).group(1)) + 1 for a in arrays]
    assert sum(sizes) == 6 and max(sizes) <= 3, sizes
    assert all("--partition=capped" in a for a in arrays)
    assert len(completed(tmp_path)) == 6


def test_only_a_submit_limit_is_waited_for():
    """The accounting error that a submit limit gives also covers per-job limits, which no
    amount of waiting lifts: sbatch names those first, and they stop the sweep."""
    from benchmark.executors.slurm import at_submit_limit

    policy = ("sbatch: error: Batch job submission failed: Job violates accounting/QOS policy "
              "(job submit limit, user's size and/or time limits)")  # fmt: skip
    for refusal, waits in [
        (policy, True),
        (f"sbatch: error: QOSMaxSubmitJobPerUserLimit\n{policy}", True),
        (f"sbatch: error: AssocMaxSubmitJobLimit\n{policy}", True),
        ("sbatch: error: Slurm temporarily unable to accept job, sleeping and retrying", True),
        (f"sbatch: error: QOSMaxWallDurationPerJobLimit\n{policy}", False),
        (f"sbatch: error: AssocMaxCpuPerJobLimit\n{policy}", False),
        ("sbatch: error: Batch job submission failed: Invalid account or account/partition "
         "combination specified", False),
    ]:  # fmt: skip
        assert at_submit_limit(refusal) is waits, refusal
