"""code2vec on method_name: trains through its protocol entry point on a synthetic input folder,
writes epoch files the harness accepts, learns names its contexts give away, gives the given
name's log-odds without saturating, after a crash between a checkpoint and its event resumes to
the bytes of an uninterrupted run, and predicts a protocol 3 holdout split without training on
it."""

from __future__ import annotations

import json
import math
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from torch import Tensor, nn

from benchmark import trainer
from benchmark.models import code2vec, methodname, odds
from benchmark.numbers import logistic
from benchmark.tasks import method_name
from tests.holdout_checks import check_holdout_epochs

NAMES = [["get", "value"], ["set", "value"], ["to", "string"], ["is", "empty"], ["size"]]


def make_input(folder: Path, sizes: tuple[int, int, int], epochs: int, hp: dict) -> Path:
    """Methods whose one telling path names their name, among shared distractor paths."""
    rng = random.Random(0)
    folder.mkdir(parents=True)
    start = 0
    for split, n in zip(("train", "valid", "test"), sizes, strict=True):
        with open(folder / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for i in range(start, start + n):
                k = rng.randrange(len(NAMES))
                contexts = [f"this,Name{k}|Call|Expr,x"]
                contexts += [f"a{rng.randrange(9)},Noise|Path{rng.randrange(5)},b"
                             for _ in range(rng.randrange(1, 6))]  # fmt: skip
                rng.shuffle(contexts)
                row = {"id": f"m{i}", "source_tokens": ["void", "METHOD_NAME"],
                       "contexts": contexts}  # fmt: skip
                if split == "train":
                    row["label"] = NAMES[k]
                f.write(json.dumps(row) + "\n")
        start += n
    task = {"protocol": 1, "task": "method_name", "model": "code2vec", "seed": 0,
            "epochs": epochs, "device": "cpu", "profile": "smoke", "hyperparameters": hp,
            "representation": "method-name-jsonl",
            "splits": dict(zip(("train", "valid", "test"), sizes, strict=True)),
            "files": {s: f"{s}.jsonl" for s in ("train", "valid", "test")}}  # fmt: skip
    (folder / "task.json").write_text(json.dumps(task))
    return folder


def with_holdout(inp: Path, folder: Path) -> list[str]:
    """A copy of ``inp`` in ``folder`` with a protocol 3 holdout split; its ids in file order.
    The split holds copies of train samples under new ids, a name train never had (nor its
    sub-tokens), and a name longer than any prediction."""
    shutil.copytree(inp, folder)
    train = [json.loads(line) for line in (inp / "train.jsonl").read_text().splitlines()]
    holdout = [{**r, "id": f"h{r['id']}"} for r in train[:20]]
    holdout += [{**train[0], "id": "unseen", "label": ["frobnicate", "the", "widget"]},
                {**train[1], "id": "long", "label": [t for n in NAMES for t in n]}]  # fmt: skip
    (folder / "holdout.jsonl").write_text("".join(json.dumps(r) + "\n" for r in holdout))
    task = json.loads((inp / "task.json").read_text())
    task["protocol"] = 3
    task["files"]["holdout"] = "holdout.jsonl"
    task["splits"]["holdout"] = len(holdout)
    (folder / "task.json").write_text(json.dumps(task))
    return [r["id"] for r in holdout]


def holdout_changes_nothing_else(
    main: Callable[[list[str]], int], inp: Path, tmp_path: Path, epochs: int
) -> None:
    """Run a model on ``inp`` and on a copy with a holdout split: every epoch file's train,
    valid and test lines are the same bytes (the holdout is never trained on), and every
    holdout sample is predicted once, with every field of a train line and a finite loss and
    p_given; a copy of a train sample gets its twin's prediction."""
    held_ids = with_holdout(inp, tmp_path / "in-holdout")
    plain, held = tmp_path / "plain", tmp_path / "held"
    assert main(["--input", str(inp), "--output", str(plain)]) == 0
    assert main(["--input", str(tmp_path / "in-holdout"), "--output", str(held)]) == 0
    assert [e["event"] for e in events(held)] == ["start", *["epoch_end"] * epochs, "done"]
    check_holdout_epochs(plain, held, epochs, held_ids, lambda i: i.removeprefix("h"),
                         approx=("score", "loss", "p_given", "logit_given"),
                         exact=("subtokens",))  # fmt: skip
    check_log_odds(held, epochs)


def check_log_odds(out: Path, epochs: int) -> None:
    """Every labelled (train, holdout) line of every epoch file has a finite ``logit_given``,
    rounded to 6 decimals, whose logistic is its ``p_given`` within the harness's 1e-5; no
    other line has one."""
    for epoch in range(1, epochs + 1):
        text = (out / f"predictions/epoch-{epoch:03d}.jsonl").read_text()
        for r in map(json.loads, text.splitlines()):
            if r["split"] not in trainer.LABELLED:
                assert "logit_given" not in r, r
                continue
            x = r["logit_given"]
            assert isinstance(x, float) and math.isfinite(x) and x == round(x, 6), r
            assert abs(logistic(x) - r["p_given"]) <= 1e-5, r


def events(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]


def test_trains_learns_and_writes_what_the_harness_accepts(tmp_path: Path) -> None:
    inp = make_input(tmp_path / "in", (200, 30, 30), 6, {"lr": 0.02})
    out = tmp_path / "out"
    assert code2vec.main(["--input", str(inp), "--output", str(out)]) == 0
    got = events(out)
    assert [e["event"] for e in got] == ["start", *["epoch_end"] * 6, "done"]
    assert got[0]["parameters"] > 0 and got[-2]["train_loss"] < got[1]["train_loss"]
    splits = {
        s: pl.read_ndjson(inp / f"{s}.jsonl").select("id") for s in ("train", "valid", "test")
    }
    table = method_name.read_predictions(out, 6, splits)  # the harness's own checks
    last = table.filter(pl.col("epoch") == 6, pl.col("split") == "train")
    assert last.height == 200 and (last["p_given"] > 0.5).mean() > 0.9
    check_log_odds(out, 6)


def reference_log_odds(logits: Tensor, given: Tensor) -> Tensor:
    """z_y - logsumexp_{j != y} z_j in float64, directly."""
    z = logits.double()
    others = z.scatter(1, given[:, None], -math.inf)
    return z.gather(1, given[:, None])[:, 0] - others.logsumexp(-1)


def test_log_odds_of_a_confident_name_do_not_saturate() -> None:
    """Where p_given rounds to 1 (or 0), logit_given still tells how sure the model is, as
    its float64 reference does; a name outside the vocabulary gets the UNK class's."""
    logits = torch.tensor([[0.0, -1.0, 40.0, 0.0, 3.0],  # sure of its given name
                           [0.0, 2.0, 1.0, 0.5, -3.0],  # given UNK
                           [5.0, 1.0, 45.0, -35.0, 0.0],  # sure it is not its given name
                           [0.0, 0.0, 0.3, 0.2, 0.1]])  # fmt: skip
    given = torch.tensor([2, 1, 3, 4])

    class Fixed(nn.Module):
        def forward(self, contexts: Tensor) -> Tensor:
            return logits

    names = ["<pad>", "<unk>", "get|value", "set|value", "size"]
    rows = [{"id": f"m{i}", "contexts": ["a,P,b"], "label": ["get"]} for i in range(4)]
    methods = methodname.methods_of({"train": rows}, 1)["train"]
    tokens, paths, _ = code2vec.vocabularies(methods, code2vec.DEFAULTS["smoke"])
    inputs = code2vec.Encoded(methods, *code2vec.vocabulary_ids(methods.strings, tokens, paths), 1)
    lines = code2vec.batch_lines(Fixed(), inputs, given.numpy(), names, "train",  # type: ignore[arg-type]
                                 np.arange(4), torch.device("cpu"))  # fmt: skip
    got = [json.loads(line) for line in lines]
    reference = reference_log_odds(logits, given).tolist()
    assert got[0]["p_given"] == 1.0 and got[2]["p_given"] == 0.0
    assert got[0]["logit_given"] > 30 and got[2]["logit_given"] < -70
    for r, ref in zip(got, reference, strict=True):
        assert r["logit_given"] == pytest.approx(ref, abs=1e-5)
        assert abs(logistic(r["logit_given"]) - r["p_given"]) <= 1e-5
    assert odds.of_class(logits, given).tolist() == pytest.approx(reference, abs=1e-5)


def crash_after_checkpoint_then_resume(
    main: Callable[[list[str]], int], inp: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Crash a model between epoch 2's checkpoint and its epoch_end event, start it again,
    and check it ends with the events and bytes of an uninterrupted run (3 epochs). The
    uninterrupted run has one core, so it ends each epoch in turn; the crashed one has two,
    so it predicts beside training and its last epoch on two threads."""
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert main(["--input", str(inp), "--output", str(reference)]) == 0
    monkeypatch.setenv("OMP_NUM_THREADS", "2")

    emit = trainer.Events.emit

    def crash_at_second_epoch_end(self: trainer.Events, event: str, **fields: object) -> None:
        if event == "epoch_end" and fields.get("epoch") == 2:
            raise KeyboardInterrupt  # as a kill: after checkpoint 2, before its event
        emit(self, event, **fields)

    monkeypatch.setattr(trainer.Events, "emit", crash_at_second_epoch_end)
    with pytest.raises(KeyboardInterrupt):
        main(["--input", str(inp), "--output", str(resumed)])
    monkeypatch.undo()
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert main(["--input", str(inp), "--output", str(resumed)]) == 0
    got = events(resumed)
    assert [e.get("epoch") for e in got if e["event"] == "epoch_end"] == [1, 2, 3]
    assert [e["event"] for e in got][-1] == "done"
    for epoch in (1, 2, 3):
        name = f"predictions/epoch-{epoch:03d}.jsonl"
        assert (resumed / name).read_bytes() == (reference / name).read_bytes(), name


def test_crash_after_a_checkpoint_resumes_to_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inp = make_input(tmp_path / "in", (120, 20, 20), 3, {"dropout": 0.2})
    crash_after_checkpoint_then_resume(code2vec.main, inp, tmp_path, monkeypatch)


def test_a_holdout_split_is_predicted_and_never_trained_on(tmp_path: Path) -> None:
    inp = make_input(tmp_path / "in", (60, 10, 10), 2, {"dropout": 0.2})
    holdout_changes_nothing_else(code2vec.main, inp, tmp_path, 2)


def test_wrong_task_is_a_one_line_error(tmp_path: Path) -> None:
    inp = make_input(tmp_path / "in", (10, 2, 2), 1, {})
    task = json.loads((inp / "task.json").read_text())
    (inp / "task.json").write_text(json.dumps({**task, "task": "var_misuse"}))
    assert code2vec.main(["--input", str(inp), "--output", str(tmp_path / "out")]) == 1
    assert events(tmp_path / "out")[-1] == {
        "event": "error",
        "message": "task.json: code2vec does method_name only",
    }
