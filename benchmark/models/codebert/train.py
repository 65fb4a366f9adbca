"""`python -m benchmark.models.codebert --input IN --output OUT`: read the input folder, build
the model for its task (code_to_text or code_search), train it on the shared trainer."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from benchmark import trainer
from benchmark.models.codebert.config import (
    DEFAULTS,
    DOCSTRING_MODEL,
    FROM_WEIGHTS,
    POSITIVE,
    REPRESENTATIONS,
    source_length,
)
from benchmark.models.codebert.data import CodeSearch, CodeToText, read_rows
from benchmark.models.codebert.tokenizers import SubtokenTokenizer, Tokenizer
from benchmark.models.codebert.weights import (
    build,
    docstring_model,
    load_pretrained,
    random_encoder,
)
from benchmark.trainer import InputError


def read_task(input_dir: Path) -> dict[str, Any]:
    """task.json, checked for codebert."""
    task = trainer.read_task_for(input_dir, "codebert", REPRESENTATIONS)
    weights = task.get("weights")
    if weights is not None and not (isinstance(weights, str) and Path(weights).is_dir()):
        raise InputError(f"task.json: weights {weights!r} is not a folder")
    return task


def check_hyperparameters(hp: dict[str, Any]) -> None:
    """What trainer.prepare does not check: bounds between sizes, and non-negative numbers."""
    if hp["max_source"] < hp["max_query"] + 4 or hp["max_target"] < 3:
        raise InputError("task.json: max_source must exceed max_query + 3, max_target be >= 3")
    for key in ("copy", "retrieve"):
        if not isinstance(hp[key], bool):
            raise InputError(f"task.json: {key} must be true or false, not {hp[key]!r}")
    for key in ("lr", "dropout", "warmup", "weight_decay", "clip"):
        if not isinstance(hp[key], int | float) or isinstance(hp[key], bool) or hp[key] < 0:
            raise InputError(f"task.json: {key} must be a number >= 0, not {hp[key]!r}")


def read_inputs(input_dir: Path, task: dict[str, Any]) -> tuple[dict, dict, dict[str, str]]:
    """The splits (train, valid, test and, in protocol 3, holdout, labelled as train is) and
    code_search's candidate codes as rows; the files read."""
    files, splits = trainer.split_files(task), trainer.splits_of(task)
    if task["task"] == "code_to_text":
        labelled = {"source_tokens": True, "doc_tokens": True}
        unlabelled = {"source_tokens": True}
    else:
        labelled = {"query_tokens": True, "code_tokens": True, "match": False}
        unlabelled = {"query_tokens": True, "candidates": True}
    rows = {s: read_rows(input_dir / files[s], labelled if s in trainer.LABELLED else unlabelled)
            for s in splits}  # fmt: skip
    codes: dict[str, dict[str, list[str]]] = {}
    if task["task"] == "code_search":
        names = task.get("codes", {})
        for s in ("valid", "test"):
            codes[s] = {r["key"]: r["code_tokens"]
                        for r in read_rows(input_dir / names.get(s, f"{s}.codes.jsonl"),
                                           {"code_tokens": True}, key="key")}  # fmt: skip
            for r in rows[s]:
                gone = next((k for k in r["candidates"] if k not in codes[s]), None)
                if gone is not None:
                    raise InputError(f"{files[s]}: query {r['id']!r} names unknown code {gone!r}")
            files[f"{s}-codes"] = names.get(s, f"{s}.codes.jsonl")
    if not rows["train"]:
        raise InputError(f"{files['train']} holds no samples")
    return rows, codes, files


def setup(name: str, rows: dict[str, list[dict]], codes: dict[str, dict[str, list[str]]],
          hp: dict[str, Any], weights: Path | None
          ) -> tuple[nn.Module, Tokenizer, CodeToText | CodeSearch, str]:  # fmt: skip
    """The model, its tokenizer and the encoded splits, from ``weights`` or from scratch, and
    a tag naming the starting point (for the checkpoint's fingerprint). With weights, the
    encoder's sizes replace the profile's in ``hp``; for code_to_text, where the folder holds
    a code_to_text model (DOCSTRING_MODEL), the whole model starts from it, with its decoder
    settings."""
    tag, saved = "codebert", None
    if weights is not None:
        from benchmark.weights import weights_fingerprint

        encoder, tok = load_pretrained(weights, float(hp["dropout"]))
        tag += ":" + weights_fingerprint(weights)
        longest = int(hp["max_source"]) if name == "code_search" else max(
            source_length(hp), int(hp["max_target"]))  # fmt: skip
        if longest + tok.pad_id + 1 > encoder.sizes["positions"]:
            room = encoder.sizes["positions"] - tok.pad_id - 1
            what = "max_source + max_target - 1 (retrieve)" if name == "code_to_text" and \
                hp["retrieve"] else "max_source/max_target"  # fmt: skip
            raise InputError(f"task.json: {what} {longest} exceed the weights' {room} "
                             "positions")  # fmt: skip
        hp.update({k: encoder.sizes[k] for k in ("hidden", "layers", "heads", "ff")})
        saved = docstring_model(weights) if name == "code_to_text" else None
        if saved is not None:
            hp.update(saved[1])
    else:
        if name == "code_to_text":
            texts = (r["doc_tokens"] for r in rows["train"])
            code_rows = (r["source_tokens"] for r in rows["train"])
        else:
            texts = iter(())
            code_rows = (t for r in rows["train"] for t in (r["query_tokens"], r["code_tokens"]))
        tok = SubtokenTokenizer.build(code_rows, texts, int(hp["vocab_size"]))
        encoder = random_encoder(tok, hp, name)
    data = CodeToText(rows, tok, hp) if name == "code_to_text" else CodeSearch(rows, codes, tok, hp)
    model = build(name, encoder, hp, tok, weights is not None)
    if saved is not None:
        try:
            missing, unexpected = model.load_state_dict(saved[0], strict=False)
        except RuntimeError as exc:  # a tensor of another shape
            raise InputError(f"weights {weights}: {DOCSTRING_MODEL} does not fit the model: "
                             f"{str(exc).strip().splitlines()[-1].strip()}") from None  # fmt: skip
        if [k for k in missing if k != "lm_head.weight"] or unexpected:
            raise InputError(f"weights {weights}: {DOCSTRING_MODEL} does not fit the model "
                             f"(missing {missing[:3]}, unexpected {unexpected[:3]})")  # fmt: skip
    return model, tok, data, tag


def defaults_for(task: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """DEFAULTS, with FROM_WEIGHTS's settings for the task where it starts from weights."""
    if not task.get("weights"):
        return DEFAULTS
    name = task["task"]
    return {p: {**hp, **FROM_WEIGHTS.get(p, {}).get(name, {})} for p, hp in DEFAULTS.items()}


def run(input_dir: Path, output_dir: Path, events: trainer.Events) -> None:
    """Train on the input folder's task with the one trainer, from ``weights`` if given."""
    task = read_task(input_dir)
    name = task["task"]
    settings = trainer.prepare(task, defaults_for(task), POSITIVE)
    hp, ctx = settings.hp, settings.ctx
    check_hyperparameters(hp)
    started = time.perf_counter()
    rows, codes, files = read_inputs(input_dir, task)
    weights = Path(task["weights"]) if task.get("weights") else None
    model, tok, data, tag = setup(name, rows, codes, hp, weights)
    model = model.to(ctx.device)
    trainer.log(f"read {', '.join(f'{len(v)} {s}' for s, v in rows.items())} samples, {len(tok)} "
                f"tokens{' from ' + str(weights) if weights else ''} in "
                f"{time.perf_counter() - started:.1f}s; hyperparameters {json.dumps(hp)}"
                )  # fmt: skip

    n, size = len(rows["train"]), int(hp["batch_size"])
    optimizer, schedule = optimizer_and_schedule(model, hp, int(hp["epochs"]) * math.ceil(n / size))
    # code_search scores (query, code) pairs in one forward pass, with no decoder: 8x larger.
    widen = 8 if name == "code_search" else 1
    eval_size = trainer.prediction_batch(size * widen, ctx.device, cpu=2)
    run = trainer.Fit(
        model=model,
        optimizer=optimizer,
        train_epoch=lambda order: train_epoch(model, optimizer, schedule, data, order, hp, ctx),
        prediction_lines=lambda net: data.lines(net, eval_size, ctx.device),  # type: ignore[arg-type]
        vocabularies=[tok.words],
        samples=n,
        schedule=schedule,
        start={"weights": str(weights) if weights else None},
    )
    fingerprint = trainer.input_fingerprint(input_dir, files, tag)
    trainer.fit(run, settings, task, fingerprint, output_dir, events)


def optimizer_and_schedule(
    model: nn.Module, hp: dict[str, Any], steps: int
) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW, its rate warmed up linearly over ``warmup`` of ``steps``, then decayed linearly
    to 0 (fine-tuning, and both stages of ``bench models pretrain``)."""
    device = next(model.parameters()).device
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(hp["lr"]), eps=1e-8,
                                  weight_decay=float(hp["weight_decay"]),
                                  **trainer.adam_options(device))  # fmt: skip
    total = max(1, steps)
    warm = int(float(hp["warmup"]) * total)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(
        (step + 1) / max(warm, 1), max(0.0, (total - step) / max(total - warm, 1))))  # fmt: skip
    return optimizer, schedule


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer,
                schedule: torch.optim.lr_scheduler.LRScheduler, data: CodeToText | CodeSearch,
                order: np.ndarray, hp: dict[str, Any], ctx: trainer.Context) -> float:  # fmt: skip
    """One pass of AdamW steps over ``order`` in batches of ``batch_size``; the mean loss."""
    total, size = 0.0, int(hp["batch_size"])
    for begin in range(0, len(order), size):
        idx = order[begin : begin + size].tolist()
        with ctx.amp():
            losses = data.losses(model, idx, ctx.device)  # type: ignore[arg-type]
        optimizer.zero_grad(set_to_none=True)
        data.batch_loss(losses).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), float(hp["clip"]))
        optimizer.step()
        schedule.step()
        total += losses.detach().sum().double()  # read once an epoch (trainer.step)
    return float(total) / max(len(order), 1)


def parameter_counts(task: str = "code_to_text") -> dict[str, int]:
    """Parameters per profile without weights, with a full ``vocab_size`` vocabulary, the
    model run once on a two-sample batch (for ``bench models list``)."""
    counts = {}
    for profile, hp in DEFAULTS.items():
        torch.manual_seed(0)
        tok = SubtokenTokenizer([f"w{i}" for i in range(int(hp["vocab_size"]) - 4)])
        model = build(task, random_encoder(tok, hp, task), hp, tok, False).eval()
        ids = torch.tensor([[2, 5, 6, 3], [2, 7, 3, 0]])
        with torch.inference_mode():
            if task == "code_to_text":
                out = model.log_probs(model.encode(ids), ids[:, :3])
            else:
                out = model(ids, torch.zeros_like(ids))
        if not torch.isfinite(out).all():
            raise RuntimeError(f"codebert at profile {profile} gives non-finite outputs")
        counts[profile] = sum(p.numel() for p in model.parameters())
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    return trainer.command_line(__doc__, lambda a, events: run(a.input, a.output, events), argv)
