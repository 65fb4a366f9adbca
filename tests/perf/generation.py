"""hf's generated prediction lines per second, against the same lines at another commit.

    python tests/perf/generation.py [--weights DIR,DIR] [--profile cpu|smoke|paper]
                                    [--samples N] [--device cpu|cuda] [--against REV]
                                    [--repeats 2] [--json]

code_to_text's predictions are where an hf run spends most of an epoch: every line of every
split is a docstring generated greedily, token by token, and a labelled line also scores the
given docstring. For each weights folder this writes the first N training methods of
ruby-stdlib as ``bench run --model hf --task code_to_text`` writes them, builds the network as
the model program does (``hf.train.build``), and times its ``lines`` over them as the trainer
runs them (eval mode, inference mode, on CUDA its bf16 autocast), at the prediction batch size
of a run, after a warm-up: lines/s and the words a line.

By default the weights are random GPT-2 (causal), T5 (seq2seq) and RoBERTa (encoder, with the
model's own text decoder) checkpoints of 4 layers and width 256, with a byte-level BPE
tokenizer of 8,000 sub-words trained on the methods' code, built in a temporary folder. Random
weights seldom write the end token, so nearly every line is ``max_target`` tokens long (what a
model writes before it has learned where a docstring ends); lines/s are then an upper bound
on the work.

With ``--against REV`` the same measurement also runs with REV's code (a git worktree on
PYTHONPATH), alternating with this checkout ``--repeats`` times (each time one process per
version measures every folder), and the medians' ratio is printed per folder. Never fails on
time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from default_command import ROOT, checkout, last_line  # tests/perf/, this script's folder

FAMILIES = ("gpt2", "t5", "roberta")


def build_weights(folder: Path, texts: list[str]) -> list[Path]:
    """Random GPT-2, T5 and RoBERTa checkpoints (4 layers, width 256) sharing one byte-level
    BPE tokenizer trained on ``texts``."""
    import torch
    import transformers as tf
    from tokenizers import ByteLevelBPETokenizer
    from transformers.utils import logging

    logging.disable_progress_bar()
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=8000, show_progress=False,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])  # fmt: skip
    tok = tf.PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<s>",
                                     cls_token="<s>", eos_token="</s>", sep_token="</s>",
                                     pad_token="<pad>", unk_token="<unk>",
                                     mask_token="<mask>")  # fmt: skip
    n, ids = len(tok), {"bos_token_id": 0, "pad_token_id": 1, "eos_token_id": 2}
    made = []
    for family in FAMILIES:
        torch.manual_seed(0)
        if family == "gpt2":
            # Untied: with random weights tied to the input's, a source's last state (its end
            # token's) scores the end token highest, and every line ended at once.
            model = tf.GPT2LMHeadModel(tf.GPT2Config(vocab_size=n, n_positions=512, n_embd=256,
                                                     n_layer=4, n_head=4,
                                                     tie_word_embeddings=False, **ids))  # fmt: skip
        elif family == "t5":
            model = tf.T5ForConditionalGeneration(tf.T5Config(
                vocab_size=n, d_model=256, d_kv=64, d_ff=1024, num_layers=4, num_heads=4,
                decoder_start_token_id=1, **ids))  # fmt: skip
        else:
            model = tf.RobertaModel(tf.RobertaConfig(
                vocab_size=n, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                intermediate_size=1024, max_position_embeddings=514, type_vocab_size=1,
                **ids))  # fmt: skip
        path = folder / f"random-{family}"
        tok.save_pretrained(path)
        model.save_pretrained(path)
        made.append(path)
    return made


def ruby_methods(profile: str, n: int) -> object:
    """The profile's selection of ruby-stdlib, its training split cut to ``n`` methods."""
    from benchmark import datasets
    from benchmark.profiles import PROFILES, select_splits

    splits = select_splits(datasets.load("ruby-stdlib").samples, PROFILES[profile])
    splits["train"] = splits["train"].head(n)
    return splits


def measure(weights: Path, profile: str, n: int, device_name: str) -> dict:
    """One timed pass of ``lines`` over the first ``n`` training methods, with the code that
    is on sys.path. It builds the inputs as training.py's ``measure_hf_task`` does, without
    importing training.py, which puts this checkout first on sys.path: REV's runs would then
    time this checkout's code."""
    import torch

    from benchmark import noise, trainer
    from benchmark.models.hf import train as hf
    from benchmark.models.hf.config import DEFAULTS, POSITIVE
    from benchmark.tasks.hooks import task_hooks

    splits = ruby_methods(profile, n)
    hooks = task_hooks("code_to_text")
    splits, _ = hooks.prepare(splits, noise.mask(splits["train"].height, 0.0, 0), "label", 0)
    with tempfile.TemporaryDirectory() as tmp:
        meta = {"task": "code_to_text", "model": "hf", "profile": profile,
                "weights": str(weights), "hyperparameters": {"finetune": "full"}}  # fmt: skip
        hooks.write_inputs(Path(tmp), meta, splits)
        meta = hf.read_task(Path(tmp))
        hp = trainer.hyperparameters(meta, DEFAULTS, POSITIVE)
        rows, codes, _ = hf.read_inputs(Path(tmp), meta)
    device = trainer.pick_device(device_name)
    torch.set_num_threads(int(hp["threads"]) or torch.get_num_threads())
    trainer.seed_everything(0, device)
    loaded, net, data = hf.build(meta, hp, rows, codes, device)
    size = trainer.prediction_batch(int(hp["batch_size"]), device, cpu=2)
    data.rows = {"train": rows["train"]}  # the n methods, labelled: generated and scored
    net.eval()
    with torch.inference_mode(), trainer.Context(device).amp():
        net.greedy(data.source["train"][:size], 2, device)  # warm-up
        sync(device)
        started = time.perf_counter()
        lines = [json.loads(line) for line in data.lines(net, size, device)]
        seconds = time.perf_counter() - started
    words = sum(len(x["tokens"]) for x in lines)
    return {"weights": weights.name, "family": loaded.family, "device": device.type,
            "lines": len(lines),
            "max_target": int(hp["max_target"]), "seconds": round(seconds, 3),
            "lines_per_s": round(len(lines) / seconds, 2),
            "words_per_line": round(words / max(len(lines), 1), 1)}


def sync(device: object) -> None:
    import torch

    if getattr(device, "type", None) == "cuda":
        torch.cuda.synchronize()


def one(tree: Path, weights: list[Path], profile: str, n: int, device: str) -> list[dict]:
    """``measure`` of each folder in turn, in one fresh process with the code in ``tree``:
    one start (torch, transformers, the dataset) for all of them rather than one each."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, __file__, "--inner", ",".join(map(str, weights)),
                           "--profile", profile, "--samples", str(n), "--device", device],
                          env=env, capture_output=True, text=True, cwd=tree)  # fmt: skip
    if done.returncode:
        raise SystemExit(f"with {tree}: {last_line(done.stderr)}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="", help="comma-separated local Hugging Face "
                        "folders (default: random GPT-2, T5 and RoBERTa, built here)")  # fmt: skip
    parser.add_argument("--profile", default="cpu", choices=("smoke", "cpu", "paper"))
    parser.add_argument("--samples", type=int, default=256, help="training methods timed")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where to run")
    parser.add_argument("--against", help="a git revision to compare with")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each version")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--inner", help=argparse.SUPPRESS)  # one measurement, as JSON
    args = parser.parse_args()
    if args.inner:
        from benchmark import trainer  # the code on PYTHONPATH, as in measure

        trainer.keep_freed_memory()  # once a process, as every model program's command line
        print(json.dumps([measure(Path(w), args.profile, args.samples, args.device)
                          for w in args.inner.split(",")]))  # fmt: skip
        return
    if args.repeats < 1 or args.samples < 1:
        parser.error("--repeats and --samples must be at least 1")
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            parser.error("--device cuda: CUDA is not available on this machine")
    with ExitStack() as stack:
        weights = [Path(w) for w in args.weights.split(",") if w]
        if bad := [str(w) for w in weights if not (w / "config.json").is_file()]:
            parser.error(f"--weights {', '.join(bad)}: no config.json (not a Hugging Face folder)")
        if not weights:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-gen-")))
            train = ruby_methods(args.profile, args.samples)["train"]
            texts = [" ".join(r["source_tokens"] + r["doc_tokens"])
                     for r in train.iter_rows(named=True)]  # fmt: skip
            weights = build_weights(folder, texts)
        trees = {"this checkout": ROOT}
        if args.against:
            trees[args.against] = checkout(args.against, stack)
        runs: dict[str, dict[str, list[dict]]] = {w.name: {t: [] for t in trees} for w in weights}
        for _ in range(args.repeats):
            for name, tree in trees.items():
                measured = one(tree, weights, args.profile, args.samples, args.device)
                for w, run in zip(weights, measured, strict=True):
                    runs[w.name][name].append(run)
    result: dict = {"profile": args.profile, "samples": args.samples, "device": args.device,
                    "repeats": args.repeats, "weights": {}}  # fmt: skip
    for w, by_tree in runs.items():
        entry = {name: {"median_lines_per_s": statistics.median(r["lines_per_s"] for r in rs),
                        "runs": rs} for name, rs in by_tree.items()}  # fmt: skip
        if args.against:
            entry["ratio"] = round(entry["this checkout"]["median_lines_per_s"]
                                   / entry[args.against]["median_lines_per_s"], 3)  # fmt: skip
        result["weights"][w] = entry
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"hf code_to_text lines at {args.profile} on {args.device}, {args.samples} methods, "
          f"median of {args.repeats}:")  # fmt: skip
    for w, entry in result["weights"].items():
        first = entry["this checkout"]["runs"][0]
        print(f"  {w} ({first['family']}, max_target {first['max_target']}, "
              f"{first['words_per_line']} words a line)")  # fmt: skip
        for name in trees:
            print(f"    {name:<14} {entry[name]['median_lines_per_s']:9.2f} lines/s")
        if "ratio" in entry:
            print(f"    this checkout / {args.against} = {entry['ratio']:.3f}x")


if __name__ == "__main__":
    main()
