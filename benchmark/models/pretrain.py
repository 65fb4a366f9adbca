"""Pretraining of codebert on local code, into a folder ``--weights`` loads: masked-LM for the
encoder, then docstring writing for the code_to_text model.

    bench models pretrain codebert weights/ruby --dataset ruby-debian --dataset ruby-stdlib \\
        --exclude ruby-stdlib --steps 30000

CodeBERT starts from weights pretrained on millions of functions; no such weights can be fetched
here, and from scratch on a few thousand methods the cpu model barely passes the retrieval
baselines. This pretrains the same encoder the way CodeBERT's MLM objective does, on the bimodal
sequences ``<s> docstring </s> code </s>`` of the corpus's methods: 15% of the real tokens are
picked, 80% of those replaced by ``<unk>`` (the sub-token vocabulary has no mask token, and
fine-tuning meets ``<unk>`` for every word outside it), 10% by a random word, 10% left, and the
encoder predicts them through RoBERTa's LM head (dense, gelu, LayerNorm, tied output layer).

Masked-LM leaves code_to_text's decoder untrained, and fine-tuned on a few thousand methods it
barely passes the nearest neighbour. So, below ``paper`` (where the decoder starts from random,
as CodeXGLUE's does from CodeBERT), a second stage trains codebert's code_to_text model at the
profile (decoder, copy mechanism) to write each corpus method's docstring from its code,
starting from the masked-LM encoder, for ``docstring_epochs`` epochs. Fine-tuned on
ruby-stdlib from such a folder (ruby-debian and ruby-stdlib, --exclude ruby-stdlib), its test
BLEU went from 9.9 (masked-LM only) to 11.1, past the neighbour's 8.8 by a clear margin.

The corpus is the train split of each ``--dataset``, less every method that duplicates a
valid or test sample of an ``--exclude`` dataset (the one to be fine-tuned on): the same clean
or near-duplicate token hash as the datasets' own deduplication, or the same docstring.
Pretraining on a test method's docstring and code would teach code_to_text its answers.

The folder holds ``config.json`` and ``model.safetensors`` of a ``RobertaForMaskedLM`` (so
transformers' ``AutoModel`` loads it), ``subtokens.json`` (the vocabulary, a list in id order:
codebert tokenizes as it does from scratch) and ``pretraining.json`` (corpus, steps,
hyperparameters, held-out MLM loss and accuracy, held-out docstring loss), and, after the
docstring stage, ``docstring.safetensors``: the whole code_to_text model, its decoder's layers
and copy setting in the file's metadata, which codebert's code_to_text starts from. While it
runs, its training state is saved beside the folder every few hundred steps (every epoch in
the docstring stage), so that the same command after a kill goes on from there.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import pickle
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark import trainer
from benchmark.models import codebert

# Per profile: the encoder's sizes are codebert's at that profile (so that fine-tuning at the
# same profile keeps them); sequences of ``max_length`` sub-tokens (positions enough for
# codebert's code_to_text input at the profile, code and retrieved docstring), the docstring's first
# ``max_doc``; AdamW with a linear warm-up over ``warmup`` of the steps, then linear decay.
# The docstring stage trains for ``docstring_epochs`` with codebert's code_to_text settings at
# the profile (sizes, batches, rate); 10 at cpu (9 min on 2 threads for 11,417 methods). None
# at ``paper``, which pretrains as CodeBERT did: the encoder only.
DEFAULTS: dict[str, dict[str, Any]] = {
    "smoke": {"max_length": 80, "max_doc": 16, "batch_size": 16, "lr": 2e-3, "steps": 50,
              "docstring_epochs": 1},
    "cpu": {"max_length": 96, "max_doc": 30, "batch_size": 64, "lr": 1e-3, "steps": 30000,
            "docstring_epochs": 10},
    "paper": {"max_length": 256, "max_doc": 64, "batch_size": 64, "lr": 5e-4, "steps": 100000,
              "docstring_epochs": 0},
}  # fmt: skip
COLUMNS = ["id", "split", "clean_hash", "near_hash", "source_tokens", "doc_tokens"]
SAVE_EVERY = 500  # steps between saved training states (about a minute of work at cpu)
ENCODER = ("hidden", "layers", "heads", "ff", "vocab_size", "dropout")  # codebert's, per profile
# codebert's code_to_text settings that the docstring stage trains with (recorded)
SEQ2SEQ = ("decoder_layers", "copy", "max_source", "max_target", "batch_size", "lr", "warmup",
           "weight_decay", "dropout", "clip")  # fmt: skip
SHARED = {"mask_rate": 0.15, "warmup": 0.02, "weight_decay": 0.01, "clip": 1.0, "held_out": 0.02}


def corpus(names: Sequence[str], exclude: Sequence[str]) -> tuple[pl.DataFrame, dict[str, int]]:
    """The train-split methods of ``names`` (docstring and code tokens), less duplicates of
    the held-out samples of ``exclude``; counts of what was read and left out."""
    from benchmark import datasets

    def frame(name: str) -> pl.DataFrame:
        samples = datasets.load(name).samples.lazy()
        missing = set(COLUMNS) - set(samples.collect_schema().names())
        if missing:
            raise ValueError(f"dataset {name} has no {', '.join(sorted(missing))}: "
                             "pretraining reads methods with docstrings")  # fmt: skip
        return samples.select(COLUMNS).collect()

    frames = {name: frame(name) for name in dict.fromkeys([*exclude, *names])}  # each read once
    hashes: set[str] = set()
    docs: set[str] = set()
    for name in exclude:
        held = frames[name].filter(pl.col("split") != "train")
        hashes |= set(held["clean_hash"]) | set(held["near_hash"])
        docs |= {" ".join(d).lower() for d in held["doc_tokens"]}
    parts, counts = [], {"read": 0, "duplicates_left_out": 0}
    for name in names:
        train = frames[name].filter(pl.col("split") == "train")
        doc = train["doc_tokens"].list.join(" ").str.to_lowercase()
        dup = train["clean_hash"].is_in(list(hashes)) | train["near_hash"].is_in(list(hashes))
        dup = dup | doc.is_in(list(docs))
        counts["read"] += train.height
        counts["duplicates_left_out"] += int(dup.sum())
        parts.append(train.filter(~dup).select("id", "source_tokens", "doc_tokens"))
    if not parts or sum(p.height for p in parts) == 0:
        raise ValueError("the pretraining corpus is empty")
    return pl.concat(parts), counts


class MaskedLM(nn.Module):
    """codebert's encoder and RoBERTa's LM head, the output layer tied to the word vectors."""

    def __init__(self, encoder: codebert.Encoder) -> None:
        super().__init__()
        hidden = encoder.sizes["hidden"]
        self.roberta = encoder
        self.dense = nn.Linear(hidden, hidden)
        self.layer_norm = nn.LayerNorm(hidden, eps=encoder.sizes["eps"])
        self.bias = nn.Parameter(torch.zeros(encoder.sizes["vocab"]))

    def forward(self, ids: Tensor, picked: Tensor) -> Tensor:
        """Logits [P, vocab] at the ``picked`` positions of ``ids`` [B, N]."""
        h = self.roberta(ids)[picked]
        h = self.layer_norm(F.gelu(self.dense(h)))
        return F.linear(h, self.roberta.embeddings.word_embeddings.weight, self.bias)


def sequences(frame: pl.DataFrame, tok: codebert.SubtokenTokenizer, hp: dict[str, Any]
              ) -> list[list[int]]:  # fmt: skip
    docs = tok.text(frame["doc_tokens"].to_list())
    codes = tok.code(frame["source_tokens"].to_list())
    out = []
    for d, c in zip(docs, codes, strict=True):
        d = d[: hp["max_doc"]]
        out.append([tok.cls_id, *d, tok.sep_id, *c[: hp["max_length"] - 3 - len(d)], tok.sep_id])
    return out


def mask(ids: Tensor, vocab: int, rate: float, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """BERT's corruption of the real tokens (ids > 3): the inputs and which positions to
    predict; ``<unk>`` (1) stands for the mask token."""
    real = ids > 3
    picked = (torch.rand(ids.shape, generator=g) < rate) & real
    r = torch.rand(ids.shape, generator=g)
    x = ids.clone()
    x[picked & (r < 0.8)] = 1
    swap = picked & (r >= 0.8) & (r < 0.9)
    x[swap] = torch.randint(4, vocab, (int(swap.sum()),), generator=g)
    return x, picked


def evaluate(model: MaskedLM, rows: list[list[int]], vocab: int, rate: float, seed: int
             ) -> dict[str, float]:  # fmt: skip
    """Held-out MLM loss and accuracy, over a fixed corruption of the held-out methods."""
    g = torch.Generator().manual_seed(seed + 1)
    model.eval()
    loss, right, n = 0.0, 0, 0
    with torch.inference_mode():
        for begin in range(0, len(rows), 256):
            ids = codebert.pad(rows[begin : begin + 256], 0, torch.device("cpu"))
            x, picked = mask(ids, vocab, rate, g)
            logits = model(x, picked)
            gold = ids[picked]
            loss += float(F.cross_entropy(logits, gold, reduction="sum"))
            right += int((logits.argmax(-1) == gold).sum())
            n += int(gold.numel())
    model.train()
    return {"mlm_loss": loss / max(n, 1), "mlm_accuracy": right / max(n, 1), "tokens": n}


def resume_key(frame: pl.DataFrame, hp: dict[str, Any], seed: int) -> str:
    """What a saved state must have been trained on to be continued: corpus, settings, seed."""
    digest = hashlib.sha256(json.dumps([hp, seed], sort_keys=True).encode())
    digest.update("\0".join(frame["id"].to_list()).encode())
    return digest.hexdigest()


def read_state(path: Path) -> dict[str, Any] | None:
    """A saved training state, or None where there is none or it cannot be read (then the run
    starts afresh and overwrites it)."""
    try:
        # Not weights_only: the RNG states are numpy and Python objects; the file is this
        # command's own output, beside the folder it was asked to write.
        saved = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError):
        return None
    return saved if isinstance(saved, dict) and "key" in saved else None


def snapshot(key: str, model: nn.Module, opt: torch.optim.Optimizer,
             schedule: torch.optim.lr_scheduler.LRScheduler, rng: np.random.Generator
             ) -> dict[str, Any]:  # fmt: skip
    """What a stage's saved training state holds in common (each adds its own progress)."""
    return {"key": key, "model": model.state_dict(), "optimizer": opt.state_dict(),
            "schedule": schedule.state_dict(), "rng": trainer.rng_states(rng)}  # fmt: skip


def restore(saved: dict[str, Any], model: nn.Module, opt: torch.optim.Optimizer,
            schedule: torch.optim.lr_scheduler.LRScheduler, rng: np.random.Generator
            ) -> None:  # fmt: skip
    model.load_state_dict(saved["model"])
    opt.load_state_dict(saved["optimizer"])
    schedule.load_state_dict(saved["schedule"])
    trainer.restore_rng_states(saved["rng"], rng)


def held_out(frame: pl.DataFrame, rng: np.random.Generator) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The methods held out of training (a share of a corpus of 100 or more), and the rest."""
    order = rng.permutation(frame.height)
    n_held = round(SHARED["held_out"] * frame.height) if frame.height >= 100 else 0
    return frame[order[:n_held]], frame[order[n_held:]]


def pretrain(frame: pl.DataFrame, profile: str, steps: int | None, seed: int,
             tick: Callable[[int, float], None] | None = None, state: Path | None = None
             ) -> tuple[MaskedLM, codebert.SubtokenTokenizer, dict[str, Any]]:  # fmt: skip
    """Train the encoder by masked-LM on ``frame``'s methods, deterministically for a seed.
    With ``state`` (a file), the training state is saved there every SAVE_EVERY steps and at
    the end, and a run with the same corpus, settings and seed continues from it: a killed run
    restarted ends with the weights of an uninterrupted one."""
    hp = {k: codebert.DEFAULTS[profile][k] for k in ENCODER} | DEFAULTS[profile] | SHARED
    hp.pop("docstring_epochs")
    if steps is not None:
        hp["steps"] = steps
    key = resume_key(frame, hp, seed)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    held, train = held_out(frame, rng)
    tok = codebert.SubtokenTokenizer.build(
        train["source_tokens"].to_list(), train["doc_tokens"].to_list(), int(hp["vocab_size"])
    )
    rows, held_rows = sequences(train, tok, hp), sequences(held, tok, hp)
    encoder = codebert.random_encoder(tok, {**hp, "max_source": hp["max_length"]}, "code_search")
    model = MaskedLM(encoder)
    codebert.init_weights(model)
    codebert.init_word_vectors(encoder)

    total = int(hp["steps"])
    opt, schedule = codebert.optimizer_and_schedule(model, hp, total)
    g = torch.Generator().manual_seed(seed)
    begin, recent, spent = 0, [], 0.0
    saved = read_state(state) if state is not None else None
    if saved is not None and saved["key"] == key:
        restore(saved, model, opt, schedule, rng)
        g.set_state(saved["masks"])
        begin, recent, spent = saved["step"], saved["recent"], saved["seconds"]
    started = time.perf_counter()
    for step in range(begin, total):
        idx = rng.integers(0, len(rows), int(hp["batch_size"]))
        ids = codebert.pad([rows[i] for i in idx], 0, torch.device("cpu"))
        x, picked = mask(ids, len(tok), hp["mask_rate"], g)
        if not picked.any():
            continue
        loss = F.cross_entropy(model(x, picked), ids[picked])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), hp["clip"])
        opt.step()
        schedule.step()
        recent = [*recent[-99:], float(loss.detach())]
        if tick is not None:
            tick(step + 1, float(np.mean(recent)))
        if state is not None and ((step + 1) % SAVE_EVERY == 0 or step + 1 == total):
            trainer.save_checkpoint(state, snapshot(key, model, opt, schedule, rng) | {
                "step": step + 1, "masks": g.get_state(), "recent": recent,
                "seconds": spent + time.perf_counter() - started})  # fmt: skip
    seconds = spent + time.perf_counter() - started
    stats = {
        "profile": profile, "seed": seed, "hyperparameters": hp,
        "methods": {"train": train.height, "held_out": held.height}, "vocabulary": len(tok),
        "resumed_from_step": begin or None, "seconds": round(seconds, 1),
        "sequences_per_second": round(total * hp["batch_size"] / max(seconds, 1e-9), 1),
        "train_mlm_loss": float(np.mean(recent)) if recent else math.nan,
        "held_out": evaluate(model, held_rows, len(tok), hp["mask_rate"], seed) if held_rows
        else None,
    }  # fmt: skip
    return model, tok, stats


def docstrings(frame: pl.DataFrame, mlm: MaskedLM, tok: codebert.SubtokenTokenizer,
               profile: str, epochs: int, seed: int,
               tick: Callable[[int, float], None] | None = None, state: Path | None = None
               ) -> tuple[codebert.Seq2Seq, dict[str, Any]]:  # fmt: skip
    """Train codebert's code_to_text model at ``profile`` to write the docstrings of
    ``frame``'s methods (less the masked-LM stage's held-out ones) from their code, starting
    from a copy of ``mlm``'s encoder, for ``epochs``; deterministic for a seed. With ``state``,
    the training state is saved there after every epoch and continued as ``pretrain``'s is."""
    # Without retrieval: the stage writes each method's docstring from its code alone.
    hp = dict(codebert.DEFAULTS[profile]) | {"retrieve": False}
    start = hashlib.sha256()  # a saved state goes on only from the same masked-LM encoder
    for value in mlm.roberta.state_dict().values():
        start.update(value.detach().cpu().numpy().tobytes())
    key = resume_key(frame, {**hp, "epochs": epochs, "encoder": start.hexdigest()}, seed)
    held, train = held_out(frame, np.random.default_rng(seed))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed + 1)
    encoder = copy.deepcopy(mlm.roberta)
    encoder.train()
    model = codebert.build("code_to_text", encoder, hp, tok, True)

    def rows(part: pl.DataFrame) -> dict[str, list[dict[str, Any]]]:
        methods = part.select("source_tokens", "doc_tokens").to_dicts()
        return {"train": methods, "valid": [], "test": []}

    data = codebert.CodeToText(rows(train), tok, hp)
    steps = epochs * math.ceil(train.height / int(hp["batch_size"]))
    opt, schedule = codebert.optimizer_and_schedule(model, hp, steps)
    ctx = trainer.Context(torch.device("cpu"))
    begin, losses, spent = 0, [], 0.0
    saved = read_state(state) if state is not None else None
    if saved is not None and saved["key"] == key:
        restore(saved, model, opt, schedule, rng)
        begin, losses, spent = saved["epoch"], saved["losses"], saved["seconds"]
    started = time.perf_counter()
    for epoch in range(begin, epochs):
        model.train()
        losses.append(codebert.train_epoch(model, opt, schedule, data,
                                           rng.permutation(train.height), hp, ctx))  # fmt: skip
        if tick is not None:
            tick(epoch + 1, losses[-1])
        if state is not None:
            trainer.save_checkpoint(state, snapshot(key, model, opt, schedule, rng) | {
                "epoch": epoch + 1, "losses": losses,
                "seconds": spent + time.perf_counter() - started})  # fmt: skip
    model.eval()
    held_loss = None
    if held.height:
        test = codebert.CodeToText(rows(held), tok, hp)
        nll, count = 0.0, 0
        with torch.inference_mode():
            for b in range(0, held.height, 256):
                source, target = test.source["train"][b : b + 256], test.target[b : b + 256]
                memory = model.encode(codebert.pad(source, tok.pad_id, ctx.device))
                total_nll, n = codebert.token_losses(
                    model, memory, codebert.pad(target, tok.pad_id, ctx.device)
                )
                nll, count = nll + float(total_nll.sum()), count + int(n.sum())
        held_loss = {"docstring_loss": nll / max(count, 1), "tokens": count}
    stats = {
        "epochs": epochs, "resumed_from_epoch": begin or None,
        "hyperparameters": {k: hp[k] for k in SEQ2SEQ},
        "seconds": round(spent + time.perf_counter() - started, 1),
        "train_loss": losses, "held_out": held_loss,
    }  # fmt: skip
    return model, stats


def save(model: MaskedLM, tok: codebert.SubtokenTokenizer, stats: dict[str, Any], out: Path,
         seq2seq: codebert.Seq2Seq | None = None) -> None:  # fmt: skip
    """Write the folder beside ``out`` and rename it into place, so that an interrupted run
    leaves no half-written weights behind; with ``seq2seq``, codebert's
    DOCSTRING_MODEL as well."""
    from transformers import RobertaConfig, RobertaForMaskedLM
    from transformers.utils import logging

    logging.disable_progress_bar()

    s = model.roberta.sizes
    config = RobertaConfig(
        vocab_size=s["vocab"], hidden_size=s["hidden"], num_hidden_layers=s["layers"],
        num_attention_heads=s["heads"], intermediate_size=s["ff"], hidden_act="gelu",
        max_position_embeddings=s["positions"], type_vocab_size=s["types"],
        layer_norm_eps=s["eps"], pad_token_id=tok.pad_id, bos_token_id=tok.cls_id,
        eos_token_id=tok.sep_id,
    )  # fmt: skip
    hf = RobertaForMaskedLM(config)
    state = {f"roberta.{k}": v for k, v in model.roberta.state_dict().items()}
    head = {"dense": model.dense, "layer_norm": model.layer_norm}
    state.update({f"lm_head.{name}.{k}": v for name, m in head.items()
                  for k, v in m.state_dict().items()})  # fmt: skip
    state["lm_head.decoder.weight"] = model.roberta.embeddings.word_embeddings.weight
    state["lm_head.bias"] = state["lm_head.decoder.bias"] = model.bias
    missing, unexpected = hf.load_state_dict(state, strict=False)
    left = [k for k in missing if not k.endswith("position_ids")]
    if left or unexpected:
        raise RuntimeError(f"RobertaForMaskedLM does not fit the encoder: {left} {unexpected}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        hf.save_pretrained(tmp)
        (tmp / codebert.VOCABULARY).write_text(json.dumps(tok.words) + "\n")
        (tmp / "pretraining.json").write_text(json.dumps(stats, indent=2) + "\n")
        if seq2seq is not None:
            codebert.save_docstring_model(seq2seq, tmp / codebert.DOCSTRING_MODEL)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
