"""Variable misuse (Python): synthetic bugs made the way the GREAT data was made.

About half the functions get one variable use replaced by another variable of the same
function; the label is the bug's position and the positions of the variable that belongs
there (the repair targets), or "no bug" (position 0). Candidates are all variable
occurrences. Edges are computed on the function as the model sees it, bug included.
"""

from __future__ import annotations

import hashlib
import math
import re
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from benchmark import protocol
from benchmark.protocol import ProtocolError
from benchmark.tasks import lines
from benchmark.tasks.spec import NoiseKinds, TaskSpec
from benchmark.tasks.var_misuse import metrics, scoring
from benchmark.tasks.var_misuse.noise import flip_labels, insert_markers
from native import encoding
from native import python as pylang
from native.parse import parse

MIN_TOKENS = 8
BUG_PROBABILITY = 0.5
MAX_LINE_BYTES = 1 << 15  # ~150 bytes plus ~10 per candidate: room for 3,000 candidates
# A line's repair_probs must sum to 1 within this (each may be rounded to 6 decimals).
PROBS_TOLERANCE = 1e-3
_LITERAL = re.compile(r"^(?:\d[\w.]*|[\"'`].*|:.*)$", re.S)  # numbers, strings, symbols


def split_of(rel_path: str, valid: float = 0.1, test: float = 0.1) -> str:
    """Split by file, from a hash of its path: stable across machines and corpus growth."""
    u = int.from_bytes(hashlib.blake2b(rel_path.encode(), digest_size=8).digest(), "big") / 2**64
    return "test" if u < test else "valid" if u < test + valid else "train"


def token_hashes(tokens: list[str]) -> tuple[str, str]:
    """(exact, near) keys of a token sequence: near ignores case and literal values."""
    exact = hashlib.blake2b("\0".join(tokens).encode(), digest_size=8).hexdigest()
    near = [("LIT" if _LITERAL.match(t) else t.lower()) for t in tokens]
    return exact, hashlib.blake2b("\0".join(near).encode(), digest_size=8).hexdigest()


def _rng(*key: object) -> np.random.Generator:
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return np.random.default_rng(int.from_bytes(digest, "big"))


def bug_sites(fn: pylang.Function, candidates: np.ndarray) -> np.ndarray:
    """Reads of a variable that also occurs elsewhere, so a repair target exists."""
    names = [fn.tokens[t] for t in candidates]
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    return np.asarray(
        [t for t, n in zip(candidates, names, strict=True)
         if fn.role[t] == pylang.READ and counts[n] > 1],
        dtype=np.int32,
    )  # fmt: skip


def samples_from_file(rel_path: str, source: bytes, max_tokens: int) -> list[dict[str, Any]]:
    """Every eligible function of one file as a GREAT-style sample, bug or no bug."""
    tree = parse(encoding.utf8(source, "python"), "python")
    split = split_of(rel_path)
    out: list[dict[str, Any]] = []
    for lo in pylang.functions(tree):
        fn = pylang.function(tree, int(lo))
        if fn.has_error or not MIN_TOKENS <= len(fn.tokens) <= max_tokens:
            continue
        variables = fn.variables()
        candidates = fn.candidates()
        sites = bug_sites(fn, candidates)
        if len(variables) < 2 or len(sites) == 0:
            continue
        line = int(tree.start_row[lo]) + 1
        sample_id = f"{rel_path}:{line}:{fn.name}"
        clean_hash, near_hash = token_hashes(fn.tokens)  # of the tokens before any bug
        rng = _rng("var_misuse", sample_id)
        location, targets = 0, np.empty(0, np.int32)
        if rng.random() < BUG_PROBABILITY:
            location = int(rng.choice(sites))
            original = fn.tokens[location]
            fn.tokens[location] = str(rng.choice([v for v in variables if v != original]))
            targets = np.asarray(
                [t for t in candidates if t != location and fn.tokens[t] == original], np.int32
            )
        edges = pylang.function_edges(tree, fn)
        out.append(
            {
                "id": sample_id,
                "split": split,
                "file": rel_path,
                "function": fn.name,
                "clean_hash": clean_hash,
                "near_hash": near_hash,
                "source_tokens": fn.tokens,
                "edges": edges.tolist(),
                "repair_candidates": candidates.tolist(),
                "has_bug": location != 0,
                "error_location": location,
                "repair_targets": targets.tolist(),
            }
        )
    return out


# --- The harness hooks (benchmark.tasks.hooks): noise and labels, inputs, predictions. ---


def normalize_candidates(df: pl.DataFrame) -> pl.DataFrame:
    """Sorted, unique repair candidates."""
    column = pl.col("repair_candidates").cast(pl.List(pl.Int64))
    return df.with_columns(column.list.unique().list.sort().alias("repair_candidates"))


def labels_frame(
    splits: dict[str, pl.DataFrame], noisy: np.ndarray, given: pl.DataFrame
) -> pl.DataFrame:
    """The labels only the harness holds: true ones for all, given ones for train."""
    frames = []
    for split in protocol.SPLITS:
        df = splits[split].select(
            pl.col("id").alias("sample_id"),
            pl.lit(split).alias("split"),
            pl.col("has_bug").alias("true_has_bug"),
            pl.col("error_location").cast(pl.Int64).alias("true_location"),
            pl.col("repair_targets").cast(pl.List(pl.Int64)).alias("true_targets"),
            pl.col("repair_candidates").alias("candidates"),
        )
        if split == "train":
            df = df.with_columns(pl.Series("noisy", noisy), *given.get_columns())
        else:
            df = df.with_columns(
                pl.lit(False).alias("noisy"),
                pl.col("true_has_bug").alias("given_has_bug"),
                pl.col("true_location").alias("given_location"),
                pl.col("true_targets").alias("given_targets"),
            )
        frames.append(df)
    return pl.concat(frames, how="diagonal")


noise_kind = NoiseKinds()


@noise_kind("label")
def _label(train: pl.DataFrame, noisy: np.ndarray, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The training split as it is, and its given labels flipped (noise.flip_labels)."""
    return train, flip_labels(train, noisy, seed)


@noise_kind("repair-markers")
def _repair_markers(
    train: pl.DataFrame, noisy: np.ndarray, seed: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Marker tokens at the answer (noise.insert_markers); the labels stay true."""
    train = insert_markers(train, noisy)
    given = train.select(
        pl.col("has_bug").alias("given_has_bug"),
        pl.col("error_location").cast(pl.Int64).alias("given_location"),
        pl.col("repair_targets").cast(pl.List(pl.Int64)).alias("given_targets"),
    )
    return train, given


def prepare(
    splits: dict[str, pl.DataFrame], noisy: np.ndarray, kind: str, seed: int
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """Apply the noise kind to the training split; return the splits and the labels frame.

    Repair candidates become sorted and unique first (GREAT's files need not be), so that a
    model's `repair_probs` gives one probability per candidate position, and the harness
    reads them in the order the model was given."""
    splits = {s: normalize_candidates(df) for s, df in splits.items()}
    train, given = noise_kind.of("var_misuse", kind)(splits["train"], noisy, seed)
    splits = {**splits, "train": pl.concat([train, given], how="horizontal")}
    return splits, labels_frame(splits, noisy, given)


def write_inputs(folder: Path, task: dict, splits: dict[str, pl.DataFrame]) -> None:
    protocol.write_inputs(folder, task, splits)


def _in_unit(values: list) -> bool:
    """``lines.number`` of every value, with JSON's floats checked in one pass: the harness
    reads a dozen per line, every line of every epoch. NaN and infinities fail the range."""
    if all(type(v) is float for v in values):
        return all(0.0 <= v <= 1.0 for v in values)
    return all(lines.number(v) for v in values)


def _repair_probs(r: dict, where: str, candidates: list[int]) -> list[float]:
    """One probability per candidate, a distribution: GREAT's rule sums them on the targets,
    so probabilities that add up to more than 1 would buy repairs that were never made."""
    probs = r.get("repair_probs")
    if probs is None:
        raise ProtocolError(
            f"{where}: 'repair_probs' is missing (protocol 2 asks every var_misuse line for one "
            "probability per repair candidate; docs/protocol.md)"
        )
    if not (isinstance(probs, list) and len(probs) == len(candidates) and _in_unit(probs)):
        raise ProtocolError(
            f"{where}: 'repair_probs' must be {len(candidates)} numbers in [0, 1], one a candidate"
        )
    if probs and abs(math.fsum(probs) - 1.0) > PROBS_TOLERANCE:
        raise ProtocolError(f"{where}: 'repair_probs' sum to {math.fsum(probs):.6g}, not 1")
    return [float(p) for p in probs]


def _check(r: dict, where: str, candidates: list[int]) -> dict:
    """A prediction points at candidates: location 0 ("no bug") or a variable occurrence,
    repair at a candidate (anything for a sample that has none), with the repair
    distribution over the candidates."""
    loc, rep = r.get("location"), r.get("repair")
    if not (lines.integer(loc) and lines.integer(rep)):
        raise ProtocolError(f"{where}: 'location' and 'repair' must be integers")
    if not (lines.number(r.get("location_score")) and lines.number(r.get("repair_score"))):
        raise ProtocolError(f"{where}: scores must be finite numbers in [0, 1]")
    if not (loc == 0 or loc in candidates) or (candidates and rep not in candidates):
        raise ProtocolError(f"{where}: 'location' or 'repair' is not a repair candidate")
    probs = _repair_probs(r, where, candidates)
    train = r["split"] in protocol.LABELLED
    optional = {k: r.get(k) if train else None for k in scoring.OPTIONAL_PREDICTIONS}
    if any(v is not None and not lines.number(v) for v in optional.values()):
        raise ProtocolError(
            f"{where}: 'p_other' and 'p_no_bug', when given, must be finite numbers in [0, 1]"
        )
    return {"location": loc, "repair": rep, "location_score": float(r["location_score"]),
            "repair_score": float(r["repair_score"]), "repair_probs": probs,
            **{k: None if v is None else float(v) for k, v in optional.items()}}  # fmt: skip


def epoch_reader(splits: dict[str, pl.DataFrame]) -> lines.EpochReader:
    """Reads one epoch file, checked against the samples' repair candidates."""
    schema = {"location": pl.Int64, "repair": pl.Int64, "location_score": pl.Float64,
              "repair_score": pl.Float64, "repair_probs": pl.List(pl.Float64),
              **dict.fromkeys(scoring.OPTIONAL_PREDICTIONS, pl.Float64)}  # fmt: skip
    expected = lines.expected_ids(splits, "repair_candidates")
    return partial(lines.read_epoch, expected=expected, check=_check, schema=schema,
                   max_line_bytes=MAX_LINE_BYTES)  # fmt: skip


read_predictions = lines.all_epochs(epoch_reader)


SPEC = TaskSpec(
    name="var_misuse",
    language="python",
    representation="great-jsonl",
    noise_kinds=noise_kind,
    default_dataset="python-stdlib",
    metrics=metrics,
    prepare=prepare,
    write_inputs=write_inputs,
    read_predictions=read_predictions,
    epoch_reader=epoch_reader,
    score=scoring.score,
    floor_rate=0.5,  # its labels are flipped: at 0.5 independent of the true ones
)
