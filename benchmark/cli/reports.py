"""`bench report`, `bench compare` and `bench findings`: figures and comparisons read from
results."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from benchmark import console
from benchmark.cli.app import app
from benchmark.cli.common import (
    fail,
)
from benchmark.findings import CASES as FINDINGS_CASES
from benchmark.findings import RATES as FINDINGS_RATES
from benchmark.findings import SEEDS as FINDINGS_SEEDS
from benchmark.profiles import PROFILES


@app.command()
def report(
    path: Annotated[Path, typer.Argument(help="A run's results folder, or a folder of runs.")],
    out: Annotated[
        Path | None, typer.Option(help="Where to write the report; PATH/report by default.")
    ] = None,
) -> None:
    """Write an HTML page and a Markdown file, with figures, for a run or a set of runs."""
    from benchmark.report import write_report

    try:
        html_path, md_path = write_report(path, out)
    except (ValueError, OSError) as e:
        raise fail(str(e)) from None
    console.err.print(f"wrote {html_path} and {md_path}", highlight=False, soft_wrap=True)


@app.command()
def compare(
    run_a: Annotated[
        Path,
        typer.Argument(
            help="A run's results folder (.../seed-N), or the folder of its seeds to pool them."
        ),
    ],
    run_b: Annotated[
        Path, typer.Argument(help="The run (or seeds) to compare it with: same task, dataset.")
    ],
    split: Annotated[
        str, typer.Option(help="Split the runs are compared on: test or valid.")
    ] = "test",
    metric: Annotated[
        str | None, typer.Option(help="Metric to compare; the task's primary one if unset.")
    ] = None,
    replicates: Annotated[
        int, typer.Option(min=100, help="Bootstrap replicates (resamplings of the samples).")
    ] = 1000,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON on stdout.")
    ] = False,
) -> None:
    """Whether run A scores above run B: a paired bootstrap 95% interval of A - B. Seeds
    pooled on a side score their mean, and are resampled too."""
    from benchmark.compare import compare_runs

    def seeds(n: int) -> str:
        return f" (mean of {n} runs)" if n > 1 else ""

    try:
        r = compare_runs(run_a, run_b, split, metric, replicates)
    except (ValueError, OSError, KeyError) as e:
        raise fail(str(e)) from None
    if as_json:
        print(json.dumps(r, indent=2))
        return
    console.out.print(
        f"{r['task']} on {r['dataset']} {r['split']} ({r['samples']} samples), {r['metric']}: "
        f"A {r['a']:.4g}{seeds(r['runs_a'])}, B {r['b']:.4g}{seeds(r['runs_b'])}, "
        f"A - B {r['difference']:+.4g}, 95% interval "
        f"[{r['low']:+.4g}, {r['high']:+.4g}]; A not above B in {r['p_not_better']:.1%} of "
        f"{r['replicates']} resamplings: {r['verdict']}",
        highlight=False,
    )


@app.command()
def findings(
    results: Annotated[
        Path, typer.Option(help="Folder for the sweeps' results (kept apart from your own).")
    ] = Path("results/findings"),
    out: Annotated[
        Path, typer.Option(help="Where findings.md and findings/*.svg are written.")
    ] = Path("docs"),
    cases: Annotated[
        str,
        typer.Option(
            help="Comma-separated TASK:MODEL[:DATASET], one sweep each (the task's default "
            "dataset where none is named)."
        ),
    ] = ",".join(f"{t}:{m}" for t, m in FINDINGS_CASES),
    noise: Annotated[str, typer.Option(help="Comma-separated label-noise rates.")] = ",".join(
        f"{r:g}" for r in FINDINGS_RATES
    ),
    seeds: Annotated[int, typer.Option(min=2, help="Seeds per rate: 0 .. N-1.")] = FINDINGS_SEEDS,
    profile: Annotated[str, typer.Option(help=f"Size of each run: {', '.join(PROFILES)}.")] = "cpu",
    device: Annotated[str, typer.Option(help="Device for the models: auto, cpu or cuda.")] = "auto",
    max_parallel: Annotated[
        int | None, typer.Option(help="Units at once; the GPUs or cores by default.")
    ] = None,
    retries: Annotated[int, typer.Option(help="Extra attempts for a unit that fails.")] = 2,
    sweep: Annotated[
        bool, typer.Option(help="Run the sweeps first (--no-sweep: only write the page).")
    ] = True,
) -> None:
    """Run the study's experiment (label noise, one reference model per task, several seeds)
    and write a page that says, per task, whether its finding holds."""
    import shlex

    from benchmark import findings as fd
    from benchmark import sweep as sw
    from benchmark.executors.base import ExecutorError

    try:
        pairs = fd.parse_cases(cases)
        # Every case's options are checked, with --no-sweep too: a typo is named as such,
        # not taken for a sweep that has not run.
        specs = [sw.make_spec(task, dataset, model, noise, "label", seeds, profile, None,
                              device, "process") for task, model, dataset in pairs]  # fmt: skip
    except ValueError as e:  # options.BadOption too
        raise fail(str(e)) from None
    if sweep:
        for (task, model, _), spec in zip(pairs, specs, strict=True):
            try:
                local = sw.SlurmOptions(None, None, None, 0, 1, None)  # no Slurm option given
                engine = sw.make_executor("local", spec, results, max_parallel, local)
                summary = sw.run_sweep(spec, results, engine, retries)
            except (sw.BadOption, sw.SweepBusy) as e:
                raise fail(str(e)) from None
            except ExecutorError as e:
                raise fail(str(e), code=1) from None
            if not summary["ok"]:
                for f in summary["failed"]:
                    console.err.print(f"[red]failed[/] {f['unit']}: {f['reason']}",
                                      highlight=False, soft_wrap=True)  # fmt: skip
                raise fail(f"{task}:{model}: not every unit completed; run the command again",
                           code=1)  # fmt: skip
    try:
        summaries, units = fd.collect(results, pairs, specs)
        from benchmark.findings_membership import section

        page = fd.write_page(summaries, units, out, "bench " + shlex.join(sys.argv[1:]),
                             section(results))  # fmt: skip
    except (ValueError, OSError, KeyError) as e:
        raise fail(str(e)) from None
    console.err.print(f"wrote {page}", highlight=False)
