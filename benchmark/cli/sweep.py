"""`bench sweep` and `bench sweep status`: grids of units, locally or on Slurm."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from benchmark import console
from benchmark.cli.app import sweep_app
from benchmark.cli.common import (
    FinetuneOption,
    WeightsOption,
    check_existing,
    check_results,
    fail,
    warn_of_overlap,
)
from benchmark.datasets import DATASETS
from benchmark.models import MODELS
from benchmark.profiles import PROFILES
from benchmark.tasks import TASKS

SLURM = "Slurm (--executor slurm)"


@sweep_app.callback(invoke_without_command=True)
def sweep(
    ctx: typer.Context,
    models: Annotated[
        str | None, typer.Option(help=f"Comma-separated models: {', '.join(MODELS)}.")
    ] = None,
    noise: Annotated[
        str, typer.Option(help="Comma-separated noise rates in [0, 1].")
    ] = "0,0.25,0.5,0.75,1",
    noise_kind: Annotated[str, typer.Option(help="Kind of noise.")] = "label",
    seeds: Annotated[int, typer.Option(help="Seeds per cell: 0 .. N-1.")] = 3,
    task: Annotated[str, typer.Option(help=f"Task: {', '.join(TASKS)}.")] = "var_misuse",
    dataset: Annotated[
        str | None,
        typer.Option(help=f"Dataset: {', '.join(DATASETS)}; the task's offline default if unset."),
    ] = None,
    profile: Annotated[str, typer.Option(help=f"Size of each run: {', '.join(PROFILES)}.")] = "cpu",
    epochs: Annotated[
        int | None, typer.Option(help="Epochs per unit; the profile's by default.", min=1)
    ] = None,
    device: Annotated[str, typer.Option(help="Device for the models: auto, cpu or cuda.")] = "auto",
    runner: Annotated[
        str, typer.Option(help="How each model is started: process, or docker (its image).")
    ] = "process",
    executor: Annotated[str, typer.Option(help="Where units run: local or slurm.")] = "local",
    max_parallel: Annotated[
        int | None, typer.Option(help="Units at once; local: the GPUs or cores by default.")
    ] = None,
    retries: Annotated[int, typer.Option(help="Extra attempts for a unit that fails.")] = 2,
    weights: WeightsOption = None,
    finetune: FinetuneOption = None,
    name: Annotated[
        str | None,
        typer.Option(
            help="hf: its units' model name; the weights folder's name and the mode (e.g. "
            "codet5-small-lora) if unset."
        ),
    ] = None,
    subsets: Annotated[
        int,
        typer.Option(
            help="K >= 2: K units per cell, each trained on a seeded random subset of the "
            "training pool, for counterfactual memorization and LiRA (protocol-3 models); 0: "
            "none.",
            min=0,
        ),
    ] = 0,
    subset_share: Annotated[
        float | None,
        typer.Option(help="--subsets: share of the training pool in each subset (0.5 if unset)."),
    ] = None,
    results: Annotated[Path, typer.Option(help="Folder that holds the results.")] = Path("results"),
    partition: Annotated[str | None, typer.Option(help="Partition.", rich_help_panel=SLURM)] = None,
    time: Annotated[
        str | None, typer.Option(help="Time limit per unit (HH:MM:SS).", rich_help_panel=SLURM)
    ] = None,
    account: Annotated[str | None, typer.Option(help="Account.", rich_help_panel=SLURM)] = None,
    gpus_per_unit: Annotated[
        int,
        typer.Option(
            help="GPUs per unit; per job with --units-per-job, its units spread over them.",
            rich_help_panel=SLURM,
        ),
    ] = 0,
    cpus_per_unit: Annotated[int, typer.Option(help="CPUs per unit.", rich_help_panel=SLURM)] = 1,
    mem: Annotated[
        str | None, typer.Option(help="Memory per unit (e.g. 8G).", rich_help_panel=SLURM)
    ] = None,
    units_per_job: Annotated[
        int,
        typer.Option(
            help="Units each job runs at once, sharing its GPUs: for models too small to keep "
            "a GPU busy alone. The job asks for this many times the CPUs and memory.",
            rich_help_panel=SLURM,
        ),
    ] = 1,
    sbatch: Annotated[
        list[str] | None,
        typer.Option(
            help="Another sbatch option for every job, NAME=VALUE or NAME (qos=high, "
            "constraint=h100, exclusive); repeatable.",
            rich_help_panel=SLURM,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the sweep's summary as JSON on stdout.")
    ] = False,
) -> None:
    """Run every unit of models x noise rates x seeds that is not complete; exit 1 if any fails."""
    from benchmark import sweep as sw
    from benchmark.executors.base import ExecutorError

    if ctx.invoked_subcommand is not None:
        return
    from benchmark.submit import register

    register(results)  # submitted models sweep by name, like the reference models
    if models is None:
        raise fail(f"--models is required; choose from: {', '.join(sorted(MODELS))}")
    slurm = sw.SlurmOptions(partition, time, account, gpus_per_unit, cpus_per_unit, mem,
                            units_per_job, tuple(sbatch or ()))  # fmt: skip
    try:
        spec = sw.make_spec(task, dataset, models, noise, noise_kind, seeds, profile, epochs,
                            device, runner, weights, finetune, name, subsets,
                            subset_share)  # fmt: skip
        check_results(results)
        warn_of_overlap(spec.weights, spec.dataset)
        engine = sw.make_executor(executor, spec, results, max_parallel, slurm)
        summary = sw.run_sweep(spec, results, engine, retries)
    except (sw.BadOption, sw.SweepBusy, sw.BadState) as e:
        raise fail(str(e)) from None
    except ExecutorError as e:  # once the sweep has begun, its summary says how far it got
        if as_json and isinstance(e, sw.SweepError):
            print(json.dumps(e.summary, indent=2))
        raise fail(str(e), code=1) from None
    if as_json:
        print(json.dumps(summary, indent=2))
    for f in summary["failed"]:
        console.err.print(f"[red]failed[/] {f['unit']}: {f['reason']}", highlight=False,
                          soft_wrap=True)  # fmt: skip
    done = f"{summary['complete']}/{summary['units']} units complete"
    console.err.print(f"{done} ({summary['skipped']} were already) in {summary['seconds']:.0f} s")
    if not summary["ok"]:
        raise typer.Exit(1)


@sweep_app.command("status")
def sweep_status(
    sweep_id: Annotated[str | None, typer.Argument(help="One sweep's id; all by default.")] = None,
    results: Annotated[Path, typer.Option(help="Folder that holds the results.")] = Path("results"),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the sweeps' state as JSON on stdout.")
    ] = False,
) -> None:
    """Show each sweep's units done, running, failed and pending, from another shell too."""
    from benchmark.sweep import BadState, status

    check_existing(results)

    def warn(e: BadState) -> None:
        console.err.print(f"[yellow]warning:[/] {escape(str(e))}", highlight=False,
                          soft_wrap=True)  # fmt: skip

    try:
        sweeps = status(results, sweep_id, on_bad=None if sweep_id else warn)
    except BadState as e:
        raise fail(str(e)) from None
    if sweep_id and not sweeps:
        raise fail(f"no sweep {sweep_id!r} under {results}")
    if as_json:
        print(json.dumps(sweeps, indent=2))
        return
    if not sweeps:
        console.err.print(f"no sweeps under {results}")
        return
    t = Table(title=f"sweeps ({results})")
    for col in ("sweep", "state", "models", "rates", "seeds", "profile", "done", "running",
                "queued", "failed", "pending", "ETA"):  # fmt: skip
        t.add_column(col, justify="left" if col in ("sweep", "state", "models") else "right")
    for s in sweeps:
        eta = "-" if s["eta_s"] is None else f"{s['eta_s'] // 60}m{s['eta_s'] % 60:02d}s"
        pending = f"{s['pending']} ({s['held']} held)" if s["held"] else str(s["pending"])
        t.add_row(s["sweep"], s["state"], ",".join(s["models"]),
                  ",".join(f"{r:g}" for r in s["noise_rates"]), str(s["seeds"]), s["profile"],
                  f"{s['complete']}/{s['units_total']}", str(s["running"]), str(s["queued"]),
                  str(s["failed"]), pending, eta)  # fmt: skip
    console.out.print(t)
    for s in sweeps:
        if held := [u["held"] for u in s["units"] if u["held"] is not None]:
            console.err.print(f"[yellow]held[/] {s['sweep']}: units waiting for jobs to leave "
                              f"the queue: {len(held)} ({held[0]})", highlight=False,
                              soft_wrap=True)  # fmt: skip
        for u in s["units"]:
            if u["state"] == "failed":
                what = f"{s['sweep']} {u['unit']} after {u['attempts']} attempts"
                console.err.print(f"[red]failed[/] {what}: {u['reason']}", highlight=False,
                                  soft_wrap=True)  # fmt: skip
            elif u["reason"]:  # pending again: its results changed after the sweep ended
                console.err.print(f"[yellow]pending[/] {s['sweep']} {u['unit']}: {u['reason']}",
                                  highlight=False, soft_wrap=True)  # fmt: skip
