"""The sha256 of each file of a finished unit, remembered by the file's stat identity.

Every reader checks a unit's files against its manifest (``benchmark.results.verify``). At the
paper profile a unit's samples.parquet holds every sample at each of 40 epochs, gigabytes on
a large dataset, and a grid holds hundreds of units: each `bench leaderboard show`, sweep or
report read all of it again to hash it. A file whose device, inode, size, modification and
change times are those it had when it was hashed holds the same bytes: writing to it,
replacing it or copying it changes one of them, and setting its modification time back moves
its change time, which only the kernel sets. So its hash is reused, as git's index and rsync
reuse theirs. A file hashed within two seconds of its last change is not remembered (git's
"racily clean" case): a file system's clock ticks coarser than its nanoseconds, and a write
in the same tick would leave the times as they were.

The memory is one small JSON file per unit folder under ``$BENCH_CACHE/digests``, replaced
whole, so concurrent readers need no lock; one that cannot be read or written is ignored
(the files are hashed, as without it).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import uuid
from pathlib import Path

from benchmark.cache import cache_root

_CHUNK = 1 << 20
SETTLED_NS = 2_000_000_000  # how long a file must have been unchanged to be remembered


def sha256(path: Path) -> str:
    """The file's sha256, read in full."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _identity(st: os.stat_result) -> list[int]:
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


class Digests:
    """The hashes of one folder's files, from memory where the file is as it was hashed."""

    def __init__(self, folder: Path) -> None:
        self.folder = str(folder.resolve())
        key = hashlib.sha256(self.folder.encode("utf-8", "surrogateescape")).hexdigest()[:32]
        self.path = cache_root() / "digests" / f"{key}.json"
        self.known: dict[str, list] = {}
        self.changed = False
        try:
            saved = json.loads(self.path.read_text())
        except (OSError, ValueError, RecursionError):
            return
        if isinstance(saved, dict) and saved.get("folder") == self.folder:
            files = saved.get("files")
            self.known = files if isinstance(files, dict) else {}

    def sha256(self, name: str) -> str:
        """The sha256 of the folder's file ``name`` (OSError if it cannot be read)."""
        path = Path(self.folder) / name
        before = os.stat(path)
        identity = _identity(before)
        entry = self.known.get(name)
        if isinstance(entry, list) and len(entry) == 6 and entry[:5] == identity:
            return str(entry[5])
        digest = sha256(path)
        settled = time.time_ns() - before.st_ctime_ns > SETTLED_NS
        if settled and _identity(os.stat(path)) == identity:  # and unchanged while read
            self.known[name] = [*identity, digest]
            self.changed = True
        return digest

    def save(self) -> None:
        """Keep what was hashed, for the next reader; a cache that cannot be written is none."""
        if not self.changed:
            return
        tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.tmp")  # any node
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({"folder": self.folder, "files": self.known}))
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        self.changed = False
