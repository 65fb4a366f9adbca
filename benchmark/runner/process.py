"""``--runner process``: the model as a child process of the harness."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmark.protocol import read_events
from benchmark.runner import UnitFailed
from benchmark.runner.names import check_events

POLL_S = 0.5


def _last_line(path: Path) -> str:
    lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "no output"


def run(
    command: Sequence[str],
    input_dir: Path,
    output_dir: Path,
    log_path: Path,
    timeout_s: float,
    on_event: Callable[[dict], None] = lambda e: None,
) -> list[dict]:
    """Run the model to completion; return its events, or raise UnitFailed with a reason.

    The model runs in its own process group, so a timeout or Ctrl-C stops it and everything
    it started. Its stdout and stderr go to ``log_path``.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    argv = [*command, "--input", str(input_dir), "--output", str(output_dir)]
    seen = 0
    deadline = time.monotonic() + timeout_s
    with log_path.open("wb") as log:
        try:
            proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        except OSError as e:
            raise UnitFailed(f"could not start the model ({argv[0]}): {e.strerror}") from None
        try:
            while True:
                try:
                    code = proc.wait(timeout=POLL_S)
                except subprocess.TimeoutExpired:
                    code = None
                events = read_events(output_dir)
                bad = check_events(events)
                if bad:
                    raise UnitFailed(bad)
                for event in events[seen:]:
                    on_event(event)
                seen = len(events)
                if code is not None:
                    break
                if time.monotonic() > deadline:
                    raise UnitFailed(f"the model ran past its time limit of {timeout_s:.0f} s")
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    events = read_events(output_dir)
    errors = [e for e in events if e["event"] == "error"]
    if errors:
        message = str(errors[-1].get("message", "")).splitlines() or ["(no message)"]
        raise UnitFailed(f"the model reported an error: {message[0][:300]}")
    if code != 0:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        raise UnitFailed(f"the model {how}: {_last_line(log_path)}")
    if not any(e["event"] == "done" for e in events):
        raise UnitFailed("the model exited without writing its 'done' event")
    return events
