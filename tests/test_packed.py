"""Packed splits against PyG's collation, on the real GREAT shard: a batch gathered from a
PackedSplit holds, element for element, what ``Batch.from_data_list`` of one ``Data`` per
function gave (the layout the var-misuse models were written against), its padding
helpers match ``to_dense_batch`` and ``padded[mask]``, and the models' segment reductions
give PyG's ``scatter``'s bits and gradients."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.utils import scatter as pyg_scatter
from torch_geometric.utils import to_dense_batch

from benchmark.models.flat import Numbering, spans
from benchmark.models.packed import PackedSplit, pointable_targets
from benchmark.models.varmisuse import (
    EdgeTypes,
    Sample,
    Vocabulary,
    parse_sample,
    read_samples,
    read_split,
    scatter,
    subtokens,
)
from tests.test_ggnn import EDGE_TYPES, shard_rows

CPU = torch.device("cpu")


def reference(sample: Sample, vocab: Vocabulary | None, edge_types: EdgeTypes | None) -> Data:
    """One function as the var-misuse models collated it before packing."""
    fields = {}
    if vocab is not None and edge_types is not None:
        # GREAT's layout: the edges as given, then the same edges the other way, types T..2T-1
        types = np.array([sorted(map(int, EDGE_TYPES)).index(t) for t in sample.edges[:, 2]],
                         dtype=np.int64).reshape(-1)  # fmt: skip
        index = sample.edges[:, :2].T
        if edge_types.reverse:
            index = np.concatenate([index, sample.edges[:, 1::-1].T], axis=1)
            types = np.concatenate([types, types + len(EDGE_TYPES)])
        fields = {
            "x": torch.from_numpy(vocab.table(sample.tokens)),
            "edge_index": torch.from_numpy(index),
            "edge_type": torch.from_numpy(types),
        }
    data = Data(**fields, loc_index=torch.tensor([0, *sample.candidates]),
                cand_index=torch.tensor(sample.candidates, dtype=torch.long),
                num_nodes=len(sample.tokens))  # fmt: skip
    if sample.has_bug is not None:
        data.label_index = torch.tensor([sample.error_location])
        data.target_index = torch.tensor(pointable_targets(sample), dtype=torch.long)
        data.has_bug = torch.tensor([sample.has_bug])
    return data


@pytest.fixture(scope="module")
def samples() -> dict[bool, list[Sample]]:
    rows = shard_rows()[:120]
    labels = ("has_bug", "error_location", "repair_targets")
    unlabelled = [{k: v for k, v in r.items() if k not in labels} for r in rows]
    return {True: [parse_sample(r, "shard", labelled=True) for r in rows],
            False: [parse_sample(r, "shard", labelled=False) for r in unlabelled]}  # fmt: skip


@pytest.mark.parametrize("labelled", [True, False])
@pytest.mark.parametrize("graph", ["reversed", "as given", None])
def test_batch_matches_pyg_collation(samples: dict, labelled: bool, graph: str | None) -> None:
    split = samples[labelled]
    vocab = Vocabulary.build((s.tokens for s in samples[True]), 500) if graph else None
    edge_types = EdgeTypes(EDGE_TYPES, reverse=graph == "reversed") if graph else None
    packed = PackedSplit.of(split, vocab, edge_types)
    order = np.random.default_rng(1).permutation(len(split))[:37]  # shuffled, not all
    ours = packed.batch(order, CPU)
    theirs = Batch.from_data_list([reference(split[i], vocab, edge_types) for i in order])
    names = ["batch", "ptr", "loc_index", "cand_index"]
    names += ["x", "edge_index", "edge_type"] if graph else []
    names += ["label_index", "target_index", "has_bug"] if labelled else []
    for name in names:
        mine, pyg = getattr(ours, name), getattr(theirs, name)
        assert mine.dtype == pyg.dtype and torch.equal(mine, pyg), name
    absent = {"x", "edge_index", "edge_type", "label_index", "target_index", "has_bug"}
    for name in absent - set(names):
        assert getattr(ours, name) is None, name
    assert (ours.host_edge_type is None) == (not graph)
    assert (ours.num_graphs, ours.num_nodes) == (theirs.num_graphs, theirs.num_nodes)
    sizes = [len(split[i].tokens) for i in order]
    assert ours.max_nodes == max(sizes) and ours.lengths.tolist() == sizes
    if graph:
        src, dst, counts = ours.edges_by_type()
        order = torch.argsort(theirs.edge_type, stable=True)
        assert torch.equal(src, theirs.edge_index[0, order])
        assert torch.equal(dst, theirs.edge_index[1, order])
        assert counts == torch.bincount(theirs.edge_type, minlength=len(edge_types)).tolist()


def test_dense_and_back_match_to_dense_batch(samples: dict) -> None:
    split = samples[True]
    packed = PackedSplit.of(split)
    batch = packed.batch([5, 0, 17, 3], CPU)
    h = torch.randn(batch.num_nodes, 6, requires_grad=True)
    padded, mask = batch.dense(h)
    want, want_mask = to_dense_batch(h, batch.batch, batch_size=batch.num_graphs)
    assert torch.equal(padded, want) and torch.equal(mask, want_mask)
    assert torch.equal(batch.nodes(padded), padded[mask])
    assert torch.equal(batch.nodes(padded), h)
    batch.nodes(padded).pow(2).sum().backward()
    assert torch.equal(h.grad, 2 * h.detach())


def test_spans_concatenates_ranges() -> None:
    got = spans(np.array([4, 0, 9]), np.array([2, 0, 3]))
    assert got.tolist() == [4, 5, 9, 10, 11]
    assert spans(np.zeros(0, np.int64), np.zeros(0, np.int64)).tolist() == []


def test_a_bad_edge_type_is_reported_with_its_sample(samples: dict) -> None:
    from benchmark.trainer import InputError

    sample = samples[True][0]
    bad = Sample(sample.id, sample.tokens, np.array([[0, 1, 99]]), sample.candidates,
                 sample.has_bug, sample.error_location, sample.repair_targets)  # fmt: skip
    vocab = Vocabulary.build([sample.tokens], 100)
    with pytest.raises(InputError, match=r"sample 'great-0'.*\[99\]"):
        PackedSplit.of([bad], vocab, EdgeTypes(EDGE_TYPES, reverse=True))


@pytest.mark.parametrize("reduce", ["sum", "max", "min"])
@pytest.mark.parametrize("shape", [(50,), (50, 3), (0,)])
def test_segment_reductions_match_pyg_scatter(reduce: str, shape: tuple[int, ...]) -> None:
    # 9 segments, 2 and 7 empty, ids unsorted; ties, so that max/min's gradient goes to each
    # tied element as PyG's (torch's scatter_reduce_) sends it
    gen = torch.Generator().manual_seed(3)
    segment = torch.randint(0, 9, shape[:1], generator=gen)
    segment = torch.where((segment == 2) | (segment == 7), 0, segment)
    values = torch.randint(-4, 5, shape, generator=gen).double().requires_grad_()
    ours = scatter(values, segment, 9, reduce=reduce)
    ours.backward(torch.arange(ours.numel(), dtype=ours.dtype).view(ours.shape))
    mine = values.grad.clone()
    values.grad = None
    theirs = pyg_scatter(values, segment, 0, 9, reduce=reduce)
    theirs.backward(torch.arange(theirs.numel(), dtype=theirs.dtype).view(theirs.shape))
    assert torch.equal(ours, theirs) and torch.equal(mine, values.grad)
    counts = torch.bincount(segment, minlength=9)
    assert bool((ours[counts == 0] == 0).all())  # an empty segment gives 0
    for dtype in (torch.float32, torch.long):
        v = values.detach().to(dtype)
        assert torch.equal(scatter(v, segment, 9, reduce), pyg_scatter(v, segment, 0, 9, reduce))


def test_the_vocabulary_counts_every_occurrence(samples: dict) -> None:
    """Counted from the distinct tokens and their counts, the vocabulary is the one counted
    over every token of every function (ties by sub-token)."""
    counts: Counter[str] = Counter()
    for sample in samples[True]:
        for token in sample.tokens:
            counts.update(subtokens(token))
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    vocab = Vocabulary.build((s.tokens for s in samples[True]), 300)
    assert vocab.words[2:] == [w for w, _ in ranked[:298]]


def test_splits_read_as_a_stream_batch_as_packed_lists(tmp_path: Path) -> None:
    """What a run does (each file packed as it is read, the tokens numbered across splits, the
    vocabulary counted from the training split's numbers) gives the batches of the splits read
    whole and packed with the vocabulary of the training tokens; a sub-token that only a
    holdout split holds, however often, is not in the vocabulary."""
    rows = shard_rows()[:60]
    labels = ("has_bug", "error_location", "repair_targets")
    valid = [{k: v for k, v in r.items() if k not in labels} for r in rows[40:]]
    for r in valid:
        r["source_tokens"] = [*r["source_tokens"][:-1], "zqxQuux"]
    for name, part in (("train", rows[:40]), ("valid", valid)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    edge_types = EdgeTypes(EDGE_TYPES, reverse=True)
    tokens: Numbering[str] = Numbering()
    packers = {s: read_split(tmp_path / f"{s}.jsonl", s == "train", tokens, edge_types)
               for s in ("train", "valid")}  # fmt: skip
    vocab = Vocabulary.count(tokens.keys, packers["train"].token_counts(), 400)
    table = vocab.table(tokens.keys)
    whole = {s: read_samples(tmp_path / f"{s}.jsonl", s == "train") for s in ("train", "valid")}
    want_vocab = Vocabulary.build((x.tokens for x in whole["train"]), 400)
    assert vocab.words == want_vocab.words and "zqx" not in vocab.words
    for split in ("train", "valid"):
        streamed = packers[split].split(table)
        packed = PackedSplit.of(whole[split], want_vocab, edge_types)
        assert streamed.ids == [x.id for x in whole[split]]
        order = np.random.default_rng(2).permutation(len(streamed))
        ours, theirs = streamed.batch(order, CPU), packed.batch(order, CPU)
        for name in ("x", "edge_index", "edge_type", "batch", "loc_index", "cand_index",
                     "label_index", "target_index", "has_bug"):  # fmt: skip
            mine, want = getattr(ours, name), getattr(theirs, name)
            absent = split == "valid" and name in ("label_index", "target_index", "has_bug")
            assert (mine is None) == (want is None) == absent, (split, name)
            assert mine is None or torch.equal(mine, want), (split, name)
