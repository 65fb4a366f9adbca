"""hf: any Hugging Face checkpoint fine-tuned behind the protocol. Tiny random models of each
family (RoBERTa, T5, GPT-2) are built here with a word-level tokenizer trained on a few strings
and saved with save_pretrained: nothing is downloaded. Each family and mode trains through the
model program on ruby-stdlib's smoke inputs (var_misuse: a shard of GREAT's), and through
``bench run``; a protocol 3 holdout split is predicted but never trained on.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import shutil
import subprocess
import sys
from itertools import islice
from pathlib import Path
from typing import Any

import pytest
import torch

from benchmark.models.hf import families
from benchmark.weights import weights_fingerprint
from tests.test_code2vec import make_input as make_methods
from tests.test_codebert import (
    WORDS,
    bench,
    check_logit_given,
    events,
    holdout_changes_nothing_else,
    make_input,
    with_holdout,
)
from tests.test_ggnn import make_input as make_great
from tests.test_ggnn import shard_rows
from tests.test_reference_models import expected_frame, kill_mid_epoch_then_resume

FAMILIES = ("roberta", "t5", "gpt2")
WIDTH = 24


def tokenizer(specials: list[str], **names: str) -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    unk = names["unk_token"]
    core = Tokenizer(models.WordLevel(unk_token=unk))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.train_from_iterator([" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))],
                             trainers.WordLevelTrainer(special_tokens=specials))  # fmt: skip
    return PreTrainedTokenizerFast(tokenizer_object=core, **names)


def build_tiny(family: str, folder: Path) -> Path:
    """A randomly initialized model of ``family`` and its tokenizer, saved as a checkpoint
    folder is."""
    import transformers as tf

    torch.manual_seed(0)
    if family == "roberta":
        tok = tokenizer(["<s>", "<pad>", "</s>", "<unk>", "<mask>"], bos_token="<s>",
                        cls_token="<s>", eos_token="</s>", sep_token="</s>", pad_token="<pad>",
                        unk_token="<unk>", mask_token="<mask>")  # fmt: skip
        config = tf.RobertaConfig(vocab_size=len(tok), hidden_size=WIDTH, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=48,
                                  max_position_embeddings=130, type_vocab_size=1,
                                  pad_token_id=1, bos_token_id=0, eos_token_id=2)  # fmt: skip
        model = tf.RobertaModel(config)
    elif family == "t5":
        tok = tokenizer(["<pad>", "</s>", "<unk>"], eos_token="</s>", pad_token="<pad>",
                        unk_token="<unk>")  # fmt: skip
        config = tf.T5Config(vocab_size=len(tok), d_model=WIDTH, d_kv=12, d_ff=48, num_layers=1,
                             num_heads=2, pad_token_id=0, eos_token_id=1,
                             decoder_start_token_id=0)  # fmt: skip
        model = tf.T5ForConditionalGeneration(config)
    else:
        tok = tokenizer(["<|endoftext|>", "<unk>"], bos_token="<|endoftext|>",
                        eos_token="<|endoftext|>", unk_token="<unk>")  # fmt: skip
        config = tf.GPT2Config(vocab_size=len(tok), n_positions=256, n_embd=WIDTH, n_layer=1,
                               n_head=2, bos_token_id=0, eos_token_id=0)  # fmt: skip
        model = tf.GPT2LMHeadModel(config)
    folder.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("checkpoints")
    return {f: build_tiny(f, root / f"tiny-{f}") for f in FAMILIES}


def train(input_dir: Path, output_dir: Path) -> subprocess.CompletedProcess:
    """The model program on the folders, in this process: the matrix of families, tasks and
    modes would otherwise spend most of its time importing torch and transformers again (the
    command itself, `python -m benchmark.models.hf`, runs in the `bench run` tests below)."""
    from benchmark.models.hf.train import main

    threads, err = torch.get_num_threads(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            code = main(["--input", str(input_dir), "--output", str(output_dir)])
    finally:
        torch.set_num_threads(threads)
    return subprocess.CompletedProcess(["hf"], code, "", err.getvalue())


def predictions(output_dir: Path, epoch: int) -> list[dict]:
    path = output_dir / "predictions" / f"epoch-{epoch:03d}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def input_folder(folder: Path, task: str, epochs: int, weights: Path, mode: str) -> Path:
    """ruby-stdlib's smoke inputs (code_search, code_to_text), or code2vec's synthetic methods
    (method_name: no Java corpus is built quickly), with the weights and the mode."""
    if task != "method_name":
        return make_input(folder, task, epochs, weights=str(weights),
                          hyperparameters={"finetune": mode})  # fmt: skip
    made = make_methods(folder, (120, 20, 20), epochs, {"finetune": mode})
    meta = json.loads((made / "task.json").read_text())
    (made / "task.json").write_text(json.dumps({**meta, "model": "hf", "weights": str(weights)}))
    return made


@pytest.mark.parametrize("model", ["codebert", "hf"])
@pytest.mark.parametrize("key", ["overlap", "negatives"])
@pytest.mark.parametrize("value", [-1, 1.5, True, "3"])
def test_code_search_counts_must_be_integers_of_zero_or_more(model: str, key: str,
                                                             value: object) -> None:  # fmt: skip
    """Both models' code_search aids are counts, checked once by the trainer for either."""
    from benchmark import trainer

    defaults = importlib.import_module(f"benchmark.models.{model}").DEFAULTS
    task = {"profile": "cpu", "hyperparameters": {key: 0}}
    assert trainer.hyperparameters(task, defaults)[key] == 0
    task["hyperparameters"][key] = value
    with pytest.raises(trainer.InputError) as refused:
        trainer.hyperparameters(task, defaults)
    assert str(refused.value) == f"task.json: {key} must be an integer >= 0, not {value!r}"


@pytest.mark.parametrize("family", FAMILIES)
def test_the_overlap_embedding_starts_as_the_checkpoint_itself(checkpoints: dict[str, Path],
                                                              family: str) -> None:  # fmt: skip
    """code_search's overlap levels enter as an embedding added to the input embeddings, zero at
    the start: every family's pair logits are then the checkpoint's own (input ids fed as
    such), padding included, and they move once the embedding does."""
    from benchmark.models.hf import families
    from benchmark.models.hf.config import DEFAULTS
    from benchmark.models.hf.network import Network
    from benchmark.models.hf.tokens import Words

    loaded = families.load(checkpoints[family], "auto")
    words = Words(loaded.tokenizer)
    net = Network(loaded, words, "code_search", {**DEFAULTS["smoke"], "overlap": 8}).eval()
    query, code = words.ids(WORDS[:4], 16), words.ids(WORDS[2:12], 32)
    pairs = [(net.pair(query, code), net.pair([3, 0, 5, 1], [0] * 2 + [6] * 8, filler=0)),
             (net.pair(query[:2], code[:3]), net.pair([3, 0], [0, 0, 2], filler=0))]
    assert [len(ids) for ids, _ in pairs] == [len(levels) for _, levels in pairs]
    with torch.no_grad():
        with_overlap = net.pair_logits(pairs, torch.device("cpu"))
        embedding, net.overlap = net.overlap, None
        plain = net.pair_logits(pairs, torch.device("cpu"))
        net.overlap = embedding
        torch.nn.init.normal_(net.overlap.weight)
        moved = net.pair_logits(pairs, torch.device("cpu"))
    torch.testing.assert_close(with_overlap, plain, rtol=0, atol=1e-6)
    assert not torch.allclose(moved, plain)


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("task", ["code_search", "code_to_text", "method_name"])
@pytest.mark.parametrize("mode", ["full", "lora", "head"])
def test_every_family_and_mode_trains_a_task(
    checkpoints: dict[str, Path], tmp_path: Path, family: str, task: str, mode: str
) -> None:
    """One epoch of the model program writes a complete protocol output; the start event says
    the family, the mode and how many parameters train (fewer for LoRA and head than full),
    and the checkpoint holds those and no more."""
    input_dir = input_folder(tmp_path / "in", task, 1, checkpoints[family], mode)
    done = train(input_dir, tmp_path / "out")
    assert done.returncode == 0, done.stderr[-3000:]
    log = events(tmp_path / "out")
    start = log[0]
    assert start["finetune"] == mode
    assert start["family"] == {"roberta": "encoder", "t5": "seq2seq", "gpt2": "causal"}[family]
    assert 0 < start["trainable_parameters"] <= start["parameters"]
    if mode != "full":
        assert start["trainable_parameters"] < start["parameters"]
    assert [e["event"] for e in log] == ["start", "epoch_end", "done"]
    lines = predictions(tmp_path / "out", 1)
    train_lines = [r for r in lines if r["split"] == "train"]
    assert train_lines and all(r["loss"] >= 0 and 0 <= r["p_given"] <= 1 for r in train_lines)
    check_logit_given(lines)
    if task != "code_search":  # the given target's token log-probabilities match its loss
        for r in train_lines:
            lp = r["target_logprobs"]
            assert lp and all(v <= 0 for v in lp)
            assert abs(-sum(lp) / len(lp) - r["loss"]) < 1e-3
    saved = torch.load(tmp_path / "out" / "checkpoint.pt", weights_only=False)["model"]
    if mode != "full":  # tied weights appear under several names, in one storage
        stored = {v.untyped_storage().data_ptr(): v.numel() for v in saved.values()}
        assert sum(stored.values()) == start["trainable_parameters"]


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("mode", ["full", "lora", "head"])
def test_every_family_and_mode_points_at_a_misused_variable(
    checkpoints: dict[str, Path], tmp_path: Path, family: str, mode: str
) -> None:
    """var_misuse: the harness's own reader takes every line (repair_probs one per candidate,
    summing to 1), train lines carry varmisuse.py's loss and probabilities, and head mode
    trains the pointer heads alone."""
    from benchmark.tasks.var_misuse import read_predictions

    hp = {"finetune": mode, "max_function": 96, "batch_size": 8}
    input_dir = make_great(tmp_path / "in", shard_rows()[:100], (60, 20, 20), hp, epochs=1)
    meta = json.loads((input_dir / "task.json").read_text())
    meta |= {"model": "hf", "weights": str(checkpoints[family])}
    (input_dir / "task.json").write_text(json.dumps(meta))
    done = train(input_dir, tmp_path / "out")
    assert done.returncode == 0, done.stderr[-3000:]
    start = events(tmp_path / "out")[0]
    assert start["finetune"] == mode and start["trainable_parameters"] > 0
    if mode == "head":  # the pointer projection (hidden x 2 + 2) and the past-the-end state
        assert start["trainable_parameters"] == WIDTH * 2 + 2 + WIDTH
    table = read_predictions(tmp_path / "out", 1, expected_frame(input_dir))
    assert table.height == 100
    train_lines = [r for r in predictions(tmp_path / "out", 1) if r["split"] == "train"]
    assert all(r["loss"] >= 0 and 0 <= r["p_given"] <= 1 and 0 <= r["p_no_bug"] <= 1
               for r in train_lines)  # fmt: skip
    check_logit_given(train_lines)


def great_input(folder: Path, weights: Path, epochs: int, mode: str = "full") -> Path:
    """A shard of GREAT's functions (60 train, 20 valid, 20 test) for hf with ``weights``."""
    hp = {"finetune": mode, "max_function": 96, "batch_size": 8}
    inp = make_great(folder, shard_rows()[:100], (60, 20, 20), hp, epochs=epochs)
    meta = json.loads((inp / "task.json").read_text())
    meta |= {"model": "hf", "weights": str(weights)}
    (inp / "task.json").write_text(json.dumps(meta))
    return inp


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("task", ["code_search", "code_to_text", "method_name", "var_misuse"])
def test_every_labelled_line_carries_logit_given(
    checkpoints: dict[str, Path], tmp_path: Path, family: str, task: str
) -> None:
    """The untrained network's train and holdout lines (train's first 32 and a protocol 3
    holdout split), in this process: each carries ``logit_given``, p_given's log-odds."""
    from benchmark import trainer
    from benchmark.models.hf.config import DEFAULTS, POSITIVE
    from benchmark.models.hf.train import build, read_inputs, read_task

    if task == "var_misuse":
        inp = great_input(tmp_path / "in", checkpoints[family], 1)
    else:
        inp = input_folder(tmp_path / "in", task, 1, checkpoints[family], "full")
    with_holdout(inp, tmp_path / "held")
    meta = read_task(tmp_path / "held")
    hp = trainer.hyperparameters(meta, DEFAULTS, POSITIVE)
    rows, codes, _ = read_inputs(tmp_path / "held", meta)
    rows = {s: list(islice(v, 32)) for s, v in rows.items() if s in trainer.LABELLED}
    torch.manual_seed(0)
    _, net, data = build(meta, hp, rows, codes, torch.device("cpu"))
    with torch.inference_mode():
        lines = [json.loads(x) for x in data.lines(net.eval(), 16, torch.device("cpu"))]
    assert {r["split"] for r in check_logit_given(lines)} == {"train", "holdout"}


HOLDOUT_RUNS = [("gpt2", "code_to_text"), ("t5", "method_name"), ("roberta", "code_search"),
                ("t5", "var_misuse")]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(("family", "task"), HOLDOUT_RUNS)
def test_a_holdout_split_is_predicted_and_never_trained_on(
    checkpoints: dict[str, Path], tmp_path: Path, family: str, task: str
) -> None:
    """Every weight trains and dropout is on, so that a holdout sample drawn into training or
    its random numbers would show."""
    if task == "var_misuse":
        hp = {"finetune": "full", "max_function": 96, "batch_size": 8}
        inp = make_great(tmp_path / "in", shard_rows()[:100], (60, 20, 20), hp, epochs=2)
        meta = json.loads((inp / "task.json").read_text())
        meta |= {"model": "hf", "weights": str(checkpoints[family])}
        (inp / "task.json").write_text(json.dumps(meta))
    else:
        inp = input_folder(tmp_path / "in", task, 2, checkpoints[family], "full")

    def run(input_dir: Path, output_dir: Path) -> int:
        done = train(input_dir, output_dir)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.returncode

    holdout_changes_nothing_else(run, inp, tmp_path, 2)


BENCH_RUNS = [("roberta", "code_to_text", "head"), ("t5", "code_search", "lora"),
              ("gpt2", "code_to_text", "full"), ("t5", "var_misuse", "head")]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(("family", "task", "mode"), BENCH_RUNS)
def test_bench_run_writes_a_unit_named_after_the_folder_and_mode(
    checkpoints: dict[str, Path], tmp_path: Path, family: str, task: str, mode: str
) -> None:
    dataset = "python-stdlib" if task == "var_misuse" else "ruby-stdlib"
    done = bench("run", "--model", "hf", "--weights", str(checkpoints[family]), "--finetune",
                 mode, "--task", task, "--profile", "smoke", "--dataset", dataset,
                 "--device", "cpu", "--results", str(tmp_path / "results"))  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    unit = tmp_path / "results" / task / dataset / f"tiny-{family}-{mode}"
    unit = unit / "noise-label-0" / "seed-0"
    metrics = json.loads((unit / "metrics.json").read_text())
    assert metrics["model"] == f"tiny-{family}-{mode}"
    primary = {"code_to_text": "bleu", "code_search": "mrr", "var_misuse": "joint_acc"}[task]
    assert json.dumps(metrics).count(f'"{primary}"') > 0
    run = json.loads((unit / "run.json").read_text())
    assert run["finetune"]["mode"] == mode and run["finetune"]["trainable_parameters"] > 0
    assert run["weights"]["fingerprint"] == weights_fingerprint(checkpoints[family])
    assert run["config"]["model"] == "hf"


def test_finetune_is_refused_for_other_models_and_hf_needs_weights(tmp_path: Path) -> None:
    done = bench("run", "--model", "baseline", "--finetune", "lora", "--task", "code_search",
                 "--results", str(tmp_path))  # fmt: skip
    assert done.returncode != 0 and "takes no --finetune" in done.stderr
    done = bench("run", "--model", "hf", "--task", "code_search", "--results", str(tmp_path))
    assert done.returncode != 0 and "needs --weights" in done.stderr
    weights = tmp_path / "weights"
    weights.mkdir()
    done = bench("run", "--model", "hf", "--weights", str(weights), "--finetune", "",
                 "--task", "code_search", "--results", str(tmp_path))  # fmt: skip
    assert done.returncode == 2 and "unknown finetune mode ''" in done.stderr  # not 'full'


@pytest.mark.slow
@pytest.mark.parametrize(("family", "mode"), [("gpt2", "lora"), ("roberta", "head")])
def test_sigkill_mid_epoch_then_restart_ends_as_an_uninterrupted_run(
    checkpoints: dict[str, Path], tmp_path: Path, family: str, mode: str
) -> None:
    """Dropout on (the new layers' and LoRA's), so the restored RNG states matter as much as
    the trained weights, AdamW's state and the schedule; the frozen weights come from the
    folder again."""
    inp = input_folder(tmp_path / "in", "code_to_text", 3, checkpoints[family], mode)
    kill_mid_epoch_then_resume(
        lambda out: [sys.executable, "-m", "benchmark.models.hf", "--input", str(inp),
                     "--output", str(out)], tmp_path, timeout=300, into_epoch_s=0.2,
    )  # fmt: skip


@pytest.mark.slow
def test_sweep_of_a_checkpoint_runs_its_units_once(checkpoints: dict[str, Path],
                                                   tmp_path: Path) -> None:  # fmt: skip
    """bench sweep --model hf finds its units by their unit name (folder and mode): a second
    identical sweep runs nothing."""
    from benchmark.sweep import status
    from tests.sweeps import completed, sweep

    args = ("--models", "hf", "--weights", str(checkpoints["t5"]), "--finetune", "head",
            "--task", "var_misuse", "--profile", "smoke", "--epochs", "1", "--noise", "0,0.5",
            "--seeds", "1", "--device", "cpu", "--max-parallel", "1")  # fmt: skip
    rc, first, err = sweep(tmp_path, *args)
    assert rc == 0, err
    assert (first["units"], first["complete"], first["ran"]) == (2, 2, 2)
    done = completed(tmp_path)
    assert set(done) == {f"var_misuse/python-stdlib/tiny-t5-head/noise-label-{r}/seed-0"
                         for r in ("0", "0.5")}  # fmt: skip
    run = json.loads((tmp_path / sorted(done)[0] / "run.json").read_text())
    assert run["config"]["model"] == "hf" and run["finetune"]["mode"] == "head"
    rc, again, err = sweep(tmp_path, *args)
    assert rc == 0, err
    assert again["sweep"] == first["sweep"]
    assert (again["skipped"], again["ran"], again["attempts"]) == (2, 0, 0)
    assert completed(tmp_path) == done
    (shown,) = status(tmp_path, first["sweep"])  # as bench sweep status shows it
    assert shown["models"] == ["tiny-t5-head"]
    rc, other, _ = sweep(tmp_path, *args[:4], "--finetune", "lora", "--name", "tiny-t5-head",
                         *args[6:])  # fmt: skip
    assert rc == 1 and "finetune head" in json.dumps(other["failed"])


@pytest.mark.slow
@pytest.mark.parametrize("task", ["code_search", "code_to_text"])
def test_a_bench_models_pretrain_folder_loads_as_hf(tmp_path: Path, task: str) -> None:
    """`bench models pretrain` writes a RobertaForMaskedLM with codebert's sub-token vocabulary
    (subtokens.json) instead of a tokenizer's files: hf reads it with that vocabulary. Its
    positions are as many as its sequences (here 64, + 2), fewer than the profile's inputs
    (max_source 64, + 4): the default shrinks to fit, a size task.json asks for is refused."""
    import transformers as tf

    folder = tmp_path / "pretrained"
    words = ["<pad>", "<unk>", "<s>", "</s>", *WORDS]
    positions = 64 + 2
    torch.manual_seed(0)
    config = tf.RobertaConfig(vocab_size=len(words), hidden_size=WIDTH, num_hidden_layers=1,
                              num_attention_heads=2, intermediate_size=48,
                              max_position_embeddings=positions, type_vocab_size=1,
                              pad_token_id=0, bos_token_id=2, eos_token_id=3)  # fmt: skip
    tf.RobertaForMaskedLM(config).save_pretrained(folder)
    (folder / "subtokens.json").write_text(json.dumps(words))
    input_dir = input_folder(tmp_path / "in", task, 1, folder, "full")
    done = train(input_dir, tmp_path / "out")
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"max_source 64 -> {positions - 4}: the weights embed {positions} positions" in (
        done.stderr)  # fmt: skip
    meta = json.loads((input_dir / "task.json").read_text())
    meta["hyperparameters"]["max_source"] = 64
    (input_dir / "task.json").write_text(json.dumps(meta))
    refused = train(input_dir, tmp_path / "refused")
    assert refused.returncode == 1
    assert events(tmp_path / "refused")[-1] == {
        "event": "error", "message": "task.json: max_source (+ max_target for a causal model) "
        f"64 exceeds the weights' {positions} positions"}  # fmt: skip
    start = events(tmp_path / "out")[0]
    assert start["family"] == "encoder" and start["finetune"] == "full"
    lines = predictions(tmp_path / "out", 1)
    train_lines = [r for r in lines if r["split"] == "train"]
    assert train_lines and all(r["loss"] >= 0 and 0 <= r["p_given"] <= 1 for r in train_lines)
    if task == "code_to_text":  # the vocabulary's words (after one epoch, maybe none), no special
        said = {w for r in lines for w in r["tokens"]}
        assert said <= set(WORDS) | {"<unk>"}
        assert all(r["target_logprobs"] for r in train_lines)  # the docstrings are in-vocabulary


def test_weights_without_a_tokenizer_or_of_another_architecture_are_one_line(
    checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    """Both would train quietly from nothing: every code token unknown (AutoTokenizer makes a
    tokenizer of a handful of tokens), or every weight random (transformers only warns)."""
    no_tokenizer = tmp_path / "no-tokenizer"
    shutil.copytree(checkpoints["roberta"], no_tokenizer)
    for name in families.TOKENIZER_FILES:
        (no_tokenizer / name).unlink(missing_ok=True)
    mixed = tmp_path / "mixed"
    shutil.copytree(checkpoints["roberta"], mixed)
    shutil.copy(checkpoints["gpt2"] / "model.safetensors", mixed / "model.safetensors")
    mistyped = tmp_path / "mistyped"  # huggingface_hub's message runs over two lines
    shutil.copytree(checkpoints["roberta"], mistyped)
    config = json.loads((mistyped / "config.json").read_text())
    (mistyped / "config.json").write_text(json.dumps({**config, "hidden_size": "abc"}))
    cases = [(no_tokenizer, "have no tokenizer (none of tokenizer.json"),
             (mixed, "are not in the checkpoint (another architecture?)"),
             (mistyped, " cannot be loaded: Validation error for field 'hidden_size': "
                        "TypeError: Field 'hidden_size' expected int, got str (value: 'abc')")]
    for weights, says in cases:
        folder = input_folder(tmp_path / f"in-{weights.name}", "code_search", 1, weights, "full")
        done = train(folder, tmp_path / f"out-{weights.name}")
        assert done.returncode == 1, done.stderr[-2000:]
        error = json.loads((tmp_path / f"out-{weights.name}" / "events.jsonl").read_text()
                           .splitlines()[-1])  # fmt: skip
        assert error["event"] == "error" and says in error["message"], error
        assert error["message"].startswith(f"weights {weights}") and "\n" not in error["message"]
        assert error["message"].count(str(weights)) == 1, error  # not said twice


@pytest.mark.parametrize("family", ["t5", "gpt2"])
def test_codebert_names_the_architecture_it_cannot_load(checkpoints: dict[str, Path],
                                                        family: str) -> None:  # fmt: skip
    from benchmark.models.codebert.weights import load_pretrained
    from benchmark.trainer import InputError

    with pytest.raises(InputError, match="codebert loads RoBERTa-style encoders"):
        load_pretrained(checkpoints[family], 0.1)
