"""The original benchmarks' metric definitions, per sample, as their scripts compute them.

Read against tech-srl/code2seq (``model.py``: ``update_per_subtoken_statistics``,
``update_correct_predictions``, ``calculate_results``; ``common.py``), tech-srl/code2vec,
microsoft/CodeBERT (``codesearch/process_data.py``, ``codesearch/mrr.py``), CodeXGLUE's
NL-code-search-Adv evaluator and its code-to-text ``bleu.py``. Written anew, not copied.

Sub-token precision / recall / F1 (code2seq):
- Both sides are filtered of ``<UNK>``, ``<PAD>`` and ``</S>`` (``filter_impossible_names``);
  nothing else is dropped: ``<S>``, empty strings and out-of-vocabulary sub-tokens stay.
- If the filtered sides join (no separator) to the same string, tp += the reference's length
  and nothing else counts; so ``["getvalue"]`` vs ``["get", "value"]`` is tp 1.
- Otherwise every predicted sub-token (repeats included) is a tp if it occurs anywhere in
  the reference, else an fp; every reference sub-token (repeats included) absent from the
  prediction is an fn. ``["get", "get"]`` vs ``["get", "value"]``: tp 2, fp 0, fn 1. An empty
  prediction: tp 0, fp 0, fn = the reference's length.
- Micro average: tp, fp, fn are summed over the whole set, then P = tp/(tp+fp), R =
  tp/(tp+fn), F1 = 2PR/(P+R), each 0 where its denominator is 0.
- Exact match ("accuracy", greedy decoding): the filtered lists are equal, or equal once
  repeats are dropped keeping first occurrences, or join to the same string; the share of
  samples.
- code2vec differs in that it predicts whole names: it takes the first of its top-k names
  that is not its OOV word and matches ``^[a-zA-Z|]+$``, splits it on ``|`` and counts as
  above without the joined-string shortcut. The suite's models all emit sub-token lists, so
  the suite scores every model with code2seq's rule.

Smoothed BLEU-4 (CodeXGLUE code-to-text ``bleu.py``, after Lin & Och 2004): both sides are
lower-cased and split into words and single punctuation marks (``splitPuncts``), then
NIST-normalized; per sentence, clipped n-gram matches over candidate n-grams for n = 1..4, with
1 added to numerator and denominator for n >= 2 only, ``sys.float_info.min`` added inside each
log, brevity penalty ``min(0, 1 - (r + 1) / (c + 1))`` with r the shortest reference; the
sentence scores are averaged and times 100. An empty candidate scores exp(-r), not 0.

MRR (CodeBERT ``codesearch``): the test file is shuffled (``np.random.seed(0)``) and cut into
batches of 1000; the last, shorter batch is dropped. Each query is scored against the 1000
codes of its batch: its own code and the 999 others are the distractors. The rank is the
number of codes whose score is >= the true code's (itself included), so ties count against
the model; MRR is the mean of 1/rank over all queries. (CodeXGLUE's NL-code-search-Adv
evaluator instead takes a submitted ranking of the whole test set, 1/(position+1) of the first
hit and 0 if absent, so ties fall as the submission ordered them.) The suite's code_search
task builds its batches the same way but from a seeded shuffle and keeps the last, shorter
batch, so a split under 1000 samples still has an MRR (with fewer distractors).
"""

from __future__ import annotations

import functools
import math
import re
import sys
import xml.sax.saxutils
from collections.abc import Sequence

IMPOSSIBLE = frozenset({"<UNK>", "<PAD>", "</S>"})  # code2seq's Common.legal_method_names_checker

_NORMALIZE1 = [("<skipped>", ""), (r"-\n", ""), (r"\n", " ")]
_NORMALIZE2 = [
    (r"([\{-\~\[-\` -\&\(-\+\:-\@\/])", r" \1 "),
    (r"([^0-9])([\.,])", r"\1 \2 "),
    (r"([\.,])([^0-9])", r" \1 \2"),
    (r"([0-9])(-)", r"\1 \2 "),
]


def _unique(seq: list[str]) -> list[str]:
    return list(dict.fromkeys(seq))


def subtoken_counts(true: Sequence[str], pred: Sequence[str]) -> tuple[int, int, int, bool]:
    """(tp, fp, fn, exact) of one prediction, as code2seq counts them (see the module)."""
    orig = [t for t in true if t not in IMPOSSIBLE]
    guess = [t for t in pred if t not in IMPOSSIBLE]
    joined = "".join(orig) == "".join(guess)
    exact = joined or orig == guess or _unique(orig) == _unique(guess)
    if joined:
        return len(orig), 0, 0, True
    tp = sum(1 for t in guess if t in orig)
    fp = len(guess) - tp
    fn = sum(1 for t in orig if t not in guess)
    return tp, fp, fn, exact


def prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    """Precision, recall and F1 from summed counts (0 where a denominator is 0, as code2seq)."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _normalize(s: str) -> list[str]:
    for pattern, replace in _NORMALIZE1:
        s = re.sub(pattern, replace, s)
    s = xml.sax.saxutils.unescape(s, {"&quot;": '"'})
    s = f" {s} ".lower()
    for pattern, replace in _NORMALIZE2:
        s = re.sub(pattern, replace, s)
    return s.split()


def _ngrams(words: list[str], n: int = 4) -> dict[tuple[str, ...], int]:
    counts: dict[tuple[str, ...], int] = {}
    for k in range(1, n + 1):
        for i in range(len(words) - k + 1):
            g = tuple(words[i : i + k])
            counts[g] = counts.get(g, 0) + 1
    return counts


def split_puncts(line: str) -> str:
    """CodeXGLUE's tokenization of both sides before scoring (lower-cased first)."""
    return " ".join(re.findall(r"[\w]+|[^\s\w]", line.strip().lower()))


Sentence = tuple[int, dict[tuple[str, ...], int]]  # normalized words: their number, n-grams


def _sentence(line: str, n: int) -> Sentence:
    words = _normalize(line)
    return len(words), _ngrams(words, n)


def _bleu(refs: Sequence[Sentence], candidate: Sentence, smooth: bool, n: int) -> float:
    maxcounts: dict[tuple[str, ...], int] = {}
    for _, counts in refs:
        for g, c in counts.items():
            maxcounts[g] = max(maxcounts.get(g, 0), c)
    size, test = candidate
    reflen = min(length for length, _ in refs)
    guess = [max(size - k + 1, 0) for k in range(1, n + 1)]
    correct = [0] * n
    for g, c in test.items():
        correct[len(g) - 1] += min(maxcounts.get(g, 0), c)
    tiny = sys.float_info.min
    logbleu = 0.0
    for k in range(n):
        add = 1 if smooth and k > 0 else 0
        logbleu += math.log(correct[k] + add + tiny) - math.log(guess[k] + add + tiny)
    logbleu /= n
    return math.exp(logbleu + min(0.0, 1 - (reflen + 1) / (size + 1)))


def bleu(refs: Sequence[str], candidate: str, smooth: bool = True, n: int = 4) -> float:
    """BLEU of one candidate sentence in [0, 1], exactly as CodeXGLUE's ``bleu(...)[0]``."""
    return _bleu([_sentence(r, n) for r in refs], _sentence(candidate, n), smooth, n)


class SentenceBleu:
    """Smoothed BLEU-4 (0..100) of token lists, joined and split as CodeXGLUE does, and
    whether both sides split alike (its exact match), for many pairs: a unit's docstrings
    recur at every epoch and on both label sides, and each prediction is scored against both,
    so each distinct reference is split and normalized once (``_reference``, kept across
    scorers, as the harness scores an epoch at a time) and the last prediction is kept."""

    def __init__(self) -> None:
        self._last: tuple[tuple[str, ...], str, Sentence] | None = None

    def __call__(self, reference: Sequence[str], prediction: Sequence[str]) -> tuple[float, bool]:
        ref_line, ref = _reference(tuple(reference))
        key = tuple(prediction)
        if self._last is None or self._last[0] != key:
            self._last = key, *_split(prediction)
        _, line, candidate = self._last
        return 100.0 * _bleu([ref], candidate, True, 4), line == ref_line


def _split(tokens: Sequence[str]) -> tuple[str, Sentence]:
    line = split_puncts(" ".join(tokens))
    return line, _sentence(line, 4)


# A unit's distinct docstrings: a few tens of thousands at the paper profile (CodeSearchNet's
# Ruby), a KB or so each once split.
_reference = functools.lru_cache(maxsize=2**17)(_split)


def sentence_bleu(reference: Sequence[str], prediction: Sequence[str]) -> float:
    """Smoothed BLEU-4 (0..100) of one pair of token lists (``SentenceBleu``'s)."""
    return SentenceBleu()(reference, prediction)[0]


def rank_of_true(scores: Sequence[float], true_index: int) -> int:
    """CodeBERT's rank: candidates scoring >= the true one, itself included (ties pessimistic)."""
    correct = scores[true_index]
    return sum(1 for s in scores if s >= correct)
