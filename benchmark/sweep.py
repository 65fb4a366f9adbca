"""Sweeps: a task's models x noise rates x seeds, run by an executor, resumable.

The results folder is the only truth about what is done: a unit whose folder is complete is
skipped, everything else is run (``bench run`` resumes whatever it can inside a unit). The
sweep's own bookkeeping lives beside the results in ``.sweeps/<id>.json`` so that
``bench sweep status`` works from another shell and a killed sweep, run again, picks up where
it stopped. A sweep's id is a hash of its grid, so running the same command again is the
same sweep. One driver at a time holds a sweep (a lock file); units that fail are retried a
bounded number of times and then recorded with their one-line reason, and the others go on.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from benchmark import console
from benchmark.executors.base import (
    Executor,
    ExecutorBusy,
    ExecutorError,
    Job,
    JobState,
    JobStatus,
)
from benchmark.metrics import counterfactual
from benchmark.metrics.sweep import robustness
from benchmark.results import Unit, dataset_fingerprint, is_complete, verify
from benchmark.sweep_spec import (  # noqa: F401 (the sweep's names, as callers know them)
    RUNNERS,
    BadOption,
    SweepSpec,
    _items,
    bench_run_argv,
    conflict,
    make_spec,
    unit_key,
)
from benchmark.sweep_store import (  # noqa: F401
    HEARTBEAT_S,
    STALE_S,
    STATE_VERSION,
    BadState,
    Store,
    SweepBusy,
    _now,
    status,
)

MEMBERSHIP = "membership"  # a subset sweep's tables in .sweeps/<id>/: .parquet and .json
RETRY_DELAY_S = 2.0  # a failed unit waits this long times its attempts before the next one
SLURM_VALUE = re.compile(r"[\w.:,+=@%/-]+", re.ASCII)  # a partition, time, account or memory
SBATCH_NAME = re.compile(r"[a-z][a-z0-9-]*[a-z0-9]", re.ASCII)  # a long option of sbatch, no dashes
# What the batch script sets itself, or a flag of the sweep sets: not for --sbatch to change.
SBATCH_OWN = {"job-name": "", "array": "", "dependency": "", "output": "", "chdir": "",
              "parsable": "", "wrap": "", "cpus-per-task": " (use --cpus-per-unit)",
              "partition": " (use --partition)", "time": " (use --time)",
              "account": " (use --account)", "mem": " (use --mem)"}  # fmt: skip
MAX_POLL_ERRORS = 10  # consecutive failures to query the executor before the sweep gives up
SLURM_POLL_MAX_S = 30.0  # the longest wait between two squeue calls of a sweep
BUSY_RETRY_S = 60.0  # at a submit limit, try again this often even if none of ours finished


class SweepError(ExecutorError):
    """The executor failed and the sweep stopped; ``summary`` is its summary as it stopped
    (``ok`` false, ``error`` the reason), for `bench sweep --json` to print all the same."""

    def __init__(self, error: ExecutorError, summary: dict) -> None:
        super().__init__(str(error))
        self.summary = summary


class Sweep:
    """One invocation of a sweep: skip what is complete, run the rest, retry, record."""

    def __init__(
        self, spec: SweepSpec, results: Path, executor: Executor, retries: int = 2,
        poll_s: float = 0.5, prepare: Callable[[], None] | None = None,
        poll_max_s: float | None = None,
    ) -> None:  # fmt: skip
        self.spec = spec
        self.results = results
        self.executor = executor
        self.retries = retries
        self.poll_s = poll_s
        self.poll_max_s = max(poll_s, poll_max_s or poll_s)
        self._changed_at = time.monotonic()  # when a job last started, ended or was submitted
        self.prepare = prepare  # run once before the first unit is submitted
        self.store = Store(results, spec.id)
        self.units = {unit_key(u): u for u in spec.units()}
        self.state: dict = {}
        self.active: dict[str, str] = {}  # handle -> unit key
        self.jobs: dict[str, Job] = {}  # handle -> job
        self.retry_at: dict[str, float] = {}  # unit key -> when to submit it again
        self.waiting: list[str] = []  # unit keys the executor refused at its submit limit
        self._freed = 0  # jobs of ours finished since the last refusal
        self._refused_at = 0.0
        self._saved = 0.0
        self._fingerprint: str | None = None

    def _done(self, unit: Unit) -> bool:
        """The unit's folder is complete, verifies, and was made from today's dataset; a unit
        that is not is run again (and `bench run` moves the old folder to .quarantine)."""
        folder = unit.path(self.results)
        if not is_complete(folder) or verify(folder) is not None:
            return False
        if self._fingerprint is None:
            from benchmark import datasets

            try:
                self._fingerprint = datasets.load(self.spec.dataset).fingerprint
            except Exception:  # the unit's own run will fail with the real reason
                return False
        return dataset_fingerprint(folder) == self._fingerprint

    # --- bookkeeping -------------------------------------------------------------------------

    def _record(self, key: str) -> dict:
        return self.state["units"].setdefault(key, {"state": "pending", "attempts": 0})

    def _save(self, force: bool = True) -> None:
        if force or time.monotonic() - self._saved > HEARTBEAT_S:
            self.state["driver"]["heartbeat"] = _now()
            self.store.save(self.state)
            self._saved = time.monotonic()

    def _job(self, key: str, attempt: int) -> Job:
        log = self.store.files / "logs" / f"{key.replace('/', '_')}.{attempt}.log"
        argv = bench_run_argv(self.spec, self.units[key], self.results)
        return Job(key, argv, log)

    def _submit(self, keys: list[str], size: int | None = None) -> None:
        """Submit in the executor's batches, each recorded as it is taken: if a later batch is
        refused, the units of the earlier ones are followed, not submitted again, and the rest
        are kept for a later try. At a submit limit, smaller batches are tried, and what still
        does not fit waits for jobs to finish (``_wait``)."""
        most = self.executor.most_per_submit() or max(1, len(keys))
        size = min(size or most, most)
        start = 0
        while start < len(keys):
            batch = keys[start : start + size]
            try:
                self._submit_batch(batch)
            except ExecutorBusy as e:
                if len(batch) > 1:  # fewer may still fit under the limit
                    size = len(batch) // 2
                    continue
                self._wait(keys[start:], e)
                return
            except ExecutorError:  # kept for the next poll, which tries them again
                for key in keys[start:]:
                    self.retry_at[key] = time.monotonic()
                    self._record(key)["state"] = "pending"
                    self._record(key).pop("held", None)
                raise
            start += len(batch)

    def _wait(self, keys: list[str], why: ExecutorBusy) -> None:
        """Hold units the executor refused at its submit limit until jobs have left its queue."""
        if not self._refused_at:  # said once; the progress bar counts them from then on
            console.err.print(
                f"[yellow]waiting[/]: {len(keys)} units are held until jobs leave the queue "
                f"({why})",
                highlight=False, soft_wrap=True,
            )  # fmt: skip
        self.waiting += keys  # a unit is in one place at a time: todo, retry_at or waiting
        for key in keys:
            self._record(key).update(state="pending", held=str(why))
        self._save()
        self._freed, self._refused_at = 0, time.monotonic()

    def _submit_waiting(self) -> None:
        """Try the waiting units again once jobs of ours have finished (as many as did), or
        every BUSY_RETRY_S while jobs of the user's other work hold the limit."""
        if not self.waiting or (
            not self._freed and time.monotonic() - self._refused_at < BUSY_RETRY_S
        ):
            return
        keys, self.waiting = self.waiting, []
        self._submit(keys, size=max(1, self._freed))

    def _submit_batch(self, keys: list[str]) -> None:
        jobs = []
        for key in keys:
            rec = self._record(key)
            rec["attempts"] += 1
            rec["total_attempts"] = rec.get("total_attempts", 0) + 1
            jobs.append(self._job(key, rec["total_attempts"]))
        try:
            handles = self.executor.submit(jobs)
        except ExecutorError:  # the executor took none of them: no attempt was made
            for key in keys:
                self._record(key)["attempts"] -= 1
                self._record(key)["total_attempts"] -= 1
            raise
        for key, job, handle in zip(keys, jobs, handles, strict=True):
            rec = self._record(key)
            rec.update(state="queued", handle=handle, log=str(job.log), submitted=_now())
            for past in ("started", "started_at", "held"):
                rec.pop(past, None)
            self.active[handle] = key
            self.jobs[handle] = job
        self._changed_at = time.monotonic()
        self._save()

    def _begin(self) -> list[str]:
        """Load or create the state; return the keys to run (adopting still-live jobs)."""
        old = self.store.load() or {}
        self.state = {
            "version": STATE_VERSION,
            "id": self.spec.id,
            "spec": asdict(self.spec),
            "results": str(self.results.resolve()),
            "executor": self.executor.name,
            "detached": self.executor.detached,  # its jobs outlive the driver
            "retries": self.retries,
            "created": old.get("created", _now()),
            "driver": {"host": socket.gethostname(), "pid": os.getpid(), "started": _now()},
            "state": "running",
            "units": {},
            "runs": old.get("runs", 0) + 1,
        }
        todo = []
        for key, unit in self.units.items():
            prev = old.get("units", {}).get(key, {})
            rec = self._record(key)
            rec["total_attempts"] = prev.get("total_attempts", 0)
            if self._done(unit):
                why = conflict(self.spec, unit, self.results)
                if why:
                    rec.update(state="failed", reason=why)
                else:
                    rec.update(state="complete", skipped=True, seconds=prev.get("seconds"))
                continue
            handle = prev.get("handle")
            if (
                prev.get("state") in ("queued", "running")
                and handle
                and old.get("executor") == self.executor.name
                and self.executor.adopt(handle, Job(key, (), Path(prev["log"])))
            ):
                rec.update(state=prev["state"], handle=handle, log=prev["log"], attempts=1)
                rec["submitted"] = prev.get("submitted")
                self.active[handle] = key
                self.jobs[handle] = Job(key, (), Path(prev["log"]))
                continue
            todo.append(key)
        self._save()
        return todo

    def counts(self) -> dict[str, int]:
        out = {"complete": 0, "running": 0, "queued": 0, "failed": 0, "pending": 0}
        for rec in self.state["units"].values():
            out[rec["state"]] = out.get(rec["state"], 0) + 1
        return out

    # --- the loop ----------------------------------------------------------------------------

    def _finish(self, handle: str, st: JobStatus, say: Any) -> str | None:
        """Settle one finished job; return its key if it should be retried."""
        key = self.active.pop(handle)
        rec = self._record(key)
        started = rec.get("started_at")
        retry = st.state != JobState.CANCELLED
        if self._done(self.units[key]):
            why = conflict(self.spec, self.units[key], self.results)
            if why is None:
                rec.update(state="complete", reason=None)
                rec["seconds"] = round(time.time() - started, 1) if started else None
                say(f"[green]done[/] {key}" + (f" ({rec['seconds']:.0f} s)" if started else ""))
                return None
            st, retry = JobStatus(JobState.FAILED, reason=why), False  # retrying cannot help
        reason = st.reason or (
            f"bench run exited {st.exit_code} without a complete results folder"
            if st.state == JobState.SUCCEEDED
            else f"job ended {st.state}"
        )
        rec["reason"] = reason
        rec.setdefault("reasons", []).append(reason)
        rec["reasons"] = rec["reasons"][-5:]
        if retry and rec["attempts"] <= self.retries:
            say(f"[yellow]retry[/] {key} (attempt {rec['attempts']} failed: {reason})")
            return key
        rec["state"] = "failed"
        say(f"[red]failed[/] {key} after {rec['attempts']} attempts: {reason}")
        return None

    def _poll(self, say: Any) -> None:
        statuses = self.executor.status(list(self.active)) if self.active else {}
        changed = False
        for handle, st in statuses.items():
            rec = self._record(self.active[handle])
            if st.state.finished:
                self._freed += 1
                key = self._finish(handle, st, say)
                if key:  # back off, so a unit still held by a dying process can be freed
                    self.retry_at[key] = time.monotonic() + RETRY_DELAY_S * rec["attempts"]
                    rec["state"] = "queued"
                changed = True
            elif st.state == JobState.RUNNING and rec["state"] != "running":
                rec.update(state="running", started=_now(), started_at=time.time())
                changed = True
        due = [k for k, t in self.retry_at.items() if t <= time.monotonic()]
        for key in due:
            del self.retry_at[key]
        if due:
            self._submit(due)
        self._submit_waiting()
        if changed:
            self._changed_at = time.monotonic()
        self._save(force=changed)

    def run(self, show_progress: bool = True) -> dict:
        """Run the sweep to the end; return its summary. Interrupts propagate after cleanup."""
        t0 = time.monotonic()
        self.store.acquire()
        interrupted: BaseException | None = None
        failed: ExecutorError | None = None
        try:
            todo = self._begin()
            n_skipped = sum(1 for r in self.state["units"].values() if r.get("skipped"))
            total = len(todo) + len(self.active)
            head = (f"sweep {self.spec.id}: {len(self.units)} units, {n_skipped} complete "
                    f"already, {total} to run")  # fmt: skip
            if total:
                head += f" on {self.executor.describe()}"
            console.err.print(head, highlight=False, soft_wrap=True)
            if total:
                self._drive(todo, total, show_progress)
        except ExecutorError as e:  # recorded by _end; raised again below with the summary
            interrupted = failed = e
        except BaseException as e:
            interrupted = e
            raise
        finally:
            self._end(interrupted)
        if failed is not None and not self.state:  # it stopped before there was a sweep
            raise failed
        summary = self.summary(time.monotonic() - t0)
        if failed is not None:
            raise SweepError(failed, summary) from failed
        return summary

    def _drive(self, todo: list[str], total: int, show_progress: bool) -> None:
        if todo and self.prepare is not None:
            self.prepare()
        if todo:
            self._submit(todo)
        with _progress(show_progress) as bar:
            job = bar.add_task("", total=total) if bar else None

            def say(text: str) -> None:
                (bar.console if bar else console.err).print(text, highlight=False, soft_wrap=True)

            errors = 0
            while self.active or self.retry_at or self.waiting:
                try:
                    self._poll(say)
                    errors = 0
                except ExecutorError as e:  # a busy scheduler; give up only if it stays so
                    errors += 1
                    if errors >= MAX_POLL_ERRORS:
                        raise
                    say(f"[yellow]warning[/] {e} (try {errors} of {MAX_POLL_ERRORS})")
                if bar is not None and job is not None:
                    c = self.counts()
                    done = sum(1 for r in self.state["units"].values()
                               if r["state"] in ("complete", "failed") and not r.get("skipped")
                               and r.get("attempts"))  # fmt: skip
                    bar.update(job, completed=done, description=(
                        f"{c['complete']} done, {c['running']} running, {c['queued']} queued, "
                        f"{c['failed']} failed{self._waiting_note()}{self._eta()}"))  # fmt: skip
                if self.active or self.retry_at or self.waiting:
                    time.sleep(self.delay())

    def delay(self) -> float:
        """The wait before the next poll: ``poll_s`` while jobs start and end, then a quarter
        of the quiet time, up to ``poll_max_s``. Through hours-long units a cluster's
        controller is asked twice a minute, not every two seconds, and a unit's end is noticed
        within a quarter of the time since the last change."""
        quiet = time.monotonic() - self._changed_at
        return min(self.poll_max_s, max(self.poll_s, quiet / 4))

    def _waiting_note(self) -> str:
        return f", {len(self.waiting)} waiting for the submit limit" if self.waiting else ""

    def _eta(self) -> str:
        """Time left: the mean unit time, less what running units have done, over the slots."""
        recs = list(self.state["units"].values())
        took = [r["seconds"] for r in recs if r.get("seconds") and not r.get("skipped")]
        running = [r for r in recs if r["state"] == "running"]
        waiting = sum(r["state"] in ("queued", "pending") for r in recs)
        if not took or not (running or waiting):
            return ""
        mean, now = sum(took) / len(took), time.time()
        done_by_running = (min(mean, now - r.get("started_at", now)) for r in running)
        work = mean * (waiting + len(running)) - sum(done_by_running)
        eta = round(work / max(1, len(running)))
        return f", ETA {eta // 60}m{eta % 60:02d}s"

    def _end(self, interrupted: BaseException | None) -> None:
        """Record how this invocation ended; on an interrupt, stop local units first."""
        with _ignoring_sigterm():
            try:
                for key in self.waiting:  # held by this driver alone
                    self._record(key).pop("held", None)
                if interrupted is not None and self.state:
                    for key in self.retry_at:
                        self._record(key).update(state="pending")
                    orphans = list(self.active)
                    if orphans and not self.executor.detached:
                        self.executor.cancel(orphans)
                        for handle in orphans:
                            rec = self._record(self.active.pop(handle))
                            rec.update(state="pending", reason="the sweep was interrupted")
                    elif orphans:
                        console.err.print(
                            f"{len(orphans)} jobs keep running on {self.executor.name}; run the "
                            "same sweep again to follow them",
                            highlight=False, soft_wrap=True,
                        )  # fmt: skip
                self.executor.close()
                if self.state:
                    c = self.counts()
                    stopped = isinstance(interrupted, KeyboardInterrupt | SystemExit)
                    if stopped:
                        console.err.print(
                            f"sweep {self.spec.id} interrupted with {c['complete']} of "
                            f"{len(self.units)} units complete; run the same command to go on",
                            highlight=False, soft_wrap=True,
                        )  # fmt: skip
                    elif interrupted is not None:
                        self.state["error"] = str(interrupted)
                    elif left := len(self.units) - c["complete"] - c["failed"]:
                        # A sweep that ends is complete only with every unit accounted for.
                        interrupted = ExecutorError(f"{left} units were left unrun")
                        self.state["error"] = str(interrupted)
                    self.state["state"] = (
                        "interrupted" if stopped else "error" if interrupted is not None
                        else "failed" if c["failed"] else "complete"
                    )  # fmt: skip
                    self.state["driver"]["ended"] = _now()
                    self._save()
            finally:
                self.store.release()

    def summary(self, seconds: float) -> dict:
        units = self.state["units"]
        failed = [
            {"unit": k, "attempts": r.get("attempts", 0), "reason": r.get("reason")}
            for k, r in units.items()
            if r["state"] == "failed"
        ]
        return {
            "sweep": self.spec.id,
            "state": self.state["state"],
            "ok": self.state["state"] == "complete",
            "error": self.state.get("error"),  # why the executor stopped it, if it did
            "results": str(self.results),
            "executor": self.executor.name,
            "units": len(units),
            "complete": sum(r["state"] == "complete" for r in units.values()),
            "skipped": sum(bool(r.get("skipped")) for r in units.values()),
            "ran": sum(1 for r in units.values() if r.get("attempts") and not r.get("skipped")),
            "attempts": sum(r.get("attempts", 0) for r in units.values()),
            "failed": failed,
            "seconds": round(seconds, 1),
            **(
                {"membership": membership_tables(self.spec, self.results, self.store.files)}
                if self.spec.subsets
                else {"robustness": robustness(
                    [u.path(self.results) for u in self.spec.units() if self._done(u)])}
            ),
        }  # fmt: skip


def membership_tables(spec: SweepSpec, results: Path, folder: Path) -> list[dict[str, Any]]:
    """A subset sweep's counterfactual memorization, LiRA and proxy ranking per cell (model,
    noise rate, seed) whose K units are all complete (benchmark.metrics.counterfactual):
    the per-sample table in ``membership.parquet`` and the figures in ``membership.json``
    beside the sweep's state, and the figures returned for its summary."""
    cells: dict[tuple[str, float, int], list[Unit]] = {}
    for unit in spec.units():
        cells.setdefault((unit.model, unit.noise_rate, unit.seed), []).append(unit)
    tables, figures = [], []
    for (model, rate, seed), units in cells.items():
        folders = [u.path(results) for u in units]
        if not all(is_complete(f) and verify(f) is None for f in folders):
            continue
        table, found = counterfactual.cell(folders)
        key = {"model": model, "noise_rate": rate, "seed": seed}
        tables.append(table.select(*(pl.lit(v).alias(k) for k, v in key.items()), pl.all()))
        figures.append({**key, **found})
    if tables:
        folder.mkdir(parents=True, exist_ok=True)
        pl.concat(tables).write_parquet(folder / f"{MEMBERSHIP}.parquet")
        (folder / f"{MEMBERSHIP}.json").write_text(json.dumps(figures, indent=2))
    return figures


@contextlib.contextmanager
def _progress(show: bool) -> Iterator[Any]:
    if not show:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console.err) as bar:
        yield bar


@contextlib.contextmanager
def _ignoring_sigterm() -> Iterator[None]:
    """Cleanup after an interrupt must not be cut short by a second SIGTERM."""
    try:
        old = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


# --- from the command line ----------------------------------------------------------------------


@dataclass(frozen=True)
class SlurmOptions:
    partition: str | None = None
    time_limit: str | None = None
    account: str | None = None
    gpus_per_unit: int = 0
    cpus_per_unit: int = 1
    mem: str | None = None
    units_per_job: int = 1
    sbatch: tuple[str, ...] = ()  # NAME=VALUE or NAME: more #SBATCH lines

    def given(self) -> list[str]:
        """The flags set to something other than their default."""
        flags = {"partition": "--partition", "time_limit": "--time", "account": "--account",
                 "gpus_per_unit": "--gpus-per-unit", "cpus_per_unit": "--cpus-per-unit",
                 "mem": "--mem", "units_per_job": "--units-per-job",
                 "sbatch": "--sbatch"}  # fmt: skip
        default = SlurmOptions()
        return [f for k, f in flags.items() if getattr(self, k) != getattr(default, k)]


def make_executor(
    name: str, spec: SweepSpec, results: Path, max_parallel: int | None, slurm: SlurmOptions
) -> Executor:
    """The executor the options ask for; raise BadOption or SlurmError with a one-line reason."""
    if max_parallel is not None and max_parallel < 1:
        raise BadOption(f"--max-parallel must be at least 1, got {max_parallel}")
    if name == "local":
        if slurm.given():
            raise BadOption(f"only --executor slurm takes {', '.join(slurm.given())}")
        from benchmark.executors.local import LocalExecutor

        return LocalExecutor(max_parallel, use_gpus=spec.device != "cpu")
    if name == "slurm":
        from benchmark.executors.slurm import SlurmExecutor, times_memory

        if slurm.gpus_per_unit < 0 or slurm.cpus_per_unit < 1 or slurm.units_per_job < 1:
            raise BadOption("--gpus-per-unit must be >= 0, --cpus-per-unit and --units-per-job "
                            ">= 1")  # fmt: skip
        if max_parallel and max_parallel % slurm.units_per_job:
            raise BadOption(f"--max-parallel {max_parallel} is not a multiple of --units-per-job "
                            f"{slurm.units_per_job}: a job's units run at once")  # fmt: skip
        for flag, value in (("--partition", slurm.partition), ("--time", slurm.time_limit),
                            ("--account", slurm.account), ("--mem", slurm.mem)):  # fmt: skip
            if value is not None:
                _slurm_value(f"{flag} {value!r}", value)
        if slurm.mem and slurm.units_per_job > 1:
            try:
                times_memory(slurm.mem, slurm.units_per_job)
            except ValueError as e:
                raise BadOption(f"--mem {e}, which --units-per-job multiplies") from None
        return SlurmExecutor(
            Store(results, spec.id).files / "slurm", f"bench-{spec.id}", slurm.partition,
            slurm.time_limit, slurm.account, slurm.gpus_per_unit, slurm.cpus_per_unit,
            slurm.mem, max_parallel, slurm.units_per_job,
            sbatch_options(slurm.sbatch, gpus=slurm.gpus_per_unit > 0),
        )  # fmt: skip
    from benchmark.executors import EXECUTORS

    raise BadOption(f"unknown executor {name!r}; choose from: {', '.join(EXECUTORS)}")


def sbatch_options(given: Sequence[str], gpus: bool = False) -> dict[str, str | None]:
    """``--sbatch`` values as sbatch's long options (a bare NAME is a flag, such as
    ``exclusive``); raise BadOption for one that is not, or that the sweep sets itself (gres
    too where ``--gpus-per-unit`` sets it)."""
    out: dict[str, str | None] = {}
    for text in given:
        name, eq, value = text.partition("=")
        if not SBATCH_NAME.fullmatch(name):
            raise BadOption(f"--sbatch {text!r} is not NAME=VALUE or NAME, with NAME an sbatch "
                            "long option without its dashes (qos=high, exclusive)")  # fmt: skip
        if name in SBATCH_OWN:
            raise BadOption(f"--sbatch {name}: bench sweep sets --{name} itself"
                            f"{SBATCH_OWN[name]}")  # fmt: skip
        if name == "gres" and gpus:
            raise BadOption("--sbatch gres: --gpus-per-unit sets --gres; give one of them")
        if eq:
            _slurm_value(f"--sbatch {text!r}: {value!r}", value)
        out[name] = value if eq else None
    return out


def _slurm_value(said: str, value: str) -> None:
    """Refuse a value that is not one for an #SBATCH line: a newline would end Slurm's reading
    of those lines and run the rest as shell on a node."""
    if not SLURM_VALUE.fullmatch(value):
        raise BadOption(f"{said} is not a Slurm value: use letters, digits and . _ - : , + = "
                        "@ % / only")  # fmt: skip


def run_sweep(spec: SweepSpec, results: Path, executor: Executor, retries: int) -> dict:
    """Run a sweep to its end and return its summary (a local pool is polled faster than a
    cluster's controller, which is asked less often while its jobs run long)."""
    if retries < 0:
        raise BadOption(f"--retries must be at least 0, got {retries}")
    local = not executor.detached
    prepare = (lambda: warm_dataset(spec.dataset)) if local else None
    sweep = Sweep(spec, results, executor, retries, poll_s=0.5 if local else 2.0, prepare=prepare,
                  poll_max_s=None if local else SLURM_POLL_MAX_S)  # fmt: skip
    return sweep.run()


def warm_dataset(name: str) -> None:
    """Build the dataset once before parallel local units would each build it at once."""
    from benchmark import datasets

    try:
        datasets.load(name)
    except Exception as e:  # each unit will then fail with the real reason
        console.err.print(f"could not prepare dataset {name}: {e}", highlight=False)
