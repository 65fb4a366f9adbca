"""codebert on code_to_text and code_search: smoke runs through ``bench run``, ``--weights`` from
a tiny RoBERTa saved with transformers (built here from a vocabulary of our own: nothing is
downloaded), same bytes for a seed, resumption after SIGKILL, and a protocol 3 holdout split
predicted but never trained on.

Inputs are ruby-stdlib's at the smoke profile, written by the tasks' own hooks as a run does.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmark import datasets, noise, trainer
from benchmark.models import odds
from benchmark.models.codebert import (
    DEFAULTS,
    TASKS,
    CodeToText,
    Seq2Seq,
    SubtokenTokenizer,
    beam_search,
    build,
    pad,
    random_encoder,
)
from benchmark.models.codebert.config import source_length
from benchmark.models.codebert.retrieval import nearest
from benchmark.models.codebert.train import read_inputs, read_task, setup
from benchmark.numbers import logistic
from benchmark.profiles import PROFILES, select_splits
from benchmark.tasks.hooks import task_hooks
from benchmark.weights import weights_fingerprint
from tests.holdout_checks import check_holdout_epochs
from tests.test_reference_models import kill_mid_epoch_then_resume

HIDDEN = 24  # the tiny RoBERTa's width, unlike any profile's, so its use is visible
WORDS = ["def", "end", "self", "return", "if", "else", "nil", "true", "false", "name",
         "value", "new", "each", "do", "the", "a", "of", "to", "returns", "is", "and", "in",
         "for", "with", "by", "string", "array", "hash", "object", "file", "path", "key",
         "block", "given", "as"]  # fmt: skip
NOVEL = "heldoutonlyword"  # a word only a holdout sample has
TOKEN_FIELDS = ("source_tokens", "doc_tokens", "query_tokens", "code_tokens")


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmark", *args], capture_output=True,
                          text=True, env=os.environ.copy(), timeout=600)  # fmt: skip


def model_command(input_dir: Path, output_dir: Path) -> list[str]:
    return [sys.executable, "-m", "benchmark.models.codebert", "--input", str(input_dir),
            "--output", str(output_dir)]  # fmt: skip


def events(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]


def make_input(folder: Path, task: str, epochs: int, **extra: object) -> Path:
    """The input folder ``bench run`` writes for ruby-stdlib at the smoke profile, noise 0."""
    splits = select_splits(datasets.load("ruby-stdlib").samples, PROFILES["smoke"])
    hooks = task_hooks(task)
    mask = noise.mask(splits["train"].height, 0.0, 0)
    splits, _ = hooks.prepare(splits, mask, "label", 0)
    meta = {"task": task, "model": "codebert", "seed": 0, "epochs": epochs, "device": "cpu",
            "profile": "smoke", "hyperparameters": {}, **extra}  # fmt: skip
    hooks.write_inputs(folder, meta, splits)
    return folder


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialized RobertaModel and a word-level tokenizer trained on a few strings,
    saved in Hugging Face's format as a real CodeBERT folder would be."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, RobertaConfig, RobertaModel

    folder = tmp_path_factory.mktemp("tiny-roberta")
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # RoBERTa's ids 0..4
    core = Tokenizer(models.WordLevel(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.train_from_iterator([" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))],
                             trainers.WordLevelTrainer(special_tokens=specials))  # fmt: skip
    tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", cls_token="<s>",
                                  eos_token="</s>", sep_token="</s>", pad_token="<pad>",
                                  unk_token="<unk>", mask_token="<mask>")  # fmt: skip
    tok.save_pretrained(folder)
    config = RobertaConfig(vocab_size=len(tok), hidden_size=HIDDEN, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=48,
                           max_position_embeddings=130, type_vocab_size=1, pad_token_id=1,
                           bos_token_id=0, eos_token_id=2)  # fmt: skip
    torch.manual_seed(0)
    RobertaModel(config).save_pretrained(folder)
    return folder


def tiny_seq2seq(profile: str = "cpu", **hp: object) -> tuple[Seq2Seq, SubtokenTokenizer]:
    """An untrained code_to_text model (eval mode, seed 0) over a 20-word vocabulary, at
    ``profile``'s sizes with ``hp`` over them, and its tokenizer."""
    tok = SubtokenTokenizer([f"w{i}" for i in range(20)])
    settings = {**DEFAULTS[profile], **hp}
    torch.manual_seed(0)
    model = build("code_to_text", random_encoder(tok, settings, "code_to_text"), settings, tok,
                  False).eval()  # fmt: skip
    assert isinstance(model, Seq2Seq)
    return model, tok


def test_copy_moves_the_decoders_probability_onto_the_source_words() -> None:
    """The pointer-generator's mixture is a distribution; with its gate shut it is the
    vocabulary's alone, and with it open all mass lies on the source's real words (the
    <s>, </s> and <unk> of the source are never copied)."""
    model, tok = tiny_seq2seq("smoke", copy=True)
    source = torch.tensor([[tok.cls_id, 7, tok.unk_id, 9, 7, tok.sep_id, tok.pad_id]])
    target = torch.tensor([[tok.cls_id, 5, 6]])
    memory = model.encode(source)
    with torch.no_grad():
        for bias, mass in ((-50.0, None), (50.0, 1.0)):
            model.copy_gate.bias.fill_(bias)
            p = model.log_probs(memory, target).exp()
            assert torch.allclose(p.sum(-1), torch.ones(1, 3), atol=1e-5)
            if mass is None:
                model.copy = False
                alone = model.log_probs(memory, target).exp()
                model.copy = True
                assert torch.allclose(p, alone, atol=1e-6)
            else:
                assert torch.all(p[0, :, [7, 9]].sum(-1) > 1 - 1e-5)


def test_retrieval_finds_the_nearest_other_training_code() -> None:
    """TF-IDF cosine over code ids: a query gets its most similar training row; on train a row
    never gets itself, and gets its exact duplicate where one exists; special ids count for
    nothing."""
    train = [[5, 6, 7], [8, 9, 10], [5, 6, 7], [8, 9, 11], [12, 13, 14]]
    queries = [[8, 9, 10, 2, 3], [12, 13], [2, 3, 14, 14]]
    near = nearest(train, {"train": train, "valid": queries, "test": []}, 16, [0, 1, 2, 3])
    assert near == {"train": [2, 3, 0, 1, 0], "valid": [1, 4, 4], "test": []}


def test_retrieval_appends_another_training_docstring_to_the_code() -> None:
    """With ``retrieve``, each source is <s> code </s> followed by the given docstring (and
    </s>) of its nearest training method: for a training method never its own, for valid, test
    and holdout methods one of train's; without it the source is the code alone."""

    def row(code: str, doc: str) -> dict:
        return {"source_tokens": code.split(), "doc_tokens": doc.split()}

    rows = {"train": [row("def open file path", "opens the file"),
                      row("def close file", "closes the file"),
                      row("def open json text", "parses json")],
            "holdout": [row("def parse json string", "reads json")],
            "valid": [row("def close socket", "")], "test": []}  # fmt: skip
    words = sorted({w for rs in rows.values() for r in rs
                    for w in [*r["source_tokens"], *r["doc_tokens"]]})  # fmt: skip
    tok = SubtokenTokenizer(words)
    ids = tok.index

    def source(code: str, doc: str | None) -> list[int]:
        out = [tok.cls_id, *(ids[w] for w in code.split()), tok.sep_id]
        return out + ([*(ids[w] for w in doc.split()), tok.sep_id] if doc else [])

    hp = {**DEFAULTS["cpu"], "retrieve": True}
    data = CodeToText(rows, tok, hp)
    assert data.source["train"] == [source("def open file path", "closes the file"),
                                    source("def close file", "opens the file"),
                                    source("def open json text", "opens the file")]  # fmt: skip
    assert data.source["holdout"] == [source("def parse json string", "parses json")]
    assert data.source["valid"] == [source("def close socket", "closes the file")]
    assert data.target == [
        [tok.cls_id, *(ids[w] for w in d.split()), tok.sep_id]
        for d in ("opens the file", "closes the file", "parses json")
    ]
    alone = CodeToText({k: v for k, v in rows.items() if k != "holdout"}, tok, hp)
    assert alone.source == {k: v for k, v in data.source.items() if k != "holdout"}
    plain = CodeToText(rows, tok, {**hp, "retrieve": False})
    assert plain.source["valid"] == [source("def close socket", None)]
    assert max(map(len, data.source["train"])) <= source_length(hp)


@pytest.mark.parametrize("copy", [False, True])
def test_decoding_a_position_a_step_gives_what_the_whole_prefix_gives(copy: bool) -> None:
    """next_log_probs with its cache of earlier positions equals log_probs over the whole
    prefix at every step, padded rows included, and after the cache is reordered as beam search
    reorders hypotheses."""
    model, _ = tiny_seq2seq(copy=copy, vocab_size=24)
    memory = model.encode(torch.tensor([[2, 7, 8, 9, 3], [2, 10, 3, 0, 0], [2, 11, 12, 3, 0]]))
    target = torch.tensor([[2, 5, 6, 7, 8, 9], [2, 9, 3, 0, 0, 0], [2, 4, 4, 4, 5, 6]])
    with torch.no_grad():
        whole = model.log_probs(memory, target)
        caches = [None]
        for t in range(1, target.shape[1] + 1):
            step, cache = model.next_log_probs(memory, target[:, :t], caches[-1])
            caches.append(cache)
            assert torch.allclose(step, whole[:, t - 1], atol=1e-5), t
        order = torch.tensor([2, 0, 0])
        cache = [c[order] for c in caches[-2]]
        moved = type(memory)(*(t[order] for t in memory))
        step, _ = model.next_log_probs(moved, target[order], cache)
        assert torch.allclose(step, whole[order, -1], atol=1e-5)


@settings(deadline=None)
@given(st.lists(st.lists(st.integers(0, 99), max_size=9), min_size=1, max_size=6))
def test_pad_keeps_each_row_in_place_and_pads_to_the_longest(rows: list[list[int]]) -> None:
    """codebert's ``pad`` (which hf's uses too): row i starts with rows[i], the rest is the
    padding value, the width is the longest row's (at least 1)."""
    ids = pad(rows, -1, torch.device("cpu"))
    assert ids.shape == (len(rows), max(1, *map(len, rows)))
    for row, got in zip(rows, ids.tolist(), strict=True):
        assert got == row + [-1] * (ids.shape[1] - len(row))


def test_the_encoders_first_position_alone_is_what_the_whole_last_layer_gives() -> None:
    """With ``first``, the last layer computes <s>'s state only, still attending to every
    real position; it equals the whole encoder's first state, padded rows included."""
    tok = SubtokenTokenizer([f"w{i}" for i in range(20)])
    torch.manual_seed(0)
    encoder = random_encoder(tok, DEFAULTS["cpu"], "code_search").eval()
    ids = torch.tensor([[2, 7, 8, 3, 9, 10, 3], [2, 11, 3, 12, 3, 0, 0]])
    extra = torch.randn(2, 7, encoder.sizes["hidden"])
    with torch.no_grad():
        whole, first = encoder(ids, extra), encoder(ids, extra, first=True)
    assert first.shape == (2, 1, encoder.sizes["hidden"])
    assert torch.allclose(first[:, 0], whole[:, 0], atol=1e-6)


@pytest.mark.parametrize("copy", [False, True])
def test_the_greedy_step_is_the_best_word_of_the_whole_distribution(copy: bool) -> None:
    """next_best, greedy decoding's step, gives the word and log-probability that the most
    probable entry of next_log_probs gives, at every step and with the same cache."""
    model, _ = tiny_seq2seq(copy=copy, vocab_size=24)
    memory = model.encode(torch.tensor([[2, 7, 8, 9, 3], [2, 10, 3, 0, 0], [2, 11, 12, 3, 0]]))
    target = torch.tensor([[2, 5, 6, 7, 8, 9], [2, 9, 3, 0, 0, 0], [2, 4, 4, 4, 5, 6]])
    with torch.no_grad():
        cache = best_cache = None
        for t in range(1, target.shape[1] + 1):
            logp, cache = model.next_log_probs(memory, target[:, :t], cache)
            words, lp, best_cache = model.next_best(memory, target[:, :t], best_cache)
            assert torch.equal(words, logp.argmax(-1)), t
            assert torch.allclose(lp, logp.max(-1).values, atol=1e-6), t
            assert all(torch.equal(a, b) for a, b in zip(cache, best_cache, strict=True))


@pytest.mark.parametrize("copy", [False, True])
def test_the_given_tokens_scores_are_the_whole_distributions(copy: bool) -> None:
    """given_log_probs, which training and the labelled lines use, computes log p of each
    given token, and its log-odds, without the vocabulary-wide copy mixture; both agree with
    the whole distribution of ``log_probs`` (float64 from the same logits, copy attention and
    gate, with no 1e-12 floor), padded rows included. With the given words' logits 40 above
    the rest, where p rounds to 1 in float32, the log-odds still match the float64 mixture's."""
    model, tok = tiny_seq2seq(copy=copy, vocab_size=24)
    memory = model.encode(torch.tensor([[2, 7, 8, 9, 3], [2, 10, 3, 0, 0], [2, 11, 12, 3, 0]]))
    target = torch.tensor([[2, 5, 7, 8, 9, 3], [2, 10, 3, 0, 0, 0], [2, 4, 11, 4, 5, 3]])
    gold, real = target[:, 1:], target[:, 1:] != tok.pad_id

    def reference(lift: float) -> torch.Tensor:
        x = model.decode(memory, target[:, :-1])
        z = model.vocabulary(x).double()
        z = z + lift * torch.zeros_like(z).scatter(2, gold[:, :, None], 1.0)
        p = torch.softmax(z, -1)
        if copy:
            attention, gate = model.copying(x, memory)
            g = torch.sigmoid(gate.double())[..., None]
            ids = memory.ids[:, None, :].expand(-1, x.shape[1], -1)
            copied = torch.zeros_like(p).scatter_add(2, ids, attention.double())
            p = (1 - g) * p + g * copied
        given = p.gather(2, gold[:, :, None])[:, :, 0]
        return given.log() - p.scatter(2, gold[:, :, None], 0.0).sum(-1).log()

    with torch.no_grad():
        logp, lo = model.given_log_probs(memory, target, log_odds=True)
        whole = model.log_probs(memory, target[:, :-1]).gather(2, gold[:, :, None])[:, :, 0]
        assert torch.allclose(logp[real], whole[real], atol=1e-5)
        assert lo.dtype == torch.float64
        assert torch.allclose(lo[real], reference(0.0)[real], atol=1e-5)
        plain = model.given_log_probs(memory, target)
        # Training's log p (log_softmax) and the lines' (the log-odds' pass): rounding apart.
        assert plain[1] is None and torch.allclose(plain[0], logp, atol=1e-6)

        ref, plain_vocabulary = reference(40.0), model.vocabulary
        lift = 40.0 * torch.zeros(*gold.shape, 24).scatter(2, gold[:, :, None], 1.0)
        model.vocabulary = lambda x: plain_vocabulary(x) + lift  # type: ignore[method-assign]
        logp, lo = model.given_log_probs(memory, target, log_odds=True)
    assert torch.allclose(lo[real], ref[real], atol=1e-4)
    if not copy:  # p rounds to 1 in float32, its log-odds (float64) go on past 30
        assert bool((logp[real] > -1e-6).all()) and bool((lo[real] > 30).all())


def test_log_p_and_log_odds_from_one_pass_are_float64s() -> None:
    """``odds.log_p_and_odds`` (the lines' pass over the vocabulary) gives log_softmax's log p
    and ``of_class``'s log-odds, against float64, for a given class far ahead (p rounds to 1)
    and far behind."""
    torch.manual_seed(0)
    scores = torch.randn(6, 30) * 4
    given = torch.tensor([0, 5, 29, 3, 3, 17])
    scores[1, 5] += 60.0
    scores[2, 29] -= 60.0
    logp, lo = odds.log_p_and_odds(scores, given)
    wide = scores.double()
    at = given[:, None]
    ref_logp = torch.log_softmax(wide, -1).gather(1, at)[:, 0]
    ref_lo = wide.gather(1, at)[:, 0] - torch.logsumexp(wide.scatter(1, at, -math.inf), -1)
    assert torch.allclose(logp.double(), ref_logp, atol=1e-5)
    assert torch.allclose(lo.double(), ref_lo, rtol=1e-6, atol=1e-4)
    assert torch.equal(lo, odds.of_class(scores, given))
    assert float(lo[1]) > 40 and float(lo[2]) < -40 and float(logp[2]) < -40


@pytest.mark.parametrize("beam", [1, 3])
def test_beam_search_asking_for_the_end_less_often_finds_the_same(beam: int) -> None:
    """A GPU asks every 8th step whether every best hypothesis has ended (each question waits
    for the device): the hypotheses and scores are those of asking every step, as the CPU
    does. The end marker is made likelier step by step, sooner for some sources than others,
    so that sources end at different steps, most of them before ``max_len``."""
    model, tok = tiny_seq2seq(vocab_size=24)
    source = torch.tensor([[2, 7, 8, 9, 3], [2, 10, 3, 0, 0], [2, 11, 12, 3, 0],
                           [2, 5, 6, 3, 0], [2, 13, 14, 15, 3]])  # fmt: skip
    plain = model.next_log_probs

    def likelier_end(memory, target, cache):  # type: ignore[no-untyped-def]
        logp, cache = plain(memory, target, cache)
        sources = torch.arange(logp.shape[0]) // beam
        bonus = torch.zeros_like(logp)
        bonus[:, tok.sep_id] = 1.5 * (target.shape[1] - 2 * (sources % 4)).clamp_min(0)
        return (logp + bonus).log_softmax(-1), cache

    def likelier_best(memory, target, cache):  # type: ignore[no-untyped-def]
        logp, cache = likelier_end(memory, target, cache)
        lp, words = logp.max(-1)
        return words, lp, cache

    model.next_log_probs = likelier_end  # type: ignore[method-assign]
    model.next_best = likelier_best  # type: ignore[method-assign]
    with torch.no_grad():
        memory = model.encode(source)
        found = [beam_search(model, memory, tok.cls_id, tok.sep_id, beam, 24, check_every=k)
                 for k in (1, 8, 100)]  # fmt: skip
    assert found[0] == found[1] == found[2]
    lengths = sorted(len(ids) for ids, _ in found[0])
    assert lengths[0] < lengths[-2] < 23, lengths  # ended at different steps, before the end


def check_logit_given(lines: list[dict]) -> list[dict]:
    """Every labelled line (train, holdout) carries a finite ``logit_given`` whose logistic is
    its ``p_given`` within 1e-5, as the harness checks; the labelled lines."""
    labelled = [r for r in lines if r["split"] in trainer.LABELLED]
    assert labelled
    for r in labelled:
        x = r["logit_given"]
        assert isinstance(x, float) and math.isfinite(x) and x == round(x, 6), r
        assert abs(logistic(x) - r["p_given"]) <= 1e-5, r
    return labelled


def reference_log_odds(logits: torch.Tensor, gold: torch.Tensor, real: torch.Tensor
                       ) -> list[float]:  # fmt: skip
    """The log-odds of exp(-mean token NLL), in float64 directly: each token's NLL as
    log1p(sum over the other tokens of exp(z_j - z_gold)), accurate where it is tiny."""
    z = logits.double()
    rel = z - z.gather(-1, gold[..., None])
    nll = torch.log1p(rel.scatter(-1, gold[..., None], -math.inf).exp().sum(-1))
    out = []
    for row, keep in zip(nll, real, strict=True):
        m = max(float(row[keep].mean()), 5e-324)
        out.append(-m - math.log(-math.expm1(-m)))
    return out


def test_logit_given_of_a_sequence_saturates_neither_way() -> None:
    """``odds.of_sequence``: on small logits, the float64 log-odds of the
    per-token geometric mean probability (padding ignored); a gold token 40 above the rest
    gives log-odds near 38 where p_given rounds to 1.0 (and 13.8 is the most a 6-decimal
    p_given can say), 40 below near -42 where it rounds to 0.0, and 1000 above, where the NLL
    underflows to 0, a finite number still."""
    torch.manual_seed(0)
    logits = torch.randn(4, 5, 7)
    gold = torch.randint(0, 7, (4, 5))
    real = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [1, 1, 1, 1, 0]]) > 0
    got = odds.of_sequence(logits, gold, real)
    assert got.dtype == torch.float64
    ref = reference_log_odds(logits, gold, real)
    lp = torch.log_softmax(logits.double(), -1).gather(-1, gold[..., None])[..., 0]
    for k in range(4):
        p = math.exp(float(lp[k][real[k]].mean()))
        assert got[k].item() == pytest.approx(math.log(p) - math.log1p(-p), abs=1e-5)
        assert got[k].item() == pytest.approx(ref[k], abs=1e-5)
    padded = logits.clone()
    padded[~real] = 1e4 * torch.randn_like(padded[~real])
    assert torch.equal(odds.of_sequence(padded, gold, real), got)

    gold, every = gold[:2, :3], torch.ones(2, 3, dtype=torch.bool)
    for lift, low, high in ((40.0, 37, 39), (-40.0, -43, -41), (1000.0, 700, 710)):
        sure = torch.zeros(2, 3, 7).scatter(-1, gold[..., None], lift)
        x = odds.of_sequence(sure, gold, every).tolist()
        direct = reference_log_odds(sure, gold, every)
        # p_given as the programs write it: exp of the mean float32 log-probability, rounded
        lp = torch.log_softmax(sure, -1).gather(-1, gold[..., None])[..., 0]
        for k in range(2):
            assert low < x[k] < high and math.isfinite(x[k])
            if lift < 1000:  # beyond, the float64 NLL itself underflows to 0
                assert x[k] == pytest.approx(direct[k], rel=1e-5)
            p_given = round(math.exp(float(lp[k].mean())), 6)
            assert p_given == (1.0 if lift > 0 else 0.0)
            assert abs(logistic(x[k]) - p_given) <= 1e-5


def labelled_lines(folder: Path, task: str, copy: bool = True, sure: float = 0.0) -> list[dict]:
    """The untrained model's prediction lines for the labelled splits (train's first 32 and a
    protocol 3 holdout) of ruby-stdlib's smoke inputs, in this process; for code_search,
    ``sure`` as out_proj's match logit minus its no-match logit for every pair."""
    inp = make_input(folder / "in", task, 1, hyperparameters={"copy": copy})
    with_holdout(inp, folder / "held")
    meta = read_task(folder / "held")
    rows, codes, _ = read_inputs(folder / "held", meta)
    rows = {s: v[:32] for s, v in rows.items() if s in trainer.LABELLED}
    hp = trainer.hyperparameters(meta, DEFAULTS)
    torch.manual_seed(0)
    model, _, data, _ = setup(task, rows, codes, hp, None)
    if sure:
        with torch.no_grad():
            model.out_proj.weight.zero_()
            model.out_proj.bias.copy_(torch.tensor([-sure / 2, sure / 2]))
    with torch.inference_mode():
        return [json.loads(x) for x in data.lines(model.eval(), 64, torch.device("cpu"))]


@pytest.mark.parametrize(("task", "copy"), [("code_to_text", True), ("code_to_text", False),
                                            ("code_search", True)])  # fmt: skip
def test_every_labelled_line_carries_logit_given(task: str, copy: bool, tmp_path: Path) -> None:
    """Train and holdout lines carry ``logit_given``, p_given's log-odds from the logits."""
    labelled = check_logit_given(labelled_lines(tmp_path, task, copy))
    assert {r["split"] for r in labelled} == {"train", "holdout"}


def test_a_confident_pair_classifier_says_more_than_p_given(tmp_path: Path) -> None:
    """code_search with every match logit 60 above the no-match one: p_given rounds to 1.0 for
    a given match and 0.0 for a given non-match, and ``logit_given`` is +60 and -60, the logit
    difference, where the log-odds of a 6-decimal p_given stop near +-13.8."""
    labelled = check_logit_given(labelled_lines(tmp_path, "code_search", sure=60.0))
    assert {r["p_given"] for r in labelled} == {0.0, 1.0}
    for r in labelled:
        assert r["score"] == 1.0
        assert r["logit_given"] == pytest.approx(60.0 if r["p_given"] else -60.0, abs=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS)
def test_smoke_runs_through_bench_run(task: str, tmp_path: Path) -> None:
    kind = {"code_to_text": "token-masking", "code_search": "identity-markers"}[task]
    proc = bench("run", "--task", task, "--model", "codebert", "--noise", "0.5", "--noise-kind",
                 kind, "--profile", "smoke", "--dataset", "ruby-stdlib", "--results",
                 str(tmp_path), "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = json.loads(proc.stdout)
    unit = next(tmp_path.glob(f"{task}/ruby-stdlib/codebert/*/seed-0"))
    # half the training samples the kind can change, less the holdout's tenth of them
    k = round(0.5 * json.loads((unit / "run.json").read_text())["noise"]["changeable"])
    assert m["model"] == "codebert" and m["noise"]["n_noisy"] == k - round(0.1 * k) > 0
    primary = m["selection"]["metric"]
    assert m["test"][primary] is not None and m["valid"][primary] is not None
    got = events(unit)
    assert [e["event"] for e in got] == ["start", "epoch_end", "epoch_end", "done"]
    assert got[0]["parameters"] > 0 and got[0]["weights"] is None
    assert json.loads((unit / "run.json").read_text())["weights"] is None


@pytest.mark.slow
def test_weights_are_the_starting_point(weights_dir: Path, tmp_path: Path) -> None:
    """At lr 0 the checkpoint after an epoch holds the saved weights exactly; at the profile's
    lr they moved from there. The tokenizer is the folder's: predictions use its words."""
    from transformers import AutoModel

    saved = AutoModel.from_pretrained(weights_dir, local_files_only=True).state_dict()
    for lr, same in ((0.0, True), (None, False)):
        hints = {} if lr is None else {"lr": lr}
        inp = make_input(tmp_path / f"in-{lr}", "code_to_text", 1, weights=str(weights_dir),
                         hyperparameters=hints)  # fmt: skip
        out = tmp_path / f"out-{lr}"
        proc = subprocess.run(model_command(inp, out), capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        start = events(out)[0]
        assert start["weights"] == str(weights_dir) and start["hyperparameters"]["hidden"] == HIDDEN
        state = torch.load(out / trainer.CHECKPOINT, weights_only=False)["model"]
        for name in ("embeddings.word_embeddings.weight", "encoder.layer.1.output.dense.weight"):
            assert torch.equal(state[f"encoder.{name}"], saved[name]) is same, (lr, name)
        lines = [json.loads(x) for x in (out / "predictions/epoch-001.jsonl").open()]
        said = {t for r in lines for t in r["tokens"]}
        assert said <= set(WORDS) | {"<unk>"}, said - set(WORDS)


@pytest.mark.slow
def test_bench_run_with_weights_records_them(weights_dir: Path, tmp_path: Path) -> None:
    proc = bench("run", "--task", "code_search", "--model", "codebert", "--profile", "smoke",
                 "--dataset", "ruby-stdlib", "--epochs", "1", "--weights", str(weights_dir),
                 "--results", str(tmp_path), "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    unit = next(tmp_path.glob("code_search/ruby-stdlib/codebert/*/seed-0"))
    run = json.loads((unit / "run.json").read_text())
    assert run["config"]["weights"] == str(weights_dir.resolve())
    assert run["weights"] == {"path": str(weights_dir.resolve()),
                              "fingerprint": weights_fingerprint(weights_dir)}  # fmt: skip
    assert run["hyperparameters"]["hidden"] == HIDDEN
    assert events(unit)[0]["weights"] == str(weights_dir.resolve())


def test_weights_for_a_model_without_them_is_a_one_line_error(
    weights_dir: Path, tmp_path: Path
) -> None:
    proc = bench("run", "--task", "code_search", "--model", "baseline", "--profile", "smoke",
                 "--weights", str(weights_dir), "--results", str(tmp_path))  # fmt: skip
    assert proc.returncode == 2 and "takes no pretrained weights" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = bench("run", "--task", "code_search", "--model", "codebert", "--profile", "smoke",
                 "--weights", str(tmp_path / "nowhere"), "--results", str(tmp_path))  # fmt: skip
    assert proc.returncode == 2 and "is not a folder" in proc.stderr, proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS)
def test_same_seed_same_bytes(task: str, tmp_path: Path) -> None:
    inp = make_input(tmp_path / "in", task, 2, hyperparameters={"dropout": 0.1})
    for name in ("a", "b"):
        proc = subprocess.run(model_command(inp, tmp_path / name), capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
    for epoch in (1, 2):
        rel = f"predictions/epoch-{epoch:03d}.jsonl"
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS)
def test_sigkill_mid_epoch_then_restart_ends_as_an_uninterrupted_run(
    task: str, tmp_path: Path
) -> None:
    """Dropout on, so the restored RNG states matter as much as the weights, AdamW's state
    and the learning-rate schedule."""
    inp = make_input(tmp_path / "in", task, 3, hyperparameters={"dropout": 0.1})
    kill_mid_epoch_then_resume(lambda out: model_command(inp, out), tmp_path, timeout=300,
                               into_epoch_s=0.2)  # fmt: skip


def test_malformed_input_is_a_one_line_error(tmp_path: Path) -> None:
    inp = make_input(tmp_path / "in", "code_search", 1)
    with open(inp / "train.jsonl", "a") as f:
        f.write('{"id": "x", "query_tokens": "not a list"}\n')
    proc = subprocess.run(model_command(inp, tmp_path / "out"), capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 1
    error = events(tmp_path / "out")[-1]
    assert error["event"] == "error"
    assert error["message"].startswith("train.jsonl line ") and "query_tokens" in error["message"]


def with_holdout(inp: Path, folder: Path) -> list[str]:
    """A copy of ``inp`` in ``folder`` with a protocol 3 holdout split; its ids in file order.
    It holds copies of train samples under new ids, and one with a word train never has, so
    that a vocabulary or a statistic drawn from the holdout would change train's predictions."""
    shutil.copytree(inp, folder)
    train = [json.loads(line) for line in (inp / "train.jsonl").read_text().splitlines()]
    holdout = [{**r, "id": f"held-{r['id']}"} for r in train[:12]]
    novel = {k: [*v, NOVEL] for k, v in train[0].items() if k in TOKEN_FIELDS}
    holdout.append({**train[0], **novel, "id": "novel"})
    (folder / "holdout.jsonl").write_text("".join(json.dumps(r) + "\n" for r in holdout))
    task = json.loads((inp / "task.json").read_text())
    task |= {"protocol": 3, "files": {**task["files"], "holdout": "holdout.jsonl"},
             "splits": {**task["splits"], "holdout": len(holdout)}}  # fmt: skip
    (folder / "task.json").write_text(json.dumps(task))
    return [r["id"] for r in holdout]


def holdout_changes_nothing_else(
    run: Callable[[Path, Path], int], inp: Path, tmp_path: Path, epochs: int
) -> None:
    """``run`` (input, output -> exit status) on ``inp`` and on a protocol 3 copy with a
    holdout split: the same training losses and weights, every epoch file's train, valid and
    test lines the same bytes, and every holdout sample predicted once, in file order, with
    every field of a train line, a finite loss and p_given and, for a copy of a train sample,
    its train twin's loss and p_given."""
    held_ids = with_holdout(inp, tmp_path / "in-holdout")
    plain, held = tmp_path / "plain", tmp_path / "held"
    assert run(inp, plain) == 0
    assert run(tmp_path / "in-holdout", held) == 0
    ends = [[e["train_loss"] for e in events(out) if e["event"] == "epoch_end"]
            for out in (plain, held)]  # fmt: skip
    assert len(ends[0]) == epochs and ends[0] == ends[1]
    weights = [torch.load(out / trainer.CHECKPOINT, weights_only=False)["model"]
               for out in (plain, held)]  # fmt: skip
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    check_holdout_epochs(plain, held, epochs, held_ids, lambda i: i.removeprefix("held-"),
                         approx=("loss", "p_given"))  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS)
def test_a_holdout_split_is_predicted_and_never_trained_on(task: str, tmp_path: Path) -> None:
    """Dropout on, so that a holdout sample drawn into training or its random numbers would
    show. Without code_to_text's retrieval, which gives a holdout copy of a train sample that
    sample's own docstring (its exact twin is a training method), so another input than its
    twin's: test_retrieval_appends_another_training_docstring_to_the_code checks that the
    holdout split retrieves from train alone and changes no other split's inputs."""
    hp = {"dropout": 0.1, "retrieve": False}
    inp = make_input(tmp_path / "in", task, 2, hyperparameters=hp)

    def run(input_dir: Path, output_dir: Path) -> int:
        proc = subprocess.run(model_command(input_dir, output_dir), capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.returncode

    holdout_changes_nothing_else(run, inp, tmp_path, 2)
