"""``bench datasets list|info|prepare``: the dataset cards, what is here, and getting the rest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from benchmark import console
from benchmark.cli.common import fail

app = typer.Typer(help="Dataset cards: list them, describe one, download or read one.")


def availability(c: dict) -> tuple[bool, str]:
    """(available here, a one-line note: where it is, or how to get it)."""
    from benchmark import official
    from native import sources

    name = c["name"]
    if c.get("kind") == "official":
        out = official.prepared(name)
        return (True, str(out)) if out else (False, f"run `bench datasets prepare {name}`")
    try:
        if name == "jdk":
            return True, str(sources.jdk_src_zip())
        if name == "ruby-stdlib":
            return True, str(sources.ruby_stdlib())
        if name == "ruby-debian":
            return True, f"{len(sources.debian_ruby().packages)} Debian packages installed"
        if name == "python-stdlib":
            return True, str(sources.python_stdlib())
    except FileNotFoundError:
        return False, c.get("how_to_get", "not installed")
    return True, c.get("how_to_get", "")


@app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print the cards as JSON.")] = False,
) -> None:
    """Every dataset card, and whether the dataset is available here."""
    from benchmark import official

    rows = []
    for name, c in official.cards().items():
        ok, note = availability(c)
        rows.append({"name": name, "kind": c.get("kind"), "tasks": c.get("tasks", []),
                     "language": c.get("language"), "available": ok, "note": note})  # fmt: skip
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("dataset", "kind", "tasks", "language", "available", "where / how to get it")
    for r in rows:
        table.add_row(r["name"], r["kind"], ", ".join(r["tasks"]), r["language"],
                      "yes" if r["available"] else "no", escape(r["note"]))  # fmt: skip
    console.out.print(table)


def _local_info(name: str) -> dict[str, Any]:
    from benchmark import datasets, method_datasets, official

    if name.startswith("dir:"):  # resolved as `bench run` resolves it: a zip, no language
        spec = datasets.folder_spec(name)
        fp, df, info = method_datasets.load(spec.name, datasets.cache_root())
    else:
        d = datasets.load(name)
        fp, df, info = d.fingerprint, d.samples, d.info
    return {**info, **official.describe(df), "fingerprint": fp}


@app.command()
def info(
    name: Annotated[str, typer.Argument(help="A card's name, or dir:PATH[:ruby].")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the description as JSON.")] = False,
) -> None:
    """Sizes per split, vocabularies, labels, duplicates and fingerprint (builds if needed)."""
    from benchmark import official

    try:
        c = official.card_of(name)
        if c.get("kind") == "official":
            _, _, data = official.load(name)
        else:
            data = _local_info(name)
    except (KeyError, OSError, ValueError) as e:  # ValueError: FormatError, one line
        raise fail(str(e.args[0] if isinstance(e, KeyError) else e)) from None
    out = {"card": {k: v for k, v in c.items() if k != "name"}, **data, "name": name}
    if as_json:
        print(json.dumps(out, indent=2, default=str))
        return
    table = Table("field", "value", show_header=False)
    for key in ("name", "fingerprint", "samples", "vocabulary", "labels", "duplicates_removed"):
        if key in out:
            table.add_row(key, escape(json.dumps(out[key], default=str)))
    for key, what in (("skipped_large", f"larger than {out.get('max_file_bytes')} bytes"),
                      ("without_tokens", "without code or docstring tokens"),
                      ("unreadable", "unreadable")):  # fmt: skip
        if out.get(f"{key}_count"):
            table.add_row(f"left out: {what}", str(out[f"{key}_count"]))
    for key in ("license", "split_rule"):
        if key in c:
            table.add_row(key, escape(str(c[key])))
    ok, note = availability(c)
    table.add_row("available" if ok else "how to get it", escape(note))
    console.out.print(table)


@app.command()
def prepare(
    name: Annotated[str, typer.Argument(help="An official dataset's card name.")],
    source: Annotated[
        Path | None, typer.Option(help="An archive or folder you already have, in its format.")
    ] = None,
    url: Annotated[str | None, typer.Option(help="Download from here instead (a mirror).")] = None,
) -> None:
    """Download (resuming, checking sha256) or read an official dataset into the cache."""
    from benchmark import official

    if url is not None and not url.strip():  # not the card's URL without a word
        raise fail("--url is empty; leave it out to download from the card's URL")
    try:
        out = official.prepare(name, source, url)
    except (KeyError, OSError, ValueError, official.DownloadError) as e:
        raise fail(str(e.args[0] if isinstance(e, KeyError) else e)) from None
    console.err.print(f"prepared {escape(name)} in {escape(str(out))}", highlight=False)
