"""``bench models pretrain``: the corpus leaves out the fine-tuning target's held-out methods, the
encoder learns, the same seed gives the same weights, and the folder it writes is a Hugging Face
RoBERTa that transformers loads and that codebert starts from with the folder's vocabulary."""

from __future__ import annotations

import copy
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
import torch

from benchmark import datasets
from benchmark.models import codebert, pretrain
from benchmark.trainer import InputError

STEPS = 150


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmark", *args], capture_output=True,
                          text=True, env=os.environ.copy(), timeout=600)  # fmt: skip


@pytest.fixture(scope="module")
def small() -> pl.DataFrame:
    """1,500 ruby-stdlib training methods, 30 of them held out."""
    frame, _ = pretrain.corpus(["ruby-stdlib"], ["ruby-stdlib"])
    return frame.head(1500)


@pytest.fixture(scope="module")
def trained(small: pl.DataFrame) -> tuple:
    torch.set_num_threads(1)
    return pretrain.pretrain(small, "smoke", STEPS, 0)


@pytest.fixture(scope="module")
def docstrung(small: pl.DataFrame, trained: tuple) -> tuple:
    """The docstring stage after the masked-LM one: 2 epochs."""
    return pretrain.docstrings(small, trained[0], trained[1], "smoke", 2, 0)


@pytest.fixture(scope="module")
def folder(trained: tuple, tmp_path_factory: pytest.TempPathFactory) -> Path:
    model, tok, stats = trained
    out = tmp_path_factory.mktemp("pretrained") / "weights"
    pretrain.save(model, tok, stats, out)
    return out


@pytest.fixture(scope="module")
def both(trained: tuple, docstrung: tuple, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the masked-LM encoder and the docstring stage's code_to_text model."""
    model, tok, stats = trained
    out = tmp_path_factory.mktemp("pretrained") / "weights"
    pretrain.save(model, tok, {**stats, "docstrings": docstrung[1]}, out, docstrung[0])
    return out


def test_corpus_is_train_methods_without_duplicates_of_held_out_ones() -> None:
    samples = datasets.load("ruby-stdlib").samples
    samples = samples.collect() if isinstance(samples, pl.LazyFrame) else samples
    held = samples.filter(pl.col("split") != "train")
    train = samples.filter(pl.col("split") == "train")
    alone, counts = pretrain.corpus(["ruby-stdlib"], [])
    assert alone.height == train.height == counts["read"] and counts["duplicates_left_out"] == 0
    kept, counts = pretrain.corpus(["ruby-stdlib"], ["ruby-stdlib"])
    assert counts["read"] == train.height
    assert kept.height == train.height - counts["duplicates_left_out"] < train.height
    assert set(kept["id"]) <= set(train["id"])
    rows = train.filter(pl.col("id").is_in(kept["id"].implode()))
    hashes = set(held["clean_hash"]) | set(held["near_hash"])
    assert not (set(rows["clean_hash"]) | set(rows["near_hash"])) & hashes
    docs = {" ".join(d).lower() for d in held["doc_tokens"]}
    assert not {" ".join(d).lower() for d in rows["doc_tokens"]} & docs


def test_the_encoder_learns_the_masked_words(small: pl.DataFrame, trained: tuple) -> None:
    """The held-out masked-LM loss falls far below an untrained encoder's."""
    _, tok, stats = trained
    untrained = pretrain.pretrain(small, "smoke", 1, 0)[2]["held_out"]
    held = stats["held_out"]
    assert stats["methods"]["held_out"] == 30 and held["tokens"] == untrained["tokens"] > 100
    assert untrained["mlm_loss"] > 0.9 * math.log(len(tok))
    assert held["mlm_loss"] < untrained["mlm_loss"] - 1.0, (held, untrained)
    assert held["mlm_accuracy"] > untrained["mlm_accuracy"]


def test_same_seed_same_weights(small: pl.DataFrame, trained: tuple) -> None:
    again, _, stats = pretrain.pretrain(small, "smoke", STEPS, 0)
    for (name, a), b in zip(trained[0].state_dict().items(), again.state_dict().values(),
                            strict=True):  # fmt: skip
        assert torch.equal(a, b), name
    assert stats["held_out"] == trained[2]["held_out"]


class Killed(Exception):
    """Stands for a kill: raised by a progress callback, after a training state was saved."""


def stop_at(when: int) -> Callable[[int, float], None]:
    def tick(done: int, loss: float) -> None:
        if done == when:
            raise Killed

    return tick


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y), name


def test_a_saved_state_is_continued_only_by_the_same_settings(
    small: pl.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pretrain, "SAVE_EVERY", 20)
    state = tmp_path / "state.pt"
    first = pretrain.pretrain(small, "smoke", 50, 0, state=state)
    assert first[2]["resumed_from_step"] is None and pretrain.read_state(state)["step"] == 50
    other = pretrain.pretrain(small, "smoke", 60, 0, state=state)  # other steps: a fresh start
    assert other[2]["resumed_from_step"] is None
    state.write_bytes(b"not a saved state")  # unreadable: a fresh start too, then overwritten
    with pytest.raises(Killed):
        pretrain.pretrain(small, "smoke", 50, 0, stop_at(45), state=state)
    assert pretrain.read_state(state)["step"] == 40
    again = pretrain.pretrain(small, "smoke", 50, 0, state=state)
    assert again[2]["resumed_from_step"] == 40
    assert_same_weights(first[0], again[0])
    done = pretrain.pretrain(small, "smoke", 50, 0, state=state)  # saved at the end: no steps
    assert done[2]["resumed_from_step"] == 50 and done[2]["held_out"] == first[2]["held_out"]
    assert_same_weights(first[0], done[0])


def test_the_docstring_stage_learns_to_write_docstrings(small: pl.DataFrame, trained: tuple,
                                                        docstrung: tuple) -> None:  # fmt: skip
    """The held-out docstrings' loss falls far below that of the stage's starting point (the
    masked-LM encoder and a new decoder), and the masked-LM encoder is left as it was."""
    model, tok, _ = trained
    before = copy.deepcopy(model.state_dict())
    untrained = pretrain.docstrings(small, model, tok, "smoke", 0, 0)[1]["held_out"]
    _, stats = docstrung
    assert stats["held_out"]["tokens"] == untrained["tokens"] > 100
    assert stats["held_out"]["docstring_loss"] < untrained["docstring_loss"] - 1.0, stats
    smoke = codebert.DEFAULTS["smoke"]
    assert stats["hyperparameters"]["decoder_layers"] == smoke["decoder_layers"]
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name


def test_the_docstring_stage_goes_on_from_its_saved_state(
    small: pl.DataFrame, trained: tuple, docstrung: tuple, tmp_path: Path
) -> None:
    state = tmp_path / "docstring.state.pt"
    with pytest.raises(Killed):
        pretrain.docstrings(small, trained[0], trained[1], "smoke", 2, 0, stop_at(2), state)
    assert pretrain.read_state(state)["epoch"] == 1
    again, stats = pretrain.docstrings(small, trained[0], trained[1], "smoke", 2, 0, None, state)
    assert stats["resumed_from_epoch"] == 1 and stats["held_out"] == docstrung[1]["held_out"]
    assert_same_weights(docstrung[0], again)
    other = pretrain.docstrings(small, trained[0], trained[1], "smoke", 1, 0, None, state)[1]
    assert other["resumed_from_epoch"] is None  # saved for 2 epochs, asked for 1: afresh
    pretrain.docstrings(small, trained[0], trained[1], "smoke", 2, 0, None, state)
    shorter = pretrain.pretrain(small, "smoke", STEPS - 1, 0)[0]  # another masked-LM encoder
    other = pretrain.docstrings(small, shorter, trained[1], "smoke", 2, 0, None, state)[1]
    assert other["resumed_from_epoch"] is None


def test_mask_corrupts_only_real_tokens_in_bert_proportions() -> None:
    ids = torch.randint(4, 500, (400, 50))
    ids[:, 0], ids[:, -10:] = 2, 0  # <s> and padding are never picked
    x, picked = pretrain.mask(ids, 500, 0.15, torch.Generator().manual_seed(0))
    assert not picked[:, 0].any() and not picked[:, -10:].any()
    assert torch.equal(x[~picked], ids[~picked])
    share = picked.sum() / (ids > 3).sum()
    assert 0.14 < share < 0.16
    masked = (x[picked] == 1).float().mean()
    kept = (x[picked] == ids[picked]).float().mean()
    assert 0.77 < masked < 0.83 and 0.08 < kept < 0.12


def test_transformers_loads_the_folder_with_the_same_outputs(trained: tuple, folder: Path
                                                             ) -> None:  # fmt: skip
    """RobertaForMaskedLM reads the saved folder and predicts the masked words as we do."""
    from transformers import RobertaForMaskedLM

    model, tok, _ = trained
    assert {p.name for p in folder.iterdir()} == {
        "config.json",
        "model.safetensors",
        codebert.VOCABULARY,
        "pretraining.json",
    }
    hf = RobertaForMaskedLM.from_pretrained(folder, local_files_only=True).eval()
    ids = torch.tensor([[2, 10, 11, 3, 12, 1, 13, 3], [2, 14, 3, 15, 3, 0, 0, 0]])
    model.eval()
    with torch.inference_mode():
        ours = model(ids, ids != 0)
        theirs = hf(input_ids=ids, attention_mask=(ids != 0).long()).logits[ids != 0]
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    assert json.loads((folder / codebert.VOCABULARY).read_text()) == tok.words


def test_codebert_starts_from_the_folder_with_its_vocabulary(trained: tuple, folder: Path
                                                            ) -> None:  # fmt: skip
    model, tok, _ = trained
    encoder, loaded = codebert.load_pretrained(folder, 0.0)
    assert isinstance(loaded, codebert.SubtokenTokenizer) and loaded.words == tok.words
    for (name, a), b in zip(encoder.state_dict().items(), model.roberta.state_dict().values(),
                            strict=True):  # fmt: skip
        assert torch.equal(a, b), name
    head = codebert.build("code_search", encoder, dict(codebert.DEFAULTS["smoke"]), loaded, True)
    assert torch.equal(head.encoder.embeddings.word_embeddings.weight,
                       model.roberta.embeddings.word_embeddings.weight)  # fmt: skip


def method_rows(frame: pl.DataFrame) -> dict[str, list[dict]]:
    rows = frame.select("id", "source_tokens", "doc_tokens").to_dicts()
    return {"train": rows[:40], "valid": rows[40:50], "test": rows[50:60]}


def test_code_to_text_starts_from_the_docstring_model_and_code_search_from_the_encoder(
    small: pl.DataFrame, trained: tuple, docstrung: tuple, both: Path
) -> None:
    """From a folder with both, code_to_text is the docstring stage's whole model, with its
    decoder's depth and copy setting over the profile's; code_search the masked-LM encoder."""
    assert (both / codebert.DOCSTRING_MODEL).exists()
    hp = dict(codebert.DEFAULTS["paper"]) | {"max_source": 64, "max_target": 16}
    model, _, _, _ = codebert.setup("code_to_text", method_rows(small), {}, hp, both)
    assert hp["decoder_layers"] == codebert.DEFAULTS["smoke"]["decoder_layers"] != 6
    assert hp["copy"] is True
    assert_same_weights(docstrung[0], model)
    assert model.lm_head.weight is model.encoder.embeddings.word_embeddings.weight
    encoder, _ = codebert.load_pretrained(both, 0.0)
    assert_same_weights(trained[0].roberta, encoder)


def test_a_corrupt_or_misfit_docstring_model_is_a_one_line_error(
    small: pl.DataFrame, docstrung: tuple, both: Path, tmp_path: Path
) -> None:
    from safetensors.torch import save_file

    bad = tmp_path / "bad"
    bad.mkdir()
    for p in both.iterdir():
        (bad / p.name).write_bytes(p.read_bytes())
    path = bad / codebert.DOCSTRING_MODEL
    state = {k: v.contiguous() for k, v in docstrung[0].state_dict().items()
             if k != "lm_head.weight"}  # fmt: skip
    wrong = (
        (lambda: path.write_bytes(b"not safetensors"), "cannot be read"),
        (lambda: save_file(state, str(path)), "cannot be read"),  # no metadata
        (lambda: save_file(state, str(path), {"decoder_layers": "3", "copy": "true"}),
         "does not fit"),
        (lambda: save_file({k: v[..., :1] if k.endswith("copy_gate.weight") else v
                            for k, v in state.items()}, str(path),
                           {"decoder_layers": "1", "copy": "true"}), "does not fit"),
    )  # fmt: skip
    for write, what in wrong:
        write()
        hp = dict(codebert.DEFAULTS["smoke"])
        with pytest.raises(InputError, match=what) as e:
            codebert.setup("code_to_text", method_rows(small), {}, hp, bad)
        assert codebert.DOCSTRING_MODEL in str(e.value) and "\n" not in str(e.value)


def test_a_corrupt_vocabulary_is_a_one_line_error(folder: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    for p in folder.iterdir():
        (bad / p.name).write_bytes(p.read_bytes())
    for text in ("not json", '["<pad>", "<unk>", "x", "</s>", "a"]', '["<pad>", 3]'):
        (bad / codebert.VOCABULARY).write_text(text)
        with pytest.raises(InputError, match=codebert.VOCABULARY) as e:
            codebert.load_pretrained(bad, 0.0)
        assert "\n" not in str(e.value)


def test_weights_pretrained_without_excluding_the_dataset_draw_a_warning(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from benchmark.cli import warn_of_overlap

    stats = json.loads((folder / "pretraining.json").read_text())
    for exclude, warned in (([], True), (["ruby-stdlib"], False)):
        (tmp_path / "pretraining.json").write_text(json.dumps(
            {**stats, "corpus": {"datasets": ["ruby-stdlib"], "exclude": exclude}}))  # fmt: skip
        warn_of_overlap(tmp_path, "ruby-stdlib")
        err = capsys.readouterr().err
        assert ("without --exclude ruby-stdlib" in err) is warned, err
    warn_of_overlap(tmp_path / "elsewhere", "ruby-stdlib")  # not from bench models pretrain
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_bench_models_pretrain_then_bench_run_from_it(tmp_path: Path) -> None:
    out = tmp_path / "weights"
    args = ("models", "pretrain", "codebert", str(out), "--dataset", "ruby-stdlib", "--exclude",
            "ruby-stdlib", "--profile", "smoke", "--steps", "20", "--threads", "1")  # fmt: skip
    proc = bench(*args, "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    stats = json.loads(proc.stdout)
    assert stats["hyperparameters"]["steps"] == 20 and stats["corpus"]["exclude"] == ["ruby-stdlib"]
    assert stats == json.loads((out / "pretraining.json").read_text())
    assert stats["docstrings"]["epochs"] == 1 and (out / codebert.DOCSTRING_MODEL).exists()
    assert not list(tmp_path.glob(".*state.pt"))
    proc = bench(*args[:3], str(tmp_path / "mlm"), *args[4:], "--docstring-epochs", "0", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "docstrings" not in json.loads(proc.stdout)
    assert not (tmp_path / "mlm" / codebert.DOCSTRING_MODEL).exists()
    again = bench(*args)
    assert again.returncode == 2 and "exists" in again.stderr, again.stderr
    for wrong, what in ((("--dataset", "nowhere"), "unknown dataset"),
                        (("--profile", "huge"), "unknown profile")):  # fmt: skip
        proc = bench("models", "pretrain", "codebert", str(tmp_path / "w2"), "--dataset",
                     "ruby-stdlib", *wrong)  # fmt: skip
        assert proc.returncode == 2 and what in proc.stderr and not (tmp_path / "w2").exists()
    proc = bench("models", "pretrain", "ggnn", str(tmp_path / "w3"), "--dataset", "ruby-stdlib")
    assert proc.returncode == 2 and "only codebert" in proc.stderr

    proc = bench("run", "--task", "code_to_text", "--model", "codebert", "--profile", "smoke",
                 "--dataset", "ruby-stdlib", "--epochs", "1", "--weights", str(out),
                 "--results", str(tmp_path / "runs"), "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "warning" not in proc.stderr  # pretrained with --exclude ruby-stdlib
    unit = next((tmp_path / "runs").glob("code_to_text/ruby-stdlib/codebert/*/seed-0"))
    run = json.loads((unit / "run.json").read_text())
    assert run["weights"]["path"] == str(out.resolve())
    said = set(pl.read_parquet(unit / "samples.parquet")["tokens"].explode().drop_nulls())
    assert said and said <= set(json.loads((out / codebert.VOCABULARY).read_text()))


@pytest.mark.slow
def test_sigkill_then_the_same_command_ends_with_the_uninterrupted_weights(tmp_path: Path) -> None:
    """Killed once a training state is saved, restarted, the weights are those of a run that
    was never interrupted, and the state file is gone."""
    steps = str(3 * pretrain.SAVE_EVERY)

    def command(out: Path) -> list[str]:
        return [sys.executable, "-m", "benchmark", "models", "pretrain", "codebert", str(out),
                "--dataset", "ruby-stdlib", "--profile", "smoke", "--steps", steps,
                "--threads", "1", "--json"]  # fmt: skip

    whole = subprocess.run(command(tmp_path / "whole"), capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr[-2000:]
    out = tmp_path / "killed"
    state = out.with_name(f".{out.name}.state.pt")
    proc = subprocess.Popen(command(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL and state.exists() and not out.exists()
    again = subprocess.run(command(out), capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    stats = json.loads(again.stdout)
    assert stats["resumed_from_step"] in (pretrain.SAVE_EVERY, 2 * pretrain.SAVE_EVERY)
    name = "model.safetensors"
    assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    # The docstring model's tensors, byte for byte (its metadata's order varies between writes).
    ours, whole_model = (codebert.docstring_model(f) for f in (out, tmp_path / "whole"))
    assert ours[1] == whole_model[1] and ours[0].keys() == whole_model[0].keys()
    for key, value in ours[0].items():
        assert torch.equal(value, whole_model[0][key]), key
    assert stats["held_out"] == json.loads(whole.stdout)["held_out"]
    assert not list(tmp_path.glob(".*state.pt"))


def test_code_search_fine_tunes_weights_at_its_own_rate() -> None:
    scratch = {"task": "code_search", "profile": "cpu"}
    assert codebert.defaults_for(scratch)["cpu"]["lr"] == codebert.DEFAULTS["cpu"]["lr"]
    tuned = codebert.defaults_for({**scratch, "weights": "/w"})
    assert tuned["cpu"]["lr"] == codebert.FROM_WEIGHTS["cpu"]["code_search"]["lr"]
    assert {k: v for k, v in tuned["cpu"].items() if k != "lr"} == {
        k: v for k, v in codebert.DEFAULTS["cpu"].items() if k != "lr"
    }
    assert tuned["paper"] == codebert.DEFAULTS["paper"]


def test_an_output_that_cannot_be_written_is_one_line_before_training(tmp_path: Path) -> None:
    """Checked before the corpus is read and the model trained, not when the weights are
    saved at the end; and an unknown model's line lists the choices, then why so few."""
    mine = tmp_path / "notes.txt"
    mine.write_text("mine")
    for args, says in [
        (["codebert", str(mine / "weights")], f"{mine} is a file, not a folder"),
        (["nosuch", str(tmp_path / "w")],
         "unknown model 'nosuch'; choose from: codebert (only codebert is pretrained)"),
        (["codebert", str(tmp_path / "w"), "--seed", "-1"],
         "Invalid value for '--seed': Input should be greater than or equal to 0"),
        (["codebert", str(tmp_path / "w"), "--seed", str(2**70)],
         "Invalid value for '--seed': Input should be less than or equal to 4294967295"),
    ]:  # fmt: skip
        proc = bench("models", "pretrain", *args, "--dataset", "ruby-stdlib", "--profile",
                     "smoke", "--steps", "1")  # fmt: skip
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and lines[0] == f"error: {says}", \
            proc.stderr[-2000:]  # fmt: skip
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_read_only_output_folder_is_one_line_before_training(tmp_path: Path) -> None:
    from tests.test_cli_input import read_only

    folder = tmp_path / "ro"
    folder.mkdir()
    wrap = read_only(folder)
    proc = subprocess.run([*wrap, sys.executable, "-m", "benchmark", "models", "pretrain",
                           "codebert", str(folder / "weights"), "--dataset", "ruby-stdlib",
                           "--profile", "smoke", "--steps", "1"],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith(f"error: {folder} cannot be written")
    folder.chmod(0o755)
    assert list(folder.iterdir()) == []
