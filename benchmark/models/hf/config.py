"""The tasks, the fine-tuning modes and the hyperparameters per profile of the hf model."""

from __future__ import annotations

from typing import Any

TASKS = ("code_to_text", "code_search", "method_name", "var_misuse")
REPRESENTATIONS = {"code_to_text": "code-to-text-jsonl", "code_search": "code-search-jsonl",
                   "method_name": "method-name-jsonl", "var_misuse": "great-jsonl"}  # fmt: skip
GENERATION = {  # task -> (input field, target field, output field, the protocol's limit)
    "code_to_text": ("source_tokens", "doc_tokens", "tokens", 256),
    "method_name": ("source_tokens", "label", "subtokens", 64),
}
MODES = ("full", "lora", "head")
FAMILIES = ("encoder", "seq2seq", "causal")
# The learning rate of each mode where ``lr`` is "auto": fine-tuning every weight wants a small
# step (CodeXGLUE's 5e-5), adapters a larger one (LoRA's usual 3e-4), a head alone larger still.
# The rates are for a CodeBERT-wide backbone (WIDE); where the backbone trains (full, LoRA) a
# narrower one gets them times WIDE / its width (train.settle_lr).
LR = {"full": 5e-5, "lora": 3e-4, "head": 1e-3}
WIDE = 768

# Per-profile defaults; task.json's ``hyperparameters`` override any of them (``finetune`` is
# what ``bench run --finetune`` sets). Sizes of the backbone come from the weights' config.json;
# these bound the inputs (sub-words of the code, of the target, of code_search's query), size the
# new layers (``decoder_layers`` of an encoder-only model's text decoder, ``dropout`` of the new
# layers) and set LoRA (rank, alpha, dropout, ``lora_targets``: "auto" for peft's default modules
# of the model type, else "all-linear" or a list of module names). code_search adds codebert's
# two aids, with its settings: ``overlap`` levels of an "appears on the other side" embedding
# (zero at the start, so the checkpoint is the starting point unchanged) and ``negatives``
# in-batch negatives per query (none at paper, as CodeBERT's fine-tuning). From the same
# ``bench models pretrain`` folder at cpu, without them hf and codebert both rank ruby-stdlib's
# validation queries at MRR ~0.1; codebert's overlap lifts it to 0.50. ``smoke`` trains tiny models
# fast, at a rate a random tiny backbone learns at; ``paper`` is CodeXGLUE's fine-tuning setup
# (source 256, target 128, batch 32, 10 epochs).
_COMMON: dict[str, Any] = {"finetune": "full", "family": "auto", "lr": "auto", "warmup": 0.1,
                           "weight_decay": 0.0, "clip": 1.0, "dropout": 0.1, "decoder_layers": 2,
                           "lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.05,
                           "lora_targets": "auto", "overlap": 8, "negatives": 0}  # fmt: skip
DEFAULTS: dict[str, dict[str, Any]] = {
    "smoke": {**_COMMON, "max_source": 64, "max_target": 16, "max_query": 16, "max_function": 128,
              "lr": 1e-3, "decoder_layers": 1, "batch_size": 16, "epochs": 2, "threads": 1,
              "negatives": 1},
    "cpu": {**_COMMON, "max_source": 128, "max_target": 32, "max_query": 32, "max_function": 256,
            "batch_size": 16, "epochs": 4, "threads": 1, "negatives": 3},
    "paper": {**_COMMON, "max_source": 256, "max_target": 128, "max_query": 64,
              "max_function": 512, "decoder_layers": 6, "batch_size": 32, "epochs": 10,
              "threads": 0},
}  # fmt: skip
POSITIVE = ("max_source", "max_target", "max_query", "max_function", "decoder_layers", "lora_r")
