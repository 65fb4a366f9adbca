"""The GGNN var-misuse model against docs/protocol.md, on a real shard of the GREAT data.

End-to-end tests start ``python -m benchmark.models.ggnn`` as the harness does, on an input folder
made from the shard (GREAT's edges ``[src, dst, type, "enum_NAME"]`` cut to our
``[src, dst, type]``, string candidates dropped, ids added, labels in train only).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark import trainer
from benchmark.models import ggnn, odds
from benchmark.models.packed import GraphBatch, PackedSplit
from benchmark.models.varmisuse import (
    EdgeTypes,
    Pointers,
    Sample,
    Vocabulary,
    logit_given,
    p_given,
    parse_sample,
    predictions,
    sample_losses,
    segment_log_softmax,
    subtokens,
)
from benchmark.numbers import logistic
from tests.shared_data import GREAT_SHARD

SHARD = GREAT_SHARD
EDGE_TYPES = {
    "1": "enum_CFG_NEXT",
    "2": "enum_LAST_READ",
    "3": "enum_LAST_WRITE",
    "4": "enum_COMPUTED_FROM",
    "5": "enum_RETURNS_TO",
    "6": "enum_FORMAL_ARG_NAME",
    "7": "enum_FIELD",
    "8": "enum_SYNTAX",
    "9": "enum_NEXT_SYNTAX",
    "10": "enum_LAST_LEXICAL_USE",
    "11": "enum_CALLS",
}
LABELS = ("has_bug", "error_location", "repair_targets")
TINY = {"hidden": 16, "steps": 2, "dropout": 0.0, "batch_tokens": 3000, "vocab_size": 2000}

# CI has shared/ beside the clone; a missing shard is a failure, not a skip.


def shard_rows() -> list[dict]:
    """The shard's samples in the protocol's layout."""
    rows = []
    with open(SHARD, encoding="utf-8") as f:
        for i, line in enumerate(f):
            r = json.loads(line)
            rows.append(
                {
                    "id": f"great-{i}",
                    "source_tokens": r["source_tokens"],
                    "edges": [e[:3] for e in r["edges"]],
                    "repair_candidates": [c for c in r["repair_candidates"] if isinstance(c, int)],
                    "has_bug": r["has_bug"],
                    "error_location": r["error_location"],
                    "repair_targets": r["repair_targets"],
                }
            )
    return rows


@pytest.fixture(scope="module")
def great_rows() -> list[dict]:
    return shard_rows()


def make_input(
    folder: Path,
    rows: list[dict],
    sizes: tuple[int, int, int],
    hyperparameters: dict,
    epochs: int = 2,
    seed: int = 0,
) -> Path:
    """An input folder as the harness writes it."""
    folder.mkdir(parents=True)
    a, b, c = sizes
    splits = {"train": rows[:a], "valid": rows[a : a + b], "test": rows[a + b : a + b + c]}
    for split, part in splits.items():
        with open(folder / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for r in part:
                out = r if split == "train" else {k: v for k, v in r.items() if k not in LABELS}
                f.write(json.dumps(out) + "\n")
    task = {
        "protocol": 1,
        "task": "var_misuse",
        "model": "ggnn",
        "seed": seed,
        "epochs": epochs,
        "device": "cpu",
        "profile": "smoke",
        "time_budget_s": 300,
        "hyperparameters": hyperparameters,
        "representation": "great-jsonl",
        "edge_types": EDGE_TYPES,
        "splits": {s: len(p) for s, p in splits.items()},
        "files": {s: f"{s}.jsonl" for s in splits},
    }
    (folder / "task.json").write_text(json.dumps(task))
    return folder


def run_trainer(
    input_dir: Path, output_dir: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "benchmark.models.ggnn"]
    command += ["--input", str(input_dir), "--output", str(output_dir)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def events(output_dir: Path) -> list[dict]:
    lines = (output_dir / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def two_runs(great_rows: list[dict], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two runs of 2 epochs with the same seed on a 400/73/73 split of the shard: the first,
    given two cores, predicts each epoch beside the next one's training and the last one on
    two threads (trainer.fit); the second, given one core as a sweep's pool gives its units,
    in turn."""
    root = tmp_path_factory.mktemp("ggnn")
    input_dir = make_input(root / "in", great_rows, (400, 73, 73), TINY)
    outputs = []
    for k, env in enumerate(({"OMP_NUM_THREADS": "2"}, {"OMP_NUM_THREADS": "1"})):
        out = root / f"out{k}"
        result = run_trainer(input_dir, out, {**os.environ, **env})
        assert result.returncode == 0, result.stderr
        outputs.append(out)
    return outputs


@pytest.mark.slow
def test_events(two_runs: list[Path]) -> None:
    got = events(two_runs[0])
    assert [e["event"] for e in got] == ["start", "epoch_end", "epoch_end", "done"]
    assert got[0]["parameters"] > 0 and got[0]["device"] == "cpu"
    for epoch, e in enumerate(got[1:3], 1):
        assert e["epoch"] == epoch
        assert math.isfinite(e["train_loss"]) and e["train_loss"] > 0
        assert e["samples_per_s"] > 0 and e["seconds"] > 0


@pytest.mark.slow
def test_every_sample_once_with_valid_predictions(
    two_runs: list[Path], great_rows: list[dict]
) -> None:
    split_of = {r["id"]: s for s, rs in zip(("train", "valid", "test"), (great_rows[:400],
                great_rows[400:473], great_rows[473:546]), strict=True) for r in rs}  # fmt: skip
    candidates = {r["id"]: set(r["repair_candidates"]) for r in great_rows}
    files = sorted((two_runs[0] / "predictions").iterdir())
    assert [f.name for f in files] == ["epoch-001.jsonl", "epoch-002.jsonl"]
    for path in files:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        # Every sample once, in file order, though each window predicts by length.
        assert [r["id"] for r in rows] == list(split_of)
        for r in rows:
            assert r["split"] == split_of[r["id"]]
            assert r["location"] == 0 or r["location"] in candidates[r["id"]]
            assert r["repair"] in candidates[r["id"]] or not candidates[r["id"]]
            for key in ("location_score", "repair_score"):
                assert math.isfinite(r[key]) and 0.0 <= r[key] <= 1.0
            # the repair distribution, one probability per sorted candidate, its arg-max the
            # predicted repair, its peak the repair score
            order = sorted(candidates[r["id"]])
            probs = r["repair_probs"]
            assert len(probs) == len(order)
            if probs:
                assert math.fsum(probs) == pytest.approx(1.0, abs=1e-4)
                assert r["repair"] == order[probs.index(max(probs))]
                assert max(probs) == pytest.approx(r["repair_score"], abs=1e-6)
            if r["split"] == "train":
                assert math.isfinite(r["loss"]) and r["loss"] >= 0.0
                assert math.isfinite(r["p_given"]) and 0.0 <= r["p_given"] <= 1.0
                assert logistic(r["logit_given"]) == pytest.approx(r["p_given"], abs=1e-5)
            else:
                assert "loss" not in r and "p_given" not in r and "logit_given" not in r


@pytest.mark.slow
def test_same_seed_same_bytes(two_runs: list[Path]) -> None:
    for name in ("epoch-001.jsonl", "epoch-002.jsonl"):
        first = (two_runs[0] / "predictions" / name).read_bytes()
        assert first == (two_runs[1] / "predictions" / name).read_bytes()


@pytest.mark.slow
def test_learns_a_small_training_set(great_rows: list[dict], tmp_path: Path) -> None:
    """Overfitting 48 functions: the loss falls and most given labels get the top score."""
    hp = {"hidden": 32, "steps": 3, "dropout": 0.0, "lr": 0.01, "batch_tokens": 1500}
    input_dir = make_input(tmp_path / "in", great_rows, (48, 8, 8), hp, epochs=12)
    result = run_trainer(input_dir, tmp_path / "out")
    assert result.returncode == 0, result.stderr
    losses = [e["train_loss"] for e in events(tmp_path / "out") if e["event"] == "epoch_end"]
    assert len(losses) == 12
    assert losses[-1] < 0.1 * losses[0], losses
    last = (tmp_path / "out" / "predictions" / "epoch-012.jsonl").read_text().splitlines()
    train = [json.loads(line) for line in last if '"split": "train"' in line]
    assert sum(r["p_given"] > 0.5 for r in train) >= 0.8 * len(train)


@pytest.mark.slow
def test_corrupt_task_json_is_an_error_event(great_rows: list[dict], tmp_path: Path) -> None:
    input_dir = make_input(tmp_path / "in", great_rows, (10, 5, 5), TINY)
    (input_dir / "task.json").write_text('{"protocol": 1, "task": ')
    result = run_trainer(input_dir, tmp_path / "out")
    assert result.returncode == 1
    got = events(tmp_path / "out")
    assert [e["event"] for e in got] == ["error"]
    assert "task.json" in got[0]["message"] and "\n" not in got[0]["message"]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        (b"\xff\xfe garbage", "line 2 is not UTF-8"),
        (b'{"event": ', "line 2 is not JSON"),
        (b"[1, 2]", "line 2 is not an event"),
    ],
)
def test_a_garbled_events_file_of_an_earlier_start_is_one_line(
    great_rows: list[dict], tmp_path: Path, line: bytes, says: str
) -> None:
    """The error says what to do, and doing it (removing the file) lets the run go on."""
    input_dir = make_input(tmp_path / "in", great_rows, (10, 5, 5), TINY, epochs=1)
    out = tmp_path / "out"
    out.mkdir()
    (out / "events.jsonl").write_bytes(b'{"event": "start"}\n' + line + b"\n")
    result = run_trainer(input_dir, out)
    assert result.returncode == 1
    error = json.loads((out / "events.jsonl").read_bytes().splitlines()[-1])
    assert error["event"] == "error"
    assert error["message"] == f"{out / 'events.jsonl'} {says}; remove the file"
    (out / "events.jsonl").unlink()
    assert run_trainer(input_dir, out).returncode == 0
    assert [e["event"] for e in events(out)] == ["start", "epoch_end", "done"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"error_location": 3}, "train.jsonl line 2: 'error_location' 3 is not a repair candidate"),
        ({"edges": [[0, 999, 9]]}, "train.jsonl line 2: an edge points outside"),
        ({"edges": [[0, 1, 42]]}, "edge type(s) [42] are not in task.json's edge_types"),
        ({"source_tokens": "x"}, "train.jsonl line 2: 'source_tokens' is not a non-empty list"),
    ],
)
def test_bad_sample_is_a_one_line_error(
    great_rows: list[dict], tmp_path: Path, change: dict, expected: str
) -> None:
    rows = [dict(r) for r in great_rows[:20]]
    rows[1].update(change)
    if "error_location" in change:
        rows[1].update(has_bug=True, repair_candidates=[1, 2], source_tokens=["#NEWLINE#"] * 9)
        rows[1]["edges"] = []
    input_dir = make_input(tmp_path / "in", rows, (10, 5, 5), TINY)
    assert ggnn.main(["--input", str(input_dir), "--output", str(tmp_path / "out")]) == 1
    got = events(tmp_path / "out")
    assert got[-1]["event"] == "error" and expected in got[-1]["message"]


def test_subtokens() -> None:
    assert subtokens("getHTTPResponse_code2") == ["get", "http", "response", "code", "2"]
    assert subtokens("#NEWLINE#") == ["#NEWLINE#"]
    assert subtokens("a_b_c_d_e_f_g") == ["a", "b", "c", "d", "e"]
    assert subtokens("==") == ["=="]
    assert subtokens("_") == ["_"]


def test_vocabulary_from_training_tokens() -> None:
    vocab = Vocabulary.build([["fooBar", "foo", "baz"], ["foo_qux"]], size=4)
    assert vocab.words == ["<pad>", "<unk>", "foo", "bar"]
    assert vocab.table(["foo_baz"]).tolist() == [[2, 1, 0, 0, 0]]


def hand_made_batch() -> tuple[GraphBatch, Pointers]:
    """Two functions of 4 tokens: one buggy at 2 with repair targets {1, 3}, one bug-free.

    Location logits over [0, 1, 2, 3]: [0, log 2, log 3, log 4]  -> p = [1, 2, 3, 4] / 10.
    Repair logits over candidates [1, 2, 3]: [log 1, log 1, log 2]  -> p = [1, 1, 2] / 4.
    """
    edge_types = EdgeTypes(EDGE_TYPES, reverse=True)
    vocab = Vocabulary.build([["a", "b"]], size=10)
    samples = []
    for i, (bug, location, targets) in enumerate([(True, 2, [1, 3]), (False, 0, [])]):
        obj = {
            "id": str(i),
            "source_tokens": ["#NEWLINE#", "a", "b", "a"],
            "edges": [[1, 3, 10]],
            "repair_candidates": [1, 2, 3],
            "has_bug": bug,
            "error_location": location,
            "repair_targets": targets,
        }
        samples.append(parse_sample(obj, "hand", labelled=True))
    batch = PackedSplit.of(samples, vocab, edge_types).batch([0, 1], torch.device("cpu"))
    loc = torch.log(torch.tensor([1.0, 2, 3, 4] * 2))
    rep = torch.log(torch.tensor([1.0, 1, 2] * 2))
    seg_loc, seg_rep = batch.batch[batch.loc_index], batch.batch[batch.cand_index]
    pointers = Pointers(
        loc_logp=segment_log_softmax(loc, seg_loc, 2),
        loc_graph=seg_loc,
        rep_logp=segment_log_softmax(rep, seg_rep, 2),
        rep_graph=seg_rep,
    )
    return batch, pointers


def test_loss_and_p_given_by_hand() -> None:
    batch, pointers = hand_made_batch()
    # Buggy: p(loc = 2) = 0.3, repair mass on {1, 3} = 0.25 + 0.5; bug-free: p(loc = 0) = 0.1.
    expected_p = [0.3 * 0.75, 0.1]
    expected_loss = [-math.log(0.3) - math.log(0.75), -math.log(0.1)]
    assert sample_losses(pointers, batch).tolist() == pytest.approx(expected_loss, rel=1e-6)
    assert p_given(pointers, batch).tolist() == pytest.approx(expected_p, rel=1e-6)
    rows = predictions(pointers, batch, labelled=True)
    assert [(r["location"], r["repair"]) for r in rows] == [(3, 3), (3, 3)]
    assert rows[0]["location_score"] == pytest.approx(0.4)
    assert rows[0]["repair_score"] == pytest.approx(0.5)
    assert rows[1]["p_given"] == pytest.approx(0.1)


def test_logit_given_by_hand() -> None:
    batch, pointers = hand_made_batch()
    expected = [math.log(0.225 / 0.775), math.log(0.1 / 0.9)]
    assert logit_given(pointers, batch).tolist() == pytest.approx(expected, abs=1e-5)
    rows = predictions(pointers, batch, labelled=True)
    assert [r["logit_given"] for r in rows] == pytest.approx(expected, abs=1e-5)


def test_logit_given_keeps_growing_where_p_given_rounds_to_one() -> None:
    """Confident float32 pointers: p_given is 1 (or 0) to six decimals, whose logit would stop
    at about +-13.8, while logit_given is the float64 log-odds of the same logits."""
    batch, _ = hand_made_batch()
    loc = torch.tensor([0.0, 0, 30, 0, 0, 35, 0, 0], dtype=torch.float64)
    rep = torch.tensor([25.0, 0, 25, 0, 0, 0], dtype=torch.float64)
    seg_loc, seg_rep = batch.batch[batch.loc_index], batch.batch[batch.cand_index]

    pointers = Pointers(segment_log_softmax(loc.float(), seg_loc, 2), seg_loc,
                        segment_log_softmax(rep.float(), seg_rep, 2), seg_rep)  # fmt: skip

    # float64 reference: 1 - p_given = p(location off 2) + p(location 2) * p(repair off {1, 3})
    lp_loc = torch.log_softmax(loc[:4], 0)
    lp_rep = torch.log_softmax(rep[:3], 0)
    log_p = lp_loc[2] + torch.logsumexp(lp_rep[[0, 2]], 0)
    log_rest = torch.logaddexp(torch.logsumexp(lp_loc[[0, 1, 3]], 0), lp_loc[2] + lp_rep[1])
    buggy = float(log_p - log_rest)
    # bug-free given location 0, whose logit is 0 against 35: p_given is about e^-35
    free = float(
        torch.log_softmax(loc[4:], 0)[0] - torch.logsumexp(torch.log_softmax(loc[4:], 0)[1:], 0)
    )
    got = logit_given(pointers, batch).tolist()
    assert buggy > 24 and free < -34
    assert got == pytest.approx([buggy, free], abs=1e-3)
    rows = predictions(pointers, batch, labelled=True)
    assert rows[0]["p_given"] == 1.0 and rows[1]["p_given"] == 0.0


def test_var_misuse_logit_given_saturates_neither_way() -> None:
    """``logit_given`` of the pointers against a float64 reference summed directly from their
    log-probabilities, on random logits and with the given location and repair targets 40
    above the rest (p_given rounds to 1.0, the log-odds near 40, not 13.8); a given repair the
    pointer cannot reach gives -odds.LIMIT, and a function with one possible label +odds.LIMIT."""
    # (tokens, candidates, error location, repair targets) of each function
    made = [(6, [1, 2, 4], 2, [4]), (5, [1, 3], 0, []), (7, [2, 3, 5, 6], 5, [2, 6]),
            (6, [1, 2], 1, [2]), (4, [1, 3], 3, [2]), (3, [], 0, [])]  # fmt: skip
    samples = [Sample(id=f"s{i}", tokens=["x"] * n, edges=np.zeros((0, 3), np.int64),
                      candidates=cands, has_bug=at > 0, error_location=at, repair_targets=to)
               for i, (n, cands, at, to) in enumerate(made)]  # fmt: skip
    batch = PackedSplit.of(samples).batch(list(range(len(samples))), torch.device("cpu"))
    g = batch.num_graphs
    label = torch.isin(batch.loc_index, batch.label_index)
    target = torch.isin(batch.cand_index, batch.target_index)
    torch.manual_seed(0)
    for lift in (0.0, 40.0):
        loc = torch.randn(len(batch.loc_index)) + lift * label
        rep = torch.randn(len(batch.cand_index)) + lift * target
        loc_graph, rep_graph = batch.batch[batch.loc_index], batch.batch[batch.cand_index]
        p = Pointers(segment_log_softmax(loc, loc_graph, g), loc_graph,
                     segment_log_softmax(rep, rep_graph, g), rep_graph)  # fmt: skip
        got = logit_given(p, batch)
        pg = p_given(p, batch)
        loc_lp, rep_lp = p.loc_logp.double(), p.rep_logp.double()
        for k, s in enumerate(samples):
            here, there = loc_graph == k, rep_graph == k
            given = loc_lp[here & label].exp().sum().item()
            on = rep_lp[there & target].exp().sum().item() if s.has_bug else 1.0
            off = rep_lp[there & ~target].exp().sum().item() if s.has_bug else 0.0
            yes = given * on
            no = loc_lp[here & ~label].exp().sum().item() + given * off
            x = got[k].item()
            if k == 4:  # its given repair is no candidate
                assert x == -odds.LIMIT and pg[k] == 0
            elif k == 5:  # no candidate: "no bug" is the only label
                assert x == odds.LIMIT and pg[k] == 1
            else:
                assert x == pytest.approx(math.log(yes) - math.log(no), rel=1e-5, abs=1e-5)
                assert abs(logistic(x) - round(pg[k].item(), 6)) <= 1e-5
                if lift:
                    assert x > 35 and round(pg[k].item(), 6) == 1.0


def test_repair_target_outside_candidates_keeps_the_loss_finite() -> None:
    batch, pointers = hand_made_batch()
    batch.target_index = batch.target_index[:0]  # the given targets are not candidates
    loss = sample_losses(pointers, batch)
    assert torch.isfinite(loss).all() and loss[0] == pytest.approx(-math.log(0.3 * 1e-9))
    assert p_given(pointers, batch)[0] == 0.0


def test_predictions_never_wait_for_the_device() -> None:
    """A prediction batch's columns are computed without reading anything back (no bincount,
    no boolean index) and read back once at the end (trainer.to_host): on a GPU, each read
    in between waited for every kernel queued before it."""
    from tests.perf.training import host_reads

    batch, pointers = hand_made_batch()
    rows: list[dict] = []
    assert host_reads(lambda: rows.extend(predictions(pointers, batch, labelled=True))) == {}
    assert [r["p_no_bug"] for r in rows] == pytest.approx([0.1, 0.1])
    assert [r["repair_probs"] for r in rows] == [pytest.approx([0.25, 0.25, 0.5])] * 2


def test_sample_without_candidates() -> None:
    """Bug-free functions whose variables are all strings in GREAT keep no candidate: the only
    location is 0 (certain) and the repair, not asked, is 0 with score 0."""
    obj = {"id": "x", "source_tokens": ["#NEWLINE#", "pass"], "edges": [[0, 1, 9]]}
    obj |= {"repair_candidates": [], "has_bug": False, "error_location": 0, "repair_targets": []}
    packed = PackedSplit.of(
        [parse_sample(obj, "hand", labelled=True)],
        Vocabulary.build([["pass"]], size=10),
        EdgeTypes(EDGE_TYPES, reverse=False),
    )
    batch = packed.batch([0], torch.device("cpu"))
    seg = batch.batch[batch.loc_index]
    pointers = Pointers(
        loc_logp=segment_log_softmax(torch.zeros(1), seg, 1),
        loc_graph=seg,
        rep_logp=torch.zeros(0),
        rep_graph=torch.zeros(0, dtype=torch.long),
    )
    (row,) = predictions(pointers, batch, labelled=True)
    assert row == {
        "location": 0,
        "repair": 0,
        "location_score": 1.0,
        "repair_score": 0.0,
        "repair_probs": [],
        "loss": 0.0,
        "p_given": 1.0,
        "p_other": 0.0,
        "p_no_bug": 1.0,
        "logit_given": odds.LIMIT,  # no other location: the odds are infinite
    }


def test_hyperparameters_profile_defaults_and_hints() -> None:
    task = {"profile": "smoke", "epochs": 3, "hyperparameters": {"hidden": 8, "unknown": 1}}
    hp = trainer.hyperparameters(task, ggnn.DEFAULTS)
    assert hp["hidden"] == 8 and hp["epochs"] == 3 and "unknown" not in hp
    assert hp["steps"] == ggnn.DEFAULTS["smoke"]["steps"]
    with pytest.raises(trainer.InputError, match="batch_size must be a positive integer"):
        trainer.hyperparameters({"hyperparameters": {"batch_size": 0}}, ggnn.DEFAULTS)


def test_messages_per_node_and_per_type_agree(great_rows: list[dict]) -> None:
    """CUDA's way of making messages (every node through every type's map, then a row per
    edge) gives what the CPU's per-type products give, values and gradients alike; it runs
    here on the CPU, as the same code does on a GPU."""
    samples = [parse_sample(r, "shard", labelled=True) for r in great_rows[:40]]
    edge_types = EdgeTypes(EDGE_TYPES, reverse=True)
    vocab = Vocabulary.build((s.tokens for s in samples), 500)
    batch = PackedSplit.of(samples, vocab, edge_types).batch(range(40), torch.device("cpu"))
    torch.manual_seed(0)
    net = ggnn.GGNN(hidden=24, num_edge_types=len(edge_types), steps=3, dropout=0.0).double()
    h = torch.randn(batch.num_nodes, 24, dtype=torch.float64)
    outputs, grads = [], []
    for per_node in (False, True):
        net.zero_grad()
        out = net.propagate(h, batch, per_node=per_node)
        out.pow(2).sum().backward()
        outputs.append(out.detach())
        grads.append([p.grad.clone() for p in net.parameters()])
    assert torch.allclose(outputs[0], outputs[1], rtol=1e-10, atol=1e-12)
    for a, b in zip(*grads, strict=True):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)
