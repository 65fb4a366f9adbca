"""``bench images build|list|wheelhouse``: the model images and the offline wheelhouse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from benchmark import console
from benchmark.cli.common import fail

app = typer.Typer(help="Docker images of the models: build them, list them.", no_args_is_help=True)


def _say(text: str) -> None:
    console.err.print(escape(text), highlight=False, soft_wrap=True)


@app.command("build")
def build(
    models: Annotated[
        list[str] | None,
        typer.Argument(help="Models whose images to build (every model when none is named)."),
    ] = None,
    base: Annotated[
        str | None,
        typer.Option(
            help="Image to build on: any Debian-based image with python3, venv and pip "
            "(a CUDA PyTorch image by default)."
        ),
    ] = None,
    wheelhouse: Annotated[
        Path | None,
        typer.Option(
            help="Folder of wheels to install every Python package from, with no network "
            "(see `bench images wheelhouse`)."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print {name: tag} as JSON on stdout.")
    ] = False,
) -> None:
    """Build the base image and the models' images that are missing; tags hash their inputs."""
    from benchmark import images

    try:
        tags = images.build(models or (), base, wheelhouse, say=_say)
    except images.ImageError as e:
        raise fail(str(e), code=2 if "no image for model" in str(e) else 1) from None
    if as_json:
        print(json.dumps(tags, indent=2))
    else:
        for name, tag in tags.items():
            console.out.print(f"{name}\t{tag}", highlight=False)


@app.command("list")
def list_images(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the images as JSON on stdout.")
    ] = False,
) -> None:
    """The images `bench images build` made that are on this machine."""
    from benchmark import images

    try:
        rows = images.listing()
    except images.ImageError as e:
        raise fail(str(e), code=1) from None
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    t = Table(title="images")
    for col in ("name", "tag", "size MB", "created", "base"):
        t.add_column(col, justify="right" if col == "size MB" else "left")
    for r in rows:
        t.add_row(r["name"], r["tag"], f"{r['size_mb']:,.0f}", r["created"][:19], r["base"])
    console.out.print(t)


@app.command("wheelhouse")
def wheelhouse(
    dest: Annotated[Path, typer.Argument(help="Folder to fill with wheels (created if missing).")],
    torch: Annotated[
        str | None,
        typer.Option(help="torch requirement to ship; the version installed here by default."),
    ] = None,
    find_links: Annotated[
        list[Path] | None,
        typer.Option(help="Folder of wheels to look in first (e.g. /opt/wheels for torch)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the wheels' names as JSON on stdout.")
    ] = False,
) -> None:
    """Fill DEST with wheels of the suite and every dependency, for builds with no network."""
    from benchmark import images

    try:
        wheels = images.make_wheelhouse(dest, torch, find_links or (), say=_say)
    except images.ImageError as e:
        raise fail(str(e), code=1) from None
    size = sum(w.stat().st_size for w in wheels) / 1e6
    if as_json:
        print(json.dumps([w.name for w in wheels], indent=2))
    else:
        _say(f"{len(wheels)} wheels, {size:,.0f} MB, in {dest}")
