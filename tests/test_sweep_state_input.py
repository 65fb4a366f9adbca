"""Bad input to `bench sweep` and `bench sweep status` is one line, not a traceback, and loses
nothing: a state file under RESULTS/.sweeps that bench did not write as it stands (edited,
cut short, of another version), a --results folder that is not there, an empty item in a
list option; and a Slurm submission that fails still prints the sweep's summary under --json.
The sweeps' units are written by hand (tests/units.py), so that nothing trains."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmark import datasets
from benchmark.executors.local import LocalExecutor
from benchmark.sweep import Store, Sweep, SweepSpec, make_spec
from tests.sweeps import completed
from tests.units import fake_unit

BENCH = [sys.executable, "-m", "benchmark"]
GRID = ["--models", "ggnn", "--profile", "smoke", "--epochs", "1", "--seeds", "1"]
BAD = "is not a sweep state bench wrote"


def spec_of(noise: str) -> SweepSpec:
    """The spec that `bench sweep GRID --noise <noise>` makes."""
    return make_spec("var_misuse", None, "ggnn", noise, "label", 1, "smoke", 1, "auto", "process")


def bench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*BENCH, *args], capture_output=True, text=True, timeout=300,
                          env=env or os.environ.copy())  # fmt: skip


def one_line(proc: subprocess.CompletedProcess, code: int = 2) -> str:
    """The only line on stderr of a command that exits ``code``, with nothing on stdout."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == code, proc.stderr[-2000:]
    assert len(lines) == 1 and proc.stdout == "", proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    return lines[0]


def swept(results: Path, noise: str, complete: int | None = None) -> Path:
    """A sweep's state as the driver writes it, over units written by hand (the first
    ``complete`` of them, all by default), so that no unit runs; its state file."""
    spec = spec_of(noise)
    fingerprint = datasets.load(spec.dataset).fingerprint
    for unit in spec.units()[:complete]:
        fake_unit(results, unit, {"config": {"profile": "smoke", "epochs": 1}}, fingerprint)
    if complete is None:
        Sweep(spec, results, LocalExecutor(1)).run(show_progress=False)
    return Store(results, spec.id).state_path


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """Two finished sweeps: noise 0,0.5 (the one each test spoils) and noise 0.25."""
    folder = tmp_path / "results"
    swept(folder, "0,0.5")
    swept(folder, "0.25")
    return folder


def _edit(change: Callable[[dict], object]) -> Callable[[str], str]:
    def spoil(text: str) -> str:
        state = json.loads(text)
        change(state)
        return json.dumps(state, indent=1)

    return spoil


UNIT = "ggnn/noise-label-0/seed-0"
SPOILS: dict[str, tuple[Callable[[str], str], str]] = {
    "a list": (lambda _: "[1, 2]\n", "(it is a list, not an object)"),
    "cut short": (lambda text: text[:200], "(not JSON: "),
    "not utf-8": (lambda text: "\udcff" + text, "(not JSON: "),
    "other version": (_edit(lambda s: s.update(version=2)), "(its version is 2, not 1)"),
    "no units": (_edit(lambda s: s.pop("units")), "(units is missing)"),
    "a null unit": (
        _edit(lambda s: s["units"].update({UNIT: None})),
        f"(units['{UNIT}'] is null, not an object)",
    ),
    "a null rate list": (
        _edit(lambda s: s["spec"].update(noise_rates=None)),
        "(spec.noise_rates is null, not a list of numbers)",
    ),
    "a rate as text": (
        _edit(lambda s: s["spec"].update(noise_rates=["0", 0.5])),
        "(spec.noise_rates is a list, not a list of numbers)",
    ),
    "attempts as text": (
        _edit(lambda s: s["units"][UNIT].update(attempts="1")),
        f"""(units['{UNIT}'].attempts is "1", not a count)""",
    ),
    "held as a number": (
        _edit(lambda s: s["units"][UNIT].update(held=3)),
        f"(units['{UNIT}'].held is 3, not a string)",
    ),
    "a NaN": (
        _edit(lambda s: s["units"][UNIT].update(seconds=float("nan"))),
        "(it holds NaN, which is no JSON number)",
    ),
    "an unknown unit state": (
        _edit(lambda s: s["units"][UNIT].update(state="done")),
        f"""(units['{UNIT}'].state is "done", not one of pending, queued""",
    ),
    "a heartbeat without its zone": (
        _edit(lambda s: s["driver"].update(heartbeat="2026-01-01T00:00:00")),
        "(driver.heartbeat is not a time with its UTC offset)",
    ),
    "another grid": (
        _edit(lambda s: s["spec"].update(noise_rates=[0.5])),
        "(its id or spec is not that of sweep var_misuse-",
    ),
}


def spoil(path: Path, how: str) -> bytes:
    """Spoil a state file as ``how`` says; return its bytes."""
    change, _ = SPOILS[how]
    path.write_bytes(change(path.read_text()).encode("utf-8", "surrogateescape"))
    return path.read_bytes()


@pytest.mark.parametrize("how", list(SPOILS))
def test_a_bad_state_is_one_line_naming_the_file_and_nothing_is_lost(results: Path, how: str):
    path = Store(results, spec_of("0,0.5").id).state_path
    spoilt, units = spoil(path, how), completed(results)
    expected = f"error: {path} {BAD} {SPOILS[how][1]}"

    line = one_line(bench("sweep", "status", path.stem, "--results", str(results), "--json"))
    assert line.startswith(expected), line
    assert line.endswith("; remove it to start the sweep afresh (its units' results stay)")

    # The sweep itself refuses to guess: it neither runs nor rewrites its state.
    sweep = bench("sweep", *GRID, "--noise", "0,0.5", "--results", str(results), "--json")
    assert one_line(sweep) == line
    assert path.read_bytes() == spoilt and completed(results) == units


def test_the_listing_warns_of_a_bad_state_and_shows_the_others(results: Path):
    bad, good = spec_of("0,0.5").id, spec_of("0.25").id
    path = Store(results, bad).state_path
    spoil(path, "cut short")
    listing = bench("sweep", "status", "--results", str(results), "--json")
    assert listing.returncode == 0 and "Traceback" not in listing.stderr, listing.stderr
    [warning] = listing.stderr.strip().splitlines()
    assert warning.startswith(f"warning: {path} {BAD} (not JSON: "), warning
    assert [s["sweep"] for s in json.loads(listing.stdout)] == [good]

    table = bench("sweep", "status", "--results", str(results))
    assert table.returncode == 0 and table.stderr.strip().splitlines() == [warning]
    assert good in table.stdout and bad not in table.stdout


def test_removing_a_bad_state_starts_the_sweep_afresh(results: Path):
    path = Store(results, spec_of("0,0.5").id).state_path
    spoil(path, "a null unit")
    units = completed(results)
    path.unlink()
    proc = bench("sweep", *GRID, "--noise", "0,0.5", "--results", str(results), "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert (summary["state"], summary["units"], summary["skipped"], summary["ran"]) == (
        "complete", 2, 2, 0,
    )  # fmt: skip
    assert completed(results) == units and path.is_file()


def test_a_busy_sweep_with_a_bad_state_is_still_busy(results: Path):
    """The busy message reads the holder's pid from the state; a bad one does not hide why."""
    spec = spec_of("0,0.5")
    holder = Store(results, spec.id)
    spoil(holder.state_path, "a list")
    holder.acquire()
    try:
        proc = bench("sweep", *GRID, "--noise", "0,0.5", "--results", str(results))
    finally:
        holder.release()
    assert f"sweep {spec.id} is already running" in one_line(proc)


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_status_of_a_results_folder_that_is_not_one_is_one_line(tmp_path: Path, kind: str):
    folder = tmp_path / "results"
    if kind == "file":
        folder.write_text("mine\n")
    line = one_line(bench("sweep", "status", "--results", str(folder), "--json"))
    what = "does not exist" if kind == "missing" else "is a file, not a folder"
    assert line == f"error: --results {folder} {what}"
    assert folder.exists() == (kind == "file")
    assert kind == "missing" or folder.read_text() == "mine\n"


@pytest.mark.parametrize(
    ("option", "value"),
    [("--noise", "0.25,,0.5"), ("--noise", "0.5,"), ("--noise", ","), ("--models", "ggnn, ,")],
)
def test_an_empty_item_in_a_list_option_is_one_line(tmp_path: Path, option: str, value: str):
    argv = {"--models": "ggnn", "--noise": "0.5", **{option: value}}
    line = one_line(bench("sweep", *[a for kv in argv.items() for a in kv], "--seeds", "1",
                          "--profile", "smoke", "--results", str(tmp_path / "r")))  # fmt: skip
    assert line == f"error: {option} {value!r} has an empty item; leave out the extra comma"
    assert not (tmp_path / "r").exists()


FAKE_SBATCH = """#!/bin/sh
echo "sbatch: error: Batch job submission failed: Unable to contact slurm controller" >&2
exit 1
"""


def test_a_failed_slurm_submission_still_prints_the_summary(tmp_path: Path):
    """sbatch refusing the array is one `error:` line and exit 1, as before, and under --json
    the summary says how far the sweep got; no unit counts as tried, none is lost."""
    results, bin_dir = tmp_path / "results", tmp_path / "bin"
    path = swept(results, "0,0.5", complete=1)
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(FAKE_SBATCH)
    (bin_dir / "sbatch").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    units = completed(results)
    proc = bench("sweep", *GRID, "--noise", "0,0.5", "--executor", "slurm",
                 "--results", str(results), "--json", env=env)  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    reason = ("sbatch refused the array: sbatch: error: Batch job submission failed: Unable to "
              "contact slurm controller")  # fmt: skip
    assert [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")] == [
        f"error: {reason}"
    ]
    summary = json.loads(proc.stdout)
    assert (summary["ok"], summary["state"], summary["error"]) == (False, "error", reason)
    assert (summary["executor"], summary["units"], summary["complete"]) == ("slurm", 2, 1)
    assert (summary["skipped"], summary["ran"], summary["attempts"]) == (1, 0, 0)
    assert completed(results) == units
    state = json.loads(path.read_text())
    assert (state["state"], state["error"]) == ("error", reason)
    assert state["units"]["ggnn/noise-label-0.5/seed-0"]["attempts"] == 0


def test_a_finished_sweep_whose_unit_changed_since_says_so(results: Path):
    """sweep status called it "complete" beside 1 of 2 units done and 1 pending, with no
    reason (found by probing)."""
    gone = spec_of("0,0.5").units()[0].path(results)
    (gone / "metrics.json").write_text("{}")
    proc = bench("sweep", "status", "--results", str(results), "--json")
    (sweep,) = [s for s in json.loads(proc.stdout) if s["noise_rates"] == [0.0, 0.5]]
    assert (sweep["state"], sweep["complete"], sweep["pending"]) == ("incomplete", 1, 1)
    (unit,) = [u for u in sweep["units"] if u["state"] == "pending"]
    assert unit["reason"] == ("was complete; now metrics.json was changed after the unit "
                              "completed: the sweep runs it again")  # fmt: skip
    table = bench("sweep", "status", "--results", str(results))
    assert f"pending {sweep['sweep']} {UNIT}: was complete; now metrics.json" in table.stderr


def test_a_state_of_an_older_bench_with_a_unit_name_past_255_bytes(results: Path):
    """Before such datasets were refused, a sweep of a dir: corpus under a long path of CJK
    folder names saved its state, and every `sweep status` after was an ENAMETOOLONG
    traceback (found by probing). The unit is shown failed, with why; the others as they are."""
    state_path = swept(results, "0.75")
    state = json.loads(state_path.read_text())
    state["spec"]["dataset"] = "dir:/" + "界" * 60 + ":python"
    spec = SweepSpec.from_dict(state["spec"])
    state["id"] = spec.id
    state_path.unlink()
    Store(results, spec.id).state_path.write_text(json.dumps(state))
    proc = bench("sweep", "status", "--results", str(results), "--json")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    by_id = {s["sweep"]: s for s in json.loads(proc.stdout)}
    (unit,) = by_id[spec.id]["units"]
    assert (unit["state"], unit["reason"]) == (
        "failed", "its results folder cannot be used (File name too long)")
    assert sorted(s["complete"] for s in by_id.values()) == [0, 1, 2]
