"""code2seq on method_name: trains through its protocol entry point on a synthetic input folder,
writes epoch files the harness accepts, learns names its contexts give away, scores its own
prediction as it scores the given name, gives the given name's log-odds without saturating,
after a crash between a checkpoint and its event
resumes to the bytes of an uninterrupted run (the SIGKILL test is in test_reference_models.py),
and predicts a protocol 3 holdout split without training on it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from benchmark.models import code2seq, methodname
from benchmark.models.methodname import methods_of
from benchmark.numbers import logistic
from benchmark.tasks import method_name
from tests.test_code2vec import (
    check_log_odds,
    crash_after_checkpoint_then_resume,
    events,
    holdout_changes_nothing_else,
    make_input,
    reference_log_odds,
)


def test_trains_learns_and_writes_what_the_harness_accepts(tmp_path: Path) -> None:
    # 16 epochs of 7 steps: from the release's small embedding init, 8 left the names half fitted.
    inp = make_input(tmp_path / "in", (200, 30, 30), 16, {"lr": 0.01})
    out = tmp_path / "out"
    assert code2seq.main(["--input", str(inp), "--output", str(out)]) == 0
    got = events(out)
    assert [e["event"] for e in got] == ["start", *["epoch_end"] * 16, "done"]
    assert got[0]["parameters"] > 0 and got[0]["hyperparameters"]["decoder"] == 32
    assert got[-2]["train_loss"] < 0.2 * got[1]["train_loss"]
    splits = {
        s: pl.read_ndjson(inp / f"{s}.jsonl").select("id") for s in ("train", "valid", "test")
    }
    table = method_name.read_predictions(out, 16, splits)  # the harness's own checks
    last = table.filter(pl.col("epoch") == 16, pl.col("split") == "train")
    assert last.height == 200 and (last["p_given"] > 0.5).mean() > 0.9
    # Where the greedy name is the given one, its score is the given name's probability.
    given = {json.loads(x)["id"]: json.loads(x)["label"]
             for x in (inp / "train.jsonl").read_text().splitlines()}  # fmt: skip
    same = [r for r in last.iter_rows(named=True) if r["subtokens"] == given[r["sample_id"]]]
    assert len(same) > 150
    assert all(abs(r["score"] - r["p_given"]) < 1e-4 for r in same)
    test = table.filter(pl.col("epoch") == 16, pl.col("split") == "test")
    assert test.height == 30 and all(0 < len(t) <= 6 for t in test["subtokens"].to_list())
    check_log_odds(out, 16)


def test_crash_after_a_checkpoint_resumes_to_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hp = {"dropout": 0.2, "path_dropout": 0.2, "decoder_dropout": 0.2, "decay": True}
    inp = make_input(tmp_path / "in", (120, 20, 20), 3, hp)
    crash_after_checkpoint_then_resume(code2seq.main, inp, tmp_path, monkeypatch)


def test_a_holdout_split_is_predicted_and_never_trained_on(tmp_path: Path) -> None:
    hp = {"dropout": 0.2, "path_dropout": 0.2, "decoder_dropout": 0.2, "decay": True}
    inp = make_input(tmp_path / "in", (60, 10, 10), 2, hp)
    holdout_changes_nothing_else(code2seq.main, inp, tmp_path, 2)


def test_a_batch_encodes_each_distinct_path_once() -> None:
    rows = [
        {"id": "a", "contexts": ["x|y,A|B,z", "x,A|B,q", "z,C,x"], "label": ["get", "x"]},
        {"id": "b", "contexts": ["q,A|B,x"], "label": ["set"]},
    ]
    hp = code2seq.DEFAULTS["smoke"]
    data = code2seq.Data(methods_of({"train": rows, "valid": [], "test": []}, hp["contexts"]), hp)
    b = data.batch("train", np.arange(2), torch.device("cpu"), labelled=True)
    assert b.paths.shape[0] == 3  # A|B, C and the padding path
    assert b.terminals.shape[0] == 5  # x|y, z, x, q and the padding terminal
    assert b.mask.tolist() == [[True, True, True], [True, False, False]]
    eos = code2seq.TARGET_SPECIALS.index(code2seq.EOS)
    assert b.targets is not None and b.targets[1].tolist() == [data.targets.get("set"), eos, 0]


def test_greedy_asking_for_the_end_less_often_finds_the_same() -> None:
    """A GPU asks every 8th step whether every name has ended (each question waits for the
    device): the names and scores are those of asking every step, as the CPU does. The end
    marker is made the only likely choice at one step, sooner for some methods than others, so
    that names end at different steps and the steps past the end have a cost."""
    rows = [{"id": str(i), "contexts": [f"x{i},A|B,y{i % 3}", f"z{i % 2},C,x{i}"],
             "label": ["get", f"w{i % 4}"]} for i in range(12)]  # fmt: skip
    hp = {**code2seq.DEFAULTS["smoke"], "dropout": 0.0}
    data = code2seq.Data(methods_of({"train": rows, "valid": [], "test": []}, hp["contexts"]), hp)
    torch.manual_seed(0)
    model = code2seq.Code2Seq(len(data.subtokens), len(data.nodes), len(data.targets), hp).eval()
    eos = code2seq.TARGET_SPECIALS.index(code2seq.EOS)
    plain, steps = model.step, []

    def likelier_end(token, state, contexts, keys, mask):  # type: ignore[no-untyped-def]
        logits, state = plain(token, state, contexts, keys, mask)
        steps.append(None)
        bonus = torch.zeros_like(logits)
        later = torch.arange(logits.shape[0]) % 5
        bonus[:, eos] = 40.0 * (later + 2 == len(steps)).float()  # at step ``later + 1``
        return logits + bonus, state

    model.step = likelier_end  # type: ignore[method-assign]
    b = data.batch("train", np.arange(12), torch.device("cpu"), labelled=False)
    found = []
    with torch.no_grad():
        for k in (1, 8, 100):
            steps.clear()
            names, logp = model.greedy(b, 8, check_every=k)
            found.append((names.tolist(), logp.tolist()))
    assert found[0] == found[1] == found[2]
    lengths = sorted(sum(1 for t in name if t) for name in found[0][0])
    assert lengths[0] < lengths[-1] < 8, lengths  # names end at different steps, before 8


def test_log_odds_of_a_confident_name_do_not_saturate() -> None:
    """Each decoder step is made sure of the given name's next sub-token (its logit raised by
    ``bonus``): p_given rounds to 1, while logit_given still tells how sure, as its float64
    reference from the same logits does (per sub-token log-odds, then those of the product);
    and it stays the log-odds of p_given where the model is unsure."""
    rows = [{"id": str(i), "contexts": [f"x{i},A|B,y{i % 3}", f"z{i % 2},C,x{i}"],
             "label": ["get", f"w{i % 4}"] + ["value"] * (i % 2)} for i in range(6)]  # fmt: skip
    hp = {**code2seq.DEFAULTS["smoke"], "dropout": 0.0}
    data = code2seq.Data(methods_of({"train": rows, "valid": [], "test": []}, hp["contexts"]), hp)
    torch.manual_seed(0)
    model = code2seq.Code2Seq(len(data.subtokens), len(data.nodes), len(data.targets), hp).eval()
    given = torch.from_numpy(data.given["train"])
    sos = code2seq.TARGET_SPECIALS.index(code2seq.SOS)
    # after[i, t]: the sub-token the i-th given name has after sub-token t (SOS first)
    after = torch.zeros(len(rows), len(data.targets), dtype=torch.long)
    for i, name in enumerate(given.tolist()):
        for prev, nxt in zip([sos, *name], name, strict=False):
            if nxt:
                after[i, prev] = nxt
    plain = model.step

    def raised(bonus: float):  # type: ignore[no-untyped-def]
        """The model's step with the given name's next sub-token's logit raised by ``bonus``."""

        def step(token, state, contexts, keys, mask):  # type: ignore[no-untyped-def]
            logits, state = plain(token, state, contexts, keys, mask)
            nxt = after[torch.arange(len(rows)), token][:, None]
            return logits.scatter_add(1, nxt, torch.full(nxt.shape, bonus)), state

        return step

    for bonus, sure in ((0.0, False), (40.0, True)):
        model.step = raised(bonus)  # type: ignore[method-assign]
        with torch.no_grad():
            lines = code2seq.batch_lines(model, data, 6, "train", np.arange(len(rows)),
                                         torch.device("cpu"))  # fmt: skip
            b = data.batch("train", np.arange(len(rows)), torch.device("cpu"), labelled=True)
            steps = list(model.teacher_forced(b))
        nll = sum(torch.where(y > 0, torch.log1p(torch.exp(-reference_log_odds(z, y))), 0.0)
                  for z, y in steps)  # fmt: skip
        assert isinstance(nll, torch.Tensor) and nll.dtype == torch.float64
        reference = (-nll - torch.log(-torch.expm1(-nll))).tolist()
        for line, ref in zip(lines, reference, strict=True):
            r = json.loads(line)
            assert r["logit_given"] == pytest.approx(ref, abs=1e-5)
            assert abs(logistic(r["logit_given"]) - r["p_given"]) <= 1e-5
            if sure:
                assert r["p_given"] == 1.0 and r["logit_given"] > 30
            else:
                assert r["p_given"] < 0.5 and math.isfinite(r["logit_given"])


def test_bad_hyperparameter_and_wrong_task_are_one_line_errors(tmp_path: Path) -> None:
    inp = make_input(tmp_path / "in", (10, 2, 2), 1, {"max_target": 0})
    assert code2seq.main(["--input", str(inp), "--output", str(tmp_path / "a")]) == 1
    assert events(tmp_path / "a")[-1] == {
        "event": "error",
        "message": "task.json: max_target must be a positive integer, not 0",
    }
    task = json.loads((inp / "task.json").read_text())
    (inp / "task.json").write_text(json.dumps({**task, "task": "var_misuse"}))
    assert code2seq.main(["--input", str(inp), "--output", str(tmp_path / "b")]) == 1
    assert events(tmp_path / "b")[-1]["message"] == "task.json: code2seq does method_name only"


def test_index_ranks_by_count_then_string() -> None:
    from collections import Counter

    index = methodname.Index(Counter({"b": 2, "a": 2, "c": 5, "d": 1}), 5)
    assert index.words == ["<pad>", "<unk>", "c", "a", "b"] and index.get("d") == 1
