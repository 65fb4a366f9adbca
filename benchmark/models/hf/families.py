"""A local Hugging Face folder: its family (from config.json), its backbone and tokenizer, and
the fine-tuning mode applied to it (every weight, LoRA adapters, or none of the backbone's).

Nothing is ever downloaded: the hub is switched off before transformers is imported and every
load is ``local_files_only``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from benchmark.trainer import InputError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

CAUSAL_ARCHITECTURES = ("ForCausalLM", "LMHeadModel")


@dataclass
class Loaded:
    family: str  # encoder, seq2seq or causal
    backbone: nn.Module
    tokenizer: Any
    output_missing: bool = False  # an untied output layer the checkpoint lacks (random)


def family_of(config: Any, asked: str = "auto") -> str:
    """encoder-decoder (T5, BART): seq2seq; a causal language model (GPT-2, LLaMA): causal;
    a masked-language-model encoder (BERT, RoBERTa): encoder. ``asked`` overrides it."""
    if asked != "auto":
        return asked
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    if getattr(config, "is_encoder_decoder", False):
        return "seq2seq"
    architectures = getattr(config, "architectures", None) or []
    if any(a.endswith(CAUSAL_ARCHITECTURES) for a in architectures):
        return "causal"
    if config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        return "encoder"
    if config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return "causal"
    raise InputError(
        f"weights: model type {config.model_type!r} is neither an encoder, an "
        "encoder-decoder nor a causal language model; set hyperparameter family"
    )


# The files a Hugging Face tokenizer is read from (fast, BPE, WordPiece, SentencePiece).
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "vocab.txt", "spiece.model", "tokenizer.model",
                   "sentencepiece.bpe.model")  # fmt: skip


def load(folder: Path, asked_family: str) -> Loaded:
    """The folder's backbone (the bare encoder; the whole seq2seq or causal language model, as
    generation needs its output layer) and tokenizer."""
    from transformers import (
        AutoConfig,
        AutoModel,
        AutoModelForCausalLM,
        AutoModelForSeq2SeqLM,
        AutoTokenizer,
    )
    from transformers.utils import logging

    from benchmark.models.hf.tokens import SubtokenVocabulary

    logging.disable_progress_bar()  # model.log is for the run's own lines
    if (folder / "adapter_config.json").is_file() and not (folder / "config.json").is_file():
        raise InputError(f"weights {folder} hold a peft adapter, not a model: merge it into its "
                         "base model (merge_and_unload, then save_pretrained) and give that "
                         "folder, or give the base model's folder")  # fmt: skip
    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
        family = family_of(config, asked_family)
        auto = {"encoder": AutoModel, "seq2seq": AutoModelForSeq2SeqLM,
                "causal": AutoModelForCausalLM}[family]  # fmt: skip
        backbone, info = auto.from_pretrained(folder, local_files_only=True,
                                              output_loading_info=True)  # fmt: skip
        vocabulary = folder / "subtokens.json"  # a `bench models pretrain` folder's
        if not vocabulary.is_file() and not any((folder / f).is_file() for f in TOKENIZER_FILES):
            # AutoTokenizer would make one of a handful of tokens, every code token unknown
            raise InputError(f"weights {folder} have no tokenizer (none of "
                             f"{', '.join(TOKENIZER_FILES)})")  # fmt: skip
        tokenizer = (SubtokenVocabulary(vocabulary) if vocabulary.is_file()
                     else AutoTokenizer.from_pretrained(folder, local_files_only=True))  # fmt: skip
    except InputError:
        raise
    except Exception as exc:  # whatever transformers raises on a folder it cannot read
        # some messages run over lines: huggingface_hub's config validation names the field on
        # the first and the wrong value on the next
        said = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
        raise InputError(f"weights {folder} cannot be loaded: {said or type(exc).__name__}"
                         ) from None
    missing, total = len(info.get("missing_keys", [])), len(backbone.state_dict())
    if missing * 2 > total:  # transformers starts them from random numbers, with a warning
        raise InputError(f"weights {folder}: {missing} of the {family} model's {total} weight "
                         "tensors are not in the checkpoint (another architecture?), so it "
                         "would train from random weights")  # fmt: skip
    # Checkpoints are mostly saved in float16 or bfloat16, which transformers keeps: float16
    # trained to NaN, bfloat16 met the float32 heads. Weights train in float32 (the trainer's
    # autocast computes in bfloat16 on a GPU).
    backbone.float()
    return Loaded(family, backbone, tokenizer, _output_missing(backbone, info))


def _output_missing(backbone: nn.Module, info: dict[str, Any]) -> bool:
    """Whether the output layer is untied and not in the checkpoint (a causal model saved
    without its language-model head), so that transformers started it from random numbers."""
    out = backbone.get_output_embeddings()
    if out is None or out.weight is backbone.get_input_embeddings().weight:
        return False
    names = {n for n, p in backbone.named_parameters(remove_duplicate=False) if p is out.weight}
    return bool(names & set(info.get("missing_keys", [])))


def hidden_size(backbone: nn.Module) -> int:
    """The width of the backbone's states: ALBERT and ELECTRA-small embed narrower."""
    width = getattr(backbone.config, "hidden_size", None)
    return int(width) if isinstance(width, int) else embedding_size(backbone)


def embedding_size(backbone: nn.Module) -> int:
    return int(backbone.get_input_embeddings().embedding_dim)


def attention_heads(backbone: nn.Module) -> int:
    cfg = backbone.config
    for key in ("num_attention_heads", "n_head", "num_heads", "encoder_attention_heads"):
        if isinstance(getattr(cfg, key, None), int):
            return int(getattr(cfg, key))
    return 1


def positions(backbone: nn.Module) -> int | None:
    """How many positions the backbone embeds (None: relative positions, as T5's)."""
    cfg = backbone.config
    for key in ("max_position_embeddings", "n_positions"):
        if isinstance(getattr(cfg, key, None), int):
            return int(getattr(cfg, key))
    return None


def takes_positions(backbone: nn.Module) -> bool:
    """Whether the model's forward names ``position_ids`` (under peft's wrapper, if any): a
    causal model that does can generate left-padded rows from its key/value cache with the
    positions of their real tokens. One that does not may count the padding as positions
    (BART's decoder, whose positions come from the cache's length) or as state (Mamba), so it
    re-reads its rows right-padded; BLOOM, whose ALiBi reads the mask, does so too: slower,
    not wrong."""
    import inspect

    model = backbone.get_base_model() if hasattr(backbone, "get_base_model") else backbone
    return "position_ids" in inspect.signature(model.forward).parameters


def lora(backbone: nn.Module, hp: dict[str, Any]) -> nn.Module:
    """The backbone with LoRA adapters (peft) on ``lora_targets``, its own weights frozen: peft's
    default modules for the model type, else every linear layer but the output one."""
    from peft import LoraConfig, get_peft_model

    targets = hp["lora_targets"]
    if targets == "auto":
        from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as KNOWN

        targets = KNOWN.get(backbone.config.model_type, "all-linear")
    if not (targets == "all-linear" or (isinstance(targets, list) and targets
                                        and all(isinstance(t, str) for t in targets))):  # fmt: skip
        raise InputError(f"task.json: lora_targets must be 'auto', 'all-linear' or a list of "
                         f"module names, not {targets!r}")  # fmt: skip
    config = LoraConfig(r=int(hp["lora_r"]), lora_alpha=float(hp["lora_alpha"]),
                        lora_dropout=float(hp["lora_dropout"]), target_modules=targets)  # fmt: skip
    try:
        return get_peft_model(backbone, config)
    except ValueError as exc:  # no module of the model matches the targets
        raise InputError(f"task.json: lora_targets {targets!r}: {exc}") from None


def freeze(backbone: nn.Module, keep_output_layer: bool) -> None:
    """Head only: no weight of the backbone trains, but for its output layer where the task
    generates with it (tied to the input embeddings, as in T5 and GPT-2, these train with it)."""
    for p in backbone.parameters():
        p.requires_grad_(False)
    if keep_output_layer and backbone.get_output_embeddings() is not None:
        for p in backbone.get_output_embeddings().parameters():
            p.requires_grad_(True)
