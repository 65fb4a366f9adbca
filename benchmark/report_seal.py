"""What a `bench report` folder holds, as it wrote it: the hashes of its files and of the
metrics.json of every run it reports, in ``.bench-report.json`` beside its pages.

`bench leaderboard publish` copies a report it finds beside the runs only where this seal
holds: a page written by hand, or one whose runs were run again since (so its figures are no
longer theirs), is left out with a warning, as a unit that does not verify is.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmark.results import sha256

SEAL = ".bench-report.json"


def write_seal(out: Path, runs: list[Path]) -> None:
    """Seal the report in ``out`` (its pages and figures as they are now), for ``runs``."""
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != SEAL)
    seal = {
        "files": {p.relative_to(out).as_posix(): sha256(p) for p in files},
        "runs": {_where(run, out): sha256(run / "metrics.json") for run in runs},
    }
    (out / SEAL).write_text(json.dumps(seal, indent=1, sort_keys=True))


def _where(run: Path, out: Path) -> str:
    """A run's folder as seen from the report's folder (both move together)."""
    try:
        return run.resolve().relative_to(out.resolve().parent).as_posix()
    except ValueError:  # --out elsewhere: the site finds such a report nowhere anyway
        return str(run.resolve())


def seal_problem(out: Path) -> str | None:
    """Why the report in ``out`` is not as `bench report` wrote it for its runs as they are
    now, or None."""
    try:
        seal = json.loads((out / SEAL).read_text())
        files, runs = dict(seal["files"]), dict(seal["runs"])
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return f"it has no {SEAL} that bench report wrote"
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {SEAL}
    if on_disk != set(files):
        return "its files are not those bench report wrote"
    for name, digest in sorted(files.items()):
        if sha256(out / name) != digest:
            return f"its {name} was changed after bench report wrote it"
    for where, digest in sorted(runs.items()):
        run = Path(where) if Path(where).is_absolute() else out.parent / where
        if not (run / "metrics.json").is_file() or sha256(run / "metrics.json") != digest:
            return f"its run {where} was run again or changed since"
    return None
