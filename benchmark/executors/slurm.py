"""``--executor slurm``: the units of a sweep as Slurm job arrays, submitted with ``sbatch``.

One array per batch of units, one array task per unit, each running ``bench run`` on a node;
a batch is at most the cluster's ``MaxArraySize`` tasks, so a grid of any size is taken. With
``units_per_job`` K, each array task runs K units at once, which share its GPUs (spread over
them where it has several) and have K times the CPUs and memory of one: a model too small to
keep a GPU busy alone shares it, as in a local pool wider than the GPUs, and the sweep queues
K times fewer jobs. Under ``--max-parallel`` each array waits for the one before it
(``afterany``), as Slurm's ``%N`` throttle holds within one array only. A refusal at a
per-user submit limit is a ``SubmitLimit``, on which the sweep sends smaller arrays or waits
for its jobs to finish.
The batch script writes the unit's exit status next to its log, so the outcome is known
without Slurm's accounting database (many clusters keep it, many test clusters do not).
Jobs belong to the cluster, not to the driver: a sweep whose driver is killed leaves its
jobs running, and the next run of the same sweep follows them instead of submitting again.
The results folder, the venv's Python and the dataset cache must be on a file system that
the nodes share with the machine that submits.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from benchmark.executors.base import (
    Executor,
    ExecutorBusy,
    ExecutorError,
    Job,
    JobState,
    JobStatus,
    last_line,
    reason_from_log,
)

LOST_GRACE_S = 30.0  # a job that left the queue gets this long for its exit status to appear
DEFAULT_MAX_ARRAY_SIZE = 1001  # Slurm's own default, where the configuration cannot be read
SLURM_STATES = {
    "PENDING": JobState.PENDING, "CONFIGURING": JobState.PENDING, "REQUEUED": JobState.PENDING,
    "REQUEUE_HOLD": JobState.PENDING, "REQUEUE_FED": JobState.PENDING,
    "RESV_DEL_HOLD": JobState.PENDING, "SUSPENDED": JobState.PENDING,
    "RUNNING": JobState.RUNNING, "COMPLETING": JobState.RUNNING, "STAGE_OUT": JobState.RUNNING,
    "SIGNALING": JobState.RUNNING, "RESIZING": JobState.RUNNING,
}  # fmt: skip

# Why a pending job waits, where waiting will not change it: the request itself does not fit
# the cluster's partitions, constraints, accounts or per-job limits. Such a job is cancelled
# and its unit failed with the reason, rather than followed for ever (a later run of the sweep
# would adopt it again whatever options it is given).
NEVER_STARTS = ("BadConstraints", "PartitionConfig", "PartitionNodeLimit", "PartitionTimeLimit",
                "InvalidAccount", "InvalidQOS", "AccountNotAllowed", "QOSNotAllowed")  # fmt: skip
NEVER_STARTS_PATTERN = re.compile(r"(Assoc|QOS)Max\w*PerJob\w*")


# sbatch's refusal at a limit on how many jobs a user may have queued (a QOS's or association's
# MaxSubmitJobs, the cluster's MaxJobCount): it takes jobs again once some have left the queue.
# The same accounting error also covers per-job limits, which waiting does not lift.
SUBMIT_LIMIT = re.compile(r"MaxSubmitJob|job submit limit|temporarily unable to accept job")
PER_JOB_LIMIT = re.compile(r"(Assoc|QOS)\w*Per(Job|Node)\w*|MaxWall")


def at_submit_limit(refusal: str) -> bool:
    """Whether sbatch refused at a limit on queued jobs, which lifts as jobs leave the queue."""
    return SUBMIT_LIMIT.search(refusal) is not None and PER_JOB_LIMIT.search(refusal) is None


NO_VAL = 4294967294  # Slurm's ArrayTaskId of a record that stands for the whole array


def holds(task_ids: str, index: int) -> bool:
    """Whether scontrol's ArrayTaskId (``3``, ``0-7%2``, ``1,4-9:2``, or NO_VAL) holds index."""
    for part in task_ids.split("%")[0].split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+)(?::(\d+))?)?", part)
        if m is None:
            continue
        first = int(m.group(1))
        if first == NO_VAL:
            return True
        last, step = int(m.group(2) or first), int(m.group(3) or 1)
        if first <= index <= last and (index - first) % step == 0:
            return True
    return False


def never_starts(reason: str) -> bool:
    """Whether a pending job's Slurm reason says it cannot start as requested."""
    return reason in NEVER_STARTS or NEVER_STARTS_PATTERN.fullmatch(reason) is not None


class SlurmError(ExecutorError):
    """Slurm refused or could not be reached; the message is one line."""


class SubmitLimit(SlurmError, ExecutorBusy):
    """sbatch refused at the user's submit limit: an array too large for what is left of it,
    or any job while jobs of theirs are queued."""


def _run(argv: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise SlurmError(f"{argv[0]} not found: is this a Slurm login node?") from None
    except subprocess.TimeoutExpired:
        raise SlurmError(f"{argv[0]} did not answer within {timeout:.0f} s") from None


def _rc_path(job: Job) -> Path:
    return job.log.with_suffix(".rc")


def _task(handle: str) -> str:
    """The Slurm array task (``<array>_<index>``) of a unit's handle: a unit that shares its
    job with others is ``<array>_<index>+<place>``."""
    return handle.split("+")[0]


MEMORY = re.compile(r"(\d+)([KMGT]?)", re.IGNORECASE)


def times_memory(mem: str, k: int) -> str:
    """Slurm's ``--mem`` for K units of ``mem`` each: ``8G`` x 4 is ``32G`` (a bare number is
    megabytes, as in Slurm). Raise ValueError where ``mem`` is not such a size."""
    m = MEMORY.fullmatch(mem)
    if m is None:
        raise ValueError(f"{mem!r} is not a size in whole K, M, G or T")
    return f"{int(m.group(1)) * k}{m.group(2)}"


class SlurmExecutor(Executor):
    name = "slurm"
    detached = True

    def __init__(
        self,
        workdir: Path,
        job_name: str,
        partition: str | None = None,
        time_limit: str | None = None,
        account: str | None = None,
        gpus_per_unit: int = 0,
        cpus_per_unit: int = 1,
        mem: str | None = None,
        max_parallel: int | None = None,
        units_per_job: int = 1,
        sbatch: dict[str, str | None] | None = None,
    ) -> None:
        if shutil.which("sbatch") is None:
            raise SlurmError("sbatch not found: --executor slurm needs a Slurm login node")
        if units_per_job < 1 or (max_parallel and max_parallel % units_per_job):
            raise ValueError("units_per_job must be >= 1 and divide max_parallel")
        self.workdir = workdir
        self.job_name = job_name
        self.per_job = units_per_job
        self.options = {
            "partition": partition, "time": time_limit, "account": account,
            "mem": times_memory(mem, units_per_job) if mem else None,
            "cpus-per-task": str(cpus_per_unit * units_per_job),
            "gres": f"gpu:{gpus_per_unit}" if gpus_per_unit else None,
        }  # fmt: skip
        self.sbatch = dict(sbatch or {})  # more options, as given (None: a flag)
        self.cpus_per_unit = cpus_per_unit
        self.max_parallel = max_parallel
        self.user = pwd.getpwuid(os.getuid()).pw_name
        self._jobs: dict[str, Job] = {}
        self._gone_since: dict[str, float] = {}
        self._started: set[str] = set()  # array tasks seen running
        self._max_array: int | None = None
        self._last_array: int | None = None  # the newest array, which the next one waits for

    def describe(self) -> str:
        opts = ", ".join([*(f"{k}={v}" for k, v in self.options.items() if v),
                          *(k if v is None else f"{k}={v}" for k, v in self.sbatch.items())])
        shared = f", {self.per_job} units per job" if self.per_job > 1 else ""
        cap = f", at most {self.max_parallel} units at once" if self.max_parallel else ""
        return f"slurm job arrays ({opts}{shared}{cap})"

    def most_per_submit(self) -> int:
        """The units of one array: the cluster's ``MaxArraySize`` tasks (indices 0 ..
        MaxArraySize - 1), of ``units_per_job`` units each."""
        return self._max_array_size() * self.per_job

    def _max_array_size(self) -> int:
        if self._max_array is None:
            out = _run(["scontrol", "show", "config"])
            m = re.search(r"^MaxArraySize\s*=\s*(\d+)", out.stdout, re.M)
            size = int(m.group(1)) if out.returncode == 0 and m else DEFAULT_MAX_ARRAY_SIZE
            if size < 1:
                raise SlurmError("this cluster takes no job arrays (MaxArraySize = 0)")
            self._max_array = size
        return self._max_array

    def script(self, jobs: Sequence[Job], after: int | None = None) -> str:
        """The batch script of one array: one ``case`` branch per task, which starts its
        units at once and waits for them all."""
        tasks = [jobs[i : i + self.per_job] for i in range(0, len(jobs), self.per_job)]
        cap = f"%{self.max_parallel // self.per_job}" if self.max_parallel else ""
        threads = self.cpus_per_unit
        spread = [
            "  # the job's units spread over its GPUs",
            '  ((${#gpus[@]})) && export CUDA_VISIBLE_DEVICES=${gpus[place % ${#gpus[@]}]}',
        ]
        lines = [
            "#!/bin/bash",
            f"#SBATCH --job-name={self.job_name}",
            f"#SBATCH --array=0-{len(tasks) - 1}{cap}",
            *([f"#SBATCH --dependency=afterany:{after}"] if after else []),
            f"#SBATCH --output={self.workdir}/slurm-%A_%a.out",
            f"#SBATCH --chdir={Path.cwd()}",
            *(f"#SBATCH --{k}={v}" for k, v in self.options.items() if v),
            *(f"#SBATCH --{k}" + ("" if v is None else f"={v}") for k, v in self.sbatch.items()),
            f"# Written by `bench sweep`: {self.per_job} unit(s) per array task, run at once;",
            "# each unit's exit status goes beside its log, so the sweep knows the outcome",
            "# without Slurm's accounting.",
            f"export OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} "
            f"NUMBA_NUM_THREADS={threads}",
            'IFS=, read -ra gpus <<<"${CUDA_VISIBLE_DEVICES:-}"',
            "unit() {  # PLACE LOG ARGV...: one unit, its output in LOG, its status beside it",
            "  local place=$1 log=$2; shift 2",
            *(spread if self.per_job > 1 else []),
            '  mkdir -p "$(dirname "$log")"',
            '  "$@" >"$log" 2>&1',
            "  local status=$?",
            '  echo "$status" >"${log%.log}.rc.tmp" && mv "${log%.log}.rc.tmp" "${log%.log}.rc"',
            '  return "$status"',
            "}",
            'case "$SLURM_ARRAY_TASK_ID" in',
        ]
        for i, task in enumerate(tasks):
            lines.append(f"{i})")
            for k, job in enumerate(task):
                argv = " ".join(shlex.quote(a) for a in job.argv)
                lines.append(f"  unit {k} {shlex.quote(str(job.log))} {argv} &")
            lines.append("  ;;")
        lines += [
            '*) echo "no unit for array task $SLURM_ARRAY_TASK_ID" >&2; exit 2 ;;',
            "esac",
            "status=0",
            'for pid in $(jobs -p); do wait "$pid" || status=$?; done',
            'exit "$status"',
        ]
        return "\n".join(lines) + "\n"

    def submit(self, jobs: Sequence[Job]) -> list[str]:
        if not jobs:
            return []
        if len(jobs) > self.most_per_submit():
            raise SlurmError(f"{len(jobs)} units exceed one array (MaxArraySize = "
                             f"{self._max_array_size()}, {self.per_job} unit(s) a task)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        for job in jobs:
            _rc_path(job).unlink(missing_ok=True)
        path = self.workdir / f"array-{time.time_ns()}.sh"
        path.write_text(self.script(jobs, self._after()))
        out = _run(["sbatch", "--parsable", str(path)])
        if out.returncode != 0:
            path.unlink(missing_ok=True)
            # sbatch follows a bad option with a hint to read its help: the reason is before it
            said = "\n".join(ln for ln in out.stderr.splitlines() if not ln.startswith("Try "))
            why = f"sbatch refused the array: {last_line(said)}"
            if at_submit_limit(out.stderr) and (len(jobs) > 1 or self._has_queued()):
                raise SubmitLimit(why)  # fewer jobs may fit, or more once some have finished
            raise SlurmError(why)
        job_id = out.stdout.strip().split(";")[0]
        if not job_id.isdigit():
            raise SlurmError(f"sbatch answered {out.stdout.strip()!r}, not a job id")
        self._last_array = int(job_id)
        if self.per_job == 1:
            handles = [f"{job_id}_{i}" for i in range(len(jobs))]
        else:
            handles = [f"{job_id}_{i // self.per_job}+{i % self.per_job}" for i in range(len(jobs))]
        self._jobs.update(zip(handles, jobs, strict=True))
        return handles

    def _has_queued(self) -> bool:
        """Whether the user has jobs in the queue, this sweep's or not: at a submit limit
        they hold, the limit takes more once some of them have finished."""
        out = _run(["squeue", "--noheader", f"--user={self.user}", "--format=%i"])
        return out.returncode == 0 and bool(out.stdout.strip())

    def _after(self) -> int | None:
        """Under ``--max-parallel``, the array the next one must wait for: the newest, while
        it has tasks in the queue. Each waited for the one before it, so once the newest has
        left the queue, so have all of them."""
        if not self.max_parallel or self._last_array is None:
            return None
        live = {int(h.split("_")[0]) for h in self._queue() if h.split("_")[0].isdigit()}
        return self._last_array if self._last_array in live else None

    def adopt(self, handle: str, job: Job) -> bool:
        self._jobs[handle] = job
        array = handle.split("_")[0]
        if array.isdigit():
            self._last_array = max(self._last_array or 0, int(array))
        return True

    def _queue(self) -> dict[str, tuple[str, str]]:
        out = _run(["squeue", "--noheader", "--array", f"--user={self.user}",
                    f"--name={self.job_name}", "--format=%i %T %r"])  # fmt: skip
        if out.returncode != 0:
            raise SlurmError(f"squeue failed: {last_line(out.stderr)}")
        queue = {}
        for line in out.stdout.splitlines():
            parts = line.split(None, 2)
            if len(parts) >= 2:
                queue[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else "")
        return queue

    def status(self, handles: Sequence[str]) -> dict[str, JobStatus]:
        queue = self._queue()
        out = {}
        blocked = []
        for h in handles:
            task = _task(h)
            if task in queue:
                state, why = queue[task]
                mapped = SLURM_STATES.get(state.split("+")[0])
                if mapped == JobState.PENDING and never_starts(why):
                    blocked.append(h)
                    out[h] = JobStatus(JobState.FAILED, reason=f"slurm will not start job {task} "
                                       f"as asked ({why}); it was cancelled")  # fmt: skip
                    continue
                if mapped == JobState.RUNNING:
                    self._started.add(task)
                code = self._exit_code(h)
                # A unit that ended while others of its job run is settled now, not when the
                # job ends; one ended by a signal waits for the job (it may be cancelled).
                if mapped == JobState.RUNNING and code is not None and 0 <= code <= 128:
                    out[h] = self._finished(h)
                    continue
                if mapped is not None:
                    out[h] = JobStatus(mapped, reason=why if why not in ("", "None") else None)
                    continue
            out[h] = self._finished(h)
        self.cancel(blocked)
        return out

    def _exit_code(self, handle: str) -> int | None:
        """The unit's exit status as its job wrote it beside the log (-1 if unreadable), or
        None while there is none."""
        job = self._jobs.get(handle)
        if job is None:
            return None
        try:
            text = _rc_path(job).read_text().strip()
        except OSError:
            return None
        return int(text) if text.lstrip("-").isdigit() else -1

    def _finished(self, handle: str) -> JobStatus:
        job = self._jobs.get(handle)
        task = _task(handle)
        if job is None:
            return JobStatus(JobState.FAILED, reason=f"slurm job {task} is not this sweep's")
        code = self._exit_code(handle)
        if code is not None:
            if code == 0:
                return JobStatus(JobState.SUCCEEDED, 0)
            # Ended by a signal (bench run exits 128 + its number): a cancelled job's signal
            # may reach the unit before the shell that writes its status.
            if code > 128 and self._controller_state(task) == "CANCELLED":
                return JobStatus(JobState.CANCELLED, reason=f"slurm job {task} was cancelled")
            log = self.logs(handle, job)
            reason = reason_from_log(log) or f"bench run exited {code}: {last_line(log)}"
            return JobStatus(JobState.FAILED, code, reason)
        # No exit status: the job was killed (time limit, pre-emption, scancel, node failure)
        # or the file system has not shown the status file yet.
        state = self._controller_state(task)
        if state == "CANCELLED":
            return JobStatus(JobState.CANCELLED, reason=f"slurm job {task} was cancelled")
        if state and state not in ("COMPLETED", "PENDING", "RUNNING", "COMPLETING"):
            return JobStatus(JobState.FAILED, reason=f"slurm job {task} ended {state}")
        first = self._gone_since.setdefault(handle, time.monotonic())
        if time.monotonic() - first < LOST_GRACE_S:
            return JobStatus(JobState.RUNNING)
        return JobStatus(
            JobState.FAILED, reason=f"slurm job {task} left the queue without an exit status"
        )

    def _controller_state(self, task: str) -> str | None:
        """The controller's JobState of an array task, or None where it does not know it.

        A task gets a record of its own when it starts. One that never started is in its
        array's record (a pending array cancelled whole is one record, with the index
        NO_VAL); one in neither, while the array is known and the task was not seen running,
        was taken out of the queue before it started, which only a cancellation does."""
        out = _run(["scontrol", "--oneliner", "show", "job", task])
        m = re.search(r"\bJobState=(\S+)", out.stdout) if out.returncode == 0 else None
        array, _, index = task.partition("_")
        if m or not index.isdigit():
            return m.group(1) if m else None
        out = _run(["scontrol", "--oneliner", "show", "job", array])
        records = out.stdout.splitlines() if out.returncode == 0 else []
        for line in records:
            ids = re.search(r"\bArrayTaskId=(\S+)", line)
            state = re.search(r"\bJobState=(\S+)", line)
            if ids and state and holds(ids.group(1), int(index)):
                return state.group(1)
        known = any(f"ArrayJobId={array} " in r for r in records)
        return "CANCELLED" if known and task not in self._started else None

    def cancel(self, handles: Sequence[str]) -> None:
        """Cancel the units' jobs: a job's other units, where it runs several, with them."""
        if handles:
            out = _run(["scancel", *dict.fromkeys(_task(h) for h in handles)])
            if out.returncode != 0 and "already completed" not in out.stderr:
                raise SlurmError(f"scancel failed: {last_line(out.stderr)}")
