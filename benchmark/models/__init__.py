"""Model manifests: how the harness starts each model and what it feeds it."""

from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSpec:
    name: str
    tasks: tuple[str, ...]
    representation: str
    command: tuple[str, ...]  # one for every task (task.json says which); + --input/--output
    weights: bool = False  # takes pretrained weights (``bench run --weights DIR``)


def _var_misuse(name: str) -> ModelSpec:
    """A reference var-misuse model: the shared trainer with its encoder (benchmark.trainer)."""
    command = (sys.executable, "-m", "benchmark.trainer", "--model", name)
    return ModelSpec(name, ("var_misuse",), "great-jsonl", command)


MODELS = {name: _var_misuse(name) for name in ("ggnn", "great", "transformer", "rnn")}
MODELS["baseline"] = ModelSpec(  # one process for every task: it reads task.json
    "baseline",
    ("var_misuse", "method_name", "code_to_text", "code_search"),
    "task-jsonl",
    (sys.executable, "-m", "benchmark.models.baseline"),
)

MODELS["code2vec"] = ModelSpec(
    "code2vec",
    ("method_name",),
    "method-name-jsonl",
    (sys.executable, "-m", "benchmark.models.code2vec"),
)
MODELS["code2seq"] = ModelSpec(
    "code2seq",
    ("method_name",),
    "method-name-jsonl",
    (sys.executable, "-m", "benchmark.models.code2seq"),
)
MODELS["codebert"] = ModelSpec(  # one process for both tasks: it reads task.json
    "codebert",
    ("code_to_text", "code_search"),
    "task-jsonl",
    (sys.executable, "-m", "benchmark.models.codebert"),
    weights=True,
)

# Models declared in TOML manifests named by $BENCH_MODELS (see manifests.py).
from benchmark.models.manifests import from_environment  # noqa: E402 (needs ModelSpec)

MODELS.update(from_environment(set(MODELS)))
