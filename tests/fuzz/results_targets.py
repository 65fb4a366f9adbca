"""Fuzz targets on the harness's own readers of what others write: a unit's metrics.json (the
leaderboard, report and sweep must leave a bad one out with a reason, never crash or rank it)
and the predictions files a model writes (only a one-line ProtocolError may escape)."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import strategies as st

from benchmark.protocol import ProtocolError
from benchmark.results import Unit, verify
from benchmark.standings import collect
from benchmark.tasks import code_search, code_to_text, method_name, var_misuse
from benchmark.tasks.var_misuse import metrics as var_misuse_metrics
from tests.fuzz.targets import jsonl, mutated_record, values
from tests.units import fake_unit, metrics_of, seal


class OneLine(Exception):
    """Raised when a reader's own one-line error had more than one line."""


# -- metrics.json -----------------------------------------------------------------------------

UNIT = Unit("var_misuse", "python-stdlib", "m", "label", 0.5, 0)
_GOOD = {**metrics_of(UNIT), "train": {"acc": 0.7, "loc_acc": 0.5}, "memorization_rate": 0.4,
         "per_epoch": [{"epoch": 1, "test": {"acc": 0.5}, "avg_predicted_score": {"test": 0.3}}],
         "detection": {"loss": {"auroc": 0.6, "auprc": 0.5}}}  # fmt: skip


@st.composite
def metrics_inputs(draw: st.DrawFn) -> tuple[bytes, bool]:
    """The bytes of a metrics.json (a mutated real one, any JSON value, or garbage), and
    whether its manifest is forged to match, so that only the range checks stand guard."""
    kind = draw(st.sampled_from(["record", "record", "value", "bytes", "deep"]))
    if kind == "deep":
        depth = draw(st.integers(1, 100_000))
        data = ('{"a":' * depth + "1" + "}" * draw(st.integers(0, depth))).encode()
    elif kind == "record":
        data = json.dumps(draw(mutated_record(_GOOD))).encode()
    elif kind == "value":
        data = json.dumps(draw(values)).encode()
    else:
        data = draw(st.binary(max_size=60))
    return data, draw(st.booleans())


def run_metrics(inputs: tuple[bytes, bool]) -> None:
    data, forge = inputs
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = fake_unit(root, UNIT, {"config": {}, "started": "2026-12-04"})
        (folder / "metrics.json").write_bytes(data)
        if forge:
            seal(folder)
        reason = verify(folder)
        found = collect([root])
        shown = [r.folder for r in found.runs]
        if reason is not None:  # never shown, and said in one line
            assert shown == [], (reason, shown)
            assert "\n" not in reason
            if not forge:
                assert reason == "metrics.json was changed after the unit completed" or (
                    data == (folder / "metrics.json").read_bytes()
                ), reason
        elif shown:  # shown: then every score of the task's metrics is in its range
            m = json.loads(data)
            for subset in ("train", "test", "valid"):
                for name in var_misuse_metrics.METRICS:
                    v = (m.get(subset) or {}).get(name)
                    assert v is None or 0.0 <= v <= 1.0, (subset, name, v)


# -- predictions files --------------------------------------------------------------------------

SPLITS = {"train": ["t1", "t2"], "valid": ["v1"], "test": ["x1"]}


def _splits(task: str) -> dict[str, pl.DataFrame]:
    frames = {}
    for split, ids in SPLITS.items():
        df = pl.DataFrame({"id": ids})
        if task == "var_misuse":
            df = df.with_columns(pl.lit([1, 3, 5]).alias("repair_candidates"))
        if task == "code_search" and split != "train":
            df = df.with_columns(pl.lit(["a", "b", "c"]).alias("candidates"))
        frames[split] = df
    return frames


_BASES = {
    "var_misuse": {"location": 3, "repair": 1, "location_score": 0.5, "repair_score": 0.5,
                   "repair_probs": [0.5, 0.25, 0.25], "p_other": 0.1, "p_no_bug": 0.2},
    "method_name": {"subtokens": ["get", "x"], "score": 0.4},
    "code_to_text": {"tokens": ["returns", "x"], "score": 0.4},
    "code_search": {"score": 0.4, "scores": [0.1, 0.9, 0.3]},
}  # fmt: skip
READERS: dict[str, Callable[..., pl.DataFrame]] = {
    "var_misuse": var_misuse.read_predictions,
    "method_name": method_name.read_predictions,
    "code_to_text": code_to_text.read_predictions,
    "code_search": code_search.read_predictions,
}


@st.composite
def predictions_inputs(draw: st.DrawFn, task: str) -> list[bytes]:
    """Two epoch files: mostly valid lines for every sample, mutated or garbled here and there."""
    bases = []
    for split, ids in SPLITS.items():
        for sid in ids:
            line = {"id": sid, "split": split, **_BASES[task]}
            if split == "train":
                line |= {"loss": 0.7, "p_given": 0.4}
            bases.append(line)
    files = []
    for _ in range(2):
        if draw(st.booleans()):  # a whole file of valid lines, some mutated
            rows = [draw(mutated_record(b)) if draw(st.integers(0, 4)) == 0 else b for b in bases]
            files.append(b"".join(json.dumps(r).encode() + b"\n" for r in rows))
        else:
            files.append(draw(jsonl(bases)))
    return files


def run_predictions(task: str, files: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "predictions").mkdir()
        for epoch, data in enumerate(files, 1):
            (folder / "predictions" / f"epoch-{epoch:03d}.jsonl").write_bytes(data)
        try:
            READERS[task](folder, len(files), _splits(task))
        except ProtocolError as e:
            if "\n" in str(e):
                raise OneLine(str(e)[:300]) from None
        finally:
            shutil.rmtree(folder / "predictions", ignore_errors=True)


TARGETS: dict[str, tuple[st.SearchStrategy, Callable[[Any], None]]] = {
    "metrics.json": (metrics_inputs(), run_metrics),
    **{
        f"predictions-{task}": (predictions_inputs(task), lambda f, t=task: run_predictions(t, f))
        for task in READERS
    },
}
