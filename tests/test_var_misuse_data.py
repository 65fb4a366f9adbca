"""Bug synthesis and the dataset built from the standard library."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from benchmark.tasks.var_misuse import samples_from_file, split_of
from native import sources


@pytest.fixture(scope="module")
def samples():
    corpus = sources.named("python-stdlib", "python")
    out = []
    for rel in corpus.names()[::12]:
        out += samples_from_file(rel, corpus.read(rel), max_tokens=256)
    return out


def test_enough_samples_and_about_half_buggy(samples):
    assert len(samples) > 500
    share = sum(s["has_bug"] for s in samples) / len(samples)
    assert 0.4 < share < 0.6


def test_every_bug_is_a_real_variable_swap(samples):
    for s in (s for s in samples if s["has_bug"]):
        toks = s["source_tokens"]
        loc, targets, cands = s["error_location"], s["repair_targets"], s["repair_candidates"]
        assert loc in cands and targets and set(targets) <= set(cands)
        right = {toks[t] for t in targets}
        assert len(right) == 1  # all targets name the one variable that belongs there
        wrong = toks[loc]
        assert wrong not in right
        # The misused name is another variable of the same function...
        assert any(toks[c] == wrong for c in cands if c != loc)
        # ...and putting the right one back gives exactly the original function.
        repaired = list(toks)
        repaired[loc] = right.pop()
        digest = hashlib.blake2b("\0".join(repaired).encode(), digest_size=8).hexdigest()
        assert digest == s["clean_hash"]


def test_bug_free_samples_have_no_location(samples):
    for s in (s for s in samples if not s["has_bug"]):
        assert s["error_location"] == 0 and s["repair_targets"] == []
        assert s["source_tokens"][0] == "#NEWLINE#"
        digest = hashlib.blake2b("\0".join(s["source_tokens"]).encode(), digest_size=8)
        assert digest.hexdigest() == s["clean_hash"]


def test_candidates_and_edges_in_range(samples):
    for s in samples:
        n = len(s["source_tokens"])
        assert all(0 < c < n for c in s["repair_candidates"])
        assert all(0 <= a < n and 0 <= b < n for a, b, _ in s["edges"])
        assert len({s["source_tokens"][c] for c in s["repair_candidates"]}) >= 2


def test_synthesis_is_deterministic():
    corpus = sources.named("python-stdlib", "python")
    files = corpus.names()
    rel = files[len(files) // 2]
    assert samples_from_file(rel, corpus.read(rel), 256) == samples_from_file(
        rel, corpus.read(rel), 256
    )


def test_split_is_by_file(samples):
    by_file = Counter((s["file"], s["split"]) for s in samples)
    files = Counter(f for f, _ in by_file)
    assert all(n == 1 for n in files.values())  # one split per file
    assert {s["split"] for s in samples} == {"train", "valid", "test"}
    assert split_of("a/b.py") == split_of("a/b.py")
