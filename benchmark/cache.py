"""Where the datasets live and how large an input file may be: the cache root, the dataset
cards and the file-size limit.

A module of its own so that the builders (``benchmark.method_datasets``, ``benchmark.official``)
and the registry that calls them (``benchmark.datasets``) all read these from below, and none
of them imports another one back (they did, and formed an import cycle).
"""

from __future__ import annotations

import os
from pathlib import Path

CARDS = Path(__file__).resolve().parent.parent / "datasets"
# Source files (and JSON lines) larger than this are skipped and counted: one generated or
# minified file of hundreds of MB would otherwise cost minutes and gigabytes for no usable method.
# 2 MiB keeps every file of the built-in corpora (the largest: ruby-debian's generated mail
# parser, 1.4 MB), so their fingerprints, and the results made from them, stay valid.
MAX_FILE_BYTES = 2 << 20


def cache_root() -> Path:
    """``$BENCH_CACHE``, or ~/.cache/bench where it is unset or empty (``BENCH_CACHE=`` is
    not the current folder, which would fill with datasets)."""
    return Path(os.environ.get("BENCH_CACHE") or Path.home() / ".cache" / "bench")


def max_file_bytes() -> int:
    """The size above which a source file or JSON line is skipped: ``$BENCH_MAX_FILE_BYTES``,
    or ``MAX_FILE_BYTES`` (2 MiB)."""
    from native.formats import FormatError

    raw = os.environ.get("BENCH_MAX_FILE_BYTES", "").strip()
    if not raw:
        return MAX_FILE_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise FormatError(f"BENCH_MAX_FILE_BYTES={raw!r}: give a positive number of bytes")
    return value
