"""The hyperparameters per profile and the names a weights folder uses."""

from __future__ import annotations

from typing import Any

TASKS = ("code_to_text", "code_search")
REPRESENTATIONS = {"code_to_text": "code-to-text-jsonl", "code_search": "code-search-jsonl"}
VOCABULARY = "subtokens.json"  # a weights folder's sub-token vocabulary (bench models pretrain)
DOCSTRING_MODEL = "docstring.safetensors"  # and its code_to_text model, trained to write docstrings

# Per-profile defaults; task.json's ``hyperparameters`` override any of them. ``paper`` is
# CodeBERT (hidden 768, 12 layers, 12 heads) with CodeXGLUE's fine-tuning settings (source 256,
# target 128, 6 decoder layers, beam 10, AdamW at 5e-5, batch 32); ``cpu`` is a 2-layer width-64
# model with the copy mechanism and greedy decoding, batches of 16 over 64 source sub-tokens
# (chosen on ruby-stdlib's validation split: code_to_text BLEU 10.2 against 9.7 with batches of
# 32 and 9.5 with batches of 8 at lr 1e-3; code_search MRR 0.447 with 16 or 32), and 3 in-batch
# negatives per code_search query (7 ranked validation queries better, MRR 0.476 against 0.447,
# but judged pairs worse, 0.784 against 0.812, at half the training speed); ``smoke`` is tiny.
# ``retrieve`` (code_to_text, below ``paper``): the encoder also reads the given docstring of
# the nearest other training method by code (``retrieval``). On ruby-debian at ``cpu`` (3
# seeds, last epoch) it raised validation BLEU from 9.89 to 10.46 and the gain above the
# noise-1.0 floor from 1.60 to 2.37 on validation (2.25 to 3.94 on test; docs/results.md);
# ``paper`` is CodeXGLUE's, so without it.
# With ``weights`` the encoder's sizes come from the folder's config.json instead.
# ``max_source`` bounds the code (code_to_text) or the whole pair (code_search); ``max_query``
# the query within it.
DEFAULTS: dict[str, dict[str, Any]] = {
    "smoke": {"hidden": 32, "layers": 1, "heads": 2, "ff": 64, "decoder_layers": 1,
              "max_source": 64, "max_target": 16, "max_query": 16, "beam": 1,
              "vocab_size": 2000, "dropout": 0.0, "lr": 2e-3, "warmup": 0.1,
              "weight_decay": 0.0, "batch_size": 16, "clip": 1.0, "overlap": 8,
              "negatives": 1, "copy": True, "retrieve": True, "epochs": 2, "threads": 1},
    "cpu": {"hidden": 64, "layers": 2, "heads": 4, "ff": 256, "decoder_layers": 2,
            "max_source": 64, "max_target": 24, "max_query": 32, "beam": 1,
            "vocab_size": 10000, "dropout": 0.1, "lr": 2e-3, "warmup": 0.1,
            "weight_decay": 0.0, "batch_size": 16, "clip": 1.0, "overlap": 8,
            "negatives": 3, "copy": True, "retrieve": True, "epochs": 8, "threads": 1},
    "paper": {"hidden": 768, "layers": 12, "heads": 12, "ff": 3072, "decoder_layers": 6,
              "max_source": 256, "max_target": 128, "max_query": 64, "beam": 10,
              "vocab_size": 50265, "dropout": 0.1, "lr": 5e-5, "warmup": 0.0,
              "weight_decay": 0.0, "batch_size": 32, "clip": 1.0, "overlap": 8,
              "negatives": 0, "copy": False, "retrieve": False,
              "epochs": 10, "threads": 0},
}  # fmt: skip
# From ``weights`` (a pretrained encoder), where they differ from the defaults above: at
# ``cpu``, code_search fine-tunes a ``bench models pretrain`` encoder best at a quarter of the
# from-scratch rate (ruby-stdlib validation MRR 0.494 at 5e-4, 0.475 at 2.5e-4, 0.462 at
# 2e-3), while code_to_text keeps 2e-3 (BLEU 9.98, against 9.53 at 1e-3 and 9.26 at 5e-4).
# ``paper``'s rates are already CodeXGLUE's fine-tuning ones.
FROM_WEIGHTS: dict[str, dict[str, dict[str, Any]]] = {
    "cpu": {"code_search": {"lr": 5e-4}},
}
POSITIVE = ("decoder_layers", "max_source", "max_target", "max_query", "beam")


def source_length(hp: dict[str, Any]) -> int:
    """The longest encoder input of code_to_text: the code, and with ``retrieve`` the
    retrieved docstring after it."""
    return int(hp["max_source"]) + (int(hp["max_target"]) - 1 if hp.get("retrieve") else 0)
