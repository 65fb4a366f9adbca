"""Datasets: building samples from a corpus once, caching them by content hash."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import tomllib
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl

from benchmark import console, shards
from benchmark.corpus import Corpus, python_stdlib, source_tree
from benchmark.tasks import var_misuse

BUILDER_VERSION = 1  # bump when sample synthesis changes, so caches are rebuilt
MAX_TOKENS = 256
CARDS = Path(__file__).resolve().parent.parent / "datasets"


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    tasks: tuple[str, ...]
    corpus: Callable[[], Corpus] | None = None  # None: a method-level dataset (method_datasets)
    official: bool = False  # prepared by `bench datasets prepare` (benchmark.official)


class Registry(dict[str, DatasetSpec]):
    """The named datasets, plus any ``dir:PATH[:python|java|ruby]`` resolved on lookup."""

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name) or (isinstance(name, str) and _folder(name) is not None)

    def __missing__(self, name: str) -> DatasetSpec:
        spec = _folder(name)
        if spec is None:
            raise KeyError(name)
        return spec


_SUFFIX = {"python": ".py", "java": ".java", "ruby": ".rb"}
_FOLDER_TASKS = {
    "python": ("var_misuse",),
    "java": ("method_name",),
    "ruby": ("code_to_text", "code_search"),
}


def _folder(name: str) -> DatasetSpec | None:
    """A source tree as a dataset: its language named after a colon, or the most common one."""
    if not name.startswith("dir:"):
        return None
    path, _, lang = name.removeprefix("dir:").rpartition(":")
    if lang not in _SUFFIX:
        path, lang = name.removeprefix("dir:"), ""
    root = Path(path).expanduser()
    if not root.is_dir():
        return None
    if not lang:
        counts = {k: sum(1 for _ in root.rglob(f"*{s}")) for k, s in _SUFFIX.items()}
        lang = max(counts, key=counts.get)
        if counts[lang] == 0:
            return None
    canonical = f"dir:{root.resolve()}:{lang}"
    if lang == "python":
        return DatasetSpec(canonical, _FOLDER_TASKS[lang], partial(source_tree, root, ".py"))
    return DatasetSpec(canonical, _FOLDER_TASKS[lang])


DATASETS = Registry(
    {
        "python-stdlib": DatasetSpec("python-stdlib", ("var_misuse",), python_stdlib),
        "jdk": DatasetSpec("jdk", ("method_name",)),
        # The first named dataset of a task is its offline default. ruby-debian (5x the
        # training methods) stays second: codebert at --profile cpu does not clearly beat the
        # baselines there either, and trails code_to_text's by 8 BLEU (README).
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


def card(name: str) -> dict:
    """The dataset's TOML card (sources, license, split rule), when the checkout has it."""
    path = CARDS / f"{name}.toml"
    return tomllib.loads(path.read_text()) if path.exists() else {"name": name}


def cache_root() -> Path:
    return Path(os.environ.get("BENCH_CACHE", Path.home() / ".cache" / "bench"))


@dataclass(frozen=True)
class Dataset:
    name: str
    fingerprint: str
    samples: pl.DataFrame | pl.LazyFrame  # lazy for the official archives, read as needed
    info: dict


def _file_samples(args: tuple[Path, str]) -> list[dict]:
    root, rel = args
    try:
        return var_misuse.samples_from_file(rel, (root / rel).read_bytes(), MAX_TOKENS)
    except (OSError, UnicodeError, ValueError) as e:  # one unreadable file loses only itself
        return [{"error": f"{rel}: {e}"}]


def _dedup(df: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, int]]:
    """Drop valid/test functions whose token sequence occurs in an earlier split."""
    train = set(df.filter(pl.col("split") == "train")["clean_hash"])
    valid = set(df.filter(pl.col("split") == "valid")["clean_hash"])
    drop = ((pl.col("split") == "valid") & pl.col("clean_hash").is_in(train)) | (
        (pl.col("split") == "test") & pl.col("clean_hash").is_in(train | valid)
    )
    removed = df.filter(drop).group_by("split").len()
    return df.filter(~drop), dict(zip(removed["split"], removed["len"], strict=True))


def collect(name: str, work: Callable[[Any], list[dict]], items: list) -> tuple[list, list[str]]:
    """Run ``work`` on every item across the cores, with a progress bar.

    ``work`` returns a file's samples, or ``[{"error": ...}]`` for a file it could not read,
    so one bad file loses only itself. Returns (samples, error lines).
    """
    rows: list[dict] = []
    errors: list[str] = []
    workers = max(1, min(len(os.sched_getaffinity(0)), 8))
    with console.progress() as progress, ProcessPoolExecutor(workers) as pool:
        task = progress.add_task(f"building {name}", total=len(items))
        for result in pool.map(work, items, chunksize=8):
            for r in result:
                (errors.append(r["error"]) if "error" in r else rows.append(r))
            progress.advance(task)
    return rows, errors


def write_atomically(out: Path, samples: pl.DataFrame, info: dict) -> None:
    """Write a built dataset under a temporary name and rename it to ``out`` when complete."""
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=out.parent))
    try:
        samples.write_parquet(tmp / "samples.parquet")
        shards.publish(tmp, out, info)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build(name: str, corpus: Corpus, out: Path) -> None:
    """Build the samples of every file in parallel, then write them atomically to ``out``."""
    files = [(corpus.root, rel) for rel in corpus.files]
    rows, errors = collect(name, _file_samples, files)
    df = pl.DataFrame(rows).sort("id")
    df, removed = _dedup(df)
    counts = df.group_by("split").len()
    info = {
        "name": name,
        "builder_version": BUILDER_VERSION,
        "files": len(files),
        "samples": dict(zip(counts["split"], counts["len"], strict=True)),
        "buggy": int(df["has_bug"].sum()),
        "duplicates_removed": removed,
        "unreadable_files": errors,
        "max_tokens": MAX_TOKENS,
    }
    write_atomically(out, df, info)


def load(name: str) -> Dataset:
    """The dataset's samples, built on first use and then read from the cache."""
    spec = DATASETS[name]
    if spec.official:
        from benchmark import official

        fp, samples, info = official.load(name)
        return Dataset(name, fp, samples, info)
    if spec.corpus is None:
        from benchmark import method_datasets

        fp, samples, info = method_datasets.load(spec.name, cache_root())
        return Dataset(name, fp, samples, info)
    corpus = spec.corpus()
    fingerprint = f"{corpus.fingerprint()}-v{BUILDER_VERSION}"
    label = name.replace("/", "_").replace(":", "_")
    out = cache_root() / "datasets" / f"{label}-{fingerprint}"
    if not (out / "samples.parquet").exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        build(name, corpus, out)
    info = json.loads((out / "info.json").read_text())
    return Dataset(name, fingerprint, pl.read_parquet(out / "samples.parquet"), info)
