"""What ``bench models list`` shows: every model the harness can run, the inputs it needs, and
its size at each profile, counted on a built model rather than written down by hand, so the
figures cannot drift from the code."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import torch

from benchmark.models import MODELS, VAR_MISUSE, ModelSpec
from benchmark.protocol import EDGE_TYPES


def _tiny_sample(i: int) -> dict[str, Any]:
    """A 5-token function with a bug at 3 that token 1 repairs: enough to run every encoder."""
    return {
        "id": str(i),
        "source_tokens": ["#NEWLINE#", "x", "=", "y", "z"],
        "edges": [[1, 3, 1], [3, 4, 2]],
        "repair_candidates": [1, 3, 4],
        "has_bug": True,
        "error_location": 3,
        "repair_targets": [1],
    }


def parameter_counts(name: str) -> dict[str, int]:
    """Parameters per profile of a reference model ({} for the baseline, which has none, and
    for one declared in a manifest, whose insides the harness cannot see). Each model is built
    as the trainer builds it, with a full vocabulary of the profile's ``vocab_size``, and run
    once on a synthetic batch so that nothing is left uninitialised."""
    from benchmark.models.packed import PackedSplit
    from benchmark.models.varmisuse import EdgeTypes, Vocabulary, parse_sample

    if name == "code2vec":
        return code2vec_counts()
    if name == "code2seq":
        return code2seq_counts()
    if name == "codebert":  # without weights; the code_to_text model (encoder and decoder)
        from benchmark.models.codebert import parameter_counts as codebert_counts

        return codebert_counts()
    if name not in VAR_MISUSE:
        return {}
    module = importlib.import_module(f"benchmark.models.{name}")
    defaults, build = module.DEFAULTS, getattr(module, VAR_MISUSE[name])
    counts = {}
    names = {str(k): v for k, v in EDGE_TYPES.items()}
    samples = [parse_sample(_tiny_sample(i), "synthetic", labelled=True) for i in range(2)]
    for profile, hp in defaults.items():
        torch.manual_seed(0)
        edge_types = EdgeTypes(names, reverse=bool(hp["reverse_edges"]))
        vocab = Vocabulary.build((s.tokens for s in samples), int(hp["vocab_size"]))
        model = build(int(hp["vocab_size"]), len(edge_types), hp)
        batch = PackedSplit.of(samples, vocab, edge_types).batch(range(2), torch.device("cpu"))
        model.eval()
        with torch.inference_mode():
            pointers = model(batch)
        if not np.isfinite(pointers.loc_logp.numpy()).all():
            raise RuntimeError(f"{name} at profile {profile} gives non-finite outputs")
        counts[profile] = sum(p.numel() for p in model.parameters())
    return counts


def code2vec_counts() -> dict[str, int]:
    """code2vec per profile, with full terminal, path and name vocabularies, run once on two
    methods of three contexts (the second one padded)."""
    from benchmark.models.code2vec import DEFAULTS, Code2Vec

    counts = {}
    contexts = torch.tensor([[[2, 2, 3], [3, 4, 2], [2, 5, 2]], [[2, 2, 3], [0, 0, 0], [0, 0, 0]]])
    for profile, hp in DEFAULTS.items():
        torch.manual_seed(0)
        vocab = int(hp["vocab_size"])
        model = Code2Vec(vocab, vocab, int(hp["target_vocab_size"]), hp).eval()
        with torch.inference_mode():
            if not torch.isfinite(model(contexts)).all():
                raise RuntimeError(f"code2vec at profile {profile} gives non-finite outputs")
        counts[profile] = sum(p.numel() for p in model.parameters())
    return counts


def code2seq_counts() -> dict[str, int]:
    """code2seq per profile, with full sub-token, node and target vocabularies, run once (a
    greedy decoding and a loss) on two methods, the second with one context of two."""
    from benchmark.models.code2seq import DEFAULTS, Batch, Code2Seq

    counts = {}
    batch = Batch(
        contexts=torch.tensor([[[1, 1, 2], [2, 2, 1]], [[1, 2, 1], [0, 0, 0]]]),
        mask=torch.tensor([[True, True], [True, False]]),
        terminals=torch.tensor([[0, 0], [2, 3], [4, 0]]),
        paths=torch.tensor([[0, 0, 0], [2, 3, 4], [5, 2, 0]]),
        path_lengths=torch.tensor([1, 3, 2]),
        targets=torch.tensor([[4, 5, 3], [6, 3, 0]]),
    )
    for profile, hp in DEFAULTS.items():
        torch.manual_seed(0)
        sizes = (int(hp["vocab_size"]), int(hp["node_vocab_size"]), int(hp["target_vocab_size"]))
        model = Code2Seq(*sizes, hp).eval()
        with torch.inference_mode():
            _, logp = model.greedy(batch, int(hp["max_target"]))
            if not (torch.isfinite(logp).all() and torch.isfinite(model.losses(batch)).all()):
                raise RuntimeError(f"code2seq at profile {profile} gives non-finite outputs")
        counts[profile] = sum(p.numel() for p in model.parameters())
    return counts


def source(spec: ModelSpec) -> str:
    """Reference models run a module of this package, manifests name their own commands, and
    a submission has none: its image's entry point is the model."""
    if not spec.command:
        return "submission"
    return "reference" if "benchmark" in " ".join(spec.command[1:3]) else "manifest"


def describe(spec: ModelSpec) -> dict[str, Any]:
    """One row of the listing."""
    return {
        "name": spec.name,
        "tasks": list(spec.tasks),
        "inputs": spec.representation,
        "source": source(spec),
        "parameters": parameter_counts(spec.name),
        "command": list(spec.command),
    }


def listing() -> list[dict[str, Any]]:
    """Every model the harness knows, reference models first, in registration order."""
    return [describe(spec) for spec in MODELS.values()]
