"""Helpers shared by the sweep tests: the `bench sweep` command and the grid they run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmark.models import MODELS
from benchmark.results import complete_units

BENCH = [sys.executable, "-m", "benchmark"]
# Smoke units with one epoch keep a unit to a few seconds on two cores.
SMOKE = ("--profile", "smoke", "--epochs", "1", "--noise", "0,0.5", "--seeds", "2")


def two_models() -> list[str]:
    """Two reference var_misuse models: ggnn and the baseline (the cheapest), else the next one."""
    names = [n for n, spec in MODELS.items() if "var_misuse" in spec.tasks]
    assert "ggnn" in names, names
    others = sorted((n for n in names if n != "ggnn"), key=lambda n: n != "baseline")
    assert others, f"acceptance 1 needs two var_misuse models; MODELS has only {names}"
    return ["ggnn", others[0]]


def bench(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*BENCH, *args], capture_output=True, text=True, env=env or os.environ.copy(),
        timeout=timeout,
    )  # fmt: skip


def sweep(results: Path, *args: str, env: dict | None = None) -> tuple[int, dict, str]:
    """Run `bench sweep ... --json`; return its exit status, summary and stderr."""
    proc = bench("sweep", *args, "--results", str(results), "--json", env=env)
    try:
        summary = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"bench sweep printed no JSON:\n{proc.stderr}") from None
    return proc.returncode, summary, proc.stderr


def completed(results: Path) -> dict[str, tuple[int, int]]:
    """Each complete unit folder and the inode of its metrics, to tell whether it was redone."""
    return {
        str(p.relative_to(results)): _stamp(p / "metrics.json") for p in complete_units(results)
    }


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns


def settle(executor, handles: list[str], timeout: float = 60, every: float = 0.1) -> dict:
    """Poll an executor until every handle has finished; return their states."""
    deadline = time.monotonic() + timeout
    while True:
        states = executor.status(handles)
        if all(s.state.finished for s in states.values()):
            return states
        assert time.monotonic() < deadline, states
        time.sleep(every)
