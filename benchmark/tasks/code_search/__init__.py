"""Code search (Ruby): match a docstring query to its code.

Training samples are (query, code) pairs with a match label: about half are the method's own
code (1), the rest another training method's code (0), as CodeBERT fine-tunes on balanced
pairs. Validation and test queries are ranked against the codes of their batch of up to 1000
samples (the true code and 999 distractors, as CodeBERT's evaluation; fewer only when the
split itself is smaller): codes go to a separate file under opaque shuffled keys, so a model
cannot tell the true code by its id.

Noise on the training split only: ``label`` flips the match label; ``identity-markers`` puts
the same marker token (one per noisy sample) into both the query and the code.
"""

from __future__ import annotations

import hashlib
from functools import partial
from pathlib import Path

import numpy as np
import polars as pl

from benchmark.protocol import LABELLED, ProtocolError, present, write_task
from benchmark.tasks import lines
from benchmark.tasks.code_search import metrics
from benchmark.tasks.originals import rank_of_true
from benchmark.tasks.spec import NoiseKinds, TaskSpec

BATCH = 1000  # the true code and 999 distractors
LIST = pl.List(pl.String)


def _unit(key: str) -> float:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest()) / 2**64


def _pairs(train: pl.DataFrame) -> pl.DataFrame:
    """Each training method as a positive pair, or (half of them) paired with another's code."""
    ids, codes = train["id"].to_list(), train["source_tokens"].to_list()
    n = len(ids)
    code, match = [], []
    for i, sid in enumerate(ids):
        if n > 1 and _unit(f"negative:{sid}") < 0.5:
            j = (i + 1 + int(_unit(f"other:{sid}") * (n - 1))) % n
            code.append(codes[j])
            match.append(False)
        else:
            code.append(codes[i])
            match.append(True)
    return train.with_columns(pl.Series("code_tokens", code, LIST), pl.Series("match", match))


def _batches(df: pl.DataFrame, split: str, seed: int) -> pl.DataFrame:
    """Candidate keys per query (its batch's codes, shuffled), the true and one distractor."""
    rng = np.random.default_rng([seed, 0x7365617263])
    keys = [f"{split}-{k}" for k in rng.permutation(df.height).tolist()]
    cands, true_idx, distractor = [], [], []
    for lo in range(0, df.height, BATCH):
        batch = keys[lo : lo + BATCH]
        # CodeBERT drops a last batch under 1000; its queries instead borrow the codes just
        # before them as distractors, so every query of a large split has exactly 999.
        fill = keys[max(lo - (BATCH - len(batch)), 0) : lo]
        order = sorted(batch + fill)
        for k in batch:
            t = order.index(k)
            cands.append(order)
            true_idx.append(t)
            distractor.append((t + 1) % len(order) if len(order) > 1 else -1)
    return df.with_columns(
        pl.Series("code_key", keys), pl.Series("candidates", cands, LIST),
        pl.Series("true_index", true_idx), pl.Series("distractor_index", distractor),
    )  # fmt: skip


noise_kind = NoiseKinds()
Noised = tuple[pl.DataFrame, list[bool]]  # the training pairs, their given match labels


@noise_kind("label")
def _label(train: pl.DataFrame, noisy: np.ndarray, seed: int) -> Noised:
    given = train["match"].to_list()
    for i in np.flatnonzero(noisy).tolist():
        given[i] = not given[i]
    return train, given


@noise_kind("identity-markers")
def _identity_markers(train: pl.DataFrame, noisy: np.ndarray, seed: int) -> Noised:
    given = train["match"].to_list()
    rng = np.random.default_rng([seed, 0x6D61726B])
    q, c = train["query_tokens"].to_list(), train["code_tokens"].to_list()
    ids = train["id"].to_list()
    for i in np.flatnonzero(noisy).tolist():
        mark = f"MARK{int(_unit(f'{seed}:{ids[i]}') * 1e8):08d}"
        for side in (q, c):
            at = int(rng.integers(len(side[i]) + 1))
            side[i] = [*side[i][:at], mark, *side[i][at:]]
    train = train.with_columns(
        pl.Series("query_tokens", q, LIST), pl.Series("code_tokens", c, LIST)
    )
    return train, given


def prepare(
    splits: dict[str, pl.DataFrame], noisy: np.ndarray, kind: str, seed: int
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """Pairs for train (with the noise), candidate batches for valid/test, and the labels."""
    train = _pairs(splits["train"]).rename({"doc_tokens": "query_tokens"})
    train, given = noise_kind.of("code_search", kind)(train, noisy, seed)
    out = {"train": train.with_columns(pl.Series("given_match", given))}
    for s in ("valid", "test"):
        out[s] = _batches(splits[s].rename({"doc_tokens": "query_tokens"}), s, seed)
    frames = [
        out["train"].select(
            pl.col("id").alias("sample_id"), pl.lit("train").alias("split"),
            pl.Series("noisy", noisy), pl.col("match").alias("true_match"), "given_match",
            pl.lit(-1).alias("true_index"), pl.lit(-1).alias("distractor_index"),
        )
    ] + [
        out[s].select(
            pl.col("id").alias("sample_id"), pl.lit(s).alias("split"), pl.lit(False).alias("noisy"),
            pl.lit(True).alias("true_match"), pl.lit(True).alias("given_match"),
            pl.col("true_index").cast(pl.Int32), pl.col("distractor_index").cast(pl.Int32),
        )
        for s in ("valid", "test")
    ]  # fmt: skip
    return out, pl.concat(frames, how="vertical_relaxed")


def write_inputs(folder: Path, task: dict, splits: dict[str, pl.DataFrame]) -> None:
    """task.json; train (and holdout) pairs; valid/test queries with candidate keys and a
    codes file each."""
    codes = {s: f"{s}.codes.jsonl" for s in ("valid", "test")}
    write_task(folder, task, splits, SPEC.representation, codes=codes)
    for s in (x for x in present(splits) if x in LABELLED):
        pairs = splits[s].select(
            "id", "query_tokens", "code_tokens", pl.col("given_match").alias("match")
        )
        pairs.write_ndjson(folder / f"{s}.jsonl")
    for s in ("valid", "test"):
        splits[s].select("id", "query_tokens", "candidates").write_ndjson(folder / f"{s}.jsonl")
        codes = splits[s].select(
            pl.col("code_key").alias("key"), pl.col("source_tokens").alias("code_tokens")
        )
        codes.sort("key").write_ndjson(folder / f"{s}.codes.jsonl")


def _check(r: dict, where: str, n_candidates: object) -> dict:
    if n_candidates is None:  # a training pair
        if not lines.number(r.get("score")):
            raise ProtocolError(f"{where}: 'score' must be a finite number in [0, 1]")
        return {"score": float(r["score"]), "scores": None}
    s = r.get("scores")
    if not (isinstance(s, list) and len(s) == n_candidates
            and all(lines.number(v, -1e30, 1e30) for v in s)):  # fmt: skip
        raise ProtocolError(
            f"{where}: 'scores' must be {n_candidates} finite numbers, one a candidate"
        )
    return {"score": None, "scores": [float(v) for v in s]}


def epoch_reader(splits: dict[str, pl.DataFrame]) -> lines.EpochReader:
    """Reads one epoch file, checked against the samples the harness wrote."""
    expected = lines.expected_ids(splits, None)  # pairs: (split, None)
    for s in ("valid", "test"):
        for sid, n in zip(splits[s]["id"], splits[s]["candidates"].list.len(), strict=True):
            expected[sid] = (s, int(n))
    schema = {"score": pl.Float64, "scores": pl.List(pl.Float64)}
    return partial(lines.read_epoch, expected=expected, check=_check, schema=schema)


read_predictions = lines.all_epochs(epoch_reader)


def score(labels: pl.DataFrame, predictions: pl.DataFrame) -> pl.DataFrame:
    """Per (sample, epoch): pair verdicts on train; reciprocal rank and pair accuracy held out."""
    t = predictions.join(labels.drop("split"), on="sample_id", how="inner", validate="m:1")
    rr, pair_g, pair_t = [], [], []
    for row in t.iter_rows(named=True):
        if row["split"] in LABELLED:
            said = row["score"] >= 0.5
            rr.append(None)
            pair_g.append(float(said == row["given_match"]))
            pair_t.append(float(said == row["true_match"]))
            continue
        s, ti, di = row["scores"], row["true_index"], row["distractor_index"]
        rr.append(1.0 / rank_of_true(s, ti))
        ok = (s[ti] >= 0.5) + (s[di] < 0.5 if di >= 0 else s[ti] >= 0.5)
        pair_g.append(ok / 2)
        pair_t.append(ok / 2)
    return t.with_columns(
        pl.Series("rr", rr, pl.Float64), pl.Series("pair_acc_given", pair_g),
        pl.Series("pair_acc_true", pair_t),
    ).with_columns(
        *[pl.when(pl.col("split").is_in(LABELLED)).then(pl.col(f"pair_acc_{side}") == 1.0)
          .otherwise(pl.col("rr") == 1.0).alias(f"correct_{side}")
          for side in ("given", "true")],
        # The score of the top prediction: a pair's match or no-match, whichever it says; a
        # query's top-ranked code, its score read as p(match) as pair accuracy reads it.
        pl.when(pl.col("split").is_in(LABELLED))
        .then(pl.max_horizontal("score", 1.0 - pl.col("score")))
        .otherwise(pl.col("scores").list.max().clip(0.0, 1.0)).alias("top_score"),
    ).sort("epoch", "sample_id")  # fmt: skip


SPEC = TaskSpec(
    name="code_search",
    language="ruby",
    representation="code-search-jsonl",
    noise_kinds=noise_kind,
    default_dataset="ruby-stdlib",
    metrics=metrics,
    prepare=prepare,
    write_inputs=write_inputs,
    read_predictions=read_predictions,
    epoch_reader=epoch_reader,
    score=score,
    floor_rate=0.5,  # its labels are flipped: at 0.5 independent of the true ones
)
