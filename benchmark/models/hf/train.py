"""`python -m benchmark.models.hf --input IN --output OUT`: load the weights folder, build the
model for its family and task, fine-tune it in the asked mode on the shared trainer."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from benchmark import trainer
from benchmark.models.codebert.data import read_rows
from benchmark.models.codebert.train import read_inputs as read_codebert_inputs
from benchmark.models.codebert.train import train_epoch
from benchmark.models.hf import families
from benchmark.models.hf.config import (
    DEFAULTS,
    FAMILIES,
    GENERATION,
    LR,
    MODES,
    POSITIVE,
    REPRESENTATIONS,
    WIDE,
)
from benchmark.models.hf.data import CodeSearch, Generation, VarMisuse
from benchmark.models.hf.network import Network
from benchmark.models.hf.tokens import Words
from benchmark.models.varmisuse import iter_samples
from benchmark.trainer import InputError
from benchmark.weights import weights_fingerprint


def read_task(input_dir: Path) -> dict[str, Any]:
    """task.json, checked for hf: one of its tasks, and a weights folder (it has no
    starting point of its own)."""
    task = trainer.read_task_for(input_dir, "hf", REPRESENTATIONS)
    weights = task.get("weights")
    if not (isinstance(weights, str) and Path(weights).is_dir()):
        raise InputError(f"task.json: hf needs weights, a Hugging Face folder, not {weights!r}")
    return task


def check_hyperparameters(hp: dict[str, Any]) -> None:
    if hp["finetune"] not in MODES:
        raise InputError(f"task.json: finetune must be one of {', '.join(MODES)}, "
                         f"not {hp['finetune']!r}")  # fmt: skip
    if hp["family"] not in ("auto", *FAMILIES):
        raise InputError(f"task.json: family must be auto or one of {', '.join(FAMILIES)}")
    lr = hp["lr"]
    if lr != "auto" and (not isinstance(lr, int | float) or isinstance(lr, bool) or lr < 0):
        raise InputError(f"task.json: lr must be a number >= 0 or \"auto\", not {lr!r}")
    for key in ("dropout", "warmup", "weight_decay", "clip", "lora_alpha", "lora_dropout"):
        if not isinstance(hp[key], int | float) or isinstance(hp[key], bool) or hp[key] < 0:
            raise InputError(f"task.json: {key} must be a number >= 0, not {hp[key]!r}")
    if hp["max_source"] < hp["max_query"] + 4 or hp["max_target"] < 2:
        raise InputError("task.json: max_source must exceed max_query + 3, max_target be >= 2")


def read_inputs(input_dir: Path, task: dict[str, Any]) -> tuple[dict, dict, dict[str, str]]:
    """The splits (train, valid, test and, in protocol 3, holdout, labelled as train is) as
    rows, or var_misuse's samples (each file read as they are taken), and code_search's
    candidate codes; the files read."""
    if task["task"] not in ("method_name", "var_misuse"):
        return read_codebert_inputs(input_dir, task)
    files, splits = trainer.split_files(task), trainer.splits_of(task)
    if task["task"] == "var_misuse":  # varmisuse.py's samples, checked as ggnn's are, read
        # as VarMisuse encodes them (the checkpoint's tokenizer first): a file at a time
        samples = {s: iter_samples(input_dir / files[s], labelled=s in trainer.LABELLED)
                   for s in splits}  # fmt: skip
        return samples, {}, files
    labelled, unlabelled = {"source_tokens": True, "label": True}, {"source_tokens": True}
    rows = {s: read_rows(input_dir / files[s], labelled if s in trainer.LABELLED else unlabelled)
            for s in splits}  # fmt: skip
    if not rows["train"]:
        raise InputError(f"{files['train']} holds no samples")
    return rows, {}, files


def optimizer_and_schedule(
    net: Network, hp: dict[str, Any], steps: int
) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over the trained parameters only, warmed up over ``warmup`` of ``steps`` and
    decayed linearly to 0."""
    trained = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=float(hp["lr"]), eps=1e-8,
                                  weight_decay=float(hp["weight_decay"]),
                                  **trainer.adam_options(trained[0].device))  # fmt: skip
    total = max(1, steps)
    warm = int(float(hp["warmup"]) * total)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(
        (step + 1) / max(warm, 1), max(0.0, (total - step) / max(total - warm, 1))))  # fmt: skip
    return optimizer, schedule


def settle_lr(hp: dict[str, Any], backbone: torch.nn.Module) -> None:
    """``lr`` "auto": LR's rate for the mode, chosen for CodeBERT's width (WIDE), times WIDE /
    the backbone's width for a narrower one where the backbone trains (full, lora), as Adam's
    good rate for hidden weights goes as 1 / width (muP). On a 64-wide ``bench models
    pretrain`` folder at cpu, full fine-tuning for code_search ranked ruby-stdlib's validation
    queries at MRR 0.13 with 5e-5 and 0.49 with 5e-4 (codebert's rate from such weights:
    0.50)."""
    if hp["lr"] == "auto":
        mode, width = hp["finetune"], families.hidden_size(backbone)
        hp["lr"] = LR[mode] * (max(WIDE / width, 1.0) if mode != "head" else 1.0)


MIN_SOURCE = 8  # sub-words of code, the least a task reads


def fit_positions(hp: dict[str, Any], asked: dict[str, Any], limit: int, causal: bool,
                  task: str) -> None:  # fmt: skip
    """Bound ``max_source`` by the ``limit`` positions the weights embed (less 4 for special
    tokens and RoBERTa's offset, less ``max_target`` for a causal model, whose target follows
    the code). The profile's default shrinks to fit, so that a small checkpoint (one from
    ``bench models pretrain`` embeds 98) runs as it is; a size task.json asks for is an error,
    and so are positions too few for the task's least input (code_search: its query and a
    token of code, as ``check_hyperparameters`` asks)."""
    target = int(hp["max_target"]) if causal and task in GENERATION else 0
    room = limit - 4 - target
    if int(hp["max_source"]) <= room:
        return
    if "max_source" in asked or (causal and "max_target" in asked):
        raise InputError(f"task.json: max_source (+ max_target for a causal model) "
                         f"{int(hp['max_source']) + target} exceeds the weights' {limit} "
                         "positions")  # fmt: skip
    least = int(hp["max_query"]) + 4 if task == "code_search" else MIN_SOURCE  # as checked
    if room < least:
        raise InputError(f"weights: they embed {limit} positions, too few for {task} at this "
                         f"profile (at least {least + 4 + target}: {least} for the input"
                         f"{f', {target} for the target' if target else ''} and 4 for special "
                         "tokens)")  # fmt: skip
    trainer.log(f"max_source {hp['max_source']} -> {room}: the weights embed {limit} positions")
    hp["max_source"] = room


Data = Generation | CodeSearch | VarMisuse


def build(
    task: dict[str, Any], hp: dict[str, Any], rows: dict, codes: dict, device: torch.device
) -> tuple[families.Loaded, Network, Data]:
    """The weights of task.json loaded and fitted to its task, the network on `device` and the
    task's batches: what `run` trains, and what tests/perf/training.py times."""
    name, weights = task["task"], Path(task["weights"])
    loaded = families.load(weights, hp["family"])
    words = Words(loaded.tokenizer)
    if len(words) > loaded.backbone.get_input_embeddings().num_embeddings:
        raise InputError(f"weights {weights}: the tokenizer has {len(words)} tokens, more than "
                         "the model embeds")  # fmt: skip
    settle_lr(hp, loaded.backbone)
    limit = families.positions(loaded.backbone)
    if name != "var_misuse" and limit is not None:
        fit_positions(hp, task.get("hyperparameters", {}), limit, loaded.family == "causal",
                      name)  # fmt: skip
    net = Network(loaded, words, name, hp).to(device)
    data: Data
    if name == "var_misuse":  # a function as long as the weights embed, up to max_function
        room = int(hp["max_function"]) if limit is None else min(int(hp["max_function"]),
                                                                 limit - 4)  # fmt: skip
        data = VarMisuse(rows, net, room)
    elif name in GENERATION:
        data = Generation(name, rows, net, hp)
    else:
        data = CodeSearch(rows, codes, net, hp)
    return loaded, net, data


def run(input_dir: Path, output_dir: Path, events: trainer.Events) -> None:
    task = read_task(input_dir)
    name = task["task"]
    settings = trainer.prepare(task, DEFAULTS, POSITIVE)
    hp, ctx = settings.hp, settings.ctx
    check_hyperparameters(hp)
    started = time.perf_counter()
    rows, codes, files = read_inputs(input_dir, task)
    weights = Path(task["weights"])
    loaded, net, data = build(task, hp, rows, codes, ctx.device)
    counts = data.counts()
    if not counts["train"]:
        raise InputError(f"{files['train']} holds no samples")
    trainable = net.trainable_parameters()
    trainer.log(f"read {', '.join(f'{n} {s}' for s, n in counts.items())} samples; a "
                f"{loaded.family} model from {weights}, {trainable} of "
                f"{sum(p.numel() for p in net.parameters())} parameters trained "
                f"({hp['finetune']}) in {time.perf_counter() - started:.1f}s; hyperparameters "
                f"{json.dumps(hp)}")  # fmt: skip

    n, size = counts["train"], int(hp["batch_size"])
    optimizer, schedule = optimizer_and_schedule(net, hp, int(hp["epochs"]) * math.ceil(n / size))
    # code_search scores (query, code) pairs in one forward pass, with no decoder: 8x larger.
    widen = 8 if name == "code_search" else 1
    eval_size = trainer.prediction_batch(size * widen, ctx.device, cpu=2)
    fingerprint_of_weights = weights_fingerprint(weights)
    start = {"weights": str(weights), "weights_fingerprint": fingerprint_of_weights,
             "family": loaded.family, "finetune": hp["finetune"],
             "trainable_parameters": trainable}  # fmt: skip
    run = trainer.Fit(
        model=net,
        optimizer=optimizer,
        train_epoch=lambda order: train_epoch(net, optimizer, schedule, data, order, hp, ctx),  # type: ignore[arg-type]
        prediction_lines=lambda shadow: data.lines(shadow, eval_size, ctx.device),
        vocabularies=[[loaded.family, hp["finetune"]]],
        samples=n,
        schedule=schedule,
        start=start,
    )
    tag = f"hf:{fingerprint_of_weights}:{loaded.family}:{hp['finetune']}"
    fingerprint = trainer.input_fingerprint(input_dir, files, tag)
    trainer.fit(run, settings, task, fingerprint, output_dir, events)


def main(argv: Sequence[str] | None = None) -> int:
    return trainer.command_line(__doc__, lambda a, events: run(a.input, a.output, events), argv)
