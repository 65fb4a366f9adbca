"""A sweep's grid: the options of `bench sweep` checked as `bench run` checks them, the units
they expand to and the `bench run` command of each."""

from __future__ import annotations

import hashlib
import json
import sys
import typing
from collections.abc import Sequence
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

from benchmark import options
from benchmark.options import RUNNERS, BadOption  # noqa: F401 (the sweep's names for them)
from benchmark.results import Unit, read_json


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep covers; its grid (not where or how it runs) determines its id."""

    task: str
    dataset: str
    models: tuple[str, ...]
    noise_kind: str
    noise_rates: tuple[float, ...]
    seeds: tuple[int, ...]
    profile: str
    epochs: int
    device: str = "auto"
    runner: str = "process"
    weights: str | None = None  # an absolute folder of pretrained weights (--weights)
    finetune: str | None = None  # what trains of the model that takes --finetune (hf)
    name: str | None = None  # that model's unit name: --name, else <weights folder>-<mode>
    subsets: int = 0  # K > 0: K units per cell, each trained on a seeded subset (--subsets)
    subset_share: float = 0.5  # of the training pool in each subset

    @property
    def id(self) -> str:
        grid = asdict(self)
        del grid["device"], grid["runner"]
        for key in ("weights", "finetune", "name"):  # the ids of sweeps without them stay
            if grid[key] is None:
                del grid[key]
        if not self.subsets:
            del grid["subsets"], grid["subset_share"]
        digest = hashlib.sha256(json.dumps(grid, sort_keys=True).encode()).hexdigest()
        return f"{self.task}-{digest[:10]}"

    def tuned(self, model: str) -> bool:
        """The model takes --finetune, and its units go by ``name`` (hf)."""
        from benchmark.models import MODELS

        return self.finetune is not None and getattr(MODELS.get(model), "finetune", False)

    def unit_name(self, model: str) -> str:
        """The model name a model's units go by: its own, or the fine-tuned model's name."""
        return self.name if self.name is not None and self.tuned(model) else model

    def model_of(self, unit: Unit) -> str:
        """The model that a unit of this sweep runs (a fine-tuned unit is named apart)."""
        return next((m for m in self.models if self.unit_name(m) == unit.model), unit.model)

    def units(self) -> list[Unit]:
        subsets: list[int | None] = list(range(self.subsets)) if self.subsets else [None]
        return [
            Unit(self.task, self.dataset, self.unit_name(m), self.noise_kind, r, s, k)
            for m in self.models
            for r in self.noise_rates
            for s in self.seeds
            for k in subsets
        ]

    @classmethod
    def from_dict(cls, d: object) -> SweepSpec:
        """The spec a sweep's state file holds (``asdict``'s JSON); raise ValueError saying
        which field is wrong, since a hand-edited or foreign file must not become a traceback
        later (a field a newer spec added may be missing: it takes its default)."""
        if not isinstance(d, dict):
            raise ValueError(f"spec is {json_kind(d)}, not an object")
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            if f.name not in d and f.default is MISSING:
                raise ValueError(f"spec.{f.name} is missing")
        for key, value in d.items():
            if key not in hints:
                raise ValueError(f"spec.{key} is no field of a sweep's spec")
            if not _fits(hints[key], value):
                raise ValueError(f"spec.{key} is {json_kind(value)}, not {_hint_kind(hints[key])}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def json_kind(value: object) -> str:
    """A JSON value as a message shows it: a scalar as itself (cut short), a list or an object
    by its kind."""
    if isinstance(value, list | dict):
        return "a list" if isinstance(value, list) else "an object"
    shown = json.dumps(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def _fits(hint: Any, value: object) -> bool:
    """Whether a JSON value fits a spec field's type: a list for a tuple, an int for a float,
    and no bool for a number."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple:
        return isinstance(value, list) and all(_fits(args[0], v) for v in value)
    if args:  # X | None
        return any(_fits(a, value) for a in args)
    if isinstance(value, bool) or value is None:
        return hint is type(value)
    return isinstance(value, (int, float) if hint is float else hint)


def _hint_kind(hint: Any) -> str:
    """A spec field's type, as a message names it."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple:
        return f"a list of {_hint_kind(args[0]).removeprefix('a ')}s"
    if args:
        return " or ".join(_hint_kind(a) for a in args)
    kinds = {str: "a string", int: "a whole number", float: "a number", type(None): "null"}
    return kinds.get(hint, hint.__name__)


def unit_key(unit: Unit) -> str:
    """The unit's place within its sweep: ``model/noise-kind-rate/seed-s`` (and
    ``/subset-k``), as the folders are named (a ``dir:PATH`` dataset's folder is its name
    percent-encoded)."""
    parts = unit.path(Path()).parts
    return Path(*parts[2 if unit.subset is None else 3 :]).as_posix()


def _items(text: str, option: str) -> list[str]:
    """A comma-separated option's items, each once; an empty item among others (``0,,0.5``,
    a trailing comma) is a typo to point out, not one to drop without a word. An option that
    is empty as a whole yields nothing, which the caller refuses in its own words."""
    items = [t.strip() for t in text.split(",")]
    if len(items) > 1 and "" in items:
        raise BadOption(f"{option} {text!r} has an empty item; leave out the extra comma")
    out: list[str] = []
    for item in items:
        if item and item not in out:
            out.append(item)
    return out


def make_spec(
    task: str, dataset: str | None, models: str, noise: str, noise_kind: str, seeds: int,
    profile: str, epochs: int | None, device: str, runner: str, weights: Path | None = None,
    finetune: str | None = None, name: str | None = None, subsets: int = 0,
    subset_share: float | None = None,
) -> SweepSpec:  # fmt: skip
    """Check the options the way ``bench run`` does and expand them; raise BadOption."""
    from benchmark.models import MODELS
    from benchmark.profiles import PROFILES

    dataset = options.unit(task, dataset, profile, device, runner, noise_kind)
    names = _items(models, "--models")
    if not names:
        raise BadOption("--models names no model; give a comma-separated list")
    for model in names:
        options.model(model, task, weights)
    options.weights_folder(weights)
    tuned = [n for n in names if MODELS[n].finetune]
    if not tuned and (finetune is not None or name is not None):
        raise BadOption("--finetune and --name are for a model that takes them (hf)")
    if len(tuned) > 1:
        raise BadOption(f"models {', '.join(tuned)} would share one unit name; sweep them apart")
    if tuned:  # its units go by the checkpoint's name and the mode, as bench run names them
        finetune, name = options.finetune_and_name(tuned[0], weights, finetune, name)
        if name in names:
            raise BadOption(f"--name {name!r} is another model of this sweep")
    rates: list[float] = []
    for text in _items(noise, "--noise"):
        try:
            rate = float(text)
        except ValueError:
            raise BadOption(f"noise rate {text!r} is not a number") from None
        rate = options.noise_rate(rate)
        if rate not in rates:
            rates.append(rate)
    if not rates:
        raise BadOption("--noise names no rate; give a comma-separated list such as 0,0.5")
    if seeds < 1:
        raise BadOption(f"--seeds must be at least 1, got {seeds}")
    if not subsets and subset_share is not None:
        raise BadOption("--subset-share needs --subsets")
    share = options.subset(0 if subsets else None, subset_share)
    if subsets:
        if subsets < 2:
            raise BadOption(f"--subsets must be 0 or at least 2, got {subsets}")
        old = [n for n in names if MODELS[n].protocol < 3]
        if old:
            speak = "speaks" if len(old) == 1 else "speak"
            raise BadOption(f"--subsets needs models that predict a holdout split (protocol 3); "
                            f"{', '.join(old)} {speak} protocol 2")  # fmt: skip
    return SweepSpec(
        task, dataset, tuple(names), noise_kind, tuple(rates), tuple(range(seeds)), profile,
        epochs or PROFILES[profile].epochs, device, runner,
        str(weights.resolve()) if weights else None, finetune, name, subsets, share,
    )  # fmt: skip


def bench_run_argv(spec: SweepSpec, unit: Unit, results: Path) -> tuple[str, ...]:
    """The ``bench run`` command line of one unit (absolute paths: it may run on a node)."""
    model = spec.model_of(unit)
    tuned = ("--finetune", spec.finetune, "--name", unit.model) if spec.tuned(model) else ()
    return (
        sys.executable, "-m", "benchmark", "run", "--task", unit.task, "--dataset", unit.dataset,
        "--model", model, *tuned, "--noise-kind", unit.noise_kind, "--noise", repr(unit.noise_rate),
        "--seed", str(unit.seed), "--profile", spec.profile, "--epochs", str(spec.epochs),
        "--device", spec.device, "--results", str(results.resolve()), "--runner", spec.runner,
        *(("--weights", spec.weights) if spec.weights else ()),
        *(("--subset", str(unit.subset), "--subset-share", repr(spec.subset_share))
          if unit.subset is not None else ()),
    )  # fmt: skip


def conflict(spec: SweepSpec, unit: Unit, results: Path) -> str | None:
    """Why a complete unit cannot count for this sweep (other profile or epochs), if it can't."""
    try:
        cfg = read_json(unit.path(results) / "run.json")["config"]
    except (OSError, ValueError, KeyError):
        return None
    if (cfg.get("profile"), cfg.get("epochs")) != (spec.profile, spec.epochs):
        return (
            f"{unit.path(results)} already holds a run with profile {cfg.get('profile')} and "
            f"{cfg.get('epochs')} epochs; move it away or sweep into another --results folder"
        )
    if cfg.get("weights") != spec.weights:
        return (
            f"{unit.path(results)} already holds a run with weights {cfg.get('weights')}; "
            "move it away or sweep into another --results folder"
        )
    model = spec.model_of(unit)
    finetune = spec.finetune if spec.tuned(model) else None
    if (cfg.get("model", model), cfg.get("finetune")) != (model, finetune):
        return (
            f"{unit.path(results)} already holds a run of {cfg.get('model')} "
            f"(finetune {cfg.get('finetune')}); move it away or sweep into another --results "
            "folder"
        )
    return None


def command(task: str, dataset: str, model: str, noise_kind: str, rates: Sequence[float],
            seeds: int, profile: str, config: dict[str, Any], subsets: int = 0) -> str:  # fmt: skip
    """The `bench sweep` that makes units like the one whose run.json ``config`` is given: its
    model (``model`` where the config names none), and its epochs (where not the profile's),
    weights, fine-tuning mode and unit name, and ``subsets`` subsets of its share where it is a
    subset unit, as that run was made."""
    import shlex

    from benchmark.profiles import PROFILES

    argv = ["bench", "sweep", "--task", task, "--dataset", dataset, "--models",
            str(config.get("model") or model), "--noise-kind", noise_kind, "--noise",
            ",".join(f"{r:g}" for r in rates), "--seeds", str(seeds),
            "--profile", profile]  # fmt: skip
    known = PROFILES.get(profile)
    epochs = config.get("epochs")
    if isinstance(epochs, int) and (known is None or epochs != known.epochs):
        argv += ["--epochs", str(epochs)]
    for option in ("weights", "finetune", "name"):
        if config.get(option):
            argv += [f"--{option}", str(config[option])]
    if config.get("subset") is not None:
        argv += ["--subsets", str(subsets), "--subset-share", f"{config['subset_share']:g}"]
    return shlex.join(argv)
