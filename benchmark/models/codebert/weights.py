"""Starting points: a pretrained folder, a docstring-trained model, or a random encoder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from benchmark.models.codebert.config import DOCSTRING_MODEL, VOCABULARY, source_length
from benchmark.models.codebert.encoder import Encoder, init_weights
from benchmark.models.codebert.heads import PairClassifier, Seq2Seq
from benchmark.models.codebert.tokenizers import (
    PretrainedTokenizer,
    SubtokenTokenizer,
    Tokenizer,
    special_ids,
)
from benchmark.trainer import InputError


def load_pretrained(folder: Path, dropout: float) -> tuple[Encoder, Tokenizer]:
    """The encoder and tokenizer of a local Hugging Face RoBERTa folder (e.g. a saved
    microsoft/codebert-base, or one from ``bench models pretrain`` with its sub-token
    vocabulary), loaded with transformers and copied into this file's encoder."""
    from transformers import AutoModel, AutoTokenizer

    try:
        hf = AutoModel.from_pretrained(folder, local_files_only=True)
        tok: Any = (SubtokenTokenizer.read(folder / VOCABULARY) if (folder / VOCABULARY).exists()
                    else AutoTokenizer.from_pretrained(folder, local_files_only=True))  # fmt: skip
    except (OSError, ValueError) as exc:
        line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"weights {folder} cannot be loaded: {line}") from None
    cfg = hf.config
    act = getattr(cfg, "hidden_act", None)  # T5's and GPT-2's configs have none
    if cfg.model_type not in ("roberta", "xlm-roberta") or act != "gelu":
        raise InputError(f"weights {folder}: a {cfg.model_type} model with {act}; "
                         "codebert loads RoBERTa-style encoders (gelu)")  # fmt: skip
    sizes = {"vocab": cfg.vocab_size, "hidden": cfg.hidden_size, "layers": cfg.num_hidden_layers,
             "heads": cfg.num_attention_heads, "ff": cfg.intermediate_size,
             "positions": cfg.max_position_embeddings, "types": cfg.type_vocab_size,
             "pad_id": cfg.pad_token_id, "eps": cfg.layer_norm_eps}  # fmt: skip
    encoder = Encoder(sizes, dropout)
    state = {
        k: v
        for k, v in hf.state_dict().items()
        if k.startswith(("embeddings.", "encoder.")) and not k.endswith("position_ids")
    }
    missing, unexpected = encoder.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise InputError(f"weights {folder}: parameters do not fit a RoBERTa encoder "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")  # fmt: skip
    if len(tok) > cfg.vocab_size:
        raise InputError(f"weights {folder}: the tokenizer has {len(tok)} tokens, the model "
                         f"{cfg.vocab_size}")  # fmt: skip
    return encoder, tok if isinstance(tok, SubtokenTokenizer) else PretrainedTokenizer(tok)


def save_docstring_model(model: Seq2Seq, path: Path) -> None:
    """The whole code_to_text model (its output layer is the word vectors, stored once), with
    the decoder's depth and copy setting in the file's metadata."""
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    meta = {"decoder_layers": str(len(model.decoder.layers)), "copy": json.dumps(model.copy)}
    save_file(state, str(path), metadata=meta)


def docstring_model(folder: Path) -> tuple[dict[str, Tensor], dict[str, Any]] | None:
    """A weights folder's code_to_text model (DOCSTRING_MODEL) and the settings it was built
    with, or None where the folder has none."""
    path = folder / DOCSTRING_MODEL
    if not path.exists():
        return None
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not a dict)
        shape = {"decoder_layers": int(meta["decoder_layers"]), "copy": json.loads(meta["copy"])}
    except (OSError, ValueError, KeyError, SafetensorError) as exc:
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"weights {folder}: {DOCSTRING_MODEL} cannot be read: {line}") from None
    if shape["decoder_layers"] < 1 or not isinstance(shape["copy"], bool):
        raise InputError(f"weights {folder}: {DOCSTRING_MODEL} has no decoder settings {shape}")
    return state, shape


def random_encoder(tok: SubtokenTokenizer, hp: dict[str, Any], task: str) -> Encoder:
    longest = int(hp["max_source"]) if task == "code_search" else max(
        source_length(hp), int(hp["max_target"]))  # fmt: skip
    sizes = {"vocab": len(tok), "hidden": int(hp["hidden"]), "layers": int(hp["layers"]),
             "heads": int(hp["heads"]), "ff": int(hp["ff"]), "positions": longest + 2,
             "types": 1, "pad_id": tok.pad_id, "eps": 1e-5}  # fmt: skip
    if sizes["hidden"] % sizes["heads"]:
        raise InputError("task.json: hidden must be a multiple of heads")
    return Encoder(sizes, float(hp["dropout"]))


def build(task: str, encoder: Encoder, hp: dict[str, Any], tok: Tokenizer, pretrained: bool
          ) -> nn.Module:  # fmt: skip
    """The task's model around ``encoder``; new layers get RoBERTa's initialization, and the
    encoder too unless ``pretrained``."""
    dropout = float(hp["dropout"])
    head = (
        Seq2Seq(encoder, int(hp["decoder_layers"]), dropout, bool(hp["copy"]), special_ids(tok))
        if task == "code_to_text"
        else PairClassifier(encoder, dropout, int(hp["overlap"]))
    )
    for name, module in head.named_children():
        if name not in ("encoder", "overlap", "lm_head"):  # lm_head: the tied embeddings
            init_weights(module)
    if not pretrained:
        init_weights(encoder)
        init_word_vectors(encoder)
    return head


def init_word_vectors(encoder: Encoder) -> None:
    """From scratch, word vectors of norm ~1 rather than RoBERTa's 0.02 * sqrt(hidden): the
    tied output layer reads them after a tanh, and with small ones every next-token
    distribution stays near uniform for many epochs. The embedding LayerNorm makes the scale
    irrelevant on the input side."""
    words = encoder.embeddings.word_embeddings
    nn.init.normal_(words.weight, std=encoder.sizes["hidden"] ** -0.5)
    nn.init.zeros_(words.weight[words.padding_idx])
