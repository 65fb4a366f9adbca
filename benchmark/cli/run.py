"""`bench run`: one unit, trained and scored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from benchmark import console, options
from benchmark.cli.app import app
from benchmark.cli.common import (
    MAX_SEED,
    FinetuneOption,
    WeightsOption,
    check_results,
    fail,
    summary_table,
    warn_of_overlap,
)
from benchmark.datasets import DATASETS
from benchmark.models import MODELS
from benchmark.profiles import PROFILES
from benchmark.runner import UnitFailed
from benchmark.tasks import TASKS
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
    weights: WeightsOption = None,
    finetune: FinetuneOption = None,
    name: Annotated[
        str | None,
        typer.Option(
            help="The unit's model name on the leaderboard; for hf, the weights folder's name "
            "and the mode (e.g. codet5-small-lora) if unset."
        ),
    ] = None,
    subset: Annotated[
        int | None,
        typer.Option(
            help="Train on the k-th seeded random subset of the training pool and predict the "
            "rest as held out (a unit of `bench sweep --subsets`; protocol-3 models).",
            min=0,
        ),
    ] = None,
    subset_share: Annotated[
        float | None,
        typer.Option(help="--subset: share of the training pool in the subset (0.5 if unset)."),
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
    try:
        options.choice("runner", runner, options.RUNNERS)
        if image is not None:
            if runner != "docker":
                raise options.BadOption("--image needs --runner docker")
            try:
                adhoc_model(model, task)
            except BadSubmission as e:
                raise options.BadOption(str(e)) from None
        dataset = options.unit(task, dataset, profile, device, runner, noise_kind)
        options.model(model, task, weights)
        noise = options.noise_rate(noise)
        share = options.subset(subset, subset_share)
        options.weights_folder(weights)
        finetune, name = options.finetune_and_name(model, weights, finetune, name)
    except options.BadOption as e:
        raise fail(str(e)) from None
    check_results(results)
    warn_of_overlap(weights, dataset)
    cfg = RunConfig(
        task, dataset, model, noise_kind, noise, seed, profile,
        epochs or PROFILES[profile].epochs, device, results, runner, image,
        weights.resolve() if weights else None, finetune, name, subset, share,
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
