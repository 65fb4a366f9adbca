"""The harness side of the protocol: what the model sees, and what it may write back."""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl
import pytest

from benchmark.protocol import ProtocolError, write_inputs
from benchmark.tasks import lines
from benchmark.tasks.var_misuse import epoch_reader, read_predictions

TOKS = ["#NEWLINE#", "a", "=", "b", "+", "a"]


def _splits() -> dict[str, pl.DataFrame]:
    def frame(ids, has_bug, loc, targets):
        n = len(ids)
        return pl.DataFrame({
            "id": ids, "source_tokens": [TOKS] * n, "edges": [[[0, 1, 9]]] * n,
            "repair_candidates": [[1, 3, 5]] * n, "has_bug": has_bug, "error_location": loc,
            "repair_targets": targets,
        })  # fmt: skip

    train = frame(["t1", "t2"], [True, False], [5, 0], [[1], []]).with_columns(
        pl.Series("given_has_bug", [False, False]),
        pl.Series("given_location", [0, 0]),
        pl.Series("given_targets", [[], []], dtype=pl.List(pl.Int64)),
    )
    return {
        "train": train,
        "valid": frame(["v1"], [True], [5], [[1]]),
        "test": frame(["x1"], [False], [0], [[]]),
    }


def test_inputs_hold_given_labels_for_train_and_no_labels_elsewhere(tmp_path):
    write_inputs(tmp_path, {"task": "var_misuse", "seed": 0}, _splits())
    task = json.loads((tmp_path / "task.json").read_text())
    assert task["protocol"] == 2 and task["splits"] == {"train": 2, "valid": 1, "test": 1}
    assert task["edge_types"]["9"] == "enum_NEXT_SYNTAX"
    train = [json.loads(x) for x in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert train[0]["has_bug"] is False and train[0]["error_location"] == 0  # the noisy label
    assert "noisy" not in train[0] and "given_has_bug" not in train[0]
    for split in ("valid", "test"):
        (row,) = [json.loads(x) for x in (tmp_path / f"{split}.jsonl").read_text().splitlines()]
        assert set(row) == {"id", "source_tokens", "edges", "repair_candidates"}


def _expected() -> dict[str, pl.DataFrame]:
    """What the harness knows of each split's samples: their ids and repair candidates."""
    ids = {"train": ["t1", "t2"], "valid": ["v1"], "test": ["x1"]}
    return {s: pl.DataFrame({"id": i, "repair_candidates": [[1, 3, 5]] * len(i)})
            for s, i in ids.items()}  # fmt: skip


def _good() -> list[dict]:
    rows = []
    for sid, split in [("t1", "train"), ("t2", "train"), ("v1", "valid"), ("x1", "test")]:
        r = {"id": sid, "split": split, "location": 5, "repair": 1, "location_score": 0.5,
             "repair_score": 0.5, "repair_probs": [0.5, 0.25, 0.25]}  # fmt: skip
        if split == "train":
            r |= {"loss": 0.7, "p_given": 0.4}
        rows.append(r)
    return rows


def _write(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_reads_a_good_epoch(tmp_path):
    _write(tmp_path / "predictions" / "epoch-001.jsonl", _good())
    df = read_predictions(tmp_path, 1, _expected())
    assert df.height == 4 and df["epoch"].unique().to_list() == [1]
    assert df.filter(pl.col("split") != "train")["loss"].null_count() == 2


def test_logit_given_is_kept_where_a_model_writes_it(tmp_path):
    """Optional: null where a line leaves it out; kept, unclipped, where it says what p_given
    says (a p_given of 1.0 to six decimals with the log-odds of 1 - e^-20)."""
    rows = _good()
    rows[0] |= {"p_given": 0.4, "logit_given": math.log(0.4 / 0.6)}
    rows[1] |= {"p_given": 1.0, "logit_given": 20}
    _write(tmp_path / "predictions" / "epoch-001.jsonl", rows)
    df = read_predictions(tmp_path, 1, _expected()).sort("sample_id")
    assert df["logit_given"].to_list() == [pytest.approx(math.log(0.4 / 0.6)), 20.0, None, None]
    _write(tmp_path / "predictions" / "epoch-001.jsonl", _good())
    assert read_predictions(tmp_path, 1, _expected())["logit_given"].null_count() == 4


def test_integer_probabilities_are_numbers_too(tmp_path):
    rows = [{**r, "repair_probs": [1, 0, 0.0]} for r in _good()]
    _write(tmp_path / "predictions" / "epoch-001.jsonl", rows)
    df = read_predictions(tmp_path, 1, _expected())
    assert df["repair_probs"].to_list() == [[1.0, 0.0, 0.0]] * 4


BAD = {
    "not json": lambda rows: ["{oops", *rows[1:]],
    "missing sample": lambda rows: rows[:-1],
    "repeated sample": lambda rows: [*rows, rows[0]],
    "unknown id": lambda rows: [*rows[:-1], {**rows[-1], "id": "zz"}],
    "location not a candidate": lambda rows: [{**rows[0], "location": 2}, *rows[1:]],
    "repair not a candidate": lambda rows: [{**rows[0], "repair": 0}, *rows[1:]],
    "score out of range": lambda rows: [{**rows[0], "location_score": 1.5}, *rows[1:]],
    "nan loss": lambda rows: [{**rows[0], "loss": float("nan")}, *rows[1:]],
    "train without loss": lambda rows: [
        {k: v for k, v in rows[0].items() if k != "loss"},
        *rows[1:],
    ],
    "boolean location": lambda rows: [{**rows[0], "location": True}, *rows[1:]],
    "wrong split": lambda rows: [*rows[:-1], {**rows[-1], "split": "valid"}],
    "huge line": lambda rows: [{**rows[0], "junk": "x" * 40000}, *rows[1:]],
    "huge file": lambda rows: [*rows, *[" " * 30000] * 8],
    "p_other out of range": lambda rows: [{**rows[0], "p_other": -0.1}, *rows[1:]],
    # logit_given of p_given 0.4 is about -0.405: +3 is another probability (0.95)
    "logit_given against p_given": lambda rows: [{**rows[0], "logit_given": 3.0}, *rows[1:]],
    "logit_given a string": lambda rows: [{**rows[0], "logit_given": "big"}, *rows[1:]],
    "logit_given a boolean": lambda rows: [{**rows[0], "logit_given": True}, *rows[1:]],
    "logit_given too large for a float": lambda rows: [
        json.dumps(rows[0])[:-1] + ', "logit_given": 1e999}',
        *rows[1:],
    ],
    "no repair_probs (protocol 1)": lambda rows: [
        {k: v for k, v in rows[2].items() if k != "repair_probs"},
        *rows[:2],
        rows[3],
    ],
    "repair_probs too short": lambda rows: [{**rows[0], "repair_probs": [1.0]}, *rows[1:]],
    "repair_probs over 1": lambda rows: [{**rows[0], "repair_probs": [0.5, 0.5, 0.5]}, *rows[1:]],
    "repair_probs negative": lambda rows: [
        {**rows[0], "repair_probs": [1.5, -0.25, -0.25]},
        *rows[1:],
    ],
    "repair_probs not a list": lambda rows: [{**rows[0], "repair_probs": 0.5}, *rows[1:]],
    "repair_probs nan": lambda rows: [
        {**rows[0], "repair_probs": [float("nan"), 0.5, 0.5]},
        *rows[1:],
    ],
    "repair_probs infinite": lambda rows: [
        {**rows[0], "repair_probs": [0.5, float("inf"), 0.5]},
        *rows[1:],
    ],
    "repair_probs booleans": lambda rows: [
        {**rows[0], "repair_probs": [True, False, False]},
        *rows[1:],
    ],
    # found by fuzzing: an integer of thousands of digits is a ValueError of Python's parser
    "huge integer": lambda rows: [
        json.dumps(rows[0]).replace('"location": 5', '"location": ' + "9" * 5000),
        *rows[1:],
    ],
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_rejects_garbage_with_one_line(tmp_path, case):
    _write(tmp_path / "predictions" / "epoch-001.jsonl", BAD[case](_good()))
    with pytest.raises(ProtocolError) as e:
        read_predictions(tmp_path, 1, _expected())
    assert "\n" not in str(e.value) and "epoch-001.jsonl" in str(e.value)


def test_protocol_1_lines_are_refused_naming_the_missing_field(tmp_path):
    rows = [{k: v for k, v in r.items() if k != "repair_probs"} for r in _good()]
    _write(tmp_path / "predictions" / "epoch-001.jsonl", rows)
    with pytest.raises(ProtocolError, match=r"line 1: 'repair_probs' is missing \(protocol 2"):
        read_predictions(tmp_path, 1, _expected())


def test_a_token_that_is_a_lone_surrogate_is_one_line(tmp_path):
    """Found by fuzzing: JSON may spell '\\udc80', which no table can store."""
    from benchmark.tasks import code_to_text

    rows = [{"id": "t1", "split": "train", "tokens": ["\udc80"], "score": 0.5, "loss": 1.0,
             "p_given": 0.5}]  # fmt: skip
    _write(tmp_path / "predictions" / "epoch-001.jsonl", rows)
    none = pl.DataFrame({"id": []}, schema={"id": pl.String})
    splits = {"train": pl.DataFrame({"id": ["t1"]}), "valid": none, "test": none}
    with pytest.raises(ProtocolError, match="line 1: 'tokens' must be a list"):
        code_to_text.read_predictions(tmp_path, 1, splits)


def test_requires_every_epoch(tmp_path):
    _write(tmp_path / "predictions" / "epoch-001.jsonl", _good())
    _write(tmp_path / "predictions" / "epoch-003.jsonl", _good())
    with pytest.raises(ProtocolError, match=r"epochs 1\.\.3"):
        read_predictions(tmp_path, 3, _expected())
    _write(tmp_path / "predictions" / "epoch-002.jsonl", _good())
    assert read_predictions(tmp_path, 3, _expected()).height == 12


def counting_reader(calls: list[int]) -> lines.EpochReader:
    """var_misuse's epoch reader, recording the epochs it reads."""
    read = epoch_reader(_expected())

    def reader(path: Path, epoch: int) -> pl.DataFrame:
        calls.append(epoch)
        return read(path, epoch)

    return reader


def test_read_ahead_reads_each_finished_epoch_once(tmp_path):
    calls: list[int] = []
    ahead = lines.ReadAhead(tmp_path, counting_reader(calls), tmp_path / "scored")
    for epoch in (1, 2):
        _write(tmp_path / "predictions" / f"epoch-{epoch:03d}.jsonl", _good())
        ahead.read(epoch)
    _write(tmp_path / "predictions" / "epoch-003.jsonl", _good())
    got = ahead.finish(3).collect()
    assert calls == [1, 2, 3]
    assert got.equals(read_predictions(tmp_path, 3, _expected()))


def test_read_ahead_reads_a_rewritten_file_again(tmp_path):
    calls: list[int] = []
    ahead = lines.ReadAhead(tmp_path, counting_reader(calls), tmp_path / "scored")
    path = _write(tmp_path / "predictions" / "epoch-001.jsonl", _good())
    ahead.read(1)
    rewritten = [{**r, "location_score": 0.25} for r in _good()]
    _write(path, rewritten)  # a resumed model may write an epoch again
    got = ahead.finish(1).collect()
    assert calls == [1, 1] and got["location_score"].to_list() == [0.25] * 4


def test_read_ahead_holds_no_epoch_in_memory(tmp_path):
    """Each epoch's rows go to disk as they are read: the harness holds one epoch at a time,
    and the end gives a lazy table over the files, equal to the rows read all at once."""
    ahead = lines.ReadAhead(tmp_path, epoch_reader(_expected()), tmp_path / "scored")
    for epoch in (1, 2):
        _write(tmp_path / "predictions" / f"epoch-{epoch:03d}.jsonl", _good())
        ahead.read(epoch)
    assert not any(isinstance(v, pl.DataFrame) for v in vars(ahead).values())
    assert sorted(p.name for p in (tmp_path / "scored").iterdir()) == [
        "epoch-00001.parquet", "epoch-00002.parquet"]
    got = ahead.finish(2)
    assert isinstance(got, pl.LazyFrame)
    assert got.collect().equals(read_predictions(tmp_path, 2, _expected()))


def test_read_ahead_leaves_errors_to_the_end(tmp_path):
    ahead = lines.ReadAhead(tmp_path, epoch_reader(_expected()), tmp_path / "scored")
    ahead.read(1)  # not written yet: nothing read, nothing raised
    _write(tmp_path / "predictions" / "epoch-001.jsonl", BAD["unknown id"](_good()))
    ahead.read(1)
    with pytest.raises(ProtocolError, match=r"epoch-001\.jsonl line 4: unknown sample id"):
        ahead.finish(1)
    _write(tmp_path / "predictions" / "epoch-001.jsonl", _good())
    _write(tmp_path / "predictions" / "epoch-002.jsonl", _good())
    ahead.read(1)
    with pytest.raises(ProtocolError, match=r"epochs 1\.\.1, found \[1, 2\]"):
        ahead.finish(1)  # a file past the last epoch is refused as before
