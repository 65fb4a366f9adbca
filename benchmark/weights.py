"""The fingerprint of a folder of pretrained weights (``bench run --weights DIR``).

Low in the layers on purpose: the orchestrator (``benchmark.run``) records it in run.json and a
model program (``benchmark.models.codebert``) keys its cache by it, and a model program must not
import the orchestrator.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def weights_fingerprint(folder: Path) -> str:
    """A hash of every file's relative name and bytes under a weights folder."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
