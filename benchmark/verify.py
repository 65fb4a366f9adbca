"""``bench verify IMAGE``: run an image on a tiny task and check every rule of the protocol.

The image runs in the same sandbox as ``--runner docker`` (no network, read-only root, its
limits), three times per task: on an empty output folder; again on that finished folder (a
model must overwrite or resume, never break); and on a fresh folder, killed after its first
epoch and started again (the harness's resume after a lost node). Each rule of
docs/protocol.md is reported passed or failed with a one-line reason, or not checked when an
earlier failure leaves nothing to check it on.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.profiles import PROFILES, Profile, select_splits
from benchmark.protocol import ProtocolError, read_events
from benchmark.runner import UnitFailed
from benchmark.runner import docker as sandbox
from benchmark.runner.names import NAME_RE, UNSAFE_TEXT

RULES = {
    "image": "the image is on this machine and claims the tasks it does (label bench.tasks)",
    "starts": "the container starts and exits with status 0, reporting no error",
    "events": "events.jsonl: start, then one epoch_end per epoch in order, then done",
    "predictions": "every epoch's predictions hold every sample of every split once, valid",
    "outside": "writes nothing outside its output folder",
    "size": "keeps its output folder within the size limits, plain files only",
    "network": "needs no network",
    "time": "finishes within the time limit",
    "names": "names and describes itself in plain text (labels, start event)",
    "rerun": "started again on its finished output folder, it ends complete again",
    "resume": "killed after its first epoch and started again, it ends complete",
}
PASSED, FAILED, UNCHECKED = "passed", "failed", "not checked"
EPOCHS = 2
TINY = Profile("smoke", epochs=EPOCHS, max_tokens=96,
               split_sizes={"train": 24, "valid": 8, "test": 8},
               time_budget_s=PROFILES["smoke"].time_budget_s)  # fmt: skip


@dataclass
class Outcome:
    """One run of the image: how it ended and what it left."""

    seconds: float
    failure: UnitFailed | None

    @property
    def rule(self) -> str | None:
        if self.failure is None:
            return None
        return getattr(self.failure, "rule", "starts")


class _Interrupt(Exception):
    """Raised from the event callback to kill the container after its first epoch."""


def _tiny_inputs(task: str, model: str, folder: Path, time_limit: float) -> tuple[Any, Any]:
    """Write a tiny input folder for ``task``; return its splits and labels."""
    from benchmark import datasets, noise
    from benchmark.tasks import TASKS

    name = next(n for n, d in datasets.DATASETS.items() if task in d.tasks)
    splits = select_splits(datasets.load(name).samples, TINY)
    hooks = TASKS[task]
    noisy = noise.mask(splits["train"].height, 0.25, 0)
    splits, labels = hooks.prepare(splits, noisy, "label", 0)
    meta = {
        "task": task, "model": model, "seed": 0, "epochs": EPOCHS, "device": "cpu",
        "profile": TINY.name, "time_budget_s": int(time_limit), "hyperparameters": {},
    }  # fmt: skip
    hooks.write_inputs(folder, meta, splits)
    return splits, labels


def _run(image: str, work: Path, out: str, time_limit: float, stop_after_first: bool = False,
         limits: sandbox.Limits | None = None) -> Outcome:  # fmt: skip
    def on_event(event: dict) -> None:
        if stop_after_first and event.get("event") == "epoch_end":
            raise _Interrupt

    t0 = time.monotonic()
    try:
        sandbox.run(image, (), work / "input", work / out, work / f"{out}.log", time_limit,
                    on_event, "cpu", limits)  # fmt: skip
    except _Interrupt:
        return Outcome(time.monotonic() - t0, None)
    except UnitFailed as e:
        return Outcome(time.monotonic() - t0, e)
    return Outcome(time.monotonic() - t0, None)


def check_events(events: Sequence[dict], epochs: int, fresh: bool) -> str | None:
    """Why the events break the protocol, or None. On a fresh folder they must be exactly
    start, epoch_end 1..epochs, done; after a restart, the lines after the last start must
    carry on to the last epoch and done, and every epoch must have its epoch_end."""
    kinds = [e["event"] for e in events]
    unknown = sorted({k for k in kinds if k not in ("start", "epoch_end", "done", "error")})
    if unknown:
        return f"unknown event {unknown[0]!r}"
    if "start" not in kinds:
        return "no start event"
    if fresh and kinds[0] != "start":
        return f"the first event is {kinds[0]!r}, not start"
    last_start = len(kinds) - 1 - kinds[::-1].index("start")
    tail = events[last_start + 1 :]
    if not tail or tail[-1]["event"] != "done":
        return "the last event is not done"
    if any(e["event"] == "done" for e in tail[:-1]):
        return "done is written more than once"
    after = [e.get("epoch") for e in tail if e["event"] == "epoch_end"]
    every = [e.get("epoch") for e in events if e["event"] == "epoch_end"]
    if fresh:
        if every != list(range(1, epochs + 1)):
            return f"epoch_end events for epochs {every}, expected 1..{epochs} once each"
        return None
    if after and after != list(range(after[0], epochs + 1)):  # none: it had finished them all
        return f"after the restart, epoch_end events for epochs {after}, not up to {epochs}"
    missing = sorted(set(range(1, epochs + 1)) - set(every))
    if missing:
        return f"epoch {missing[0]} has no epoch_end event"
    return None


def _event_order(folder: Path, fresh: bool) -> str | None:
    """``check_events`` on the events in ``folder``, where each line is an event."""
    try:
        return check_events(read_events(folder), EPOCHS, fresh)
    except ProtocolError as e:
        return str(e)


def _predictions(task: str, folder: Path, splits: Any, labels: Any) -> str | None:
    from benchmark.evaluator import score
    from benchmark.tasks import TASKS

    try:
        predictions = TASKS[task].read_predictions(folder, EPOCHS, splits)
        score(task, labels, predictions)
    except ProtocolError as e:
        return str(e)
    return None


def _labels_plain(image: Any) -> str | None:
    labels = (image.attrs.get("Config") or {}).get("Labels") or {}
    for key, value in labels.items():
        for text in (key, str(value)):
            if len(text) > 200 or UNSAFE_TEXT.search(text):
                return f"label {key[:40]!r} holds {text[:60]!r}, which is not plain text"
    return None


def verify_task(
    image: Any, tag: str, task: str, work: Path, time_limit: float,
    limits: sandbox.Limits | None = None,
) -> dict[str, tuple[str, str]]:  # fmt: skip
    """Every rule but ``image`` for one task: rule -> (status, reason)."""
    from benchmark.images import LABEL

    # task.json's model: the reference model an image of `bench images build` holds, if any
    named = str(((image.attrs.get("Config") or {}).get("Labels") or {}).get(LABEL, ""))
    model = named if NAME_RE.fullmatch(named) else "submission"
    splits, labels = _tiny_inputs(task, model, work / "input", time_limit)
    out: dict[str, tuple[str, str]] = {}
    first = _run(tag, work, "output", time_limit, limits=limits)
    sandboxed = ("outside", "size", "network", "time", "names", "starts", "events")
    if first.failure is not None:
        broken = first.rule or "starts"
        out[broken] = (FAILED, str(first.failure))
        for rule in sandboxed:
            out.setdefault(rule, (UNCHECKED, f"the run ended early: rule {broken!r} failed"))
    else:
        for rule in sandboxed:
            out[rule] = (PASSED, "")
        out["time"] = (PASSED, f"{first.seconds:.1f} s of {time_limit:.0f} s")
        why = _event_order(work / "output", fresh=True)
        if why:
            out["events"] = (FAILED, why)
    plain = _labels_plain(image)
    if plain:
        out["names"] = (FAILED, plain)
    if first.failure is not None or out["events"][0] == FAILED:
        why = "needs a first run that ends complete"
        out.update(predictions=(UNCHECKED, why), rerun=(UNCHECKED, why),
                   resume=(UNCHECKED, why))  # fmt: skip
        return out
    why = _predictions(task, work / "output", splits, labels)
    out["predictions"] = (FAILED, why) if why else (PASSED, f"{EPOCHS} epochs")
    out["rerun"] = _restarted(tag, task, work, "output", time_limit, splits, labels, limits)
    killed = _run(tag, work, "resumed", time_limit, stop_after_first=True, limits=limits)
    if killed.failure is not None:
        out["resume"] = (FAILED, f"the run to be killed failed first: {killed.failure}")
    else:
        out["resume"] = _restarted(tag, task, work, "resumed", time_limit, splits, labels, limits)
    return out


def _restarted(
    tag: str, task: str, work: Path, folder: str, time_limit: float, splits: Any, labels: Any,
    limits: sandbox.Limits | None,
) -> tuple[str, str]:  # fmt: skip
    again = _run(tag, work, folder, time_limit, limits=limits)
    if again.failure is not None:
        return FAILED, f"started again: {again.failure}"
    why = _event_order(work / folder, fresh=False) or _predictions(
        task, work / folder, splits, labels
    )
    return (FAILED, f"started again: {why}") if why else (PASSED, "")


def verify(
    image: str,
    tasks: Sequence[str] | None = None,
    time_limit: float = 300.0,
    limits: sandbox.Limits | None = None,
    progress: Callable[[str], None] = lambda s: None,
) -> dict:
    """Check ``image`` on each task (those it claims when ``tasks`` is None); the report."""
    from benchmark.images import claimed_tasks
    from benchmark.tasks import TASKS

    t0 = time.monotonic()
    rows: list[dict] = []

    def add(task: str, rule: str, status: str, reason: str = "") -> None:
        rows.append({"task": task, "rule": rule, "status": status, "reason": reason,
                     "description": RULES[rule]})  # fmt: skip

    report: dict[str, Any] = {"image": image, "digest": None, "tasks": [], "rules": rows}
    try:
        found = sandbox.get_image(sandbox.client(), image)
    except UnitFailed as e:
        add("-", "image", FAILED, str(e))
        return {**report, "passed": False, "seconds": round(time.monotonic() - t0, 1)}
    report["digest"] = sandbox.image_digest(found)
    claimed = claimed_tasks(found)
    chosen = list(tasks or claimed)
    unknown = [t for t in [*chosen, *claimed] if t not in TASKS]
    if not chosen:
        add("-", "image", FAILED, f"claims no task: label it bench.tasks=var_misuse,... "
                                  f"(tasks: {', '.join(TASKS)}) or pass --task")  # fmt: skip
    elif unknown:
        add("-", "image", FAILED, f"unknown task {unknown[0]!r}; tasks: {', '.join(TASKS)}")
    else:
        note = "claims " + ",".join(claimed) if claimed else "claims no task (given --task)"
        add("-", "image", PASSED, f"{note}; digest {report['digest'][:19]}")
    report["tasks"] = [t for t in chosen if t in TASKS]
    for task in report["tasks"]:
        progress(f"verifying {image} on {task}")
        work = Path(tempfile.mkdtemp(prefix="bench-verify-"))
        try:
            for rule, (status, reason) in verify_task(found, image, task, work, time_limit,
                                                      limits).items():  # fmt: skip
                add(task, rule, status, reason)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    order = list(RULES)
    rows.sort(key=lambda r: (r["task"] != "-", r["task"], order.index(r["rule"])))
    report["passed"] = bool(report["tasks"]) and not any(r["status"] == FAILED for r in rows)
    report["seconds"] = round(time.monotonic() - t0, 1)
    return report
