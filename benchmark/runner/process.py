"""``--runner process``: the model as a child process of the harness.

The model never outlives its ``bench run``. It starts under a leash (``python -m
benchmark.runner.process PID -- CMD...``, this module's ``main``): a small process in a session
of its own that leads the model's process group and that the kernel signals when the harness
exits, however it exits (SIGKILL included); it then kills the whole group, the model and
whatever the model started. Without it a killed run would leave its model training for nobody,
and a run started again at once would share the unit's folder with it. Linux only; elsewhere
the model runs as before, in its own group, stopped on a timeout or Ctrl-C.

This module is kept free of heavy imports at the top: every model start runs it as the leash.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmark.runner import UnitFailed
from benchmark.runner.names import check_events, missing_event

POLL_S = 0.5
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent exits
CANNOT_START = "could not start the model"  # the leash's last line when exec fails
CANNOT_START_STATUS = 127


def _last_line(path: Path) -> str:
    lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "no output"


def die_with_parent(sig: int) -> None:
    """Have the kernel send this process ``sig`` when the thread that started it exits (the
    harness starts models from its main thread). The setting survives exec."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


def _kill_group(signum: int = 0, frame: object = None) -> None:
    """The leash's SIGTERM handler: the whole group goes, the leash with it."""
    os.killpg(0, signal.SIGKILL)


def leash(parent: int, argv: Sequence[str]) -> int:
    """Run ``argv`` as a child until it ends; if ``parent`` (the harness) exits first, kill
    the process group. Returns the child's exit status, or dies by the signal that killed it,
    so the harness reads the same status as from the model itself."""
    signal.signal(signal.SIGTERM, _kill_group)
    die_with_parent(signal.SIGTERM)
    if os.getppid() != parent:  # the harness died before the signal was armed
        _kill_group()
    try:  # the model dies too if the leash alone is killed (one thread here: preexec is safe)
        model = subprocess.Popen(argv, preexec_fn=lambda: die_with_parent(signal.SIGKILL))
    except OSError as e:
        print(f"{CANNOT_START} ({argv[0]}): {e.strerror}", file=sys.stderr, flush=True)
        return CANNOT_START_STATUS
    code = model.wait()
    if code < 0:
        if -code != signal.SIGKILL:  # whose action cannot be set, and is to die anyway
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        return 128 - code  # a signal whose default is to be ignored
    return code


def leashed(argv: Sequence[str]) -> list[str]:
    """The command line that runs ``argv`` under a leash to this process."""
    return [sys.executable, "-m", "benchmark.runner.process", str(os.getpid()), "--", *argv]


def model_events(output_dir: Path) -> list[dict]:
    """The model's events so far; events that break the protocol fail the unit."""
    from benchmark.protocol import ProtocolError, read_events

    try:
        return read_events(output_dir)
    except ProtocolError as e:
        raise UnitFailed(f"the model's {e}") from None


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
    it started, and so does the harness's death (the leash). Its stdout and stderr go to
    ``log_path``.
    """

    output_dir.mkdir(parents=True, exist_ok=True)
    argv = [*command, "--input", str(input_dir), "--output", str(output_dir)]
    seen = 0
    deadline = time.monotonic() + timeout_s
    with log_path.open("wb") as log:
        try:
            proc = subprocess.Popen(
                leashed(argv), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        except OSError as e:
            raise UnitFailed(f"could not start the model ({argv[0]}): {e.strerror}") from None
        try:
            while True:
                try:
                    code = proc.wait(timeout=POLL_S)
                except subprocess.TimeoutExpired:
                    code = None
                events = model_events(output_dir)
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
    events = model_events(output_dir)
    errors = [e for e in events if e["event"] == "error"]
    if errors:
        message = str(errors[-1].get("message", "")).splitlines() or ["(no message)"]
        raise UnitFailed(f"the model reported an error: {message[0][:300]}")
    if code == CANNOT_START_STATUS and _last_line(log_path).startswith(CANNOT_START):
        raise UnitFailed(_last_line(log_path))
    if code != 0:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        raise UnitFailed(f"the model {how}: {_last_line(log_path)}")
    if why := missing_event(events):
        raise UnitFailed(why)
    return events


def main(argv: list[str]) -> None:
    """``python -m benchmark.runner.process PARENT_PID -- CMD...``: the leash."""
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: python -m benchmark.runner.process PARENT_PID -- CMD...")
    sys.exit(leash(int(argv[0]), argv[2:]))


if __name__ == "__main__":
    main(sys.argv[1:])
