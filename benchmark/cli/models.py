"""`bench models list|pretrain`: the models the harness can run, and pretraining codebert's
weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from benchmark import console
from benchmark.cli.app import models_app
from benchmark.cli.common import MAX_SEED, check_choice, fail
from benchmark.datasets import DATASETS
from benchmark.options import folder_problem
from benchmark.profiles import PROFILES


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
    seed: Annotated[
        int,
        typer.Option(help="Seed of the initialization, batches and masks.", min=0, max=MAX_SEED),
    ] = 0,
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
    if why := folder_problem(output.parent):  # now: the training states go beside OUTPUT
        raise fail(f"{output.parent} {why}")
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
