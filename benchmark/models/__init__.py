"""Model manifests: how the harness starts each model and what it feeds it."""

from __future__ import annotations

import sys

from benchmark.models.manifests import from_environment
from benchmark.models.spec import ModelSpec

# The var-misuse reference models: module benchmark.models.NAME, and its model class there.
VAR_MISUSE = {"ggnn": "GGNNVarMisuse", "great": "GREATVarMisuse",
              "transformer": "TransformerVarMisuse", "rnn": "RNNVarMisuse"}  # fmt: skip

MODELS = {
    name: ModelSpec(name, ("var_misuse",), "great-jsonl",
                    (sys.executable, "-m", f"benchmark.models.{name}"), protocol=3)
    for name in VAR_MISUSE
}  # fmt: skip
MODELS["baseline"] = ModelSpec(  # one process for every task: it reads task.json
    "baseline",
    ("var_misuse", "method_name", "code_to_text", "code_search"),
    "task-jsonl",
    (sys.executable, "-m", "benchmark.models.baseline"),
    protocol=3,
)

MODELS["code2vec"] = ModelSpec(
    "code2vec",
    ("method_name",),
    "method-name-jsonl",
    (sys.executable, "-m", "benchmark.models.code2vec"),
    protocol=3,
)
MODELS["code2seq"] = ModelSpec(
    "code2seq",
    ("method_name",),
    "method-name-jsonl",
    (sys.executable, "-m", "benchmark.models.code2seq"),
    protocol=3,
)
MODELS["codebert"] = ModelSpec(  # one process for both tasks: it reads task.json
    "codebert",
    ("code_to_text", "code_search"),
    "task-jsonl",
    (sys.executable, "-m", "benchmark.models.codebert"),
    weights=True,
    protocol=3,
)
MODELS["hf"] = ModelSpec(  # any local Hugging Face checkpoint; task.json says task and mode
    "hf",
    ("code_to_text", "code_search", "method_name", "var_misuse"),
    "task-jsonl",
    (sys.executable, "-m", "benchmark.models.hf"),
    weights=True,
    finetune=True,
    protocol=3,
)

# Models declared in TOML manifests named by $BENCH_MODELS (see manifests.py).
MODELS.update(from_environment(set(MODELS)))


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add a model (a plugin's, whose command runs a module it ships); a taken name is an
    error, so the reference models cannot be replaced by accident."""
    if spec.name in MODELS:
        raise ValueError(f"model {spec.name!r} is already registered")
    MODELS[spec.name] = spec
    return spec
