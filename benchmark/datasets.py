"""The datasets by name: local corpora (method_datasets) and official archives (official),
each built once and cached by content hash, read lazily."""

from __future__ import annotations

import hashlib
import os
import tomllib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from benchmark.cache import CARDS, cache_root
from benchmark.cache import MAX_FILE_BYTES as MAX_FILE_BYTES  # re-exported: tests read them here
from benchmark.cache import max_file_bytes as max_file_bytes
from benchmark.tasks import TASKS
from native import sources
from native.sources import SUFFIX


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    tasks: tuple[str, ...]
    official: bool = False  # prepared by `bench datasets prepare` (benchmark.official)
    # A plugin's dataset: a function that returns its samples (columns id, split, source_tokens
    # and the task's own), called on each load and cached by a fingerprint of what it returns.
    build: Callable[[], pl.DataFrame] | None = field(default=None, compare=False)


class Registry(dict[str, DatasetSpec]):
    """The named datasets, plus any ``dir:PATH[:python|java|ruby]`` resolved on lookup."""

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name) or (isinstance(name, str) and _folder(name) is not None)

    def __missing__(self, name: str) -> DatasetSpec:
        spec = _folder(name)
        if spec is None:
            raise KeyError(name)
        return spec


def _folder_tasks(language: str) -> tuple[str, ...]:
    """The tasks a ``dir:`` corpus of `language` serves: those of that language."""
    return tuple(name for name, spec in TASKS.items() if spec.language == language)


def _folder(name: str) -> DatasetSpec | None:
    """``folder_spec``, or None where the name is not a usable ``dir:`` corpus."""
    if not name.startswith("dir:"):
        return None
    try:
        return folder_spec(name)
    except (ValueError, OSError):
        return None


def folder_spec(name: str) -> DatasetSpec:
    """A source tree or zip as a dataset: ``dir:PATH[:python|java|ruby]``, the language named
    after a colon or else the most common one; a one-line error says what is wrong with it."""
    from native.formats import FormatError

    path, _, lang = name.removeprefix("dir:").rpartition(":")
    if lang not in SUFFIX:
        path, lang = name.removeprefix("dir:"), ""
    root = Path(path).expanduser()
    if not root.exists():
        raise FormatError(f"{name}: {root} does not exist")
    if not root.is_dir() and not zipfile.is_zipfile(root):
        raise FormatError(f"{name}: {root} is neither a folder nor a zip archive")
    counts = {k: len(sources.named(str(root), k).names()) for k in ([lang] if lang else SUFFIX)}
    lang = max(counts, key=lambda k: counts[k])
    if counts[lang] == 0:
        *others, last = (SUFFIX[k] for k in counts)
        wanted = f"{', '.join(others)} or {last}" if others else last
        raise FormatError(f"{name}: the corpus yields nothing: no {wanted} files under {root} "
                          "(test folders left out)")  # fmt: skip
    return DatasetSpec(f"dir:{root.resolve()}:{lang}", _folder_tasks(lang))


DATASETS = Registry(
    {
        "python-stdlib": DatasetSpec("python-stdlib", ("var_misuse",)),
        "jdk": DatasetSpec("jdk", ("method_name",)),
        # Each task's offline default is named in its spec (benchmark.tasks).
        "ruby-stdlib": DatasetSpec("ruby-stdlib", ("code_to_text", "code_search")),
        "ruby-debian": DatasetSpec("ruby-debian", ("code_to_text", "code_search")),
        "great": DatasetSpec("great", ("var_misuse",), official=True),
        "codesearchnet-ruby": DatasetSpec(
            "codesearchnet-ruby", ("code_to_text", "code_search"), official=True
        ),
        **{
            n: DatasetSpec(n, ("method_name",), official=True)
            for n in ("java-small", "java-med", "java-large")
        },
    }
)


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add a dataset (a plugin's, with its ``build``) under its name; a taken name is an error."""
    if dict.__contains__(DATASETS, spec.name):
        raise ValueError(f"dataset {spec.name!r} is already registered")
    if not spec.official and spec.build is None:
        raise ValueError(f"dataset {spec.name!r} needs a build function")
    DATASETS[spec.name] = spec
    return spec


def card(name: str) -> dict:
    """The dataset's TOML card (sources, license, split rule), when the checkout has it."""
    path = CARDS / f"{name}.toml"
    return tomllib.loads(path.read_text()) if path.exists() else {"name": name}


@dataclass(frozen=True)
class Dataset:
    name: str
    fingerprint: str
    samples: pl.LazyFrame  # the build's parquet shards, read as far as a query needs
    info: dict


def load(name: str) -> Dataset:
    """The dataset's samples, built on first use and then read from the cache."""
    spec = DATASETS[name]
    if spec.build is not None:
        return _built(spec)
    if spec.official:
        from benchmark import official

        fp, samples, info = official.load(name)
        return Dataset(name, fp, samples, info)
    from benchmark import method_datasets

    fp, samples, info = method_datasets.load(spec.name, cache_root())
    return Dataset(name, fp, samples, info)


def _built(spec: DatasetSpec) -> Dataset:
    """A plugin's dataset: its build function's samples, cached under a fingerprint of them, so
    a unit made from other samples is told apart as a local corpus's would be."""
    assert spec.build is not None
    samples = spec.build()
    missing = [c for c in ("id", "split", "source_tokens") if c not in samples.columns]
    if missing:
        raise ValueError(f"dataset {spec.name}: its samples lack column(s) {', '.join(missing)}")
    fp = hashlib.sha256(samples.write_ndjson().encode()).hexdigest()[:16]
    path = cache_root() / "datasets" / f"{spec.name.replace('/', '_')}-{fp}" / "samples.parquet"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        samples.write_parquet(tmp)
        os.replace(tmp, path)
    sizes = samples["split"].value_counts().sort("split").rows()
    info = {"name": spec.name, "samples": samples.height, "splits": dict(sizes)}
    return Dataset(spec.name, fp, pl.scan_parquet(path), info)
