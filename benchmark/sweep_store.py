"""A sweep's bookkeeping beside the results (`.sweeps/<id>.json`, its lock and logs), and its
status as any shell reads it, counted from the results folders themselves."""

from __future__ import annotations

import fcntl
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

from benchmark.results import is_complete, verify
from benchmark.sweep_spec import SweepSpec, unit_key

HEARTBEAT_S = 5.0  # how often a live driver touches its state file
STALE_S = 60.0  # a driver on another host with an older heartbeat is taken to be gone
STATE_VERSION = 1


class SweepBusy(RuntimeError):
    """Another driver holds this sweep."""


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
            state = self.load() or {}
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
        try:
            return json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return None

    def save(self, state: dict) -> None:
        tmp = self.state_path.with_suffix(f".json.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state, indent=1))
        os.replace(tmp, self.state_path)


def status(results: Path, sweep_id: str | None = None) -> list[dict]:
    """Every sweep under ``results`` (or one), counted from the results folders themselves."""
    root = results / ".sweeps"
    paths = [root / f"{sweep_id}.json"] if sweep_id else sorted(root.glob("*.json"))
    out = []
    for path in paths:
        store = Store(results, path.stem)
        state = store.load()
        if state is None or state.get("version") != STATE_VERSION:
            continue
        spec = SweepSpec.from_dict(state["spec"])
        out.append(_describe(spec, state, store, results))
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


def _describe(spec: SweepSpec, state: dict, store: Store, results: Path) -> dict:
    alive = _driver_alive(state, store)
    units = []
    for unit in spec.units():
        key = unit_key(unit)
        rec = state.get("units", {}).get(key, {})
        folder = unit.path(results)
        if is_complete(folder) and verify(folder) is None and rec.get("state") != "failed":
            s = "complete"
        elif rec.get("state") == "failed":
            s = "failed"
        elif (alive or state.get("detached")) and rec.get("state") in ("queued", "running"):
            s = rec["state"]
        else:
            s = "pending"
        units.append({"unit": key, "state": s, "attempts": rec.get("attempts", 0),
                      "reason": rec.get("reason") if s == "failed" else None,
                      "log": rec.get("log")})  # fmt: skip
    counts = {s: sum(u["state"] == s for u in units)
              for s in ("complete", "running", "queued", "failed", "pending")}  # fmt: skip
    seconds = [r["seconds"] for r in state.get("units", {}).values() if r.get("seconds")]
    eta = None
    left = counts["running"] + counts["queued"] + counts["pending"]
    if alive and seconds and left:
        eta = round(sum(seconds) / len(seconds) * left / max(1, counts["running"]))
    sweep_state = state.get("state")
    if sweep_state == "running" and not alive:
        sweep_state = "interrupted"
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
