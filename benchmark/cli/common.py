"""What every command shares: one-line errors, and the checks of options several commands take."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from benchmark import console
from benchmark.metrics.schema import RUN_METRICS
from benchmark.options import folder_problem
from benchmark.results import kept_folder_problem

MAX_SEED = 2**32 - 1  # numpy's legacy generator, which every model seeds, takes no more


# Options `bench run` and `bench sweep` share, declared once.
WeightsOption = Annotated[
    Path | None,
    typer.Option(
        "--weights", help="Folder of pretrained weights (Hugging Face format) to start from."
    ),
]
FinetuneOption = Annotated[
    str | None,
    typer.Option(
        "--finetune",
        help="hf: what trains: full (every weight), lora (adapters) or head (backbone frozen); "
        "full if unset.",
    ),
]


def fail(message: str, code: int = 2) -> typer.Exit:
    """An error as one line on stderr (a message of several lines is joined); escaped, since a
    message quotes patterns and paths, whose [...] rich would take for markup."""
    line = escape(" ".join(message.splitlines()))
    console.err.print(f"[bold red]error:[/] {line}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def check_choice(what: str, value: str, choices: object, why: str = "") -> None:
    """VALUE is one of CHOICES, else one line that lists them (and says ``why`` they are so
    few, where they are)."""
    if value not in choices:
        because = f" ({why})" if why else ""
        raise fail(f"unknown {what} {value!r}; choose from: {', '.join(sorted(choices))}{because}")


def check_results(results: Path) -> None:
    """--results is a folder this process can write in (made if missing): a file there, or a
    read-only place, is one line now rather than a traceback once the dataset is built."""
    if why := folder_problem(results):
        raise fail(f"--results {results} {why}")
    if why := kept_folder_problem(results):
        raise fail(f"--results {results}: {why}")


def check_existing(results: Path) -> None:
    """--results names a folder that exists, where a command only reads it: a mistyped one is
    an error, not an empty listing (or an empty leaderboard written over the last one)."""
    if not results.is_dir():
        what = "is a file, not a folder" if results.exists() else "does not exist"
        raise fail(f"--results {results} {what}")


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


def _fmt(v: object) -> str:
    return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def summary_table(m: dict) -> Table:
    noise = m["noise"]
    counts = f"{noise['n_noisy']}/{noise['n_train']} noisy"
    can = noise.get("n_changeable")  # an input kind that cannot change every sample
    if can is not None and can != noise["n_train"]:
        counts += f", of {can} the noise kind can change"
    t = Table(title=f"{m['model']} on {m['task']}/{m['dataset']}, {noise['kind']} noise "
                    f"{noise['rate']:g} ({counts}), seed {m['seed']}, "
                    f"epoch {m['selected_epoch']} selected")  # fmt: skip
    t.add_column("subset")
    names = list(m["test"])
    for name in names:
        t.add_column(name, justify="right")
    for subset in ("train", "train_clean", "train_noisy", "valid", "test"):
        t.add_row(subset, *[_fmt(m.get(subset, {}).get(n)) for n in names])
    t.caption = ", ".join([f"generalization gap {_fmt(m.get('generalization_gap'))}",
                           *[f"{s.title} {_fmt(s.of(m))}" for s in RUN_METRICS]])  # fmt: skip
    return t
