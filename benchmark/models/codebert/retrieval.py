"""code_to_text's retrieved exemplar: each method's nearest training method by its code.

Retrieval-augmented summarization (Zhang et al., ICSE 2020; Parvez et al., EMNLP Findings
2021): the encoder reads the code followed by the given docstring of the most similar training
code, and the copy mechanism can take words from either. Similarity is TF-IDF cosine of code
sub-token ids, as the nearest-neighbour baseline ranks them; a training method never retrieves
itself. Only training docstrings as given (noise included) are retrieved, so a model trained on
permuted docstrings retrieves docstrings that say nothing about the code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy import sparse

BLOCK = 1 << 24  # similarities computed at a time (128 MB of float64), whatever the corpus size


def _counts(rows: Sequence[Sequence[int]], vocab: int, special: Sequence[int]) -> sparse.csr_matrix:
    from scipy import sparse

    lengths = [len(r) for r in rows]
    cols = np.fromiter((t for r in rows for t in r), dtype=np.int64, count=sum(lengths))
    rows_of = np.repeat(np.arange(len(rows)), lengths)
    m = sparse.csr_matrix((np.ones(len(cols)), (rows_of, cols)), shape=(len(rows), vocab))
    m.sum_duplicates()
    keep = np.ones(vocab)
    keep[[i for i in special if 0 <= i < vocab]] = 0
    return m @ sparse.diags(keep)


def nearest(train: Sequence[Sequence[int]], splits: dict[str, Sequence[Sequence[int]]],
            vocab: int, special: Sequence[int], itself: str = "train"
            ) -> dict[str, list[int]]:  # fmt: skip
    """For each row of each split, the index of the most similar ``train`` row (ties: the
    lowest index); the split named ``itself`` is ``train`` itself, and its row i skips i. The
    index is built once for every split.

    scikit-learn and SciPy are imported here, by code_to_text alone: at the top they cost every
    codebert and hf program ~1.1 s at start, whatever its task."""
    from sklearn.feature_extraction.text import TfidfTransformer

    counts = _counts(train, vocab, special)
    tfidf = TfidfTransformer().fit(counts)
    t = tfidf.transform(counts).T.tocsr()
    rows = max(1, BLOCK // max(len(train), 1))
    out: dict[str, list[int]] = {}
    for name, queries in splits.items():
        out[name] = []
        if not queries:
            continue
        q = tfidf.transform(_counts(queries, vocab, special))
        for start in range(0, q.shape[0], rows):
            sims = (q[start : start + rows] @ t).toarray()
            if name == itself:
                ids = np.arange(start, start + sims.shape[0])
                sims[ids - start, ids] = -np.inf
            out[name] += sims.argmax(axis=1).tolist()
    return out
