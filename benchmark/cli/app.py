"""The `bench` Typer application and its command groups; each file of this package adds its
commands to them."""

import typer

app = typer.Typer(
    help="Measure how much neural models of code memorize and how well they generalize.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
leaderboard_app = typer.Typer(help="The leaderboard, computed from result folders.")
models_app = typer.Typer(help="The models the harness can run.", no_args_is_help=True)
sweep_app = typer.Typer(
    help="Sweeps over models x noise rates x seeds that skip complete units and resume.",
    no_args_is_help=True,
)
