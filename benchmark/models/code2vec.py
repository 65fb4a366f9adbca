"""code2vec (Alon et al. 2019) for method_name, in plain PyTorch, behind docs/protocol.md.

    python -m benchmark.models.code2vec --input IN_DIR --output OUT_DIR

A method is its bag of path contexts ``src,path,dst`` (input ``contexts``): the two terminals
and the path are embedded whole, joined by a tanh layer into context vectors, and an attention
over them pools a code vector that scores every method name seen in training. The prediction
is the best name's sub-tokens; names outside the target vocabulary are one UNK class that is
never predicted. Reading, checkpoints and resumption are shared with code2seq (methodname.py).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark import trainer
from benchmark.models import methodname, odds
from benchmark.models.dropout import Dropout
from benchmark.models.methodname import Index, Methods, Strings, counted

# Per-profile defaults; task.json's ``hyperparameters`` override any of them. ``paper`` follows
# code2vec's release (128-wide token and path embeddings, a 384-wide code vector, 200 contexts,
# batches of 1024, dropout 0.25, Adam at 1e-3). ``cpu`` halves the widths and takes batches of
# 32 at lr 5e-3: the cpu profile's 8 epochs over ~7,000 methods are only ~1,800 such steps (at
# 128 and 1e-3 the model ended its 8 epochs underfitting, training exact match 0.33; on jdk,
# test F1 went 0.227 -> 0.383 at 32 and 3e-3 -> 0.389 at 5e-3). ``smoke`` is tiny.
DEFAULTS: dict[str, dict[str, float | int | bool]] = {
    "smoke": {"embed": 16, "hidden": 48, "contexts": 200, "dropout": 0.0, "vocab_size": 5000,
              "target_vocab_size": 5000, "lr": 3e-3, "batch_size": 64,
              "clip": 5.0, "weight_decay": 0.0, "epochs": 2, "threads": 1},
    "cpu": {"embed": 64, "hidden": 192, "contexts": 200, "dropout": 0.25, "vocab_size": 50000,
            "target_vocab_size": 20000, "lr": 5e-3, "batch_size": 32,
            "clip": 5.0, "weight_decay": 0.0, "epochs": 8, "threads": 1},
    "paper": {"embed": 128, "hidden": 384, "contexts": 200, "dropout": 0.25,
              "vocab_size": 1_300_000, "target_vocab_size": 261_245, "lr": 1e-3,
              "batch_size": 1024, "clip": 5.0, "weight_decay": 0.0,
              "epochs": 20, "threads": 0},
}  # fmt: skip
POSITIVE = ("embed", "hidden", "contexts", "batch_size", "vocab_size", "target_vocab_size")


class Code2Vec(nn.Module):
    """Contexts [B, C, 3] of (terminal, path, terminal) ids, 0 for padding -> name logits
    [B, targets]."""

    def __init__(self, tokens: int, paths: int, targets: int, hp: dict[str, Any]) -> None:
        super().__init__()
        embed, hidden = int(hp["embed"]), int(hp["hidden"])
        self.tokens = nn.Embedding(tokens, embed, padding_idx=0)
        self.paths = nn.Embedding(paths, embed, padding_idx=0)
        self.combine = nn.Linear(3 * embed, hidden, bias=False)
        self.attention = nn.Parameter(torch.randn(hidden) * hidden**-0.5)
        self.targets = nn.Linear(hidden, targets, bias=False)
        self.dropout = Dropout(float(hp["dropout"]))
        # The release's variance_scaling(FAN_OUT, uniform): variance 1/embed, not torch's N(0, 1),
        # as in code2seq.py.
        for table in (self.tokens, self.paths):
            nn.init.uniform_(table.weight, -((3 / embed) ** 0.5), (3 / embed) ** 0.5)
            with torch.no_grad():
                table.weight[0].zero_()

    def forward(self, contexts: Tensor) -> Tensor:
        src, path, dst = contexts.unbind(-1)
        mask = path > 0
        joined = torch.cat([self.tokens(src), self.paths(path), self.tokens(dst)], dim=-1)
        vectors = torch.tanh(self.combine(self.dropout(joined)))  # [B, C, hidden]
        weights = (vectors @ self.attention).masked_fill(~mask, -1e9).softmax(-1)
        code = (weights.unsqueeze(-1) * vectors).sum(1)  # a method without contexts: zeros
        return self.targets(code).float()


def vocabularies(train: Methods, hp: dict[str, Any]) -> tuple[Index, Index, Index]:
    """Terminals, paths and names of the training split only (the contexts a model reads)."""
    strings = train.strings
    assert train.names is not None  # train is labelled
    names = np.bincount(train.names, minlength=len(strings.names))
    return (
        Index(counted(strings.terminals.keys, train.counts([0, 2], strings.terminals)),
              int(hp["vocab_size"])),
        Index(counted(strings.paths.keys, train.counts(1, strings.paths)), int(hp["vocab_size"])),
        Index(counted(("|".join(k) for k in strings.names.keys), names),
              int(hp["target_vocab_size"])),
    )  # fmt: skip


def vocabulary_ids(strings: Strings, tokens: Index, paths: Index) -> tuple[np.ndarray, np.ndarray]:
    """Each numbered terminal's and path's vocabulary id (UNK outside it): one lookup a
    distinct string, for every split (they share ``strings``)."""
    return (np.array([tokens.get(k) for k in strings.terminals.keys], np.int64),
            np.array([paths.get(k) for k in strings.paths.keys], np.int64))  # fmt: skip


class Encoded:
    """A split's contexts as the model reads them: int64 [n, limit, 3] of (terminal, path,
    terminal) vocabulary ids, 0-padded, made for the methods a batch asks for; ``terminals``
    and ``paths`` are vocabulary_ids'."""

    def __init__(self, methods: Methods, terminals: np.ndarray, paths: np.ndarray,
                 limit: int) -> None:  # fmt: skip
        self.methods, self.limit = methods, limit
        self.terminals, self.paths = terminals, paths

    def __len__(self) -> int:
        return len(self.methods)

    def __getitem__(self, idx: np.ndarray) -> np.ndarray:
        return self.methods.dense(idx, self.limit, self.terminals, self.paths)


def batch_lines(
    model: Code2Vec,
    inputs: Encoded,
    given: np.ndarray | None,
    names: list[str],
    split: str,
    idx: np.ndarray,
    device: torch.device,
) -> list[str]:
    """The lines of methods ``idx`` of ``split``: the best name other than PAD/UNK, and for a
    labelled split (``given``) the loss, probability and log-odds of the given name's class
    (UNK's for a name outside the vocabulary)."""
    logp = F.log_softmax(model(trainer.to_device(torch.from_numpy(inputs[idx]), device)), dim=-1)
    best, at = logp[:, 2:].max(-1)
    # (loss, p_given, logit_given) of each method, None on an unlabelled split
    labelled: list[tuple[float | None, ...]] = [(None, None, None)] * len(idx)
    read = [best.exp(), at]
    if given is not None:
        given_ids = trainer.to_device(torch.from_numpy(given[idx]), device)
        read += [logp.gather(1, given_ids[:, None])[:, 0], odds.of_class(logp, given_ids)]
    scores, targets, *given_lp_logits = trainer.to_host(*read)  # one wait for a GPU
    if given_lp_logits:
        lp, logits = given_lp_logits
        labelled = [(-a, math.exp(a), b) for a, b in zip(lp, logits, strict=True)]
    lines = []
    for k, (score, target) in enumerate(zip(scores, targets, strict=True)):
        lines.append(methodname.prediction_line(inputs.methods.ids[idx[k]], split,
                                                names[target + 2].split("|"), score,
                                                *labelled[k]))  # fmt: skip
    return lines


def prediction_pieces(
    model: Code2Vec,
    inputs: dict[str, Encoded],
    given: dict[str, np.ndarray],
    names: list[str],
    batch: int,
    device: torch.device,
) -> list[trainer.Piece]:
    """Every sample of every split, in file order, one piece per batch."""
    return [partial(batch_lines, model, inputs[s], given.get(s), names, s, idx, device)
            for s in inputs for idx in methodname.batches(len(inputs[s]), batch)]  # fmt: skip


def batch(inputs: Encoded, given: np.ndarray, idx: np.ndarray, device: torch.device
          ) -> tuple[Tensor, Tensor]:  # fmt: skip
    """Methods ``idx``'s contexts and given classes, on ``device``."""
    x = trainer.to_device(torch.from_numpy(inputs[idx]), device)
    return x, trainer.to_device(torch.from_numpy(given[idx]), device)


def train_epoch(
    model: Code2Vec,
    optimizer: torch.optim.Optimizer,
    inputs: Encoded,
    given: np.ndarray,
    order: np.ndarray,
    hp: dict[str, Any],
    ctx: trainer.Context,
) -> float:
    """One pass of Adam steps over ``order`` in batches of ``batch_size``; the mean loss."""
    total, size = 0.0, int(hp["batch_size"])
    for begin in range(0, len(order), size):
        x, y = batch(inputs, given, order[begin : begin + size], ctx.device)
        with ctx.amp():
            losses = F.cross_entropy(model(x), y, reduction="none")
        total += trainer.step(model, optimizer, losses, float(hp["clip"]))
    return float(total) / max(len(order), 1)


def build(
    task: dict[str, Any], hp: dict[str, Any], methods: dict[str, Methods], ctx: trainer.Context
) -> trainer.Fit:
    """Vocabularies of the training split, every split's contexts read through them, the
    model and Adam."""
    tokens, paths, targets = vocabularies(methods["train"], hp)
    ids = vocabulary_ids(methods["train"].strings, tokens, paths)
    inputs = {s: Encoded(methods[s], *ids, int(hp["contexts"])) for s in methods}
    # The given name's class in each labelled split. A name outside the target vocabulary (past
    # the cap in train; in holdout also one train never had) is the UNK class, which stands for
    # every such name: its loss and p_given are the model's (finite) probability of "a name
    # it does not know", as for a training name past the cap.
    name_ids = np.array([targets.get("|".join(k)) for k in methods["train"].strings.names.keys],
                        dtype=np.int64)  # fmt: skip
    given = {s: name_ids[m.names] for s, m in methods.items() if m.names is not None}
    model = Code2Vec(len(tokens), len(paths), len(targets), hp).to(ctx.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(hp["lr"]),
                                 weight_decay=float(hp["weight_decay"]),
                                 **trainer.adam_options(ctx.device))  # fmt: skip
    eval_size = trainer.prediction_batch(int(hp["batch_size"]), ctx.device)
    return trainer.Fit(
        model=model,
        optimizer=optimizer,
        train_epoch=lambda order: train_epoch(
            model, optimizer, inputs["train"], given["train"], order, hp, ctx
        ),
        prediction_pieces=lambda net: prediction_pieces(
            net, inputs, given, targets.words, eval_size, ctx.device
        ),
        vocabularies=[tokens.words, paths.words, targets.words],
        samples=len(methods["train"]),
    )


def main(argv: Sequence[str] | None = None) -> int:
    return methodname.main("code2vec", DEFAULTS, POSITIVE, build, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
