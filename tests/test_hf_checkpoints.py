"""hf on checkpoints as they come (found by probing twenty architectures): saved in half
precision, embedding narrower than the states (ALBERT, ELECTRA-small), an embedding scaled
after the lookup (Pegasus), a tokenizer that puts its own space before a text (SentencePiece),
no output layer, few positions, no end token, an adapter alone. Each is a tiny random model
with a tokenizer trained here, saved with save_pretrained: nothing is downloaded."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from benchmark.models.hf import families
from benchmark.models.hf.config import DEFAULTS
from benchmark.models.hf.data import VarMisuse
from benchmark.models.hf.network import Network
from benchmark.models.hf.tokens import Words
from benchmark.models.hf.train import fit_positions
from benchmark.trainer import InputError
from tests.test_codebert import WORDS
from tests.test_hf import build_tiny, input_folder, tokenizer, train

CPU = torch.device("cpu")
SPECIALS = dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>")


def save(model: Any, tok: Any, folder: Path, dtype: torch.dtype | None = None) -> Path:
    if dtype is not None:
        model = model.to(dtype)
    folder.mkdir(parents=True)
    tok.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder


def llama(folder: Path, *, bare: bool = False, dtype: torch.dtype | None = None,
          positions: int = 256) -> Path:  # fmt: skip
    """A LLaMA-style decoder with untied output layer; ``bare``: saved without it."""
    import transformers as tf

    torch.manual_seed(0)
    tok = tokenizer(["<s>", "</s>", "<unk>", "<pad>"], **SPECIALS)
    config = tf.LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                            num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                            max_position_embeddings=positions, tie_word_embeddings=False,
                            bos_token_id=0, eos_token_id=1, pad_token_id=3)  # fmt: skip
    model = tf.LlamaModel(config) if bare else tf.LlamaForCausalLM(config)
    return save(model, tok, folder, dtype)


def hp(task: str, mode: str = "full", **more: Any) -> dict[str, Any]:
    return {**DEFAULTS["smoke"], "finetune": mode, **more}


def test_half_precision_checkpoints_train_in_float32(tmp_path: Path) -> None:
    """transformers keeps a checkpoint's dtype: float16 trained to NaN, bfloat16 met the
    float32 heads (a RuntimeError), where most checkpoints are saved in one of them."""
    half = llama(tmp_path / "llama-fp16", dtype=torch.float16)
    bf16 = save(*_bert(), tmp_path / "bert-bf16", dtype=torch.bfloat16)
    for folder in (half, bf16):
        loaded = families.load(folder, "auto")
        assert {p.dtype for p in loaded.backbone.parameters()} == {torch.float32}
    out = tmp_path / "out"
    done = train(input_folder(tmp_path / "in", "code_to_text", 2, half, "full"), out)
    assert done.returncode == 0, done.stderr[-2000:]
    done_events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    losses = [e["train_loss"] for e in done_events if e["event"] == "epoch_end"]
    assert len(losses) == 2 and all(0 < x < 100 for x in losses), losses


def _bert(embedding: int | None = None) -> tuple[Any, Any]:
    import transformers as tf

    torch.manual_seed(0)
    tok = tokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], pad_token="[PAD]",
                    unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
                    mask_token="[MASK]")  # fmt: skip
    if embedding is None:
        config = tf.BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1,
                               num_attention_heads=2, intermediate_size=64,
                               max_position_embeddings=130)  # fmt: skip
        return tf.BertModel(config), tok
    config = tf.ElectraConfig(vocab_size=len(tok), embedding_size=embedding, hidden_size=32,
                              num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                              max_position_embeddings=130)  # fmt: skip
    return tf.ElectraModel(config), tok


@pytest.mark.parametrize("task", ["code_to_text", "var_misuse", "code_search"])
def test_an_embedding_narrower_than_the_states(tmp_path: Path, task: str) -> None:
    """ELECTRA-small and ALBERT embed in 128 and compute in 256: the heads were built at the
    embedding's width, a shape error at the first batch."""
    folder = save(*_bert(embedding=16), tmp_path / "electra")
    loaded = families.load(folder, "auto")
    assert (families.hidden_size(loaded.backbone), families.embedding_size(loaded.backbone)) \
        == (32, 16)  # fmt: skip
    out = tmp_path / "out"
    made = (input_folder(tmp_path / "in", task, 1, folder, "full") if task != "var_misuse"
            else _var_misuse_input(tmp_path / "in", folder))  # fmt: skip
    done = train(made, out)
    assert done.returncode == 0, done.stderr[-2000:]


def _var_misuse_input(folder: Path, weights: Path) -> Path:
    from tests.test_ggnn import make_input as make_great
    from tests.test_ggnn import shard_rows

    settings = {"finetune": "full", "max_function": 96, "batch_size": 8}
    made = make_great(folder, shard_rows()[:100], (60, 20, 20), settings, epochs=1)
    meta = json.loads((made / "task.json").read_text())
    (made / "task.json").write_text(json.dumps({**meta, "model": "hf", "weights": str(weights)}))
    return made


def test_the_overlap_embedding_leaves_a_scaled_embedding_as_it_was(tmp_path: Path) -> None:
    """Pegasus (and Marian) scale the looked-up embedding in the model, which `inputs_embeds`
    skipped: the checkpoint was not its own at the start of code_search (0.018 apart)."""
    import transformers as tf

    torch.manual_seed(0)
    tok = tokenizer(["<pad>", "</s>", "<unk>"], eos_token="</s>", pad_token="<pad>",
                    unk_token="<unk>")  # fmt: skip
    config = tf.PegasusConfig(vocab_size=len(tok), d_model=32, encoder_layers=1,
                              decoder_layers=1, encoder_attention_heads=2,
                              decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
                              max_position_embeddings=130, scale_embedding=True, pad_token_id=0,
                              eos_token_id=1, decoder_start_token_id=0)  # fmt: skip
    folder = save(tf.PegasusForConditionalGeneration(config), tok, tmp_path / "pegasus")
    loaded = families.load(folder, "auto")
    words = Words(loaded.tokenizer)
    net = Network(loaded, words, "code_search", hp("code_search", overlap=8)).eval()
    query, code = words.ids(WORDS[:4], 16), words.ids(WORDS[2:12], 32)
    pairs = [(net.pair(query, code), net.pair([3, 0, 5, 1], [0] * 2 + [6] * 8, filler=0))]
    with torch.no_grad():
        with_overlap = net.pair_logits(pairs, CPU)
        net.overlap = None
        plain = net.pair_logits(pairs, CPU)
    torch.testing.assert_close(with_overlap, plain, rtol=0, atol=1e-6)


def test_sentencepiece_spaces_and_causal_pointers(tmp_path: Path) -> None:
    """A tokenizer that puts its own "▁" before a text made " " + word a bare "▁" and then the
    word, so every token's first sub-word was the same; and a causal model's state at a
    token's first sub-word has not read the rest of it (`node_a`, `node_b`): its pointer reads
    the last."""
    from tokenizers import Tokenizer, decoders, models, normalizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(unk_token="<unk>"))  # as LLaMA-2's tokenizer.json has it
    core.normalizer = normalizers.Sequence([normalizers.Prepend("▁"),
                                            normalizers.Replace(" ", "▁")])  # fmt: skip
    core.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.Fuse(),
                                      decoders.Strip(" ", 1, 0)])  # fmt: skip
    core.train_from_iterator(["def node_a ( a , b ) : return node_b + a"] * 20 + WORDS,
                             trainers.BpeTrainer(vocab_size=80, special_tokens=[
                                 "<s>", "</s>", "<unk>", "<pad>"]))  # fmt: skip
    words = Words(PreTrainedTokenizerFast(tokenizer_object=core, **SPECIALS))
    assert words.tok.convert_ids_to_tokens(words.tok.encode(" node_a", add_special_tokens=False)
                                           )[0] == "▁"  # what " " + word gave  # fmt: skip
    for w in ("node_a", "(", "return"):
        pieces = words.word(w)
        assert words.tok.decode(pieces[:1]).strip(), (w, pieces)  # no bare space first
        assert words.tok.decode(pieces).strip() == w
    gpt2 = families.load(build_tiny("gpt2", tmp_path / "gpt2"), "auto")
    net = Network(gpt2, Words(gpt2.tokenizer), "var_misuse", hp("var_misuse"))
    net.words.cache.update({"a": [5], "node_a": [6, 7, 8], "b": [9, 10]})
    data = VarMisuse.__new__(VarMisuse)
    data.net = net
    ids, at = data.encode(SimpleNamespace(tokens=["a", "node_a", "b"]), room=5)
    start = len(net.source([])) - 1
    assert ids == net.source([5, 6, 7, 8]) and at == [start, start + 3, -1]


def test_only_what_a_task_uses_trains(tmp_path: Path) -> None:
    """var_misuse and code_search read states alone: an encoder-decoder's decoder (with its
    adapters) and a causal model's output layer were trained and counted, never run."""
    t5 = families.load(build_tiny("t5", tmp_path / "t5"), "auto")
    net = Network(t5, Words(t5.tokenizer), "code_search", hp("code_search", "lora"))
    assert net.trained and not [n for n in net.trained if "decoder" in n]
    full = families.load(llama(tmp_path / "llama"), "auto")
    net = Network(full, Words(full.tokenizer), "var_misuse", hp("var_misuse"))
    assert not [n for n in net.trained if "lm_head" in n]
    generating = families.load(tmp_path / "llama", "auto")
    net = Network(generating, Words(generating.tokenizer), "code_to_text", hp("code_to_text"))
    assert [n for n in net.trained if "lm_head" in n]


def test_a_causal_checkpoint_without_its_output_layer(tmp_path: Path) -> None:
    """Saved as the bare model, transformers starts the output layer from random numbers with
    a warning only; LoRA then generated through it, frozen."""
    loaded = families.load(llama(tmp_path / "bare", bare=True), "causal")
    assert loaded.output_missing
    with pytest.raises(InputError, match=r"holds no output layer .* use --finetune full or head"):
        Network(loaded, Words(loaded.tokenizer), "code_to_text", hp("code_to_text", "lora"))
    for mode in ("full", "head"):  # both train it
        Network(families.load(tmp_path / "bare", "causal"), Words(loaded.tokenizer),
                "code_to_text", hp("code_to_text", mode))  # fmt: skip
    assert not families.load(llama(tmp_path / "whole"), "auto").output_missing


def test_positions_bound_the_source_by_task() -> None:
    """A causal checkpoint of 32 positions was refused for code_to_text by code_search's
    bound ("max_source 80 exceeds the weights' 32 positions", where nothing was asked)."""
    asked: dict[str, Any] = {}
    settings = hp("code_to_text")
    fit_positions(settings, asked, 32, True, "code_to_text")
    assert settings["max_source"] == 32 - 4 - 16
    settings = hp("code_search")
    fit_positions(settings, asked, 40, True, "code_search")  # no target follows a pair
    assert settings["max_source"] == 36
    with pytest.raises(InputError, match=r"embed 24 positions, too few for code_to_text at this "
                                         r"profile \(at least 28: 8 for the input, 16 for"):
        fit_positions(hp("code_to_text"), asked, 24, True, "code_to_text")
    with pytest.raises(InputError, match=r"max_source .* 80 exceeds the weights' 32 positions"):
        fit_positions(hp("code_to_text"), {"max_source": 64}, 32, True, "code_to_text")


def test_a_tokenizer_without_an_end_token_or_an_adapter_alone(tmp_path: Path) -> None:
    """No eos, sep or pad: id 0 stood in, here <unk>, so every unknown word ended the text.
    An adapter folder was refused as a config.json without model_type."""
    bare = tokenizer(["<unk>"], unk_token="<unk>")
    with pytest.raises(InputError, match="names no end token"):
        Words(bare)
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    with pytest.raises(InputError, match="hold a peft adapter, not a model: merge it"):
        families.load(adapter, "auto")


def test_a_bert_pair_has_two_segments(tmp_path: Path) -> None:
    """BERT was trained on pairs with token types 0 and 1; code_search gave both sides 0.
    RoBERTa has one type and gets none."""
    loaded = families.load(save(*_bert(), tmp_path / "bert"), "auto")
    words = Words(loaded.tokenizer)
    net = Network(loaded, words, "code_search", hp("code_search", overlap=0)).eval()
    seen: list[Any] = []
    net.backbone.embeddings.token_type_embeddings.register_forward_hook(
        lambda _m, args, _out: seen.append(args[0]))  # fmt: skip
    query, code = words.ids(WORDS[:3], 16), words.ids(WORDS[3:7], 32)
    pairs = [(net.pair(query, code), []), (net.pair(query[:1], code[:2]), [])]
    with torch.no_grad():
        net.pair_logits(pairs, CPU)
    assert seen[0].tolist() == [[0] * 5 + [1] * 5, [0] * 3 + [1] * 3 + [0] * 4]
    roberta = families.load(build_tiny("roberta", tmp_path / "roberta"), "auto")
    plain = Network(roberta, Words(roberta.tokenizer), "code_search", hp("code_search"))
    assert plain.segments(torch.ones(1, 4, dtype=torch.long), torch.ones(1, 4)) is None


def rereading_greedy(net: Network, sources: list[list[int]], max_len: int
                     ) -> list[tuple[list[int], list[float]]]:  # fmt: skip
    """Greedy decoding as the model read it before the key/value cache: every step runs the
    backbone over the source and the whole prefix again (teacher forcing's ``next_logits``,
    right-padded), and takes the best word of the last position."""
    memory = net.encode(sources, CPU)
    prefixes: list[list[int]] = [[] for _ in sources]
    logps: list[list[float]] = [[] for _ in sources]
    for step in range(max_len):
        lp = torch.log_softmax(net.next_logits(memory, prefixes, CPU)[:, step].float(), -1)
        best, ids = lp.max(-1)
        for i, (p, t) in enumerate(zip(best.tolist(), ids.tolist(), strict=True)):
            prefixes[i].append(t)
            logps[i].append(p)
    return list(zip(prefixes, logps, strict=True))


def bart_decoder(folder: Path) -> Path:
    """BART's decoder alone as a causal model: its positions come from the cache's length, not
    from position ids."""
    import transformers as tf

    torch.manual_seed(0)
    tok = tokenizer(["<s>", "</s>", "<unk>", "<pad>"], **SPECIALS)
    config = tf.BartConfig(vocab_size=len(tok), d_model=32, decoder_layers=1,
                           decoder_attention_heads=2, decoder_ffn_dim=64, encoder_layers=1,
                           encoder_attention_heads=2, encoder_ffn_dim=64,
                           max_position_embeddings=256, bos_token_id=0, eos_token_id=1,
                           pad_token_id=3, decoder_start_token_id=0)  # fmt: skip
    return save(tf.BartForCausalLM(config), tok, folder)


@pytest.mark.parametrize("family", ["roberta", "t5", "gpt2", "llama", "bart"])
@pytest.mark.parametrize("every", [1, 4])
def test_greedy_with_the_cache_writes_what_rereading_the_prefix_writes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, family: str, every: int) -> None:
    """Each generated token is the best word of the whole prefix's distribution, as when
    every step re-read the source and the prefix, for sources of unequal lengths (a causal
    model's rows are left-padded and their positions count real tokens only); the score is
    the mean log-probability of the tokens up to the first end token, whether the end is
    asked for at every step (CPU) or every 4th (as on a GPU, every 8th). A causal model
    without position ids (BART's decoder) counted the left padding as positions through the
    cache (4 of these 5 rows differed): it re-reads instead."""
    monkeypatch.setattr("benchmark.models.hf.network.end_check_every", lambda _device: every)
    folder = tmp_path / family
    if family == "llama":
        folder = llama(folder)
    elif family == "bart":
        folder = bart_decoder(folder)
    else:
        folder = build_tiny(family, folder)
    loaded = families.load(folder, "auto")
    words = Words(loaded.tokenizer)
    torch.manual_seed(1)
    net = Network(loaded, words, "code_to_text", hp("code_to_text", decoder_layers=2)).eval()
    assert loaded.family == {"roberta": "encoder", "t5": "seq2seq"}.get(family, "causal")
    assert net.cached == (family != "bart")
    for p in net.parameters():  # far from the tiny checkpoint's near-uniform outputs, so
        p.data.add_(torch.randn_like(p) * 0.5)  # that the rows write varied words
    texts = [WORDS[:n] for n in (3, 11, 1, 7, 16)]
    sources = [net.source(words.ids(t, 60)) for t in texts]
    max_len = 12
    with torch.no_grad():
        expected = rereading_greedy(net, sources, max_len)
        # The end token, for this test: a word the rows write at different steps, or never
        firsts: dict[int, set[int]] = {t: set() for t in range(len(loaded.tokenizer))}
        for tokens, _ in expected:
            for t, at in firsts.items():
                at.add(tokens.index(t) if t in tokens else max_len)
        words.eos = max(firsts, key=lambda t: (len(firsts[t]), -t))
        found = net.greedy(sources, max_len, CPU)
    for (ids, score), (tokens, logps) in zip(found, expected, strict=True):
        end = tokens.index(words.eos) + 1 if words.eos in tokens else max_len
        assert ids == tokens[:end]
        assert score == pytest.approx(sum(logps[:end]) / end, abs=1e-5)
    assert len({len(ids) for ids, _ in found}) > 1, "every row ended at the same step"
