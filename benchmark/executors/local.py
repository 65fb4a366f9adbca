"""``--executor local``: a pool of ``bench run`` processes on this machine.

Each unit is its own process (in its own session), so a unit that crashes, leaks memory or
hangs until its time budget cannot take the sweep down with it. The pool is as wide as the
machine has GPUs (one GPU per unit) when the units use a GPU, else as it has cores, unless
``max_parallel`` says otherwise; each unit gets an equal share of the cores for its math
libraries, so parallel units do not fight over threads.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

from benchmark.executors.base import (
    Executor,
    Job,
    JobState,
    JobStatus,
    last_line,
    reason_from_log,
)
from benchmark.runner.gpus import visible_gpus

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")
STOP_GRACE_S = 15.0  # a cancelled unit gets this long to stop its model and clean up


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass
class _Running:
    job: Job
    proc: subprocess.Popen
    log: IO[bytes]
    gpu: str | None


class LocalExecutor(Executor):
    """A process pool driven by polling: ``status`` reaps finished units and starts queued ones."""

    name = "local"

    def __init__(self, max_parallel: int | None = None, use_gpus: bool = False) -> None:
        self.gpus = visible_gpus() if use_gpus else []
        self.slots = max_parallel or len(self.gpus) or cores()
        self.threads = max(1, cores() // self.slots)
        self._queue: deque[tuple[str, Job]] = deque()
        self._running: dict[str, _Running] = {}
        self._finished: dict[str, JobStatus] = {}
        self._count = 0

    def describe(self) -> str:
        where = f"{len(self.gpus)} GPUs" if self.gpus else f"{cores()} cores"
        return f"a local pool of {self.slots} ({where}, {self.threads} thread(s) per unit)"

    def submit(self, jobs: Sequence[Job]) -> list[str]:
        handles = []
        for job in jobs:
            self._count += 1
            handle = f"local-{os.getpid()}-{self._count}"
            self._queue.append((handle, job))
            handles.append(handle)
        self._pump()
        return handles

    def status(self, handles: Sequence[str]) -> dict[str, JobStatus]:
        self._pump()
        queued = {h for h, _ in self._queue}
        out = {}
        for h in handles:
            if h in self._finished:
                out[h] = self._finished[h]
            elif h in self._running:
                out[h] = JobStatus(JobState.RUNNING)
            elif h in queued:
                out[h] = JobStatus(JobState.PENDING)
            else:
                out[h] = JobStatus(JobState.FAILED, reason=f"no local job {h} (driver restarted)")
        return out

    def cancel(self, handles: Sequence[str]) -> None:
        wanted = set(handles)
        for h, _ in self._queue:
            if h in wanted:
                self._finished[h] = JobStatus(JobState.CANCELLED, reason="cancelled before start")
        self._queue = deque(item for item in self._queue if item[0] not in wanted)
        stopping = [self._running[h] for h in handles if h in self._running]
        for r in stopping:
            _signal_group(r.proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for r in stopping:
            try:
                r.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(r.proc, signal.SIGKILL)
                r.proc.wait()
        for h in [h for h in handles if h in self._running]:
            r = self._running.pop(h)
            r.log.close()
            self._finished[h] = JobStatus(JobState.CANCELLED, r.proc.returncode, "cancelled")

    def close(self) -> None:
        self.cancel([h for h, _ in self._queue] + list(self._running))

    def _pump(self) -> None:
        for h, r in list(self._running.items()):
            code = r.proc.poll()
            if code is None:
                continue
            r.log.close()
            del self._running[h]
            if code == 0:
                self._finished[h] = JobStatus(JobState.SUCCEEDED, 0)
            else:
                text = self.logs(h, r.job)
                how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
                reason = reason_from_log(text) or f"bench run ended with {how}: {last_line(text)}"
                self._finished[h] = JobStatus(JobState.FAILED, code, reason)
        while self._queue and len(self._running) < self.slots:
            h, job = self._queue.popleft()
            self._running[h] = self._start(job)

    def _start(self, job: Job) -> _Running:
        env = os.environ.copy()
        for var in THREAD_VARS:
            env.setdefault(var, str(self.threads))
        gpu = None
        if self.gpus:
            busy = [r.gpu for r in self._running.values()]
            gpu = min(self.gpus, key=busy.count)
            env["CUDA_VISIBLE_DEVICES"] = gpu
        job.log.parent.mkdir(parents=True, exist_ok=True)
        log = job.log.open("wb")
        guard = [sys.executable, "-m", "benchmark.executors.guard", str(os.getpid()), "--"]
        proc = subprocess.Popen(
            [*guard, *job.argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # signals to the sweep's group reach units via the guard
        )
        return _Running(job, proc, log, gpu)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
