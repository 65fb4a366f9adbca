"""Where humans read: rich output on stderr, so stdout stays for --json."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

err = Console(stderr=True)
# Piped output keeps whole table rows instead of wrapping them at 80 columns.
out = Console(width=None if sys.stdout.isatty() else 200)


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


def os_error(e: OSError) -> str:
    """An OS error as a reader wants it: what went wrong, then where ("No space left on device:
    results/.tmp/x/samples.parquet"), without errno's "[Errno 28]"."""
    what = e.strerror or str(e) or type(e).__name__
    where = [str(f) for f in (e.filename, e.filename2) if f is not None]
    return f"{what}: {' -> '.join(where)}" if where else what
