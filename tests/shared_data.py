"""Where the real data of ../shared/data is: beside the clone, or at /work/shared as on CI."""

from __future__ import annotations

from pathlib import Path

_SHARD = "data/great/dev/dev__VARIABLE_MISUSE__SStuB.txt-00024-of-00300"
_BESIDE = Path(__file__).resolve().parents[2] / "shared"
SHARED = _BESIDE if (_BESIDE / _SHARD).exists() else Path("/work/shared")
GREAT_SHARD = SHARED / _SHARD  # one shard of GREAT's dev split, in the official format
assert GREAT_SHARD.exists(), f"the GREAT shard the tests read is missing: {GREAT_SHARD}"
