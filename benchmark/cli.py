"""The ``bench`` command."""

from __future__ import annotations

import json
import signal
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from benchmark import console
from benchmark.datasets import DATASETS
from benchmark.datasets_cli import app as datasets_app
from benchmark.findings import CASES as FINDINGS_CASES
from benchmark.images_cli import app as images_app
from benchmark.models import MODELS
from benchmark.noise import NOISE_KINDS
from benchmark.profiles import PROFILES
from benchmark.runner import UnitFailed
from benchmark.tasks import DEFAULT_DATASETS, TASKS
from native.formats import FormatError

app = typer.Typer(
    help="Measure how much neural models of code memorize and how well they generalize.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
leaderboard_app = typer.Typer(help="The leaderboard, computed from result folders.")
app.add_typer(leaderboard_app, name="leaderboard")
MAX_SEED = 2**32 - 1  # numpy's legacy generator, which every model seeds, takes no more


def fail(message: str, code: int = 2) -> typer.Exit:
    console.err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def check_choice(what: str, value: str, choices: object, also: str = "") -> None:
    if value not in choices:
        raise fail(f"unknown {what} {value!r}; choose from: {', '.join(sorted(choices))}{also}")


def check_results(results: Path) -> None:
    """--results is a folder this process can write in (made if missing): a file there, or a
    read-only place, is one line now rather than a traceback once the dataset is built."""
    if results.exists() and not results.is_dir():
        raise fail(f"--results {results} is a file, not a folder")
    try:
        results.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=results).close()
    except OSError as e:
        raise fail(f"--results {results} cannot be written ({e.strerror or e})") from None


def check_weights(model: str, weights: Path | None) -> None:
    """--weights names a folder, and only for a model that starts from pretrained weights."""
    if weights is None:
        return
    if not MODELS[model].weights:
        takers = ", ".join(n for n, s in MODELS.items() if s.weights)
        raise fail(f"model {model!r} takes no pretrained weights (--weights); {takers} does")
    if not weights.is_dir():
        raise fail(f"--weights {weights} is not a folder")


def warn_of_overlap(weights: Path | str | None, dataset: str) -> None:
    """A warning where `bench models pretrain` made ``weights`` without leaving out
    ``dataset``'s held-out methods, which the pretraining corpus may then hold."""
    if weights is None:
        return
    try:
        corpus = json.loads((Path(weights) / "pretraining.json").read_text())["corpus"]
        if dataset in corpus["exclude"]:
            return
        made_of = ", ".join(corpus["datasets"])
    except (OSError, ValueError, KeyError, TypeError):
        return  # not made by bench models pretrain
    console.err.print(f"[yellow]warning:[/] {weights} was pretrained on {made_of} without "
                      f"--exclude {dataset}: its valid and test methods may be in that corpus",
                      highlight=False, soft_wrap=True)  # fmt: skip


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
    check_results(results)
    warn_of_overlap(weights, dataset)
    cfg = RunConfig(
        task, dataset, model, noise_kind, noise, seed, profile,
        epochs or PROFILES[profile].epochs, device, results, runner, image,
        weights.resolve() if weights else None,
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


def _fmt(v: object) -> str:
    return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def summary_table(m: dict) -> Table:
    t = Table(title=f"{m['model']} on {m['task']}/{m['dataset']}, {m['noise']['kind']} noise "
                    f"{m['noise']['rate']:g} "
                    f"({m['noise']['n_noisy']}/{m['noise']['n_train']} noisy), "
                    f"seed {m['seed']}, epoch {m['selected_epoch']} selected")  # fmt: skip
    t.add_column("subset")
    names = list(m["test"])
    for name in names:
        t.add_column(name, justify="right")
    for subset in ("train", "train_clean", "train_noisy", "valid", "test"):
        t.add_row(subset, *[_fmt(m.get(subset, {}).get(n)) for n in names])
    t.caption = (f"memorization rate {_fmt(m['memorization_rate'])}, generalization gap "
                 f"{_fmt(m['generalization_gap'])}, noise detection AUROC (loss) "
                 f"{_fmt(m['noise_detection_auroc'])}")  # fmt: skip
    return t


ResultsOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--results",
        help="Folder that holds results; repeat it to merge folders (from several machines).",
    ),
]


def _leaderboard(results: list[Path] | None) -> tuple[list[dict], list[str]]:
    """The ranked rows, with every left-out unit reported on stderr (a line each)."""
    from benchmark.standings import leaderboard

    rows, found = leaderboard(results or [Path("results")])
    for warning in found.warnings:
        console.err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False,
                          soft_wrap=True)  # fmt: skip
    return rows, found.warnings


@leaderboard_app.command("show")
def leaderboard_show(
    results: ResultsOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the rows as JSON on stdout.")
    ] = False,
) -> None:
    """Show the leaderboard: one row per task, dataset, noise kind, profile and model."""
    from benchmark.exports import fmt, rates_of, with_interval
    from benchmark.standings import RANKING, board_key, floor_text, gain_text

    rows, warnings = _leaderboard(results)
    if as_json:
        print(json.dumps({"ranking": RANKING, "rows": rows, "warnings": warnings}, indent=2))
        return
    if not rows:
        console.err.print("no complete runs under " + ", ".join(map(str, results or ["results"])))
        return
    boards: dict[tuple, list[dict]] = {}
    for row in rows:
        boards.setdefault(board_key(row), []).append(row)
    for (task, dataset, kind, profile), members in boards.items():
        rates = rates_of(members)
        t = Table(title=escape(f"{task}: {dataset}, {kind} noise, {profile} profile "
                               f"(test {members[0]['metric']})"))  # fmt: skip
        for col in ["rank", "model", "clean [95% CI]", "floor", "gain over floor [95%]",
                    *[f"@{r}" for r in rates], "robust", "memorized", "AUROC", "params",
                    "train s", "seeds", "hardware"]:  # fmt: skip
            text = col in ("model", "hardware")
            t.add_column(col, justify="left" if text else "right", no_wrap=col == "model")
        for row in members:
            t.add_row(str(row["rank"]), escape(row["model"]), with_interval(row["clean"]),
                      floor_text(row), gain_text(row),
                      *[fmt(row["scores"].get(r, {}).get("mean")) for r in rates],
                      fmt(row["robustness"]), fmt(row["memorization_rate"]),
                      fmt(row["detection_auroc"]), fmt(row["parameters"]),
                      fmt(row["train_seconds"], 1), str(row["seeds"]),
                      escape("; ".join(row["hardware"])))  # fmt: skip
        console.out.print(t)
    console.out.print(RANKING, highlight=False)


@leaderboard_app.command("export")
def leaderboard_export(
    out: Annotated[Path, typer.Option(help="File to write.")],
    format: Annotated[str, typer.Option(help="csv, json or md.")] = "csv",
    results: ResultsOpt = None,
) -> None:
    """Write the leaderboard to a CSV, JSON or Markdown file."""
    from benchmark.exports import FORMATS, export

    check_choice("format", format, FORMATS)
    rows, warnings = _leaderboard(results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(export(rows, warnings, format))
    console.err.print(f"wrote {len(rows)} rows to {out}", highlight=False)


@leaderboard_app.command("publish")
def leaderboard_publish(
    out: Annotated[Path, typer.Option(help="Folder of the static site.")],
    results: ResultsOpt = None,
) -> None:
    """Write the leaderboard as a static site: a page per task, per model and per run.

    The site is built beside OUT and swapped in; OUT must be new, empty, or a site published
    before (which it replaces), so nothing publish did not write is ever deleted."""
    from benchmark.site import SiteError, check_replaceable, publish
    from benchmark.standings import leaderboard

    try:
        check_replaceable(out.resolve())  # before the results are read, which takes a while
    except SiteError as e:
        raise fail(str(e)) from None
    rows, found = leaderboard(results or [Path("results")])
    for warning in found.warnings:
        console.err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False,
                          soft_wrap=True)  # fmt: skip
    try:
        pages = publish(rows, found, out)
    except SiteError as e:
        raise fail(str(e)) from None
    except OSError as e:
        raise fail(f"cannot write the site to {out}: {e.strerror or e}", code=1) from None
    console.err.print(f"wrote {len(pages)} pages to {out}/index.html", highlight=False)


models_app = typer.Typer(help="The models the harness can run.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the list as JSON on stdout.")
    ] = False,
) -> None:
    """Every model: its tasks, the inputs it needs and its parameters at each profile."""
    from benchmark.models.catalog import listing

    rows = listing()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    t = Table(title="models")
    for col in ("model", "tasks", "inputs", *PROFILES):
        t.add_column(col, justify="right" if col in PROFILES else "left")
    for r in rows:
        counts = [f"{r['parameters'][p]:,}" if p in r["parameters"] else "-" for p in PROFILES]
        t.add_row(r["name"], ", ".join(r["tasks"]), r["inputs"], *counts)
    console.out.print(t)


@models_app.command("pretrain")
def models_pretrain(
    model: Annotated[str, typer.Argument(help="The model to pretrain: codebert.")],
    output: Annotated[Path, typer.Argument(help="The weights folder to write (must not exist).")],
    dataset: Annotated[
        list[str], typer.Option(help="A dataset whose train split is read (repeatable).")
    ],
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            help="A dataset to fine-tune on later: methods duplicating its valid or "
            "test samples are left out (repeatable)."
        ),
    ] = None,
    profile: Annotated[str, typer.Option(help="Encoder sizes and steps: smoke, cpu or paper.")] = (
        "cpu"
    ),
    steps: Annotated[
        int | None, typer.Option(min=1, help="Optimizer steps; the profile's if unset.")
    ] = None,
    docstring_epochs: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Epochs of training the code_to_text model to write the corpus's docstrings "
            "after masked-LM; the profile's if unset, 0 to skip.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the initialization, batches and masks.")] = 0,
    threads: Annotated[int, typer.Option(min=0, help="CPU threads; 0: torch's default.")] = 0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the pretraining's summary as JSON on stdout.")
    ] = False,
) -> None:
    """Pretrain a model on local code for `bench run --weights`: its encoder by masked-LM,
    then its code_to_text model by writing the docstrings."""
    from benchmark.models import pretrain

    check_choice("model", model, ("codebert",), "only codebert is pretrained")
    check_choice("profile", profile, pretrain.DEFAULTS)
    for name in [*dataset, *(exclude or [])]:
        check_choice("dataset", name, DATASETS)
    if output.exists():
        raise fail(f"{output} exists; pretraining writes a new folder")
    if threads:
        import torch

        torch.set_num_threads(threads)
    try:
        frame, counts = pretrain.corpus(dataset, exclude or [])
    except (ValueError, OSError) as e:
        raise fail(str(e)) from None
    console.err.print(f"corpus: {frame.height:,} methods ({counts['read']:,} read, "
                      f"{counts['duplicates_left_out']:,} duplicates of held-out samples left "
                      "out)", highlight=False)  # fmt: skip
    total = steps or pretrain.DEFAULTS[profile]["steps"]
    epochs = pretrain.DEFAULTS[profile]["docstring_epochs"] if docstring_epochs is None else (
        docstring_epochs)  # fmt: skip
    # The training states, while it runs: the same command after a kill goes on from them.
    states = [output.with_name(f".{output.name}.{s}state.pt") for s in ("", "docstring.")]
    output.parent.mkdir(parents=True, exist_ok=True)
    for state in states:
        if state.exists():
            console.err.print(f"{state} exists: going on from it if it was saved by this command")
    seq2seq = None
    with console.progress() as bar:
        task = bar.add_task("masked-LM", total=total)

        def tick(step: int, loss: float) -> None:
            if step % 50 == 0 or step == total:
                bar.update(task, completed=step, description=f"masked-LM loss {loss:.3f}")

        net, tok, stats = pretrain.pretrain(frame, profile, steps, seed, tick, states[0])
        bar.update(task, completed=total)  # also where it went on from its finished state
        if epochs:
            stage = bar.add_task("docstrings", total=epochs)

            def epoch_done(epoch: int, loss: float) -> None:
                bar.update(stage, completed=epoch, description=f"docstrings loss {loss:.3f}")

            seq2seq, stats["docstrings"] = pretrain.docstrings(
                frame, net, tok, profile, epochs, seed, epoch_done, states[1]
            )
    stats["corpus"] = {"datasets": dataset, "exclude": exclude or [], **counts}
    pretrain.save(net, tok, stats, output, seq2seq)
    for state in states:
        state.unlink(missing_ok=True)
    if as_json:
        print(json.dumps(stats, indent=2))
        return
    held = stats["held_out"]
    done = f"{stats['hyperparameters']['steps']:,} masked-LM steps in {stats['seconds']:.0f}s"
    if held:
        done += f" (held-out loss {held['mlm_loss']:.3f}, accuracy {held['mlm_accuracy']:.1%})"
    if "docstrings" in stats:
        doc = stats["docstrings"]
        done += f", {doc['epochs']} docstring epoch(s) in {doc['seconds']:.0f}s"
        if doc["held_out"]:
            done += f" (held-out loss {doc['held_out']['docstring_loss']:.3f})"
    console.err.print(f"wrote {output}: {done}", highlight=False)


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
    console.err.print(f"wrote {html_path} and {md_path}", highlight=False)


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
    from benchmark.metrics.compare import compare_runs

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
        f"{r['replicates']} resamplings",
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
    noise: Annotated[str, typer.Option(help="Comma-separated label-noise rates.")] = "0,0.5,1",
    seeds: Annotated[int, typer.Option(min=2, help="Seeds per rate: 0 .. N-1.")] = 3,
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
    except ValueError as e:
        raise fail(str(e)) from None
    if sweep:
        for task, model, dataset in pairs:
            try:
                spec = sw.make_spec(task, dataset, model, noise, "label", seeds, profile, None,
                                    device, "process")  # fmt: skip
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
        summaries, units = fd.collect(results, pairs)
        page = fd.write_page(summaries, units, out, "bench " + shlex.join(sys.argv[1:]))
    except (ValueError, OSError, KeyError) as e:
        raise fail(str(e)) from None
    console.err.print(f"wrote {page}", highlight=False)


sweep_app = typer.Typer(
    help="Sweeps over models x noise rates x seeds that skip complete units and resume.",
    no_args_is_help=True,
)
app.add_typer(sweep_app, name="sweep")
app.add_typer(datasets_app, name="datasets")
app.add_typer(images_app, name="images")
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
    weights: Annotated[
        Path | None,
        typer.Option(help="Folder of pretrained weights (Hugging Face format) to start from."),
    ] = None,
    results: Annotated[Path, typer.Option(help="Folder that holds the results.")] = Path("results"),
    partition: Annotated[str | None, typer.Option(help="Partition.", rich_help_panel=SLURM)] = None,
    time: Annotated[
        str | None, typer.Option(help="Time limit per unit (HH:MM:SS).", rich_help_panel=SLURM)
    ] = None,
    account: Annotated[str | None, typer.Option(help="Account.", rich_help_panel=SLURM)] = None,
    gpus_per_unit: Annotated[int, typer.Option(help="GPUs per unit.", rich_help_panel=SLURM)] = 0,
    cpus_per_unit: Annotated[int, typer.Option(help="CPUs per unit.", rich_help_panel=SLURM)] = 1,
    mem: Annotated[
        str | None, typer.Option(help="Memory per unit (e.g. 8G).", rich_help_panel=SLURM)
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
    slurm = sw.SlurmOptions(partition, time, account, gpus_per_unit, cpus_per_unit, mem)
    try:
        spec = sw.make_spec(task, dataset, models, noise, noise_kind, seeds, profile, epochs,
                            device, runner, weights)  # fmt: skip
        check_results(results)
        warn_of_overlap(spec.weights, spec.dataset)
        engine = sw.make_executor(executor, spec, results, max_parallel, slurm)
        summary = sw.run_sweep(spec, results, engine, retries)
    except (sw.BadOption, sw.SweepBusy) as e:
        raise fail(str(e)) from None
    except ExecutorError as e:
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
    from benchmark.sweep import status

    sweeps = status(results, sweep_id)
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
        t.add_row(s["sweep"], s["state"], ",".join(s["models"]),
                  ",".join(f"{r:g}" for r in s["noise_rates"]), str(s["seeds"]), s["profile"],
                  f"{s['complete']}/{s['units_total']}", str(s["running"]), str(s["queued"]),
                  str(s["failed"]), str(s["pending"]), eta)  # fmt: skip
    console.out.print(t)
    for s in sweeps:
        for u in s["units"]:
            if u["state"] == "failed":
                what = f"{s['sweep']} {u['unit']} after {u['attempts']} attempts"
                console.err.print(f"[red]failed[/] {what}: {u['reason']}", highlight=False,
                                  soft_wrap=True)  # fmt: skip


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
    except sub.Rejected as e:
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


class Terminated(SystemExit):
    """SIGTERM (scancel, a Slurm time limit, a killed sweep) unwinds the stack like Ctrl-C, so
    a unit stops its model and discards its partial folder instead of orphaning them."""

    def __str__(self) -> str:
        return "stopped by SIGTERM"


def _terminated(signum: int, frame: object) -> None:
    # Repeats are ignored so they cannot cut the cleanup short: a process whose parent dies
    # gets its parent-death signal once per exiting thread of that parent.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated(128 + signum)


def main() -> None:
    """Entry point: click's usage errors become one line on stderr, exit status 2."""
    signal.signal(signal.SIGTERM, _terminated)
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as e:
        console.err.print(
            f"[bold red]error:[/] {e.format_message()}", highlight=False, soft_wrap=True
        )
        sys.exit(e.exit_code)
    except typer.Abort:
        console.err.print("aborted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
