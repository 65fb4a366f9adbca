"""Noise kinds of the method-level tasks change exactly the masked training samples."""

from __future__ import annotations

from collections import Counter

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmark import noise
from benchmark.tasks import code_search, code_to_text, method_name
from benchmark.tasks.hooks import task_hooks
from benchmark.tasks.methods import first_sentence_tokens, java_features
from benchmark.tasks.swaps import swap_labels
from benchmark.tasks.var_misuse import token_hashes

CODE = "int add(int a, int b) {\n  int c = a + b;\n  return c;\n}"


def _java_splits() -> dict[str, pl.DataFrame]:
    rows = []
    for k, name in enumerate(["add", "sumAll", "getValue", "plus"]):
        toks, ctxs = java_features(CODE.replace("add", name), f"f{k}")
        rows.append({"id": f"f{k}", "source_tokens": toks, "contexts": ctxs,
                     "label": [name.lower()], "name": name, "code": CODE.replace("add", name),
                     "stmt_spans": [[len(f"int {name}(int a, int b) {{\n  "),
                                     len(f"int {name}(int a, int b) {{\n  int c = a + b;")]],
                     "body_start": len(f"int {name}(int a, int b) {{")})  # fmt: skip
    df = pl.DataFrame(rows)
    return {"train": df, "valid": df.head(1), "test": df.head(1)}


def test_method_name_noise_kinds():
    splits = _java_splits()
    noisy = noise.mask(4, 0.5, 0)
    _, labels = method_name.prepare(splits, noisy, "label", 0)
    train = labels.filter(pl.col("split") == "train")
    changed = train["true_label"].to_list() != train["given_label"].to_list()
    assert changed and train.filter(~pl.col("noisy"))["true_label"].to_list() == train.filter(
        ~pl.col("noisy"))["given_label"].to_list()  # fmt: skip
    out, _ = method_name.prepare(splits, noisy, "statement-deletion", 0)
    for i in range(4):
        before, after = splits["train"]["source_tokens"][i], out["train"]["source_tokens"][i]
        assert (len(after) < len(before)) == bool(noisy[i])
    out, _ = method_name.prepare(splits, noisy, "name-leakage", 0)
    for i in np.flatnonzero(noisy):
        assert splits["train"]["name"][int(i)] in out["train"]["source_tokens"][int(i)].to_list()


def test_label_swaps_give_every_noisy_sample_another_label():
    """999 samples named `get` and one `size`: every noisy `get` must still change, though
    no trade among the noisy ones can help most of them; a split of one name cannot change."""
    names = [["get"]] * 999 + [["size"]]
    noisy = noise.mask(1000, 0.5, 1)
    given = swap_labels(names, noisy, np.random.default_rng(0))
    assert all((g != n) == bool(m) for g, n, m in zip(given, names, noisy, strict=True))
    assert swap_labels([["get"]] * 4, np.ones(4, bool), np.random.default_rng(0)) == [["get"]] * 4
    # the one noisy sample of a low rate gets another training sample's label
    one = np.zeros(50, bool)
    one[7] = True
    labels = [f"doc {k % 10}" for k in range(50)]
    assert swap_labels(labels, one, np.random.default_rng(3))[7] != labels[7]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=60), st.integers(0, 2**16),
       st.floats(0, 1))  # fmt: skip
def test_label_swaps_keep_the_noisy_labels_and_change_each(labels, seed, rate):
    """Where the noisy samples' labels can all be traded among them (no label held by more
    than half of them), the given labels are those labels, shuffled, none kept."""
    noisy = noise.mask(len(labels), rate, seed)
    given = swap_labels(labels, noisy, np.random.default_rng(seed))
    assert [g for g, m in zip(given, noisy, strict=True) if not m] == [
        x for x, m in zip(labels, noisy, strict=True) if not m]  # fmt: skip
    several = len(set(labels)) > 1
    assert all((g != x) == several for g, x, m in zip(given, labels, noisy, strict=True) if m)
    held = Counter(x for x, m in zip(labels, noisy, strict=True) if m)
    if held and max(held.values()) * 2 <= sum(held.values()):
        assert Counter(g for g, m in zip(given, noisy, strict=True) if m) == held


def test_input_noise_is_drawn_among_the_samples_it_changes():
    """Token masking can change only a method whose code holds a docstring word, statement
    deletion only a method with a statement: the mask is drawn among those, so every sample
    called noisy is changed (version 1 called 2 in 5 of the Ruby stdlib's noisy, unchanged)."""
    ruby = _ruby_splits()["train"].with_columns(
        pl.when(pl.col("id") == "r2").then(pl.lit(["Nothing", "in", "common"]))
        .otherwise(pl.col("doc_tokens")).alias("doc_tokens"))  # fmt: skip
    assert noise.eligible("code_to_text", "token-masking", ruby).tolist() == [
        True, True, False, True, True, True]  # fmt: skip
    assert noise.eligible("code_to_text", "label", ruby).all()
    java = _java_splits()["train"].with_columns(
        pl.when(pl.col("id") == "f1").then(pl.lit([], pl.List(pl.List(pl.Int64))))
        .otherwise(pl.col("stmt_spans")).alias("stmt_spans"))  # fmt: skip
    assert noise.eligible("method_name", "statement-deletion", java).tolist() == [
        True, False, True, True]  # fmt: skip
    can = np.array([k % 3 != 0 for k in range(1000)])
    for rate in (0.0, 0.1, 0.5, 1.0):
        m = noise.mask(1000, rate, 4, can)
        assert m.sum() == round(rate * can.sum()) and not (m & ~can).any()
        assert not (noise.mask(1000, rate / 2, 4, can) & ~m).any()  # a lower rate's within
    assert np.array_equal(noise.mask(1000, 0.3, 4, np.ones(1000, bool)), noise.mask(1000, 0.3, 4))


def test_a_kind_that_says_wrongly_what_it_can_change_is_refused(monkeypatch):
    """A plugin's `changes` is the mask's ground: one bool per training sample, or an error
    naming the kind (bench run turns it into its one line)."""
    import dataclasses

    from benchmark.tasks import TASKS
    from benchmark.tasks.spec import NoiseKinds

    kinds = NoiseKinds()
    kinds("label")(lambda train, noisy, seed: (train, []))
    kinds("short", changes=lambda train: np.ones(train.height - 1, bool))(lambda *a: a)
    kinds("ints", changes=lambda train: np.ones(train.height, int))(lambda *a: a)
    spec = dataclasses.replace(TASKS["code_to_text"], noise_kinds=kinds)
    monkeypatch.setitem(TASKS, "code_to_text", spec)
    train = _ruby_splits()["train"]
    with pytest.raises(ValueError, match=r"noise kind short of code_to_text .* shape \(5,\)"):
        noise.eligible("code_to_text", "short", train)
    with pytest.raises(ValueError, match="not one bool per training sample"):
        noise.eligible("code_to_text", "ints", train)


def test_noise_kinds_have_versions():
    assert noise.version("code_to_text", "token-masking") == 2
    assert noise.version("var_misuse", "label") == 1
    assert noise.version("var_misuse", "no-such-kind") is None
    assert noise.version("no-such-task", "label") is None
    with pytest.raises(ValueError, match="no noise kind"):
        noise.eligible("var_misuse", "no-such-kind", pl.DataFrame())


def _ruby_splits() -> dict[str, pl.DataFrame]:
    df = pl.DataFrame({
        "id": [f"r{k}" for k in range(6)],
        "source_tokens": [["def", f"sort_{k}", "items", ".", "sort", "end"] for k in range(6)],
        "doc_tokens": [["Sort", "the", "items", str(k)] for k in range(6)],
    })  # fmt: skip
    return {"train": df, "valid": df.head(3), "test": df.tail(3)}


def test_code_to_text_noise_kinds():
    splits, noisy = _ruby_splits(), noise.mask(6, 0.5, 1)
    _, labels = code_to_text.prepare(splits, noisy, "label", 1)
    train = labels.filter(pl.col("split") == "train")
    for row in train.iter_rows(named=True):
        assert (row["given_doc"] != row["true_doc"]) == row["noisy"]
    out, _ = code_to_text.prepare(splits, noisy, "token-masking", 1)
    for i, toks in enumerate(out["train"]["source_tokens"].to_list()):
        assert (("<mask>" in toks) == bool(noisy[i]) and "items" not in toks[:3]) or not noisy[i]


def test_code_search_noise_kinds():
    splits, noisy = _ruby_splits(), noise.mask(6, 0.5, 2)
    out, labels = code_search.prepare(splits, noisy, "label", 2)
    train = labels.filter(pl.col("split") == "train")
    assert (train["given_match"] != train["true_match"]).to_list() == noisy.tolist()
    out, _ = code_search.prepare(splits, noisy, "identity-markers", 2)
    for i, (q, c) in enumerate(
        zip(out["train"]["query_tokens"], out["train"]["code_tokens"], strict=True)
    ):
        marks = {t for t in q.to_list() if t.startswith("MARK")}
        assert bool(marks) == bool(noisy[i]) and marks <= set(c.to_list())
    test = out["test"]
    assert all(len(c) == 3 for c in test["candidates"].to_list())


def test_helpers():
    assert first_sentence_tokens("Returns the sum. More text.") == ["Returns", "the", "sum", "."]
    assert token_hashes(["x", "=", "1"])[1] == token_hashes(["X", "=", "2"])[1]
    assert token_hashes(["x", "=", "1"])[0] != token_hashes(["x", "=", "2"])[0]


def _var_misuse_splits() -> dict[str, pl.DataFrame]:
    #        0            1    2    3    4    5    6
    toks = ["#NEWLINE#", "a", "=", "b", "+", "a", "c"]
    n = 6
    df = pl.DataFrame({
        "id": [f"v{k}" for k in range(n)], "source_tokens": [toks] * n,
        "edges": [[[0, 1, 9], [5, 1, 10]]] * n, "repair_candidates": [[1, 3, 5, 6]] * n,
        "has_bug": [k % 2 == 0 for k in range(n)],
        "error_location": [6 if k % 2 == 0 else 0 for k in range(n)],
        "repair_targets": [[1, 5] if k % 2 == 0 else [] for k in range(n)],
    })  # fmt: skip
    return {"train": df, "valid": df.head(2), "test": df.tail(2)}


def _changed(task: str, kind: str, before: dict, after: dict, labels: pl.DataFrame) -> list[bool]:
    """Per training sample: did the noise change its input or its given label?"""
    train = labels.filter(pl.col("split") == "train")
    if kind == "label":
        true, given = {
            "method_name": ("true_label", "given_label"),
            "code_to_text": ("true_doc", "given_doc"),
            "code_search": ("true_match", "given_match"),
            "var_misuse": ("true_has_bug", "given_has_bug"),
        }[task]
        return (train[true] != train[given]).to_list()
    cols = ["query_tokens", "code_tokens"] if task == "code_search" else ["source_tokens"]
    return [
        any(before["train"][c][i].to_list() != after["train"][c][i].to_list() for c in cols)
        for i in range(after["train"].height)
    ]


CASES = [
    (task, kind, splits)
    for task, splits in (
        ("method_name", _java_splits),
        ("code_to_text", _ruby_splits),
        ("code_search", _ruby_splits),
        ("var_misuse", _var_misuse_splits),
    )
    for kind in noise.NOISE_KINDS[task]
]


@pytest.mark.parametrize(("task", "kind", "make"), CASES, ids=[f"{t}-{k}" for t, k, _ in CASES])
@pytest.mark.parametrize("rate", [0.5, 1.0])
def test_every_kind_changes_exactly_the_masked_training_samples(task, kind, make, rate):
    # The issue's rule for every noise kind: a seeded mask of exactly round(rate x n) training
    # samples (n: those it can change), each of them changed (input or label), nothing else,
    # and valid/test left clean.
    splits = make()
    n = splits["train"].height
    can = noise.eligible(task, kind, splits["train"])
    noisy = noise.mask(n, rate, 5, can)
    prepare = task_hooks(task).prepare
    clean, _ = prepare(splits, np.zeros(n, bool), kind, 5)
    out, labels = prepare(splits, noisy, kind, 5)
    assert int(labels.filter(pl.col("split") == "train")["noisy"].sum()) == round(rate * can.sum())
    assert _changed(task, kind, clean, out, labels) == noisy.tolist()
    assert not labels.filter(pl.col("split") != "train")["noisy"].any()
    for s in ("valid", "test"):
        assert out[s].equals(clean[s]), s
    again, again_labels = prepare(splits, noisy, kind, 5)  # seeded: the same run twice
    assert again["train"].equals(out["train"]) and again_labels.equals(labels)


def test_var_misuse_noise_corner_cases():
    # GREAT holds correct samples with one variable or none: the flip still makes each buggy,
    # and markers still land inside the sample with in-range edges.
    from benchmark.tasks.var_misuse.noise import MARKER, flip_labels, insert_markers

    toks = ["#NEWLINE#", "x", "=", "x", "+", "1"]
    train = pl.DataFrame({
        "source_tokens": [toks, toks], "edges": [[[0, 1, 9]]] * 2,
        "repair_candidates": [[1, 3], []], "has_bug": [False, False],
        "error_location": [0, 0], "repair_targets": [[], []],
    })  # fmt: skip
    given = flip_labels(train, np.array([True, True]), seed=0)
    assert given["given_has_bug"].to_list() == [True, True]
    assert given["given_location"][0] in (1, 3) and given["given_targets"][0].to_list() == []
    assert 1 <= given["given_location"][1] < len(toks)
    for s in insert_markers(train, np.array([True, True])).to_dicts():
        assert s["source_tokens"].count(MARKER) == 1
        assert all(0 <= a < len(s["source_tokens"]) and 0 <= b < len(s["source_tokens"])
                   for a, b, _ in s["edges"])  # fmt: skip
