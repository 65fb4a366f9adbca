"""What the harness knows of a model: its name, tasks, input representation and command.

A module of its own so that the registry (``benchmark.models``) and the TOML manifests it reads
(``benchmark.models.manifests``) both import ``ModelSpec`` from below; the manifests imported it
from the registry, which imports them, an import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSpec:
    name: str
    tasks: tuple[str, ...]
    representation: str
    command: tuple[str, ...]  # one for every task (task.json says which); + --input/--output
    weights: bool = False  # takes pretrained weights (``bench run --weights DIR``)
    finetune: bool = False  # takes ``bench run --finetune full|lora|head`` (hf); needs weights
