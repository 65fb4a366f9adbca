"""``bench submit IMAGE|DIR --name NAME``: a new model enters the leaderboard as a container.

A submission is built (from a folder with a Dockerfile) or taken as is (an image), verified
against every rule of the protocol (benchmark/verify.py), recorded with its provenance in
``<results>/.submissions/NAME.json``, and run through the standard sweep with the docker
runner. The record is what makes NAME a model: ``bench run``/``bench sweep`` read it (see
``register``) and run NAME's image by id, so units of a sweep on any machine that shares the
results folder run the same bytes. Results land under the model name NAME like a reference
model's, so ``bench leaderboard show/publish`` list it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.markup import escape

from benchmark.images import REFERENCE, TASKS_LABEL, claimed_tasks
from benchmark.models import MODELS, ModelSpec
from benchmark.results import segment
from benchmark.runner.names import NAME_RE
from benchmark.tasks import Derived

RECORDS = ".submissions"
REPLACED = ".replaced"  # results of images a submission replaced, kept rather than deleted
# Each task's protocol input format, as its spec declares it.
REPRESENTATIONS: Derived[str] = Derived(lambda spec: spec.representation)


@dataclass(frozen=True)
class StandardSweep:
    """The sweep every submission is scored on: enough rates to draw its robustness curve, in
    minutes on a CPU. Options of `bench submit` change it for one submission."""

    noise_rates: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0)
    seeds: int = 1
    profile: str = "cpu"
    noise_kind: str = "label"


STANDARD = StandardSweep()


class BadSubmission(ValueError):
    """The submission cannot be accepted; the message is one line."""


def check_name(name: str) -> str:
    """A submission's name: plain, short, and not a reference model's."""
    if not NAME_RE.fullmatch(name):
        shown = name if len(name) <= 40 else name[:40] + "..."
        raise BadSubmission(
            f"name {shown!r} is not allowed: use 1-64 of a-z, 0-9, '.', '_', '-', starting with "
            "a letter or digit"
        )
    if name in REFERENCE:
        raise BadSubmission(f"name {name!r} is a reference model's; choose another")
    return name


# --- records -----------------------------------------------------------------------------------


def _path(results: Path, name: str) -> Path:
    return results / RECORDS / f"{name}.json"


def problem(record: object, name: str) -> str | None:
    """What keeps ``record`` from being NAME's submission record as `bench submit` writes it
    (the fields the harness reads: its name, a task list and the image's id), or None."""
    if not isinstance(record, dict):
        return "not a JSON object"
    if record.get("name") != name:
        return f"its name is {record.get('name')!r}, not {name!r}"
    if name in REFERENCE:  # bench submit refuses the name; `--model NAME` would run its image
        return f"{name!r} is a reference model's name"
    tasks = record.get("tasks")
    if not isinstance(tasks, list) or not tasks or not all(isinstance(t, str) for t in tasks):
        return "'tasks' is not a list of task names"
    if not isinstance(record.get("image_id"), str):
        return "'image_id' is not a string"
    return None


def load(results: Path, name: str) -> dict | None:
    """NAME's submission record under ``results``, or None if NAME was not submitted there
    (or its record is not one `bench submit` wrote: ``broken`` says why)."""
    if not NAME_RE.fullmatch(name):
        return None
    try:
        record = json.loads(_path(results, name).read_text())
    except (OSError, ValueError):
        return None
    return record if problem(record, name) is None else None


def broken(results: Path) -> list[str]:
    """A line for each file under ``results/.submissions`` that is not a record `bench submit`
    wrote, which therefore registers no model."""
    folder = results / RECORDS
    lines = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            why = problem(json.loads(path.read_text()), path.stem)
        except (OSError, ValueError) as e:
            why = f"cannot be read ({getattr(e, 'strerror', None) or e})"
        if why is not None:
            lines.append(f"{path} is not a submission record bench wrote ({why}); "
                         f"model {path.stem!r} is not registered")  # fmt: skip
    return lines


def records(results: Path) -> list[dict]:
    folder = results / RECORDS
    found = (
        [load(results, p.stem) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    )
    return [r for r in found if r is not None]


def save(results: Path, record: dict) -> Path:
    path = _path(results, record["name"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".json.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=2))
    os.replace(tmp, path)
    return path


def retire(results: Path, record: dict) -> Path:
    """Move the results and record of a replaced submission to ``.replaced/NAME-<ns>/``, out
    of the leaderboard's sight but not lost; return that folder."""
    name = record["name"]
    folder = results / REPLACED / f"{name}-{time.time_ns()}"
    for units in sorted(results.glob(f"*/*/{segment(name)}")):
        if units.is_dir() and not units.parts[-3].startswith("."):
            dest = folder / units.relative_to(results)
            dest.parent.mkdir(parents=True, exist_ok=True)
            units.rename(dest)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(record, indent=2))
    return folder


def _spec(name: str, tasks: Sequence[str]) -> ModelSpec:
    # No command: the image's entrypoint is the model (benchmark/runner/docker.py).
    return ModelSpec(name, tuple(tasks), REPRESENTATIONS.get(tasks[0], "task-jsonl"), ())


def register(results: Path) -> None:
    """Make every model submitted under ``results`` known to the harness by its name; a
    record that is not one `bench submit` wrote is a warning, and blocks no other model."""
    from benchmark import console

    for line in broken(results):
        console.err.print(f"[yellow]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)
    for record in records(results):
        if record["name"] not in MODELS:
            MODELS[record["name"]] = _spec(record["name"], record["tasks"])


def adhoc_model(name: str, task: str) -> None:
    """``bench run --image IMAGE --model NAME``: NAME labels the results of an image that is
    neither a reference model nor a submission."""
    if name not in MODELS:
        MODELS[check_name(name)] = _spec(name, (task,))


def provenance(record: dict) -> dict:
    """What a unit's run.json keeps of its submission."""
    keys = ("name", "image", "image_id", "digest", "source", "source_hash", "submitted")
    out = {k: record.get(k) for k in keys}
    out["verified"] = record.get("verify", {}).get("passed")
    return out


# --- images ------------------------------------------------------------------------------------


def source_hash(folder: Path) -> str:
    """A hash of every file under ``folder`` (paths and bytes), the build's identity."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and ".git" not in p.parts):
        rel = path.relative_to(folder).as_posix()
        h.update(f"{rel}\0{path.stat().st_size}\0".encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def wants_base(dockerfile: str) -> bool:
    """Whether a Dockerfile builds on ``ARG BASE``, the suite's base image, as the template."""
    before_from = re.split(r"(?im)^\s*FROM\s", dockerfile, maxsplit=1)[0]
    return re.search(r"(?im)^\s*ARG\s+BASE\b", before_from) is not None


def build(
    folder: Path, log: Callable[[str], None] = lambda s: None, base: str | None = None,
    wheelhouse: Path | None = None,
) -> tuple[str, str]:  # fmt: skip
    """Build the image of a submission folder unless it exists; return (tag, source hash).

    A Dockerfile that starts from ``ARG BASE`` (a copy of containers/template) gets the suite's
    base image, built first if missing from ``base`` and ``wheelhouse`` as `bench images
    build` would; the base's tag is then part of the submission's tag.
    """
    import docker

    from benchmark import images
    from benchmark.runner.docker import client

    if not (folder / "Dockerfile").is_file():
        raise BadSubmission(f"{folder} has no Dockerfile")
    digest = source_hash(folder)
    buildargs: dict[str, str] = {}
    if wants_base((folder / "Dockerfile").read_text(errors="replace")):
        try:
            buildargs["BASE"] = images.build([images.BASE], base, wheelhouse, say=log)[images.BASE]
        except images.ImageError as e:
            raise BadSubmission(f"{folder} builds on the suite's base image: {e}") from None
    if buildargs:
        digest_with_base = hashlib.sha256(f"{digest}\0{buildargs['BASE']}".encode()).hexdigest()
        tag = f"bench-submission:{digest_with_base[:16]}"
    else:
        tag = f"bench-submission:{digest[:16]}"
    c = client()
    try:
        c.images.get(tag)
        return tag, digest
    except docker.errors.ImageNotFound:
        pass
    log(f"building {tag} from {folder}")
    try:
        c.images.build(path=str(folder), tag=tag, rm=True, forcerm=True, buildargs=buildargs)
    except docker.errors.BuildError as e:
        lines = [str(x.get("stream") or x.get("error") or "").strip() for x in e.build_log]
        last = next((ln for ln in reversed(lines) if ln), str(e))
        raise BadSubmission(f"the image of {folder} did not build: {last[:300]}") from None
    except docker.errors.APIError as e:
        raise BadSubmission(f"the image of {folder} did not build: {e.explanation}") from None
    return tag, digest


# --- the whole submission ----------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def submit(
    target: str,
    name: str,
    results: Path,
    task: str | None = None,
    standard: StandardSweep = STANDARD,
    device: str = "auto",
    max_parallel: int | None = None,
    log: Callable[[str], None] = lambda s: None,
    base: str | None = None,
    wheelhouse: Path | None = None,
    replace: bool = False,
) -> dict:
    """Build if needed, verify, record and sweep; return a summary. Raises BadSubmission with
    a one-line reason when the submission is refused (its verify report is then in
    ``summary['verify']`` of the exception's ``report``). A name already taken by another
    image is refused unless ``replace``: then, once the new image passes verification, the
    old one's results move to ``.replaced/`` and the name starts over with the new image."""
    from benchmark import sweep as sw
    from benchmark import verify
    from benchmark.runner.docker import client, get_image, image_digest
    from benchmark.tasks import TASKS

    check_name(name)
    folder = Path(target)
    source, digest_of_source = None, None
    if folder.is_dir():
        image, digest_of_source = build(folder, log, base, wheelhouse)
        source = str(folder.resolve())
    else:
        image = target
    found = get_image(client(), image)
    tasks = [task] if task else claimed_tasks(found)
    if not tasks:
        raise BadSubmission(
            f"image {image} claims no task: give --task or label it {TASKS_LABEL}=var_misuse,..."
        )
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise BadSubmission(f"unknown task {unknown[0]!r}; choose from: {', '.join(TASKS)}")
    earlier = load(results, name)
    replacing = earlier is not None and earlier["image_id"] != found.id
    if replacing and not replace:
        raise BadSubmission(
            f"{name!r} was submitted on {earlier['submitted']} with another image "
            f"({earlier['image']}); submit this one under another name, or pass --replace"
        )
    log(f"verifying {image} on {', '.join(tasks)}")
    report = verify.verify(image, tasks)
    if not report["passed"]:
        failed = [r for r in report["rules"] if r["status"] == "failed"]
        first = failed[0]
        raise Rejected(
            f"{image} breaks the protocol: rule {first['rule']!r} ({first['task']}): "
            f"{first['reason']}",
            report,
        )
    record = {
        "name": name, "image": image, "image_id": found.id, "digest": image_digest(found),
        "tasks": tasks, "source": source, "source_hash": digest_of_source,
        "submitted": earlier["submitted"] if earlier and not replacing else _now(),
        "verify": report, "sweep": asdict(standard),
    }  # fmt: skip
    if replacing:
        assert earlier is not None
        moved = retire(results, earlier)
        log(f"the results of {earlier['image']} moved to {moved}")
        record["replaces"] = {**provenance(earlier), "results": str(moved)}
    save(results, record)
    register(results)
    summaries = []
    for t in tasks:
        rates = ",".join(f"{r:g}" for r in standard.noise_rates)
        spec = sw.make_spec(t, None, name, rates, standard.noise_kind, standard.seeds,
                            standard.profile, None, device, "docker")  # fmt: skip
        engine = sw.make_executor("local", spec, results, max_parallel, sw.SlurmOptions())
        summaries.append(sw.run_sweep(spec, results, engine, retries=1))
    return {
        "name": name, "image": image, "digest": record["digest"], "tasks": tasks,
        "record": str(_path(results, name)), "verify": report, "sweeps": summaries,
        "ok": all(s["ok"] for s in summaries),
    }  # fmt: skip


class Rejected(BadSubmission):
    """The image failed verification; ``report`` holds every rule's outcome."""

    def __init__(self, message: str, report: dict) -> None:
        super().__init__(message)
        self.report = report
