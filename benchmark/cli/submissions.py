"""`bench verify` and `bench submit`: checking a model image against the protocol, and
entering it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from benchmark import console
from benchmark.cli.app import app
from benchmark.cli.common import (
    check_choice,
    fail,
)
from benchmark.profiles import PROFILES
from benchmark.runner import UnitFailed


@app.command()
def verify(
    image: Annotated[str, typer.Argument(help="The image to check (name, tag or id).")],
    task: Annotated[
        list[str] | None,
        typer.Option(help="Task to check it on (repeatable); those it claims by default."),
    ] = None,
    time_limit: Annotated[
        float, typer.Option(help="Seconds each run of the image may take.", min=1)
    ] = 300.0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON on stdout.")
    ] = False,
) -> None:
    """Run IMAGE on a tiny task and check every rule of the protocol; exit 1 if one fails."""
    from benchmark.verify import verify as check

    with console.progress() as bar:
        job = bar.add_task(f"verifying {image}", total=None)
        report = check(image, task, time_limit, progress=lambda s: bar.update(job, description=s))
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        console.out.print(verify_table(report))
    if not report["passed"]:
        raise typer.Exit(1)


def verify_table(report: dict) -> Table:
    verdict = "[green]passed[/]" if report["passed"] else "[red]failed[/]"
    t = Table(title=f"bench verify {escape(report['image'])}: {verdict} "
                    f"({report['seconds']:.0f} s)")  # fmt: skip
    for col in ("task", "rule", "status", "what it checks", "reason"):
        t.add_column(col, overflow="fold")
    colors = {"passed": "green", "failed": "red"}
    for r in report["rules"]:
        status = f"[{colors.get(r['status'], 'yellow')}]{r['status']}[/]"
        t.add_row(r["task"], r["rule"], status, r["description"], escape(r["reason"]))
    return t


@app.command()
def submit(
    target: Annotated[str, typer.Argument(help="An image, or a folder with a Dockerfile.")],
    name: Annotated[str, typer.Option(help="The model's name on the leaderboard.")],
    task: Annotated[
        str | None, typer.Option(help="Task to run it on; those it claims by default.")
    ] = None,
    profile: Annotated[str | None, typer.Option(help="Size of each run (standard: cpu).")] = None,
    noise: Annotated[
        str | None, typer.Option(help="Comma-separated noise rates (standard: 0,0.25,0.5,1).")
    ] = None,
    seeds: Annotated[int | None, typer.Option(help="Seeds per rate (standard: 1).", min=1)] = None,
    device: Annotated[str, typer.Option(help="Device for the model: auto, cpu or cuda.")] = "auto",
    max_parallel: Annotated[int | None, typer.Option(help="Units at once.")] = None,
    results: Annotated[Path, typer.Option(help="Folder that holds the results.")] = Path("results"),
    base: Annotated[
        str | None,
        typer.Option(help="For a folder on ARG BASE: the image under the suite's base image."),
    ] = None,
    wheelhouse: Annotated[
        Path | None,
        typer.Option(help="For a folder on ARG BASE: install the suite's packages from here."),
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(
            help="Give a name already submitted with another image to this one; the old "
            "results move to <results>/.replaced/."
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the submission's summary as JSON on stdout.")
    ] = False,
) -> None:
    """Build (if a folder), verify, record and run the standard sweep of a new model."""
    import dataclasses

    from benchmark import submit as sub
    from benchmark.sweep import BadOption

    check_choice("device", device, ("auto", "cpu", "cuda"))
    standard = sub.STANDARD
    if profile is not None:
        check_choice("profile", profile, PROFILES)
        standard = dataclasses.replace(standard, profile=profile)
    if seeds is not None:
        standard = dataclasses.replace(standard, seeds=seeds)
    if noise is not None:
        try:
            rates = tuple(float(r) for r in noise.split(",") if r.strip())
        except ValueError:
            raise fail(f"--noise {noise!r} is not a comma-separated list of rates") from None
        if not rates or any(not 0.0 <= r <= 1.0 for r in rates):
            raise fail(f"--noise {noise!r}: give rates in [0, 1], such as 0,0.5,1")
        standard = dataclasses.replace(standard, noise_rates=rates)
    try:
        summary = sub.submit(
            target, name, results, task, standard, device, max_parallel,
            log=lambda s: console.err.print(escape(s), highlight=False, soft_wrap=True),
            base=base, wheelhouse=wheelhouse, replace=replace,
        )  # fmt: skip
    except sub.Rejected as e:  # the report says which rules it broke
        if as_json:
            print(json.dumps({"name": name, "ok": False, "error": str(e), "verify": e.report},
                             indent=2))  # fmt: skip
        else:
            console.out.print(verify_table(e.report))
        raise fail(str(e), code=1) from None
    except (sub.BadSubmission, BadOption) as e:
        raise fail(str(e)) from None
    except UnitFailed as e:
        raise fail(str(e), code=1) from None
    if as_json:
        print(json.dumps(summary, indent=2))
    for f in (f for s in summary["sweeps"] for f in s["failed"]):
        console.err.print(f"[red]failed[/] {escape(f['unit'])}: {escape(str(f['reason']))}",
                          highlight=False, soft_wrap=True)  # fmt: skip
    done = sum(s["complete"] for s in summary["sweeps"])
    total = sum(s["units"] for s in summary["sweeps"])
    console.err.print(f"{name}: {done}/{total} units complete; recorded in {summary['record']}",
                      highlight=False)  # fmt: skip
    if not summary["ok"]:
        raise typer.Exit(1)
