"""Unit folders written by hand for the readers' tests, sealed with the manifest a finished
`bench run` records (benchmark.results.write_manifest), so that they verify as real ones do."""

from __future__ import annotations

import json
from pathlib import Path

from benchmark.results import REQUIRED, Unit, write_manifest

RECORDED = "the dataset version run.json records, else 'fp'"


def seal(folder: Path, fingerprint: str | None = RECORDED) -> Path:
    """Record the folder's files as a finished unit's, made from a dataset of `fingerprint`
    (by default the one its run.json records, as the harness writes both)."""
    if fingerprint is RECORDED:
        try:
            fingerprint = json.loads((folder / "run.json").read_text())["dataset"]["fingerprint"]
        except (OSError, ValueError, KeyError, TypeError):
            fingerprint = "fp"
    write_manifest(folder, {"dataset_fingerprint": fingerprint})
    return folder


def metrics_of(unit: Unit, acc: float = 0.5, profile: str = "smoke") -> dict:
    """The least metrics.json that a var_misuse unit's readers accept."""
    return {"task": unit.task, "dataset": unit.dataset, "model": unit.model, "seed": unit.seed,
            "profile": profile, "noise": {"kind": unit.noise_kind, "rate": unit.noise_rate},
            "selection": {"split": "valid", "metric": "acc"}, "test": {"acc": acc},
            "selected_epoch": 1,
            "per_epoch": [{"epoch": 1, "train": {}, "test": {"acc": acc}}]}  # fmt: skip


def fake_unit(root: Path, unit: Unit, run: dict, fingerprint: str | None = "fp") -> Path:
    """A complete, sealed unit folder whose run.json is `run`, its config naming the unit."""
    folder = unit.path(root)
    folder.mkdir(parents=True)
    for name in REQUIRED:
        (folder / name).write_text("{}")
    (folder / "metrics.json").write_text(json.dumps(metrics_of(unit)))
    config = {"task": unit.task, "dataset": unit.dataset, "model": unit.model,
              "noise_kind": unit.noise_kind, "noise_rate": unit.noise_rate, "seed": unit.seed,
              **run.get("config", {})}  # fmt: skip
    (folder / "run.json").write_text(json.dumps({**run, "config": config}))
    return seal(folder, fingerprint)
