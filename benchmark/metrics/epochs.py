"""Reading a per-sample table in slices of whole epochs.

Every figure of a run's summary is per epoch, or a per-sample sum over epochs, so the summary
reads the table a slice of epochs at a time and holds one slice's groups, never the groups of
every epoch's rows: at the paper profile a unit has tens of millions of rows.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

# Rows a slice holds at most, unless one epoch has more (a slice is never less than an epoch).
# The summary's queries hold up to 0.3 KB a row of their slice, about 170 MiB; each slice
# costs a few milliseconds a query, so smaller slices take longer.
SLICE_ROWS = 2**19


def slices(table: pl.DataFrame | pl.LazyFrame, max_rows: int | None = None) -> list[list[int]]:
    """The table's epochs in ascending order, in runs of whole epochs of at most `max_rows`
    rows (`SLICE_ROWS` by default; one epoch, where an epoch has more); empty for an empty
    table."""
    max_rows = SLICE_ROWS if max_rows is None else max_rows
    counts = table.lazy().group_by("epoch").len().sort("epoch").collect()
    out: list[list[int]] = []
    rows = 0
    for epoch, n in counts.iter_rows():
        if not out or rows + n > max_rows:
            out.append([])
            rows = 0
        out[-1].append(epoch)
        rows += n
    return out


def read(table: pl.DataFrame | pl.LazyFrame, epochs: list[list[int]]) -> Iterator[pl.LazyFrame]:
    """The table's rows of each slice in turn. A file's scan reads only the row groups of the
    slice's epochs, and each query only its columns. A frame in memory whose rows are in
    epoch order (the harness's layout) is cut into views, not filtered: a filter would
    compare every row of the table once per slice."""
    if isinstance(table, pl.DataFrame) and table["epoch"].is_sorted():
        column = table["epoch"]
        for part in epochs:
            start = column.search_sorted(part[0], "left")
            end = column.search_sorted(part[-1], "right")
            yield table.slice(start, end - start).lazy()
        return
    for part in epochs:
        yield table.lazy().filter(pl.col("epoch").is_in(part))
