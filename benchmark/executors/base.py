"""The executor interface: where a sweep's units run.

A sweep hands an executor jobs (one ``bench run`` command line each) and polls their state.
The executor only starts and watches processes; whether a unit is complete is decided by the
sweep from the results folder, which is the single source of truth, so an executor that
loses track of a job (a killed driver, a purged Slurm record) costs a re-run, never a wrong
result.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class ExecutorError(RuntimeError):
    """The executor could not submit or query jobs (e.g. Slurm refused); one-line message."""


class ExecutorBusy(ExecutorError):
    """The executor took none of the jobs, but may once some already queued have finished (a
    per-user submit limit): submit them again later, perhaps fewer at a time."""


class JobState(StrEnum):
    PENDING = "pending"  # accepted, waiting for a slot
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # the command exited with status 0
    FAILED = "failed"  # non-zero status, killed, timed out, pre-empted or lost
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class Job:
    """One unit's command line and the file that keeps its stdout and stderr."""

    name: str  # the unit's key, for humans and job names
    argv: tuple[str, ...]
    log: Path


@dataclass(frozen=True)
class JobStatus:
    state: JobState
    exit_code: int | None = None
    reason: str | None = None  # one line, for a job that did not succeed


class Executor(ABC):
    """Starts jobs somewhere and reports on them; ``submit`` never blocks on a job finishing."""

    name: str
    detached = False  # whether jobs outlive the driver (cluster jobs) or die with it (local)

    def describe(self) -> str:
        return self.name

    def most_per_submit(self) -> int | None:
        """The most jobs one ``submit`` takes (a cluster's array size), or None for no limit."""
        return None

    @abstractmethod
    def submit(self, jobs: Sequence[Job]) -> list[str]:
        """Queue the jobs, all or none; return one handle per job, in order, for ``status``."""

    @abstractmethod
    def status(self, handles: Sequence[str]) -> dict[str, JobStatus]:
        """The state of each handle (unknown handles are reported as failed, with a reason)."""

    @abstractmethod
    def cancel(self, handles: Sequence[str]) -> None:
        """Stop the jobs, queued or running; already finished ones are left alone."""

    def logs(self, handle: str, job: Job) -> str:
        """What the job wrote to its stdout and stderr so far."""
        try:
            return job.log.read_text(errors="replace")
        except OSError:
            return ""

    def adopt(self, handle: str, job: Job) -> bool:
        """Follow a job that an earlier driver (now gone) submitted; False where it cannot be.

        Local jobs die with their driver; cluster jobs outlive it and can be picked up again.
        """
        return False

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release what the executor holds; jobs still queued are the caller's to cancel."""


def reason_from_log(text: str) -> str | None:
    """The one-line reason ``bench run`` printed last (``error: ...``), if it printed one."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("error:"):
            reason = line.removeprefix("error:").strip()
            return reason.removeprefix("unit failed:").strip()[:400]
    return None


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:400] if lines else "no output"
