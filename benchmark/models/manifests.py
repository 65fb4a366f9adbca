"""Models declared outside the package: TOML manifests named by ``$BENCH_MODELS``.

A researcher (or a test) can put a model behind the protocol without editing the package:
``BENCH_MODELS=my-models.toml`` (several files separated by ``os.pathsep``), each file one
table per model::

    [my-model]
    tasks = ["var_misuse"]
    representation = "great-jsonl"
    command = ["python", "my_model.py"]  # the harness adds --input DIR --output DIR
    protocol = 3  # optional: it predicts the holdout split (docs/protocol.md); 2 by default

The variable is inherited by ``bench run`` processes and Slurm jobs, so a sweep can run such
models anywhere. A manifest that cannot be read is reported on stderr and left out, and a
name that is already taken is refused, so the reference models cannot be replaced by accident.
"""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

from benchmark.models.spec import NAME, ModelSpec

ENV = "BENCH_MODELS"


def _spec(name: str, table: object) -> ModelSpec:
    if not NAME.fullmatch(name):
        shown = name if len(name) <= 40 else name[:40] + "..."
        raise ValueError(f"[{shown!r}] is not a model name: use 1-64 of a-z, 0-9, '.', '_', '-', "
                         "starting with a letter or digit")  # fmt: skip
    if not isinstance(table, dict):
        raise ValueError(f"[{name}] is not a table")
    tasks, command = table.get("tasks"), table.get("command")
    if not (isinstance(tasks, list) and tasks and all(isinstance(t, str) for t in tasks)):
        raise ValueError(f"[{name}] needs tasks = a list of task names")
    if not (isinstance(command, list) and command and all(isinstance(c, str) for c in command)):
        raise ValueError(f"[{name}] needs command = a list of strings")
    representation = table.get("representation", "great-jsonl")
    protocol = table.get("protocol", 2)
    if protocol not in (2, 3):
        raise ValueError(f"[{name}] protocol must be 2 or 3, not {protocol!r}")
    return ModelSpec(name, tuple(tasks), str(representation), tuple(command), protocol=protocol)


def from_environment(taken: set[str]) -> dict[str, ModelSpec]:
    """The models that the manifests in ``$BENCH_MODELS`` declare, less names in ``taken``."""
    out: dict[str, ModelSpec] = {}
    for path in filter(None, os.environ.get(ENV, "").split(os.pathsep)):
        try:
            tables = tomllib.loads(Path(path).read_text())
            specs = [_spec(name, table) for name, table in tables.items()]
        except (OSError, ValueError) as e:
            print(f"warning: ignoring model manifest {path} (${ENV}): {e}", file=sys.stderr)
            continue
        for spec in specs:
            if spec.name in taken or spec.name in out:
                print(f"warning: ignoring model {spec.name!r} from {path}: the name is taken",
                      file=sys.stderr)  # fmt: skip
            else:
                out[spec.name] = spec
    return out
