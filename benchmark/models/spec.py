"""What the harness knows of a model: its name, tasks, input representation and command.

A module of its own so that the registry (``benchmark.models``) and the TOML manifests it reads
(``benchmark.models.manifests``) both import ``ModelSpec`` from below; the manifests imported it
from the registry, which imports them, an import cycle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelSpec:
    name: str
    tasks: tuple[str, ...]
    representation: str
    command: tuple[str, ...]  # one for every task (task.json says which); + --input/--output
    weights: bool = False  # takes pretrained weights (``bench run --weights DIR``)
    finetune: bool = False  # takes ``bench run --finetune full|lora|head`` (hf); needs weights
    protocol: int = 2  # 3: predicts a holdout split it never trains on (docs/protocol.md)


FINETUNE_MODES = ("full", "lora", "head")  # what ``--finetune`` may ask of a model that takes it
# A model's name, wherever it comes from (the registry, a manifest, `bench submit`, ``--name``):
# it names folders and pages, so no markup, no paths.
NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def tuned_name(weights: Path | str, finetune: str) -> str:
    """The unit name of a fine-tuned checkpoint without ``--name``: ``<weights folder>-<mode>``,
    so that runs of other checkpoints and modes stand apart (bench run, bench sweep)."""
    folder = re.sub(r"[^a-z0-9._-]+", "-", Path(weights).resolve().name.lower()).strip("-._")
    return f"{folder or 'hf'}-{finetune}"[:64]
