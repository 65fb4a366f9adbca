"""Reading a per-sample table in slices of whole epochs.

Every figure of a run's summary is per epoch, or a per-sample sum over epochs, so the summary
reads the table a slice of epochs at a time and holds one slice's groups, never the groups of
every epoch's rows: at the paper profile a unit has tens of millions of rows.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

# Rows a slice holds at most, unless one epoch has more (a slice is never less than an epoch).
# The summary's queries hold up to 0.4 KB a row of their slice: about 100 MiB.
SLICE_ROWS = 2**18


def slices(lf: pl.LazyFrame, max_rows: int | None = None) -> list[list[int]]:
    """The table's epochs in ascending order, in runs of whole epochs of at most `max_rows`
    rows (`SLICE_ROWS` by default; one epoch, where an epoch has more); empty for an empty
    table."""
    max_rows = SLICE_ROWS if max_rows is None else max_rows
    counts = lf.group_by("epoch").len().sort("epoch").collect()
    out: list[list[int]] = []
    rows = 0
    for epoch, n in counts.iter_rows():
        if not out or rows + n > max_rows:
            out.append([])
            rows = 0
        out[-1].append(epoch)
        rows += n
    return out


def read(lf: pl.LazyFrame, epochs: list[list[int]]) -> Iterator[pl.LazyFrame]:
    """The table's rows of each slice in turn, as a query that reads only what it is asked."""
    for part in epochs:
        yield lf.filter(pl.col("epoch").is_in(part))
