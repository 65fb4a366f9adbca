"""What the method_name reference models (code2vec, code2seq) share: reading task.json and the
``method-name-jsonl`` splits, string vocabularies, the protocol's prediction line, and the run
on the one trainer (benchmark.trainer), so that each model file holds only its network and how
it turns a batch into losses and predictions. The holdout split (protocol 3), when task.json
names it, is read with its labels and predicted like train, but never trained on: the
vocabularies and the training order come from train.jsonl alone.
"""

from __future__ import annotations

import json
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmark import trainer
from benchmark.models import odds
from benchmark.models.flat import Numbering, offsets, spans
from benchmark.trainer import InputError, jsonl

PAD, UNK = "<pad>", "<unk>"
MAX_SUBTOKENS = 64  # the protocol's limit on a predicted name


class Index:
    """Ids of the most frequent training strings: the ``specials`` (PAD, UNK by default), then
    by count, ties by string, so the ids never depend on file order."""

    def __init__(self, counts: Counter[str], size: int, specials: Sequence[str] = (PAD, UNK)):
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        kept = [w for w, _ in ranked if w not in specials][: max(0, size - len(specials))]
        self.words = [*specials, *kept]
        self.ids = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def get(self, word: str) -> int:
        """The word's id; UNK (1) for a word outside the vocabulary."""
        return self.ids.get(word, 1)


def iter_rows(path: Path, labelled: bool) -> Iterator[dict[str, Any]]:
    """The lines of one split, checked for what the method_name models read."""
    seen = set()
    for where, r in jsonl(path):
        if not isinstance(r, dict) or "id" not in r:
            raise InputError(f"{where}: not a JSON object with an 'id'")
        contexts = r.get("contexts")
        if not isinstance(contexts, list) or not all(
            isinstance(c, str) and c.count(",") >= 2 for c in contexts
        ):
            raise InputError(f"{where}: 'contexts' is not a list of 'src,path,dst' strings")
        label = r.get("label")
        if labelled and not (
            isinstance(label, list) and label and all(isinstance(t, str) for t in label)
        ):
            raise InputError(f"{where}: 'label' is not a non-empty list of sub-tokens")
        if str(r["id"]) in seen:
            raise InputError(f"{where}: repeated id {r['id']!r}")
        seen.add(str(r["id"]))
        yield {"id": str(r["id"]), "contexts": contexts, "label": label}


def split_context(context: str) -> tuple[str, str, str]:
    """``src,path,dst``; a terminal never holds a comma, so the path is what lies between."""
    src, rest = context.split(",", 1)
    path, dst = rest.rsplit(",", 1)
    return src, path, dst


@dataclass
class Strings:
    """The distinct terminals, paths and given names of every split, numbered as the splits
    are read (the holdout's last, so that its own come after the others' and leave their
    numbers as they were without it). Number 0 of the terminals and the paths is the empty
    string, which code2seq's tables keep as padding."""

    terminals: Numbering[str] = field(default_factory=lambda: Numbering([""]))
    paths: Numbering[str] = field(default_factory=lambda: Numbering([""]))
    names: Numbering[tuple[str, ...]] = field(default_factory=Numbering)


@dataclass
class Methods:
    """One split's methods as flat arrays: their ids, their given names' numbers (labelled
    splits) and their first ``limit`` contexts, (terminal, path, terminal) numbers in
    ``strings``, method i's in rows ``offsets[i]:offsets[i + 1]``. Held as Python strings a
    context took some 100 bytes; here 12."""

    strings: Strings
    ids: list[str]
    names: np.ndarray | None  # int32 [n]
    offsets: np.ndarray  # int64 [n + 1]
    contexts: np.ndarray  # int32 [C, 3]

    def __len__(self) -> int:
        return len(self.ids)

    def labels(self) -> list[tuple[str, ...]]:
        """Each method's given name (a labelled split's)."""
        assert self.names is not None
        keys = self.strings.names.keys
        return [keys[k] for k in self.names.tolist()]

    def counts(self, column: int | list[int], numbering: Numbering) -> np.ndarray:
        """int64 [len(numbering)]: how often this split's contexts hold each number in
        ``column`` (0 and 2: the terminals; 1: the paths)."""
        return np.bincount(self.contexts[:, column].ravel(), minlength=len(numbering))

    def dense(self, idx: np.ndarray, limit: int,
              terminals: np.ndarray | None = None, paths: np.ndarray | None = None
              ) -> np.ndarray:  # fmt: skip
        """int64 [len(idx), limit, 3]: methods ``idx``'s contexts, 0-padded; with
        ``terminals`` and ``paths`` (ids by number), as those ids."""
        counts = self.offsets[idx + 1] - self.offsets[idx]
        triples = self.contexts[spans(self.offsets[idx], counts)].astype(np.int64)
        if terminals is not None and paths is not None:
            triples = np.stack([terminals[triples[:, 0]], paths[triples[:, 1]],
                                terminals[triples[:, 2]]], axis=-1)  # fmt: skip
        out = np.zeros((len(idx), limit, 3), dtype=np.int64)
        slot = spans(np.zeros(len(idx), dtype=np.int64), counts)
        out[np.repeat(np.arange(len(idx)), counts), slot] = triples
        return out


def numbered(rows: Iterable[dict[str, Any]], labelled: bool, limit: int,
             strings: Strings) -> Methods:  # fmt: skip
    """The Methods of checked ``rows`` (iter_rows'), numbered in ``strings`` as they come."""
    ids: list[str] = []
    names, counts, flat = array("i"), array("q"), array("i")
    terminals, paths = strings.terminals, strings.paths
    for r in rows:
        ids.append(r["id"])
        if labelled:
            names.append(strings.names.row(tuple(r["label"])))
        kept = r["contexts"][:limit]
        counts.append(len(kept))
        for context in kept:
            src, path, dst = split_context(context)
            flat.extend((terminals.row(src), paths.row(path), terminals.row(dst)))
    return Methods(strings, ids, np.frombuffer(names, np.int32) if labelled else None,
                   offsets(np.frombuffer(counts, np.int64)),
                   np.frombuffer(flat, np.int32).reshape(-1, 3))  # fmt: skip


def methods_of(rows: dict[str, list[dict[str, Any]]], limit: int) -> dict[str, Methods]:
    """Splits of rows in memory (tests, benchmarks) as a run reads its files."""
    strings = Strings()
    return {s: numbered(r, s in trainer.LABELLED, limit, strings) for s, r in rows.items()}


def counted(keys: Iterable[str], counts: np.ndarray,
            parts: Callable[[str], list[str]] = lambda key: [key]) -> Counter[str]:  # fmt: skip
    """How often each part of the keys occurs, from each distinct key's count: what counting
    every occurrence gives (a vocabulary's counts)."""
    out: Counter[str] = Counter()
    for key, n in zip(keys, counts.tolist(), strict=True):
        if n:
            for part in parts(key):
                out[part] += n
    return out


def read_task(input_dir: Path, model: str) -> dict[str, Any]:
    """task.json, checked for a method_name model."""
    return trainer.read_task_for(input_dir, model, {"method_name": "method-name-jsonl"})


def prediction_line(
    sample_id: str,
    split: str,
    subtokens: list[str],
    score: float,
    loss: float | None = None,
    p_given: float | None = None,
    logit_given: float | None = None,
) -> str:
    """One line of an epoch file; ``loss``, ``p_given`` and ``logit_given`` (its log-odds,
    which keeps what a 6-decimal p_given rounds away near 0 and 1) for labelled (train,
    holdout) samples only."""
    line: dict[str, Any] = {"id": sample_id, "split": split, "subtokens": subtokens[:MAX_SUBTOKENS],
                            "score": round(min(max(score, 0.0), 1.0), 6)}  # fmt: skip
    if loss is not None and p_given is not None:
        line["loss"] = round(max(loss, 0.0), 6)  # never -0.0
        line["p_given"] = round(min(max(p_given, 0.0), 1.0), 6)
        if logit_given is not None:
            line["logit_given"] = odds.on_line(logit_given)
    return json.dumps(line) + "\n"


def batches(n: int, size: int) -> Iterator[np.ndarray]:
    """Consecutive index ranges of at most ``size``: prediction batches in file order."""
    for start in range(0, n, size):
        yield np.arange(start, min(start + size, n))


# (task, hyperparameters, methods per split of trainer.splits_of, context) -> the model ready
# for trainer.fit
Build = Callable[[dict[str, Any], dict[str, Any], dict[str, Methods], trainer.Context],
                 trainer.Fit]  # fmt: skip


def run(
    name: str,
    defaults: dict[str, dict[str, Any]],
    positive: Sequence[str],
    build: Build,
    input_dir: Path,
    output_dir: Path,
    events: trainer.Events,
) -> None:
    """Train ``name`` on the input folder with the one trainer; ``positive`` names the model's
    own hyperparameters that must be positive integers."""
    task = read_task(input_dir, name)
    settings = trainer.prepare(task, defaults, positive)
    files = trainer.split_files(task)
    started = time.perf_counter()
    splits = trainer.splits_of(task)
    strings, limit = Strings(), int(settings.hp["contexts"])
    methods = {s: numbered(iter_rows(input_dir / files[s], s in trainer.LABELLED),
                           s in trainer.LABELLED, limit, strings) for s in splits}  # fmt: skip
    if not len(methods["train"]):
        raise InputError(f"{files['train']} holds no samples")
    run = build(task, settings.hp, methods, settings.ctx)
    trainer.log(f"read {', '.join(f'{len(methods[s])} {s}' for s in splits)} methods in "
                f"{time.perf_counter() - started:.1f}s, vocabularies of "
                f"{', '.join(str(len(v)) for v in run.vocabularies)}; "
                f"hyperparameters {json.dumps(settings.hp)}")  # fmt: skip
    fingerprint = trainer.input_fingerprint(input_dir, files, name)
    trainer.fit(run, settings, task, fingerprint, output_dir, events)


def main(
    name: str, defaults: dict[str, dict[str, Any]], positive: Sequence[str], build: Build,
    doc: str | None, argv: Sequence[str] | None = None,
) -> int:  # fmt: skip
    """The protocol command line of a method-name model (trainer.command_line around run)."""
    return trainer.command_line(
        doc, lambda a, events: run(name, defaults, positive, build, a.input, a.output, events), argv
    )
