"""The checks of a unit's options, shared by `bench run` and `bench sweep` so that both accept
and refuse the same things with the same one-line messages (`BadOption`)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchmark.datasets import DatasetSpec

RUNNERS = ("process", "docker")  # how `bench run` starts a model (benchmark/runner/)
DEVICES = ("auto", "cpu", "cuda")
FOLDERS = ", or dir:PATH[:python|java|ruby] of a source folder"


class BadOption(ValueError):
    """An option is invalid; the message is one line naming the valid choices."""


def folder_problem(folder: Path) -> str | None:
    """Why this process cannot write files in ``folder`` (made if missing), or None: checked
    before the work that fills it, so that a file in its place or a read-only place is one
    line at once rather than a traceback when the work is done."""
    if folder.exists() and not folder.is_dir():
        return "is a file, not a folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as e:
        return f"cannot be written ({e.strerror or e})"
    return None


def choice(what: str, value: str, choices: Iterable[str], also: str = "") -> None:
    if value not in choices:  # type: ignore[operator]
        raise BadOption(
            f"unknown {what} {value!r}; choose from: {', '.join(sorted(choices))}{also}"
        )


def unit(task: str, dataset: str | None, profile: str, device: str, runner: str,
         noise_kind: str) -> str:  # fmt: skip
    """Check what every unit of a run or sweep shares; return the dataset (the task's offline
    default where none is named)."""
    from benchmark.datasets import DATASETS
    from benchmark.noise import NOISE_KINDS
    from benchmark.profiles import PROFILES
    from benchmark.tasks import DEFAULT_DATASETS, TASKS

    choice("task", task, TASKS)
    dataset = dataset or DEFAULT_DATASETS[task]
    if dataset.startswith("dir:"):  # its folder is walked once, here
        spec = folder_dataset(dataset)
    else:
        choice("dataset", dataset, DATASETS, FOLDERS)
        spec = DATASETS[dataset]
    choice("profile", profile, PROFILES)
    choice("device", device, DEVICES)
    choice("runner", runner, RUNNERS)
    choice(f"noise kind for {task}", noise_kind, NOISE_KINDS[task])
    if task not in spec.tasks:
        raise BadOption(f"dataset {spec.name!r} has no task {task!r}; it has: "
                        f"{', '.join(spec.tasks)}")  # fmt: skip
    return spec.name


NAME_MAX = 255  # bytes of one folder name, on the file systems results live on


def folder_dataset(name: str) -> DatasetSpec:
    """A ``dir:`` corpus as a dataset of one name, ``dir:<resolved path>:<language>``, however
    it was typed: relative, with a trailing '/', or from another folder, it would have been another
    dataset (or a different corpus under this one's name). A corpus that cannot be one says
    why; a path whose results folder name would pass NAME_MAX bytes is refused before work."""
    from benchmark.datasets import folder_spec
    from benchmark.results import segment

    try:
        spec = folder_spec(name)
    except (ValueError, OSError) as e:  # FormatError, or a path the OS refuses
        raise BadOption(" ".join(str(e).split())) from None
    size = len(segment(spec.name).encode())
    if size > NAME_MAX:
        raise BadOption(f"{name[:80]}: its results folder would be named with {size} bytes, "
                        f"over the {NAME_MAX} a file system allows; move the corpus to a shorter "
                        "path")  # fmt: skip
    return spec


def model(name: str, task: str, weights: Path | None) -> None:
    """A model that exists, does the task, and takes ``weights`` where they are given."""
    from benchmark.models import MODELS

    choice("model", name, MODELS)
    if task not in MODELS[name].tasks:
        raise BadOption(f"model {name!r} does not do task {task!r}; it does: "
                        f"{', '.join(MODELS[name].tasks)}")  # fmt: skip
    if weights is not None and not MODELS[name].weights:
        takers = ", ".join(n for n, s in MODELS.items() if s.weights)
        raise BadOption(f"model {name!r} takes no pretrained weights (--weights); {takers} does")


def weights_folder(weights: Path | None) -> None:
    """A folder whose path a model may repeat in its start event: the runners refuse markup,
    control characters and text over 200 characters there, which would fail the unit only
    once the model started, and blame the model."""
    from benchmark.runner.names import UNSAFE_TEXT

    if weights is None:
        return
    if not weights.is_dir():
        raise BadOption(f"--weights {weights} is not a folder")
    path = str(weights.resolve())
    if len(path) > 200 or UNSAFE_TEXT.search(path):
        raise BadOption(f"--weights {path[:80]!r}: move the folder to a path of at most 200 "
                        "characters without <>&\"'` or control characters")  # fmt: skip


SUBSET_SHARE = 0.5  # of the training pool in a subset, where --subset-share is not given


def subset(index: int | None, share: float | None) -> float:
    """A subset model's place and share (the default where none is given): both inside what
    a draw can give, and a share only with a subset to apply it to."""
    if index is None and share is not None:
        raise BadOption("--subset-share needs --subset")
    if index is not None and index < 0:
        raise BadOption(f"--subset must be 0 or more, got {index}")
    share = SUBSET_SHARE if share is None else share
    if not 0.0 < share < 1.0:
        raise BadOption(f"--subset-share {share:g} is outside (0, 1)")
    return share


def noise_rate(rate: float) -> float:
    """The rate a unit is made and named with. Its folder keeps 6 significant digits
    (``noise-label-0.25``), so a rate with more would be served another rate's unit, and -0.0
    would name a folder ``noise-label--0`` that no reader takes for a unit."""
    if not 0.0 <= rate <= 1.0:
        raise BadOption(f"noise rate {rate!r} is outside [0, 1]")
    if float(f"{rate:g}") != rate:
        raise BadOption(f"noise rate {rate!r} has more than the 6 significant digits a unit's "
                        f"folder keeps; give {rate:g}")  # fmt: skip
    return rate + 0.0  # -0.0 is 0.0


def finetune_and_name(
    name: str, weights: Path | None, finetune: str | None, unit_name: str | None
) -> tuple[str | None, str | None]:
    """--finetune only for a model that takes it (full by default, and weights required), and
    the unit's name: --name, else for such a model ``<weights folder>-<mode>``, so that runs of
    other checkpoints and modes stand apart on the leaderboard."""
    from benchmark.models import MODELS
    from benchmark.models.spec import FINETUNE_MODES, NAME, tuned_name

    if unit_name is not None and not NAME.fullmatch(unit_name):
        raise BadOption(f"--name {unit_name!r} must match {NAME.pattern}")
    if not MODELS[name].finetune:
        if finetune is not None:
            raise BadOption(f"model {name!r} takes no --finetune")
        return None, unit_name
    if weights is None:
        raise BadOption(f"model {name!r} needs --weights, a Hugging Face folder")
    finetune = "full" if finetune is None else finetune  # '' is a typo, not the default
    choice("finetune mode", finetune, FINETUNE_MODES)
    return finetune, unit_name or tuned_name(weights, finetune)
