"""One unit of work end to end: data, noise, model process, scoring, metrics, results."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

import benchmark
from benchmark import console, datasets, holdout, noise
from benchmark.evaluator import score, scored
from benchmark.metrics import memorization
from benchmark.metrics.summary import summarize
from benchmark.models import MODELS
from benchmark.profiles import PROFILES, select_splits
from benchmark.protocol import HOLDOUT, SPLITS, ProtocolError, present, read_events
from benchmark.results import (
    Unit,
    dataset_fingerprint,
    discard,
    publish,
    quarantine,
    read_json,
    release,
    staging,
    verify,
    write_manifest,
)
from benchmark.runner import UnitFailed
from benchmark.runner import process as process_runner
from benchmark.tasks import TASKS
from benchmark.tasks.lines import ReadAhead
from benchmark.weights import weights_fingerprint

# Rows per row group of samples.parquet. Set, so that the file's bytes do not depend on how the
# table lies in memory (an epoch at a time as it was scored, or in one piece); and large, as
# polars' own choice for a table of many epochs made a file a fifth larger.
SAMPLES_ROW_GROUP = 2**18
SCORED = "scored"  # each epoch's scored rows, on disk until samples.parquet is written


@dataclass(frozen=True)
class RunConfig:
    task: str
    dataset: str
    model: str
    noise_kind: str
    noise_rate: float
    seed: int
    profile: str
    epochs: int
    device: str
    results: Path
    runner: str = "process"  # or "docker"
    image: str | None = None  # docker: the image to run; the model's own image if None
    weights: Path | None = None  # an absolute folder of pretrained weights (--weights)
    finetune: str | None = None  # full, lora or head, for a model that takes it (--finetune)
    name: str | None = None  # the unit's model name where not the model's (--name)
    subset: int | None = None  # train on the k-th seeded subset of the pool (--subset)
    subset_share: float = 0.5  # of the training pool in that subset; the rest is held out

    @property
    def unit(self) -> Unit:
        return Unit(
            self.task, self.dataset, self.name or self.model, self.noise_kind, self.noise_rate,
            self.seed, self.subset,
        )  # fmt: skip


def _code_version() -> dict:
    here = Path(benchmark.__file__).resolve().parent.parent
    version = {"package": benchmark.__version__}
    try:
        sha = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5,
        )  # fmt: skip
        if sha.returncode == 0:
            version["git_commit"] = sha.stdout.strip()
            version["git_dirty"] = bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return version


def _hardware() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "machine": platform.machine(),
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "hostname": platform.node(),
    }


def settings_of(cfg: RunConfig, fingerprint: str) -> dict:
    """What a unit's manifest records of how it was made: reusing it is right only for the
    same settings and the same dataset."""
    return {**asdict(cfg), "results": None,
            "weights": str(cfg.weights) if cfg.weights else None,
            "dataset_fingerprint": fingerprint}  # fmt: skip


def existing(cfg: RunConfig) -> dict | None:
    """The metrics of this unit if it is already complete, intact and made with the same
    profile, epochs, weights, dataset and noise; None when it must be run. A unit that fails
    its manifest (or was made with an older noise kind: results.verify) or was made from
    another version of the dataset is moved to `.quarantine` first (with a warning), never
    deleted."""
    final = cfg.unit.path(cfg.results)
    if not final.exists():
        return None
    reason = verify(final)
    if reason is None:
        made = dataset_fingerprint(final)
        today = datasets.load(cfg.dataset).fingerprint
        if made != today:
            reason = f"made from another version of dataset {cfg.dataset} ({made}, now {today})"
    if reason is not None:
        where = quarantine(final, cfg.results, reason)
        console.err.print(f"warning: {final}: {reason}; moved to {where}, running it again",
                          highlight=False, soft_wrap=True)  # fmt: skip
        return None
    try:  # re-signed by hand, it may not be JSON or lack its config
        recorded = read_json(final / "run.json")
    except (OSError, ValueError, RecursionError):
        recorded = None
    run = recorded.get("config") if isinstance(recorded, dict) else None
    run = run if isinstance(run, dict) else {}
    if (run.get("profile"), run.get("epochs")) != (cfg.profile, cfg.epochs):
        raise UnitFailed(
            f"{final} already holds a run with profile {run.get('profile')} and "
            f"{run.get('epochs')} epochs; pass --force to replace it or --results to write "
            "elsewhere"
        )
    if run.get("weights") != (str(cfg.weights) if cfg.weights else None):
        raise UnitFailed(
            f"{final} already holds a run with weights {run.get('weights')}; pass --force to "
            "replace it or --results to write elsewhere"
        )
    if cfg.subset is not None and run.get("subset_share") != cfg.subset_share:
        raise UnitFailed(
            f"{final} already holds a subset of share {run.get('subset_share')}; pass --force "
            "to replace it or --results to write elsewhere"
        )
    return read_json(final / "metrics.json")


def start_model(
    cfg: RunConfig, staged: Path, timeout_s: float, on_event: Callable[[dict], None]
) -> tuple[list[dict], dict]:
    """Run the model with the configured runner; return its events and what run.json records
    about how it ran beyond the defaults (a container's image, digest and command)."""
    if cfg.runner != "docker":
        command = MODELS[cfg.model].command
        args = (staged / "input", staged / "output", staged / "model.log", timeout_s, on_event)
        return process_runner.run(command, *args), {}
    from benchmark import submit
    from benchmark.runner import docker as docker_runner

    image = cfg.image or model_image(cfg.model, cfg.results)
    events, provenance = docker_runner.run_image(image, staged, timeout_s, on_event, cfg.device)
    record = None if cfg.image else submit.load(cfg.results, cfg.model)
    if record is not None:
        provenance["submission"] = submit.provenance(record)
    return events, provenance


def model_image(model: str, results: Path) -> str:
    """The image that runs ``model`` under the docker runner: a submission's recorded image (by
    id, so a re-tagged name cannot swap it), else the reference model's image as `bench images
    build` made it: the tag for the default base where that is built, else the newest image
    labelled with the model (built on another base, such as a local one on a machine without a
    registry). Looked up here, not in the runner, which only runs the image it is given."""
    import docker

    from benchmark import images, submit
    from benchmark.runner.docker import client

    record = submit.load(results, model)
    if record is not None:
        return record["image_id"]
    c = client()
    try:
        tag = images.image_for(model)
    except images.ImageError as e:
        raise UnitFailed(str(e)) from None
    with contextlib.suppress(docker.errors.ImageNotFound):
        c.images.get(tag)
        return tag
    built = [i for i in c.images.list(filters={"label": f"{images.LABEL}={model}"}) if i.tags]
    if built:
        newest = max(built, key=lambda i: i.attrs.get("Created", ""))
        return newest.tags[0]
    raise UnitFailed(
        f"no image of {model} is built here; run `bench images build {model}` (add --base and "
        "--wheelhouse on a machine without a registry), or pass --image"
    )


def run_unit(cfg: RunConfig, replace: bool = False) -> dict:
    """Run one unit and publish its results folder; return its metrics."""
    profile = PROFILES[cfg.profile]
    spec = MODELS[cfg.model]
    if cfg.weights is not None and not spec.weights:
        raise UnitFailed(f"model {cfg.model!r} takes no pretrained weights (--weights)")
    started = datetime.now(UTC)
    t0 = time.monotonic()
    dataset = datasets.load(cfg.dataset)
    splits = select_splits(dataset.samples, profile)
    empty = [s for s in SPLITS if splits[s].is_empty()]
    if empty:
        raise UnitFailed(
            f"dataset {cfg.dataset} has no {'/'.join(empty)} samples at profile {cfg.profile}; "
            "a prepared dataset needs all three splits"
        )
    try:
        changeable = noise.eligible(cfg.task, cfg.noise_kind, splits["train"])
    except ValueError as e:  # a plugin's kind that does not say it right
        raise UnitFailed(str(e)) from None
    if cfg.noise_rate > 0 and not changeable.any():  # a noisy run that changes nothing
        raise UnitFailed(f"noise kind {cfg.noise_kind} can change none of the "
                         f"{len(changeable)} training samples of dataset {cfg.dataset} at "
                         f"profile {cfg.profile}")  # fmt: skip
    noisy = noise.mask(splits["train"].height, cfg.noise_rate, cfg.seed, changeable)
    changeable_ids = splits["train"]["id"].filter(pl.Series(changeable))
    hooks = TASKS[cfg.task]
    splits, labels = hooks.prepare(splits, noisy, cfg.noise_kind, cfg.seed)
    if cfg.subset is not None:  # the rest of the pool is this subset model's holdout
        if spec.protocol < 3:
            raise UnitFailed(f"--subset needs a model that predicts a holdout split (protocol "
                             f"3); {cfg.model} speaks protocol {spec.protocol}")  # fmt: skip
        share = 1.0 - cfg.subset_share
        pool = splits["train"].height
        splits, labels = holdout.carve(splits, labels, share, cfg.seed, draw=cfg.subset)
        for split, does in (("train", "trains on"), (HOLDOUT, "holds out")):
            if splits[split].is_empty():  # no counterfactual figure could come of it
                raise UnitFailed(f"--subset-share {cfg.subset_share:g} {does} none of the "
                                 f"{pool} training samples at profile {cfg.profile}; give a "
                                 "share nearer 0.5")  # fmt: skip
    elif spec.protocol >= 3 and profile.holdout_share > 0:
        splits, labels = holdout.carve(splits, labels, profile.holdout_share, cfg.seed)
    in_train = labels.filter(pl.col("split") == "train")
    n_train, n_noisy = in_train.height, int(in_train["noisy"].sum())
    n_changeable = int(changeable_ids.is_in(in_train["sample_id"].implode()).sum())  # trained on

    settings = f"{cfg.profile}/{cfg.epochs}/{cfg.device}"
    if cfg.runner == "docker":  # another image must not resume this one's checkpoints
        settings += f"/docker/{cfg.image or ''}"
    if cfg.weights is not None:  # other weights must not resume this one's checkpoints
        settings += f"/weights/{cfg.weights}"
    if cfg.finetune is not None:  # nor another mode's
        settings += f"/finetune/{cfg.finetune}"
    if cfg.subset is not None:  # nor another subset share's
        settings += f"/subset/{cfg.subset_share:g}"
    staged = staging(cfg.results, cfg.unit, settings)
    done = _epochs_done(staged)
    if done:  # an earlier start was stopped or killed: say where this one starts
        console.err.print(f"going on from {staged}: {done} of {cfg.epochs} epochs done",
                          highlight=False, soft_wrap=True)  # fmt: skip
    try:
        labels.write_parquet(staged / "labels.parquet")
        task = {
            "task": cfg.task, "model": cfg.model, "seed": cfg.seed, "epochs": cfg.epochs,
            "device": cfg.device, "profile": cfg.profile, "time_budget_s": profile.time_budget_s,
            "hyperparameters": {} if cfg.finetune is None else {"finetune": cfg.finetune},
        }  # fmt: skip
        if cfg.weights is not None:
            task["weights"] = str(cfg.weights)
        hooks.write_inputs(staged / "input", task, splits)
        sizes = {s: splits[s].height for s in present(splits)}
        # Each epoch file is read and scored as its epoch ends, while the model trains on, and
        # its rows go to disk: the raw predictions (var_misuse's repair distributions,
        # generated token lists) and the scored rows are held an epoch at a time.
        ahead = None
        if hooks.epoch_reader is not None:
            reader = scored(cfg.task, labels, hooks.epoch_reader(splits))
            ahead = ReadAhead(staged / "output", reader, staged / SCORED)
            # The reader holds what it checks the epoch files against (ids, candidates), so
            # the splits (tokens, graphs, path contexts: kilobytes a sample, gigabytes at
            # `paper`) are let go, not held beside the model for the whole run.
            splits = {}
        # The unit's inputs (the splits, each sample's id and candidates, the labels: millions
        # of Python objects at `paper`) live to the end: set aside from the cyclic garbage
        # collector, whose full collections would walk them again and again while the epochs
        # are read and scored (a third of method_name's scoring time). Collected first, so no
        # garbage is kept; given back when the unit ends.
        gc.collect()
        gc.freeze()
        with console.progress() as bar:
            job = bar.add_task(f"training {cfg.model}", total=cfg.epochs)

            def on_event(event: dict) -> None:
                if event["event"] == "epoch_end":
                    loss = event.get("train_loss")
                    note = f" loss {loss:.3f}" if isinstance(loss, int | float) else ""
                    bar.update(job, advance=1, description=f"training {cfg.model}{note}")
                    if ahead is not None and isinstance(event.get("epoch"), int):
                        ahead.read(event["epoch"])

            imports = threading.Thread(target=memorization.preload, name="preload", daemon=True)
            imports.start()
            events, provenance = start_model(cfg, staged, profile.time_budget_s, on_event)
        # A quick model can end before the preload: the summary's own import of cleanlab
        # must not run beside it.
        imports.join()
        if ahead is not None:
            table = ahead.finish(cfg.epochs)
        else:
            predictions = hooks.read_predictions(staged / "output", cfg.epochs, splits)
            table = score(cfg.task, labels, predictions).lazy()
        # Written as a stream, and summarized from the file: the table of every epoch is
        # never held whole (the summary's queries read the columns each needs).
        table.sink_parquet(staged / "samples.parquet", row_group_size=SAMPLES_ROW_GROUP)
        del table
        samples = pl.scan_parquet(staged / "samples.parquet")
        metrics = {
            "task": cfg.task, "model": cfg.unit.model, "dataset": cfg.dataset, "seed": cfg.seed,
            "profile": cfg.profile,
            "noise": {"kind": cfg.noise_kind, "rate": cfg.noise_rate, "n_train": n_train,
                      "n_changeable": n_changeable, "n_noisy": n_noisy,
                      "n_holdout": sizes.get(HOLDOUT, 0)},
            **summarize(samples, cfg.task),
        }  # fmt: skip
        if cfg.subset is not None:
            metrics["subset"] = {"index": cfg.subset, "share": cfg.subset_share}
        (staged / "metrics.json").write_text(json.dumps(metrics, indent=2))
        shutil.copy(staged / "output" / "events.jsonl", staged / "events.jsonl")
        start = next((e for e in events if e["event"] == "start"), {})
        run = {
            "config": {**asdict(cfg), "results": str(cfg.results),
                       "weights": str(cfg.weights) if cfg.weights else None},
            "weights": {"path": str(cfg.weights), "fingerprint": weights_fingerprint(cfg.weights)}
            if cfg.weights else None,
            "finetune": {"mode": cfg.finetune,
                         "trainable_parameters": start.get("trainable_parameters")}
            if cfg.finetune else None,
            "hyperparameters": start.get("hyperparameters", {}),
            "command": sys.argv,
            "model_command": list(spec.command),
            **provenance,  # a container's image, digest and command, a submission's record
            "code": _code_version(),
            # the noise kind's version, and how many training samples it could change
            "noise": {"kind": cfg.noise_kind, "version": noise.version(cfg.task, cfg.noise_kind),
                      "changeable": int(changeable.sum())},
            "dataset": {"name": cfg.dataset, "fingerprint": dataset.fingerprint,
                        "sizes": sizes},
            "hardware": {**_hardware(), "device": start.get("device"),
                         "parameters": start.get("parameters")},
            "started": started.isoformat(),
            "seconds": round(time.monotonic() - t0, 2),
        }  # fmt: skip
        (staged / "run.json").write_text(json.dumps(run, indent=2))
        _remove(staged / "input")
        _remove(staged / "output")
        shutil.rmtree(staged / SCORED, ignore_errors=True)  # none for a task read at the end
        write_manifest(staged, settings_of(cfg, dataset.fingerprint))
        publish(staged, cfg.unit.path(cfg.results), replace=replace)
        return metrics
    except (UnitFailed, ProtocolError) as e:
        where = discard(staged, cfg.results, str(e))
        raise UnitFailed(f"{e} (log kept in {where})") from None
    except OSError as e:  # the harness's own reads and writes: a full disk, a lost mount
        reason = f"the harness's I/O failed: {console.os_error(e)}"
        where = discard(staged, cfg.results, reason)
        raise UnitFailed(f"{reason} (log kept in {where})") from None
    except (KeyboardInterrupt, SystemExit) as e:  # Ctrl-C; SIGTERM (scancel, a time limit)
        _stopped(staged, cfg, "interrupted" if isinstance(e, KeyboardInterrupt) else str(e))
        raise
    except BaseException as e:
        discard(staged, cfg.results, f"{type(e).__name__}: {e}")
        raise
    finally:
        gc.unfreeze()


def _stopped(staged: Path, cfg: RunConfig, why: str) -> None:
    """A stopped unit has not failed: its staging folder stays, unlocked, so the same command
    resumes from the model's last checkpoint, as after a kill. Discarded, a Slurm time limit
    (SIGTERM, then SIGKILL) would send a unit longer than the limit back to its first epoch at
    every attempt."""
    release(staged)
    done = _epochs_done(staged)
    so_far = "" if done is None else f" after {done} of {cfg.epochs} epochs"
    console.err.print(f"{why or 'stopped'}{so_far}: the same command resumes this unit from the "
                      f"model's last checkpoint, kept in {staged}", highlight=False,
                      soft_wrap=True)  # fmt: skip


def _epochs_done(staged: Path) -> int | None:
    """How many epochs the model's events in ``staged`` say are done; None where they cannot
    be read (the model, started again, says what it makes of them)."""
    try:
        events = read_events(staged / "output")
    except (ProtocolError, OSError):
        return None
    return len({e.get("epoch") for e in events if e["event"] == "epoch_end"})


def _remove(folder: Path) -> None:
    """Remove a staged folder by renaming it first: a kill halfway through the removal of
    ``output`` would otherwise leave a checkpoint whose epoch files are gone, and the rerun
    would resume after the last epoch with nothing to score."""
    gone = folder.with_name(f".{folder.name}-removed")
    shutil.rmtree(gone, ignore_errors=True)  # what such a kill left
    folder.rename(gone)
    shutil.rmtree(gone)
