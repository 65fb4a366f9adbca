"""The results store: one folder per unit of work, complete by construction.

A unit is written into a staging folder beside the results and renamed into place only
when everything in it is written, so a folder at a unit's path is always complete. The staging
folder is named after the unit and its run settings and locked while a process works in it: a
unit started again after its process was stopped or killed finds the model's checkpoints there
and resumes, and two processes never build the same unit at once.

A completed unit records a manifest of its files (sha256) and the settings it was made with.
Every reader checks it (`verify`, reading again only the files that changed since their last
hash: benchmark.digests): a unit that was edited or damaged since, whose
metrics.json holds a figure the harness cannot have computed, or that was made with an older
version of its noise kind (`stale_noise`), is left out of every table, and
`bench run` and `bench sweep` move it aside to `.quarantine` (never deleting it) and run it
again.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from benchmark.digests import Digests, sha256
from benchmark.runner import UnitFailed

REQUIRED = ("run.json", "metrics.json", "samples.parquet")
SUBSETS = "subsets"  # the folder of subset units (Unit.subset) under the results
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Unit:
    """What identifies one run: a cell of the task x dataset x model x noise x seed grid, and
    for the models of a subset sweep (``bench sweep --subsets``), which subset it trained on.
    Those live apart, under ``subsets/``: trained on part of the data, they are the material
    of counterfactual memorization, not leaderboard entries."""

    task: str
    dataset: str
    model: str
    noise_kind: str
    noise_rate: float
    seed: int
    subset: int | None = None

    def path(self, root: Path) -> Path:
        noise = f"noise-{segment(self.noise_kind)}-{self.noise_rate:g}"
        names = (segment(self.task), segment(self.dataset), segment(self.model))
        if self.subset is None:
            return root.joinpath(*names, noise, f"seed-{self.seed}")
        return root.joinpath(SUBSETS, *names, noise, f"seed-{self.seed}", f"subset-{self.subset}")


# Unit.path's noise folder: the rate as ``:g`` writes it, whose exponent has a '-' of its own
# (noise-label-5e-05), after a kind that may hold '-' too (noise-repair-markers-0.25)
NOISE_FOLDER = re.compile(r"noise-(?P<kind>.+?)-(?P<rate>\d+(?:\.\d+)?(?:e[-+]\d+)?)")


def noise_of(part: str) -> tuple[str, float]:
    """The noise kind and rate a unit's folder name (``Unit.path``) gives; ValueError if it
    gives none."""
    found = NOISE_FOLDER.fullmatch(part)
    if found is None:
        raise ValueError(f"{part!r} is not noise-KIND-RATE")
    return unsegment(found["kind"]), float(found["rate"])


def segment(name: str) -> str:
    """A name as one path segment: a submitted model may be called anything, '/' included,
    and must still get exactly one folder level (``unsegment`` reverses it)."""
    part = quote(name, safe=" !$&'()*+,;=:@<>[]{}^`|~\"")
    return "%2E" + part[1:] if part.startswith(".") else part  # never '..' nor hidden


def unsegment(part: str) -> str:
    return unquote(part)


def is_complete(folder: Path) -> bool:
    """The unit's files are there (whether they can be trusted is `verify`'s question)."""
    return all((folder / name).is_file() for name in REQUIRED)


def write_manifest(folder: Path, settings: dict) -> None:
    """Record every file of a finished unit with its size and sha256, and its settings."""
    files = {
        p.relative_to(folder).as_posix(): {"bytes": p.stat().st_size, "sha256": sha256(p)}
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    manifest = {"manifest": MANIFEST_VERSION, "settings": settings, "files": files}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))


def read_manifest(folder: Path) -> dict:
    """The unit's manifest; ValueError with the reason when there is none or it is garbage."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        raise ValueError("no manifest.json (made before units recorded one, or not by the "
                         "harness)") from None  # fmt: skip
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"unreadable manifest.json ({type(e).__name__})") from None
    if not (isinstance(manifest, dict) and manifest.get("manifest") == MANIFEST_VERSION
            and isinstance(manifest.get("files"), dict)
            and isinstance(manifest.get("settings"), dict)):  # fmt: skip
        raise ValueError("manifest.json is not a manifest this harness writes")
    return manifest


def dataset_fingerprint(folder: Path) -> str | None:
    """The fingerprint of the dataset a verified unit was made from, as its manifest says."""
    return read_manifest(folder)["settings"].get("dataset_fingerprint")


def verify(folder: Path) -> str | None:
    """Why the unit in ``folder`` cannot be trusted, or None: every file of its manifest is
    there unchanged, its metrics.json could be the harness's (metrics.checks), and its noise
    is today's (`stale_noise`)."""
    from benchmark.metrics.checks import problems

    try:
        manifest = read_manifest(folder)
    except ValueError as e:
        return str(e)
    listed = manifest["files"]
    missing = [name for name in REQUIRED if name not in listed]
    if missing:
        return f"manifest.json does not list {', '.join(missing)}"
    digests = Digests(folder)  # a file unchanged since it was last hashed is not read again
    for name, entry in sorted(listed.items()):
        path = folder / name
        if not isinstance(entry, dict) or ".." in Path(name).parts or Path(name).is_absolute():
            return f"manifest.json has a malformed entry for {name!r}"
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != entry.get("bytes") or digests.sha256(name) != entry.get("sha256"):
            digests.save()
            return f"{name} was changed after the unit completed"
    digests.save()
    try:
        metrics = json.loads((folder / "metrics.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        return f"unreadable metrics.json ({type(e).__name__})"
    found = problems(metrics)
    if found:
        return f"metrics.json: {found[0]}"
    try:  # whether run.json is what the harness writes is for its readers to say
        run = json.loads((folder / "run.json").read_text())
    except (OSError, ValueError, RecursionError):
        run = None
    run = run if isinstance(run, dict) else {}
    recorded = _recorded_fingerprint(run)  # the manifest's settings are hashed nowhere
    made = manifest["settings"].get("dataset_fingerprint")
    if recorded is not None and made != recorded:
        return f"manifest.json's dataset fingerprint {made!r} is not run.json's ({recorded})"
    return stale_noise(run)


def _recorded_fingerprint(run: dict) -> str | None:
    """The dataset fingerprint run.json records, or None where it records none."""
    dataset = run.get("dataset")
    fingerprint = dataset.get("fingerprint") if isinstance(dataset, dict) else None
    return fingerprint if isinstance(fingerprint, str) else None


def noise_version(run: dict) -> int | None:
    """The version of its noise kind a unit was made with: 1 where run.json records none (a
    unit from before kinds had versions); None where what it records is not a version."""
    recorded = run.get("noise", {})
    made = recorded.get("version", 1) if isinstance(recorded, dict) else None
    return made if type(made) is int else None


def stale_noise(run: dict) -> str | None:
    """Why a unit's noise is not today's, or None: made with another version of its noise kind
    (a unit from before noise kinds had versions made version 1), it measured other noise. A
    unit at noise 0 changed no sample, whatever the version, and stays valid."""
    from benchmark import noise

    config = run.get("config")
    if not isinstance(config, dict) or config.get("noise_rate") == 0:
        return None
    task, kind = config.get("task"), config.get("noise_kind")
    now = noise.version(task, kind) if isinstance(task, str) and isinstance(kind, str) else None
    if now is None:
        return None
    made = noise_version(run)
    if made is None:
        return "run.json's noise is not as the harness writes it"
    if made != now:
        return (f"made with version {made} of {task}'s noise kind {kind}, which is now "
                f"version {now}")  # fmt: skip
    return None


# The folders the harness keeps beside the units in a results folder, and what each holds.
KEPT = {
    ".tmp": "units being made",
    ".locks": "the locks of units being made",
    ".quarantine": "units moved aside",
    ".failed": "the logs of failed attempts",
    ".sweeps": "the state of sweeps",
    ".replaced": "the results of replaced images",
}


def kept_folder_problem(root: Path) -> str | None:
    """A file where the harness keeps one of its folders (KEPT), which every run would fail
    to make, or None."""
    for name, what in KEPT.items():
        if (root / name).exists() and not (root / name).is_dir():
            return f"{root / name} is a file, not the folder where bench keeps {what}; move it away"
    return None


def quarantine(folder: Path, root: Path, reason: str) -> Path:
    """Move a unit that cannot be trusted out of the results, keeping every byte of it, with
    the reason beside it; return where it went."""
    dest_root = root / ".quarantine"
    dest_root.mkdir(parents=True, exist_ok=True)
    label = "-".join(folder.relative_to(root).parts)
    dest = dest_root / f"{label}-{time.time_ns()}"
    folder.rename(dest)
    (dest_root / f"{dest.name}.reason.txt").write_text(reason + "\n")
    return dest


class UnitBusy(UnitFailed):
    """Another process is building the same unit with the same settings."""


# Open lock files of the staging folders this process holds, released by publish/discard.
_LOCKS: dict[Path, int] = {}


def staging(root: Path, unit: Unit, settings: str = "") -> Path:
    """The unit's staging folder, on the same file system as its home, locked by this process.

    The name is fixed by the unit and ``settings`` (what else changes the model's input, such
    as profile and epochs), so a re-run after a stop or a kill reuses the folder and the model
    resumes from its checkpoint, while a run with other settings gets a folder of its own.
    """
    tmp = root / ".tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    subset = "" if unit.subset is None else f"-subset{unit.subset}"  # older keys unchanged
    key = "/".join((unit.task, unit.dataset, unit.model, unit.noise_kind,
                    f"{unit.noise_rate:g}", str(unit.seed) + subset, settings))  # fmt: skip
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    # Names are segments here too: a model may be called "../x", and its lock and staging
    # folder must stay inside the results like its unit.
    label = (f"{segment(unit.model)}-{segment(unit.noise_kind)}-{unit.noise_rate:g}"
             f"-seed{unit.seed}{subset}-{digest}")  # fmt: skip
    folder = tmp / label
    locks = root / ".locks"  # not in .tmp, which holds nothing once every unit is done
    locks.mkdir(exist_ok=True)
    lock = locks / f"{label}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise UnitBusy(f"another process is running this unit (lock {lock})") from None
    folder.mkdir(exist_ok=True)
    _LOCKS[folder] = fd
    return folder


def release(staged: Path) -> None:
    """Give up the lock of a staging folder (its lock file stays: removing it would race)."""
    fd = _LOCKS.pop(staged, None)
    if fd is not None:
        os.close(fd)


def publish(staged: Path, final: Path, replace: bool = False) -> None:
    """Move a finished unit into place atomically.

    With ``replace``, an existing folder is first moved aside and deleted afterwards;
    without it, a folder that is already there (another run finished first) wins.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if replace and final.exists():
        old = staged.parent / f"replaced-{final.name}-{time.time_ns()}"
        final.rename(old)
    try:
        os.rename(staged, final)
    except OSError:
        shutil.rmtree(staged, ignore_errors=True)
        if not is_complete(final):
            raise
    finally:
        release(staged)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def discard(staged: Path, root: Path, reason: str) -> Path:
    """Keep a failed attempt's log and reason under ``.failed`` for a post-mortem."""
    failed = root / ".failed"
    failed.mkdir(parents=True, exist_ok=True)
    for heavy in ("input", "output", "scored"):
        shutil.rmtree(staged / heavy, ignore_errors=True)
    (staged / "failure.txt").write_text(reason + "\n")
    dest = failed / f"{staged.name}-{time.time_ns()}"
    staged.rename(dest)
    release(staged)
    return dest


def complete_units(root: Path) -> Iterator[Path]:
    """Every complete unit folder under ``root`` (the temporary folders are never matched)."""
    for metrics in sorted(root.glob("*/*/*/noise-*/seed-*/metrics.json")):
        if is_complete(metrics.parent):
            yield metrics.parent


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())
