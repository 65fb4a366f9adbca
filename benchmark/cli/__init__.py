"""The ``bench`` command: a Typer app whose commands live one group per file in this package."""

from __future__ import annotations

import signal
import sys

import typer

from benchmark import console
from benchmark.cli import _plugins  # noqa: F401  (first: the commands' help lists their tasks)
from benchmark.cli.app import app, leaderboard_app, models_app, sweep_app
from benchmark.cli.common import check_results, fail, warn_of_overlap
from benchmark.cli.datasets import app as datasets_app
from benchmark.cli.images import app as images_app

# Importing a command module adds its commands; `bench --help` lists them in this order.
# isort: off
from benchmark.cli import run, reports, submissions  # noqa: F401
from benchmark.cli import leaderboard, models, sweep  # noqa: F401
# isort: on

app.add_typer(leaderboard_app, name="leaderboard")
app.add_typer(models_app, name="models")
app.add_typer(sweep_app, name="sweep")
app.add_typer(datasets_app, name="datasets")
app.add_typer(images_app, name="images")
__all__ = ["app", "check_results", "fail", "main", "warn_of_overlap"]


class Terminated(SystemExit):
    """SIGTERM (scancel, a Slurm time limit, a killed sweep) unwinds the stack like Ctrl-C, so
    a unit stops its model, instead of orphaning it, and keeps its staging folder to resume."""

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
    except OSError as e:  # a full disk, a lost mount, a folder made read-only meanwhile
        fail(console.os_error(e), code=1)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
