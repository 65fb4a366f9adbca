"""A task, declared once: its `TaskSpec`, and the registry of specs every table derives from.

A task is a package (``benchmark/tasks/<task>/`` for the suite's own, any importable package
for a plugin's) that builds one `TaskSpec`: its name, language, protocol representation, noise
kinds by name, metrics (the primary one and its direction), default dataset, and the four
callables the harness runs a unit with. `register_task` adds it to `TASKS`, the live registry
(ordered, the suite's four first): the CLI's choices, each task's default dataset and noise
kinds, the scorer and the metrics of a task are all read from it, so a task registered later
(by a plugin, `benchmark.plugins`) is seen everywhere.

A noise kind is one function, registered under its name with a `NoiseKinds` decorator::

    noise_kind = NoiseKinds()

    @noise_kind("label")
    def _flip(train, noisy, seed): ...

    @noise_kind("token-masking", version=2, changes=has_a_word_to_mask)
    def _mask(train, noisy, seed): ...

and the task's ``prepare`` applies the one the run names (``noise_kind.of``). ``changes`` says
which training samples the kind can change (all, without it): the noisy mask is drawn among
those only, so every sample called noisy is one the noise changed. ``version`` is raised
whenever what the function does to a sample changes: a unit records the version it was made
with, and one made with another is left out of every table and run again, as one made from an
older dataset is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import polars as pl

Splits = dict[str, pl.DataFrame]
T = TypeVar("T")


class TaskMetrics(Protocol):
    """What the run summary needs from a task's metrics (a module or any object)."""

    PRIMARY: str
    METRICS: tuple[str, ...]

    def aggregate(
        self, table: pl.DataFrame | pl.LazyFrame, side: str, by: Sequence[str] = ...
    ) -> pl.LazyFrame:
        """Columns `by` plus one per name in METRICS (None where a group has nothing to
        average), against the labels of `side` ("given" or "true")."""
        ...


@dataclass(frozen=True)
class NoiseKind:
    """One noise kind: the function that applies it (called as the kind itself), its version,
    and which training samples it can change (None: every one)."""

    apply: Callable[..., Any]
    version: int = 1
    changes: Callable[[pl.DataFrame], np.ndarray] | None = None

    def __call__(self, *args: Any) -> Any:
        return self.apply(*args)


def kind_of(kinds: Mapping[str, Callable[..., Any]], task: str, kind: str) -> NoiseKind:
    """Noise kind `kind` of `task` as a NoiseKind: a plain function (a plugin's own mapping)
    is version 1 and can change every sample; an unknown kind is an error naming the task."""
    try:
        got = kinds[kind]
    except KeyError:
        raise ValueError(f"{task} has no noise kind {kind!r}") from None
    return got if isinstance(got, NoiseKind) else NoiseKind(got)


class NoiseKinds(dict[str, NoiseKind]):
    """A task's noise kinds, name -> NoiseKind, in declaration order. Calling it with a name
    (and the kind's version and `changes`) gives the decorator that registers a function."""

    def __call__(
        self,
        name: str,
        version: int = 1,
        changes: Callable[[pl.DataFrame], np.ndarray] | None = None,
    ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        if type(version) is not int or version < 1:
            raise ValueError(f"noise kind {name!r}: its version must be a whole number >= 1")

        def add(fn: Callable[..., T]) -> Callable[..., T]:
            if name in self:
                raise ValueError(f"noise kind {name!r} is declared twice")
            self[name] = NoiseKind(fn, version, changes)
            return fn

        return add

    def of(self, task: str, kind: str) -> NoiseKind:
        """Noise kind `kind`; an unknown kind is an error naming the task."""
        return kind_of(self, task, kind)


@dataclass(frozen=True)
class TaskSpec:
    """Everything the harness knows of a task."""

    name: str
    language: str  # of its code: python, java, ruby (a ``dir:`` corpus of it serves the task)
    representation: str  # the protocol input format, task.json's "representation"
    noise_kinds: Mapping[str, Callable[..., Any]]  # name -> function, "label" first
    default_dataset: str  # what `bench run`/`sweep`/`findings` use when no --dataset is named
    metrics: TaskMetrics  # PRIMARY, METRICS, aggregate
    # prepare(splits, noisy mask, noise kind, seed) -> (splits with the noise, labels frame)
    prepare: Callable[[Splits, np.ndarray, str, int], tuple[Splits, pl.DataFrame]]
    # write_inputs(folder, task.json's settings, splits): the model's input folder
    write_inputs: Callable[[Path, dict, Splits], None]
    # read_predictions(output folder, epochs, splits): every epoch's checked predictions
    read_predictions: Callable[[Path, int, Splits], pl.DataFrame]
    # score(labels, predictions): the per-sample table (benchmark.evaluator)
    score: Callable[[pl.DataFrame, pl.DataFrame], pl.DataFrame]
    higher_is_better: bool = True  # of the primary metric, which selects the epoch
    # epoch_reader(splits) -> (epoch file, epoch) -> its checked predictions, as
    # read_predictions reads each: with it, `bench run` reads and scores each epoch file while
    # the model trains on (so ``score`` must judge each row on its own and sort by epoch
    # first); without it, every file once the model is done
    epoch_reader: Callable[[Splits], Callable[[Path, int], pl.DataFrame]] | None = None
    # a generation task's given label in the per-sample table (a list of tokens), whose zlib
    # length calibrates the loss attack of membership inference; None for the others
    label_text: str | None = None
    # The label-noise rate at which the given labels carry nothing about the code: the control
    # (the floor) that every score is read beside. 1.0 where a noisy label is another sample's;
    # 0.5 where labels are flipped, since at 1.0 a flipped label is the truth inverted, which a
    # model learns (to answer the opposite, below chance on test)
    floor_rate: float = 1.0

    @property
    def primary(self) -> str:
        return self.metrics.PRIMARY


TASKS: dict[str, TaskSpec] = {}


def register_task(spec: TaskSpec) -> TaskSpec:
    """Add `spec` to the registry; a name already taken or an incoherent spec is an error."""
    if spec.name in TASKS and TASKS[spec.name] is not spec:
        raise ValueError(f"task {spec.name!r} is already registered")
    kinds = list(spec.noise_kinds)
    if not kinds or kinds[0] != "label":
        raise ValueError(f"task {spec.name!r}: its first noise kind must be 'label', not {kinds}")
    if spec.primary not in spec.metrics.METRICS:
        raise ValueError(
            f"task {spec.name!r}: primary metric {spec.primary!r} is not one of "
            f"{spec.metrics.METRICS}"
        )
    TASKS[spec.name] = spec
    return spec


class Derived(Mapping[str, T]):
    """A read-only view of the registry, task name -> one thing of its spec: a table that
    was written by hand per task, now kept in step with every registered task."""

    def __init__(self, of: Callable[[TaskSpec], T]) -> None:
        self._of = of

    def __getitem__(self, task: str) -> T:
        return self._of(TASKS[task])

    def __iter__(self) -> Iterator[str]:
        return iter(TASKS)

    def __len__(self) -> int:
        return len(TASKS)

    def __repr__(self) -> str:
        return repr(dict(self))
