"""code2seq (Alon et al. 2019) for method_name, in plain PyTorch, behind docs/protocol.md.

    python -m benchmark.models.code2seq --input IN_DIR --output OUT_DIR

A method is its bag of path contexts ``src,path,dst``. Each context becomes one vector: the
sum of its source terminal's sub-token embeddings, the path's node sequence read by a
bidirectional LSTM (both final states), and the sum of its target terminal's sub-token
embeddings, joined by a tanh dense layer. An LSTM decoder, started from the contexts' mean and
attending over them at every step (Luong attention with input feeding, as the release's
AttentionWrapper), writes the name one sub-token at a time: teacher forcing in training, greedy
decoding at prediction, so it can name a method with sub-tokens never seen together.

Unlike code2vec it can compose new names; like it, it never predicts PAD, UNK or the start
marker. Every distinct path and terminal of a batch is encoded once and shared by the contexts
that hold it (the encoding is a function of the path alone). Reading, checkpoints and
resumption are shared with code2vec (methodname.py).
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from benchmark import trainer
from benchmark.models import methodname, odds
from benchmark.models.dropout import Dropout
from benchmark.models.methodname import PAD, UNK, Index, Methods, counted

SOS, EOS = "<s>", "</s>"
TARGET_SPECIALS = (PAD, UNK, SOS, EOS)  # ids 0..3 of the target vocabulary
MAX_PARTS = 5  # sub-tokens kept per terminal, as the release's MAX_NAME_PARTS

# Per-profile defaults; task.json's ``hyperparameters`` override any of them. ``paper`` follows
# code2seq's release (128-wide embeddings, a path LSTM of 128 each way, a 320-wide decoder, 200
# contexts, batches of 512, names of at most 6 sub-tokens plus the end marker, dropout 0.25 on
# the context vectors and 0.5 on the decoder's output; its 0.5 on the path LSTM's outputs leaves
# the final states it reads untouched, so none on the path states), with Adam in place of its
# momentum SGD.
# ``cpu`` is narrower (a path LSTM of 32 each way: the packed LSTM's backward pass dominates a
# step on CPU), with dropout 0.1, and takes batches of 8 at lr 2e-3 falling linearly to 0: the
# cpu profile's 8 epochs over ~7,000 methods were ~1,800 batches of 32 at a constant 3e-3, which
# left jdk's training split at F1 0.70 (validation 0.437). Measured on jdk (seed 0, validation
# F1 / exact match at the selected epoch 8): batches of 8 at 2e-3 decaying, 0.464 / 0.334; with
# the release's embedding init too (not torch's N(0, 1)), 0.480 / 0.373, training F1 0.83; at
# about the same time per sample, since a batch of methods shares few paths. ``smoke`` is tiny.
DEFAULTS: dict[str, dict[str, float | int | bool]] = {
    "smoke": {"embed": 16, "path_hidden": 16, "decoder": 32, "contexts": 100, "dropout": 0.0,
              "path_dropout": 0.0, "decoder_dropout": 0.0, "vocab_size": 5000,
              "node_vocab_size": 1000, "target_vocab_size": 2000, "max_target": 6, "lr": 3e-3,
              "batch_size": 32, "clip": 5.0, "weight_decay": 0.0, "decay": False, "epochs": 2,
              "threads": 1},
    "cpu": {"embed": 64, "path_hidden": 32, "decoder": 128, "contexts": 200, "dropout": 0.1,
            "path_dropout": 0.1, "decoder_dropout": 0.1, "vocab_size": 20000,
            "node_vocab_size": 5000, "target_vocab_size": 10000, "max_target": 6, "lr": 2e-3,
            "batch_size": 8, "clip": 5.0, "weight_decay": 0.0, "decay": True, "epochs": 8,
            "threads": 1},
    "paper": {"embed": 128, "path_hidden": 128, "decoder": 320, "contexts": 200, "dropout": 0.25,
              "path_dropout": 0.0, "decoder_dropout": 0.5, "vocab_size": 190_000,
              "node_vocab_size": 5000, "target_vocab_size": 27_000, "max_target": 6, "lr": 1e-3,
              "batch_size": 512, "clip": 5.0, "weight_decay": 0.0, "decay": False, "epochs": 20,
              "threads": 0},
}  # fmt: skip
POSITIVE = ("embed", "path_hidden", "decoder", "contexts", "batch_size", "vocab_size",
            "node_vocab_size", "target_vocab_size", "max_target")  # fmt: skip


@dataclass
class Batch:
    """A batch of methods, its distinct terminals and paths gathered once.

    ``contexts`` [B, C, 3] index (terminal, path, terminal) rows of ``terminals`` [T, parts]
    (sub-token ids, 0-padded) and ``paths`` [P, length] (node ids, 0-padded, ``path_lengths``
    [P]); ``mask`` [B, C] marks real contexts. ``targets`` [B, steps] (training only) are the
    name's sub-token ids, then EOS, then PAD."""

    contexts: Tensor
    mask: Tensor
    terminals: Tensor
    paths: Tensor
    path_lengths: Tensor
    targets: Tensor | None = None


class Code2Seq(nn.Module):
    """Path-context encoder and attention decoder over sub-token vocabularies."""

    def __init__(self, subtokens: int, nodes: int, targets: int, hp: dict[str, Any]) -> None:
        super().__init__()
        embed, path_hidden, decoder = int(hp["embed"]), int(hp["path_hidden"]), int(hp["decoder"])
        self.subtokens = nn.Embedding(subtokens, embed, padding_idx=0)
        self.nodes = nn.Embedding(nodes, embed, padding_idx=0)
        self.path_lstm = nn.LSTM(embed, path_hidden, batch_first=True, bidirectional=True)
        self.combine = nn.Linear(2 * embed + 2 * path_hidden, decoder, bias=False)
        self.target_embed = nn.Embedding(targets, embed, padding_idx=0)
        self.cell = nn.LSTMCell(embed + decoder, decoder)
        self.keys = nn.Linear(decoder, decoder, bias=False)  # Luong's "general" score
        self.attend = nn.Linear(2 * decoder, decoder, bias=False)
        self.out = nn.Linear(decoder, targets, bias=False)
        self.dropout = Dropout(float(hp["dropout"]))
        self.path_dropout = Dropout(float(hp["path_dropout"]))
        self.decoder_dropout = Dropout(float(hp["decoder_dropout"]))
        # The release's variance_scaling(FAN_OUT, uniform): variance 1/embed, not torch's N(0, 1).
        # Adam moves every entry by ~lr a step, so N(0, 1) rows change sqrt(embed) times slower
        # relative to their size (on jdk at the cpu defaults: training F1 0.75 -> 0.83 by epoch 8).
        for table in (self.subtokens, self.nodes, self.target_embed):
            nn.init.uniform_(table.weight, -((3 / embed) ** 0.5), (3 / embed) ** 0.5)
            with torch.no_grad():
                table.weight[0].zero_()

    def encode(self, b: Batch) -> Tensor:
        """Context vectors [B, C, decoder]."""
        terminals = self.subtokens(b.terminals).sum(1)  # [T, embed]
        packed = pack_padded_sequence(
            self.nodes(b.paths), b.path_lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        _, (final, _) = self.path_lstm(packed)  # [2, P, path_hidden]: both directions' ends
        paths = self.path_dropout(torch.cat([final[0], final[1]], dim=-1))
        src, path, dst = b.contexts.unbind(-1)
        shape = (*src.shape, -1)
        pairs = ((terminals, src), (paths, path), (terminals, dst))
        joined = torch.cat([t.index_select(0, i.flatten()).view(shape) for t, i in pairs], dim=-1)
        return torch.tanh(self.combine(self.dropout(joined)))

    def start(self, contexts: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The decoder's first (h, c, attentional vector) and the attention keys: h and c are
        the mean of the method's contexts, as the release."""
        weights = mask.to(contexts.dtype).unsqueeze(-1)
        mean = (contexts * weights).sum(1) / weights.sum(1).clamp_min(1.0)
        return mean, mean, torch.zeros_like(mean), self.keys(contexts)

    def step(
        self,
        token: Tensor,
        state: tuple[Tensor, Tensor, Tensor],
        contexts: Tensor,
        keys: Tensor,
        mask: Tensor,
    ) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor]]:
        """One decoder step from the previous sub-token ids [B]: logits [B, targets]."""
        h, c, attentional = state
        h, c = self.cell(torch.cat([self.target_embed(token), attentional], dim=-1), (h, c))
        scores = torch.bmm(keys, h.unsqueeze(-1)).squeeze(-1).masked_fill(~mask, -1e9)
        context = torch.bmm(scores.softmax(-1).unsqueeze(1), contexts).squeeze(1)
        attentional = torch.tanh(self.attend(torch.cat([h, context], dim=-1)))
        return self.out(self.decoder_dropout(attentional)).float(), (h, c, attentional)

    def teacher_forced(self, b: Batch) -> Iterator[tuple[Tensor, Tensor]]:
        """Each decoder step's logits [B, targets] under teacher forcing, with the given
        sub-token ids [B] it is scored on (PAD past a name's end marker)."""
        assert b.targets is not None
        contexts = self.encode(b)
        h, c, attentional, keys = self.start(contexts, b.mask)
        state = (h, c, attentional)
        token = b.targets.new_full((b.targets.size(0),), TARGET_SPECIALS.index(SOS))
        for t in range(b.targets.size(1)):
            logits, state = self.step(token, state, contexts, keys, b.mask)
            yield logits, b.targets[:, t]
            token = b.targets[:, t]

    def losses(self, b: Batch) -> Tensor:
        """Per method, -log p(given name) under teacher forcing: the sum over its sub-tokens
        and the end marker."""
        return self.given_scores(b)[0]

    def given_scores(self, b: Batch, log_odds: bool = False) -> tuple[Tensor, Tensor | None]:
        """Per method, ``losses``, and with ``log_odds`` the log-odds of the given name
        (odds.of_nll of the same sum, each sub-token's -log p taken as odds.token_nll, which
        stays accurate where p rounds to 1 in float32, as the loss's does not)."""
        assert b.targets is not None
        total = b.targets.new_zeros(b.targets.size(0), dtype=torch.float32)
        nll = b.targets.new_zeros(b.targets.size(0), dtype=torch.float64) if log_odds else None
        for logits, given in self.teacher_forced(b):
            total = total + F.cross_entropy(logits, given, ignore_index=0, reduction="none")
            if nll is not None:
                nll = nll + torch.where(given > 0, odds.token_nll(logits, given), 0.0)
        return total, None if nll is None else odds.of_nll(nll)

    def greedy(self, b: Batch, max_len: int, check_every: int | None = None
               ) -> tuple[Tensor, Tensor]:  # fmt: skip
        """Greedy names: sub-token ids [B, max_len] (0 after the end) and each name's log
        probability (its sub-tokens and, when it ended before ``max_len``, the end marker).
        PAD, UNK and the start marker are never chosen, nor the end marker first. Decoding
        stops once every name has ended, which it asks every ``check_every`` steps (by
        default ``trainer.end_check_every``); steps past the end change nothing, so the names
        and scores are the same."""
        contexts = self.encode(b)
        every = check_every or trainer.end_check_every(contexts.device)
        h, c, attentional, keys = self.start(contexts, b.mask)
        state = (h, c, attentional)
        n = contexts.size(0)
        token = torch.full((n,), TARGET_SPECIALS.index(SOS), device=contexts.device)
        eos = TARGET_SPECIALS.index(EOS)
        out = torch.zeros(n, max_len, dtype=torch.long, device=contexts.device)
        logp = torch.zeros(n, device=contexts.device)
        running = torch.ones(n, dtype=torch.bool, device=contexts.device)
        for t in range(max_len + 1):
            logits, state = self.step(token, state, contexts, keys, b.mask)
            step_lp = logits.log_softmax(-1)  # the model's own probabilities, not renormalized
            if t == max_len:  # only the end marker is left: its probability closes the name
                logp += torch.where(running, step_lp[:, eos], 0.0)
                break
            allowed = step_lp.clone()
            allowed[:, : eos + (t == 0)] = -math.inf
            best_lp, token = allowed.max(-1)
            logp += torch.where(running, best_lp, 0.0)
            running &= token != eos
            out[:, t] = torch.where(running, token, 0)
            if (t + 1) % every == 0 and not running.any():
                break
        return out, logp


class Data:
    """Every split as context rows over two shared tables, the distinct terminals and paths of
    the whole input (terminals as sub-token ids, paths as node ids, both from the training
    vocabularies), so that a batch gathers each distinct one once; and the given names of the
    labelled splits. Table rows are the numbers of methodname.Strings (the holdout split's
    last), so a holdout's terminals and paths come after the others' and leave their batches
    as they were without it."""

    def __init__(self, methods: dict[str, Methods], hp: dict[str, Any]) -> None:
        self.methods, self.limit = methods, int(hp["contexts"])
        train, strings = methods["train"], methods["train"].strings
        terminals, paths = strings.terminals.keys, strings.paths.keys
        sub_counts = counted(terminals, train.counts([0, 2], strings.terminals),
                             lambda t: t.split("|")[:MAX_PARTS])  # fmt: skip
        node_counts = counted(paths, train.counts(1, strings.paths), lambda p: p.split("|"))
        self.subtokens = Index(sub_counts, int(hp["vocab_size"]))
        self.nodes = Index(node_counts, int(hp["node_vocab_size"]))
        labels = train.labels()
        self.targets = Index(Counter(t for name in labels for t in name),
                             int(hp["target_vocab_size"]), TARGET_SPECIALS)  # fmt: skip
        self.terminals = np.zeros((len(terminals), MAX_PARTS), dtype=np.int64)
        for k, text in enumerate(terminals):
            parts = [self.subtokens.get(p) for p in text.split("|")[:MAX_PARTS]] if text else []
            self.terminals[k, : len(parts)] = parts
        longest = max(len(p.split("|")) for p in paths)
        self.paths = np.zeros((len(paths), longest), dtype=np.int64)
        self.path_lengths = np.ones(len(paths), dtype=np.int64)  # padding: one PAD node
        for k, text in enumerate(paths):
            if text:
                nodes = [self.nodes.get(p) for p in text.split("|")]
                self.paths[k, : len(nodes)] = nodes
                self.path_lengths[k] = len(nodes)
        self.given = {s: self.names(m.labels()) for s, m in methods.items() if m.names is not None}

    def names(self, labels: list[tuple[str, ...]]) -> np.ndarray:
        """Given names: sub-tokens, end marker, PAD (never truncated, so the loss and p_given
        are of the whole given name; ``max_target`` bounds decoding only). A sub-token outside
        the target vocabulary (past the cap in train; in holdout also one train never had) is
        UNK, which stands for every such sub-token: the loss stays finite and is the model's
        probability of the name with each unknown sub-token as "one it does not know"."""
        steps = max((len(name) for name in labels), default=0) + 1
        out = np.zeros((len(labels), steps), dtype=np.int64)
        for i, name in enumerate(labels):
            ids = [self.targets.get(t) for t in name] + [TARGET_SPECIALS.index(EOS)]
            out[i, : len(ids)] = ids
        return out

    def batch(self, split: str, idx: np.ndarray, device: torch.device, labelled: bool) -> Batch:
        """Methods ``idx`` of ``split``, cut to their most contexts and longest name (given
        names for a ``labelled`` split: train or holdout)."""

        def upload(array: np.ndarray) -> Tensor:
            return trainer.to_device(torch.from_numpy(np.ascontiguousarray(array)), device)

        ctx = self.methods[split].dense(idx, self.limit)
        width = max(1, int((ctx[:, :, 1] > 0).sum(1).max()))
        ctx = ctx[:, :width]
        terminals, term_at = np.unique(ctx[:, :, [0, 2]], return_inverse=True)
        paths, path_at = np.unique(ctx[:, :, 1], return_inverse=True)
        local = np.stack([term_at.reshape(ctx.shape[0], width, 2)[..., 0],
                          path_at.reshape(ctx.shape[0], width),
                          term_at.reshape(ctx.shape[0], width, 2)[..., 1]], axis=-1)  # fmt: skip
        targets = None
        if labelled:
            y = self.given[split][idx]
            targets = upload(y[:, : int((y > 0).sum(1).max())])
        lengths = self.path_lengths[paths]
        return Batch(
            contexts=upload(local),
            mask=upload(ctx[:, :, 1] > 0),
            terminals=upload(self.terminals[terminals]),
            paths=upload(self.paths[paths][:, : int(lengths.max())]),
            path_lengths=torch.from_numpy(lengths),
            targets=targets,
        )


def train_epoch(
    model: Code2Seq,
    optimizer: torch.optim.Optimizer,
    data: Data,
    order: np.ndarray,
    hp: dict[str, Any],
    ctx: trainer.Context,
    schedule: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> float:
    """One pass of Adam steps over ``order`` in batches of ``batch_size``, the rate stepped by
    ``schedule`` after each; the mean loss."""
    total, size = 0.0, int(hp["batch_size"])
    for begin in range(0, len(order), size):
        b = data.batch("train", order[begin : begin + size], ctx.device, labelled=True)
        with ctx.amp():
            losses = model.losses(b)
        total += trainer.step(model, optimizer, losses, float(hp["clip"]))
        if schedule is not None:
            schedule.step()
    return float(total) / max(len(order), 1)


def batch_lines(
    model: Code2Seq,
    data: Data,
    max_target: int,
    split: str,
    idx: np.ndarray,
    device: torch.device,
) -> list[str]:
    """The lines of methods ``idx`` of ``split``: the greedy name and its probability, and for
    labelled (train, holdout) samples the loss, probability and log-odds of the given name."""
    words = data.targets.words
    b = data.batch(split, idx, device, split in trainer.LABELLED)
    names, logp = model.greedy(b, max_target)
    # (loss, p_given, logit_given) of each method, None on an unlabelled split
    labelled: list[tuple[float | None, ...]] = [(None, None, None)] * len(idx)
    read = [names, logp]
    if split in trainer.LABELLED:
        losses, logits = model.given_scores(b, log_odds=True)
        assert logits is not None
        read += [losses, logits]
    names_ids, name_lp, *given = trainer.to_host(*read)  # one wait for a GPU
    if given:
        labelled = [(x, math.exp(-x), y) for x, y in zip(*given, strict=True)]
    lines = []
    for k, (ids, lp) in enumerate(zip(names_ids, name_lp, strict=True)):
        subtokens = [words[t] for t in ids if t]
        lines.append(methodname.prediction_line(data.methods[split].ids[idx[k]], split, subtokens,
                                                math.exp(lp), *labelled[k]))  # fmt: skip
    return lines


def prediction_pieces(
    model: Code2Seq,
    data: Data,
    hp: dict[str, Any],
    batch: int,
    device: torch.device,
) -> list[trainer.Piece]:
    """Every sample of every split, in file order, one piece per batch."""
    return [partial(batch_lines, model, data, int(hp["max_target"]), split, idx, device)
            for split, methods in data.methods.items()
            for idx in methodname.batches(len(methods), batch)]  # fmt: skip


def build(
    task: dict[str, Any], hp: dict[str, Any], methods: dict[str, Methods], ctx: trainer.Context
) -> trainer.Fit:
    """Vocabularies of the training split, every split encoded once, the model and Adam."""
    data = Data(methods, hp)
    model = Code2Seq(len(data.subtokens), len(data.nodes), len(data.targets), hp).to(ctx.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(hp["lr"]),
                                 weight_decay=float(hp["weight_decay"]),
                                 **trainer.adam_options(ctx.device))  # fmt: skip
    # ``decay``: the rate falls linearly to 0 over the run's steps (checkpointed by trainer.fit).
    total = max(1, int(hp["epochs"]) * math.ceil(len(methods["train"]) / int(hp["batch_size"])))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: max(0.0, (total - step) / total) if hp["decay"] else 1.0
    )
    # Prediction batches of at least 128: the greedy decoder's per-step overhead made
    # predicting in batches of 8 take a third of an epoch (same names; scores differ by ~1e-7).
    eval_size = trainer.prediction_batch(max(int(hp["batch_size"]), 128), ctx.device)
    return trainer.Fit(
        model=model,
        optimizer=optimizer,
        train_epoch=lambda order: train_epoch(model, optimizer, data, order, hp, ctx, schedule),
        prediction_pieces=lambda net: prediction_pieces(net, data, hp, eval_size, ctx.device),
        vocabularies=[data.subtokens.words, data.nodes.words, data.targets.words],
        samples=len(methods["train"]),
        schedule=schedule,
    )


def main(argv: Sequence[str] | None = None) -> int:
    return methodname.main("code2seq", DEFAULTS, POSITIVE, build, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
