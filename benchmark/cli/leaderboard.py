"""`bench leaderboard show|export|publish`: the standings computed from result folders."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from benchmark import console
from benchmark.cli.app import leaderboard_app
from benchmark.cli.common import check_choice, check_existing, fail
from benchmark.metrics.schema import RUN_METRICS

if TYPE_CHECKING:  # standings is imported when a command runs, not at start-up
    from benchmark.standings import Collection

ResultsOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--results",
        help="Folder that holds results; repeat it to merge folders (from several machines).",
    ),
]


def _folders(results: list[Path] | None) -> list[Path]:
    """The --results folders, each of which must exist: a mistyped one is an error, not an
    empty leaderboard that export and publish would write over the last one."""
    folders = results or [Path("results")]
    for folder in folders:
        check_existing(folder)
    return folders


def _nothing_to_write(rows: list[dict], folders: list[Path], what: str) -> None:
    """Export and publish refuse an empty leaderboard, which would replace the last one with
    nothing: a folder that holds no complete run is a wrong --results, not a result."""
    if not rows:
        where = ", ".join(map(str, folders))
        raise fail(f"no complete runs under {where}: no {what} written", code=1)


def _leaderboard(folders: list[Path]) -> tuple[list[dict], Collection]:
    """The ranked rows and what was found, with every left-out unit reported on stderr (a line
    each)."""
    from benchmark.standings import leaderboard

    rows, found = leaderboard(folders)
    for warning in found.warnings:
        console.err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False,
                          soft_wrap=True)  # fmt: skip
    return rows, found


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

    rows, found = _leaderboard(_folders(results))
    if as_json:
        print(json.dumps({"ranking": RANKING, "rows": rows, "warnings": found.warnings},
                         indent=2))  # fmt: skip
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
                    *[f"@{r}" for r in rates], "robust", *[m.column for m in RUN_METRICS], "params",
                    "train s", "seeds", "hardware"]:  # fmt: skip
            text = col in ("model", "hardware")
            t.add_column(col, justify="left" if text else "right", no_wrap=col == "model")
        for row in members:
            t.add_row(str(row["rank"]), escape(row["model"]), with_interval(row["clean"]),
                      floor_text(row), gain_text(row),
                      *[fmt(row["scores"].get(r, {}).get("mean")) for r in rates],
                      fmt(row["robustness"]), *[fmt(row.get(m.key)) for m in RUN_METRICS],
                      fmt(row["parameters"]),
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
    if out.is_dir():
        raise fail(f"--out {out} is a folder; name the file to write")
    folders = _folders(results)
    rows, found = _leaderboard(folders)
    _nothing_to_write(rows, folders, "export")
    text = export(rows, found.warnings, format)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:  # written whole, then renamed: a failed write leaves the last export as it was
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text)
        os.replace(tmp, out)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise fail(f"cannot write {out}: {e.strerror or e}", code=1) from None
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

    try:
        check_replaceable(out.resolve())  # before the results are read, which takes a while
    except SiteError as e:
        raise fail(str(e)) from None
    folders = _folders(results)
    rows, found = _leaderboard(folders)
    _nothing_to_write(rows, folders, "site")
    try:
        pages = publish(rows, found, out)
    except SiteError as e:
        raise fail(str(e)) from None
    except OSError as e:
        raise fail(f"cannot write the site to {out}: {e.strerror or e}", code=1) from None
    console.err.print(f"wrote {len(pages)} pages to {out}/index.html", highlight=False)
