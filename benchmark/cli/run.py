"""`bench run`: one unit, trained and scored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from benchmark import console
from benchmark.cli.app import app
from benchmark.cli.common import (
    MAX_SEED,
    check_choice,
    check_results,
    check_weights,
    fail,
    summary_table,
    warn_of_overlap,
)
from benchmark.datasets import DATASETS
from benchmark.models import MODELS
from benchmark.models.spec import FINETUNE_MODES, NAME, tuned_name
from benchmark.noise import NOISE_KINDS
from benchmark.profiles import PROFILES
from benchmark.runner import UnitFailed
from benchmark.tasks import DEFAULT_DATASETS, TASKS
from native.formats import FormatError


@app.command()
def run(
    model: Annotated[str, typer.Option(help=f"Model to train: {', '.join(MODELS)}.")],
    noise: Annotated[
        float, typer.Option(help="Share of training samples made noisy, in [0, 1].")
    ] = 0.0,
    noise_kind: Annotated[
        str, typer.Option(help="Kind of noise; 'label' changes the labels.")
    ] = "label",
    task: Annotated[str, typer.Option(help=f"Task: {', '.join(TASKS)}.")] = "var_misuse",
    dataset: Annotated[
        str | None,
        typer.Option(help=f"Dataset: {', '.join(DATASETS)}; the task's offline default if unset."),
    ] = None,
    seed: Annotated[
        int,
        typer.Option(
            help="Seed of the noise mask, the model and its data order.", min=0, max=MAX_SEED
        ),
    ] = 0,
    epochs: Annotated[
        int | None, typer.Option(help="Epochs to train; the profile's by default.", min=1)
    ] = None,
    profile: Annotated[str, typer.Option(help=f"Size of the run: {', '.join(PROFILES)}.")] = "cpu",
    results: Annotated[Path, typer.Option(help="Folder that holds the results.")] = Path("results"),
    device: Annotated[str, typer.Option(help="Device for the model: auto, cpu or cuda.")] = "auto",
    runner: Annotated[
        str, typer.Option(help="How the model is started: process, or docker (a sandbox).")
    ] = "process",
    image: Annotated[
        str | None,
        typer.Option(help="--runner docker: the image to run; the model's own image if unset."),
    ] = None,
    weights: Annotated[
        Path | None,
        typer.Option(help="Folder of pretrained weights (Hugging Face format) to start from."),
    ] = None,
    finetune: Annotated[
        str | None,
        typer.Option(
            help="hf: what trains: full (every weight), lora (adapters) or head (backbone "
            "frozen); full if unset."
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            help="The unit's model name on the leaderboard; for hf, the weights folder's name "
            "and the mode (e.g. codet5-small-lora) if unset."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Run again even if this unit's results are complete.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the run's metrics as JSON on stdout.")
    ] = False,
) -> None:
    """Train one model on one task at one noise rate and score it."""
    from benchmark.run import RunConfig, existing, run_unit
    from benchmark.submit import BadSubmission, adhoc_model, register

    register(results)  # submitted models run by name, like the reference models
    check_choice("runner", runner, ("process", "docker"))
    if image is not None:
        if runner != "docker":
            raise fail("--image needs --runner docker")
        try:
            adhoc_model(model, task)
        except BadSubmission as e:
            raise fail(str(e)) from None
    check_choice("model", model, MODELS)
    check_choice("task", task, TASKS)
    dataset = dataset or DEFAULT_DATASETS[task]
    check_choice(
        "dataset", dataset, DATASETS, ", or dir:PATH[:python|java|ruby] of a source folder"
    )
    check_choice("profile", profile, PROFILES)
    check_choice("device", device, ("auto", "cpu", "cuda"))
    check_choice(f"noise kind for {task}", noise_kind, NOISE_KINDS[task])
    if task not in MODELS[model].tasks:
        raise fail(
            f"model {model!r} does not do task {task!r}; it does: {', '.join(MODELS[model].tasks)}"
        )
    if task not in DATASETS[dataset].tasks:
        raise fail(
            f"dataset {dataset!r} has no task {task!r}; "
            f"it has: {', '.join(DATASETS[dataset].tasks)}"
        )
    if not 0.0 <= noise <= 1.0:
        raise fail(f"noise rate {noise} is outside [0, 1]")
    check_weights(model, weights)
    finetune, name = finetune_and_name(model, weights, finetune, name)
    check_results(results)
    warn_of_overlap(weights, dataset)
    cfg = RunConfig(
        task, dataset, model, noise_kind, noise, seed, profile,
        epochs or PROFILES[profile].epochs, device, results, runner, image,
        weights.resolve() if weights else None, finetune, name,
    )  # fmt: skip
    try:
        metrics = None if force else existing(cfg)
        if metrics is not None:
            console.err.print(f"{cfg.unit.path(results)} is complete; --force runs it again")
        else:
            metrics = run_unit(cfg, replace=force)
    except UnitFailed as e:
        raise fail(f"unit failed: {e}", code=1) from None
    except FileNotFoundError as e:  # a dataset that is not prepared or not installed here
        raise fail(str(e).splitlines()[0], code=1) from None
    except FormatError as e:  # a corpus that yields nothing, a malformed dataset file
        raise fail(str(e), code=1) from None
    if as_json:
        print(json.dumps(metrics, indent=2))
    else:
        console.err.print(summary_table(metrics))


def finetune_and_name(
    model: str, weights: Path | None, finetune: str | None, name: str | None
) -> tuple[str | None, str | None]:
    """--finetune only for a model that takes it (full by default, and weights required), and
    the unit's name: --name, else for such a model ``<weights folder>-<mode>``, so that runs of
    other checkpoints and modes stand apart on the leaderboard."""
    if name is not None and not NAME.fullmatch(name):
        raise fail(f"--name {name!r} must match {NAME.pattern}")
    if not MODELS[model].finetune:
        if finetune is not None:
            raise fail(f"model {model!r} takes no --finetune")
        return None, name
    if weights is None:
        raise fail(f"model {model!r} needs --weights, a Hugging Face folder")
    finetune = finetune or "full"
    check_choice("finetune", finetune, FINETUNE_MODES)
    return finetune, name or tuned_name(weights, finetune)
