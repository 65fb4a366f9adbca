"""A sweep's bookkeeping beside the results (`.sweeps/<id>.json`, its lock and logs), and its
status as any shell reads it, counted from the results folders themselves."""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from benchmark.results import is_complete, verify
from benchmark.sweep_spec import SweepSpec, json_kind, unit_key

HEARTBEAT_S = 5.0  # how often a live driver touches its state file
STALE_S = 60.0  # a driver on another host with an older heartbeat is taken to be gone
STATE_VERSION = 1


class SweepBusy(RuntimeError):
    """Another driver holds this sweep."""


class BadState(ValueError):
    """A sweep's state file that bench did not write as it stands (edited, cut short, of
    another version, unreadable); its one-line message names the file."""


UNIT_STATES = ("pending", "queued", "running", "complete", "failed")
SWEEP_STATES = ("running", "complete", "failed", "interrupted", "error")
_NULL = type(None)
# What Sweep writes, key by key: the types each may have, and whether it must be there. A key
# not named is left alone, as the code reads none.
_TOP: dict[str, tuple[tuple[type, ...], bool]] = {
    "version": ((int,), True), "id": ((str,), True), "spec": ((dict,), True),
    "state": ((str,), True), "units": ((dict,), True), "driver": ((dict,), True),
    "executor": ((str,), True), "results": ((str,), False), "detached": ((bool,), False),
    "retries": ((int,), False), "created": ((str,), False), "runs": ((int,), False),
    "error": ((str,), False),
}  # fmt: skip
_DRIVER: dict[str, tuple[tuple[type, ...], bool]] = {
    "host": ((str,), True), "pid": ((int,), True), "started": ((str,), False),
    "heartbeat": ((str,), False), "ended": ((str,), False),
}  # fmt: skip
_UNIT: dict[str, tuple[tuple[type, ...], bool]] = {
    "state": ((str,), True), "attempts": ((int,), True), "total_attempts": ((int,), False),
    "handle": ((str,), False), "log": ((str,), False), "submitted": ((str, _NULL), False),
    "started": ((str,), False), "started_at": ((float,), False),
    "reason": ((str, _NULL), False), "reasons": ((list,), False),
    "seconds": ((float, _NULL), False), "skipped": ((bool,), False),
    "held": ((str,), False),
}  # fmt: skip


def _holds(value: object, kinds: tuple[type, ...]) -> bool:
    """A JSON value is one of ``kinds``: an int passes for a float, a bool for no number, and
    a whole number (a count, a pid) is never negative."""
    if isinstance(value, bool):
        return bool in kinds
    if isinstance(value, int) and float in kinds:
        return True
    return isinstance(value, kinds) and not (isinstance(value, int) and value < 0)


_KINDS: dict[type, str] = {
    str: "a string", int: "a count", float: "a number", bool: "true or false",
    dict: "an object", list: "a list", _NULL: "null",
}  # fmt: skip


def _check_keys(obj: dict, schema: dict[str, tuple[tuple[type, ...], bool]], where: str) -> None:
    """Raise ValueError at the first key of ``schema`` that ``obj`` lacks or holds amiss."""
    for key, (kinds, needed) in schema.items():
        if key not in obj:
            if needed:
                raise ValueError(f"{where}{key} is missing")
        elif not _holds(obj[key], kinds):
            expected = " or ".join(_KINDS[k] for k in kinds)
            raise ValueError(f"{where}{key} is {json_kind(obj[key])}, not {expected}")


def check_state(state: object, sweep_id: str) -> SweepSpec:
    """Check that ``state`` has the shape Sweep gives it, as sweep ``sweep_id``'s, and return
    its spec; raise ValueError naming the first thing wrong. Every reader goes through this,
    so none has to guard each key it reads against a hand-edited file."""
    if not isinstance(state, dict):
        raise ValueError(f"it is {json_kind(state)}, not an object")
    if state.get("version") != STATE_VERSION:
        found = json_kind(state["version"]) if "version" in state else "missing"
        raise ValueError(f"its version is {found}, not {STATE_VERSION}")
    _check_keys(state, _TOP, "")
    spec = SweepSpec.from_dict(state["spec"])
    if state["id"] != sweep_id or spec.id != sweep_id:
        raise ValueError(f"its id or spec is not that of sweep {sweep_id}")
    if state["state"] not in SWEEP_STATES:
        raise ValueError(f"state is {json_kind(state['state'])}, not one of "
                         f"{', '.join(SWEEP_STATES)}")  # fmt: skip
    _check_keys(state["driver"], _DRIVER, "driver.")
    if "heartbeat" in state["driver"]:
        try:
            aware = datetime.fromisoformat(state["driver"]["heartbeat"]).tzinfo is not None
        except ValueError:
            aware = False
        if not aware:
            raise ValueError("driver.heartbeat is not a time with its UTC offset")
    for key, rec in state["units"].items():
        if not isinstance(rec, dict):
            raise ValueError(f"units[{key!r}] is {json_kind(rec)}, not an object")
        _check_keys(rec, _UNIT, f"units[{key!r}].")
        if rec["state"] not in UNIT_STATES:
            raise ValueError(f"units[{key!r}].state is {json_kind(rec['state'])}, not one of "
                             f"{', '.join(UNIT_STATES)}")  # fmt: skip
    return spec


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Store:
    """A sweep's files: ``.sweeps/<id>.json`` (state), ``<id>.lock``, ``<id>/`` (logs, scripts)."""

    def __init__(self, results: Path, sweep_id: str) -> None:
        self.root = results / ".sweeps"
        self.state_path = self.root / f"{sweep_id}.json"
        self.lock_path = self.root / f"{sweep_id}.lock"
        self.files = self.root / sweep_id
        self._lock: int | None = None

    def acquire(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            try:
                state = self.load() or {}
            except BadState:  # its driver will say so; this one is busy all the same
                state = {}
            driver = state.get("driver", {})
            raise SweepBusy(
                f"sweep {self.state_path.stem} is already running (pid {driver.get('pid')} on "
                f"{driver.get('host')}); see `bench sweep status`"
            ) from None
        self._lock = fd

    def release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def held_elsewhere(self) -> bool:
        """Whether a live driver on this host holds the lock."""
        try:
            fd = os.open(self.lock_path, os.O_RDWR)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    def load(self) -> dict | None:
        """The sweep's state, checked (see ``check_state``); None where it has none yet. One
        that is there but unreadable or not of bench's shape raises BadState."""
        try:
            text = self.state_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise BadState(f"{self.state_path} cannot be read ({e.strerror or e})") from None
        try:
            state = json.loads(text, parse_constant=_no_constant)
            check_state(state, self.state_path.stem)
        except ValueError as e:  # JSONDecodeError and UnicodeDecodeError included
            why = e if isinstance(e, json.JSONDecodeError | UnicodeDecodeError) else None
            raise BadState(
                f"{self.state_path} is not a sweep state bench wrote "
                f"({f'not JSON: {why}' if why else e}); remove it to start the sweep afresh "
                "(its units' results stay)"
            ) from None
        return state

    def save(self, state: dict) -> None:
        tmp = self.state_path.with_suffix(f".json.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state, indent=1))
        os.replace(tmp, self.state_path)


def _no_constant(name: str) -> float:
    """json.loads takes NaN and Infinity, which no state of bench holds."""
    raise ValueError(f"it holds {name}, which is no JSON number")


def status(
    results: Path, sweep_id: str | None = None, on_bad: Callable[[BadState], None] | None = None
) -> list[dict]:
    """Every sweep under ``results`` (or one), counted from the results folders themselves. A
    state file that is not bench's raises BadState, or, given ``on_bad``, goes to it and is
    left out, so that one bad file neither hides nor stops the listing of the others."""
    root = results / ".sweeps"
    paths = [root / f"{sweep_id}.json"] if sweep_id else sorted(root.glob("*.json"))
    out = []
    for path in paths:
        store = Store(results, path.stem)
        try:
            state = store.load()
        except BadState as e:
            if on_bad is None:
                raise
            on_bad(e)
            continue
        if state is not None:
            out.append(_describe(SweepSpec.from_dict(state["spec"]), state, store, results))
    return out


def _driver_alive(state: dict, store: Store) -> bool:
    driver = state.get("driver", {})
    if state.get("state") != "running":
        return False
    if driver.get("host") == socket.gethostname():
        return store.held_elsewhere()
    try:
        beat = datetime.fromisoformat(driver["heartbeat"])
    except (KeyError, ValueError):
        return False
    return (datetime.now(UTC) - beat).total_seconds() < STALE_S


def _unit_state(folder: Path, rec: dict, driven: bool) -> tuple[str, str | None]:
    """A unit's state and why, from its folder and its record (``driven``: a driver runs it)."""
    if is_complete(folder) and verify(folder) is None and rec.get("state") != "failed":
        return "complete", None
    if rec.get("state") == "failed":
        return "failed", rec.get("reason")
    if driven and rec.get("state") in ("queued", "running"):
        return rec["state"], None
    if rec.get("state") == "complete":  # its results changed since
        why = verify(folder) if folder.is_dir() else "its folder is gone"
        return "pending", f"was complete; now {why or 'incomplete'}: the sweep runs it again"
    return "pending", None


def _describe(spec: SweepSpec, state: dict, store: Store, results: Path) -> dict:
    alive = _driver_alive(state, store)
    units = []
    for unit in spec.units():
        key = unit_key(unit)
        rec = state.get("units", {}).get(key, {})
        try:
            s, reason = _unit_state(unit.path(results), rec, alive or bool(state.get("detached")))
        except OSError as e:  # a state of an older bench: a folder name past 255 bytes
            s, reason = "failed", f"its results folder cannot be used ({e.strerror})"
        # pending, held by a live driver until the executor takes more (a submit limit)
        held = rec.get("held") if s == "pending" and alive else None
        units.append({"unit": key, "state": s, "attempts": rec.get("attempts", 0),
                      "reason": reason, "held": held, "log": rec.get("log")})  # fmt: skip
    counts = {s: sum(u["state"] == s for u in units)
              for s in ("complete", "running", "queued", "failed", "pending")}  # fmt: skip
    counts["held"] = sum(u["held"] is not None for u in units)
    seconds = [r["seconds"] for r in state.get("units", {}).values() if r.get("seconds")]
    eta = None
    left = counts["running"] + counts["queued"] + counts["pending"]
    if alive and seconds and left:
        eta = round(sum(seconds) / len(seconds) * left / max(1, counts["running"]))
    sweep_state = state.get("state")
    if sweep_state == "running" and not alive:
        sweep_state = "interrupted"
    elif sweep_state == "complete" and counts["complete"] < len(units):
        sweep_state = "incomplete"  # a unit's results were moved, damaged or removed since
    return {
        "sweep": spec.id,
        "state": sweep_state,
        "task": spec.task,
        "dataset": spec.dataset,
        "models": [spec.unit_name(m) for m in spec.models],  # as the units are named
        "noise_kind": spec.noise_kind,
        "noise_rates": list(spec.noise_rates),
        "seeds": len(spec.seeds),
        "profile": spec.profile,
        "epochs": spec.epochs,
        "executor": state.get("executor"),
        "driver": state.get("driver"),
        "units_total": len(units),
        **counts,
        "eta_s": eta,
        "units": units,
    }
