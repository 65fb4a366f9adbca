"""The check every model's holdout test makes of its epoch files (docs/protocol.md, "The
holdout split"): a run with a holdout split changes no other line, and predicts every holdout
sample once, in file order, like a training sample."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest


def check_holdout_epochs(
    plain: Path, held: Path, epochs: int, held_ids: Sequence[str],
    twin_of: Callable[[str], str], approx: Sequence[str], exact: Sequence[str] = (),
) -> None:  # fmt: skip
    """Epoch files of a run without (``plain``) and with (``held``) a holdout split: the
    train, valid and test lines are the same bytes; the holdout lines are ``held_ids``, each
    with every field of a train line, a finite loss >= 0 and p_given in [0, 1] and, for a copy
    of a train sample (``twin_of`` its id), its twin's ``exact`` fields and, within 1e-4, its
    ``approx`` ones."""
    for epoch in range(1, epochs + 1):
        name = f"predictions/epoch-{epoch:03d}.jsonl"
        lines = (held / name).read_text().splitlines()
        rows = [json.loads(line) for line in lines]
        others = [line for line, r in zip(lines, rows, strict=True) if r["split"] != "holdout"]
        assert others == (plain / name).read_text().splitlines(), name
        train = {r["id"]: r for r in rows if r["split"] == "train"}
        holdout = [r for r in rows if r["split"] == "holdout"]
        assert [r["id"] for r in holdout] == list(held_ids), name
        for r in holdout:
            assert r.keys() == next(iter(train.values())).keys()
            assert math.isfinite(r["loss"]) and r["loss"] >= 0 and 0 <= r["p_given"] <= 1
            twin = train.get(twin_of(r["id"]))
            if twin is not None:
                for key in exact:
                    assert r[key] == twin[key], (name, r["id"], key)
                for key in approx:
                    assert r[key] == pytest.approx(twin[key], abs=1e-4), (name, r["id"], key)
