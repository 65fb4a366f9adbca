"""The log-odds of the given label, which prediction lines carry as ``logit_given``
(docs/protocol.md): log p - log(1 - p), computed from the model's scores and never from its
rounded probability, so that it keeps growing where p_given rounds to 1 (or 0), and LiRA can
still tell a memorized sample from one that is merely fitted.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

# |logit_given| at most: its logistic is 0 or 1 to any precision there, and JSON has no inf
# for a label the model leaves nothing off (or gives nothing).
LIMIT = 1e4


def _gap_and_rest(scores: Tensor, given: Tensor) -> tuple[Tensor, Tensor]:
    """Per row, z_y - m and log sum_{j != y} exp(z_j - m), m the other classes' largest
    score, as log_softmax takes its sums about the largest, so that rounding scales with the
    gap and not with the scores."""
    at = given[:, None]
    others = scores.scatter(1, at, -math.inf)
    top = others.amax(-1, keepdim=True)
    rest = others.sub_(top).exp_().sum(-1).log_()  # in place: a [N, classes] copy at most
    return (scores.gather(1, at) - top)[:, 0], rest


def of_class(scores: Tensor, given: Tensor) -> Tensor:
    """Per row of ``scores`` [N, classes] (logits, or log-probabilities: the same up to a shift
    per row), the log-odds of class ``given`` [N] under their softmax, z_y - logsumexp_{j != y}
    z_j."""
    gap, rest = _gap_and_rest(scores, given)
    return gap - rest


def log_p_and_odds(scores: Tensor, given: Tensor) -> tuple[Tensor, Tensor]:
    """``of_class`` and, from the same pass over the scores, log p(given) [N]: the gap less
    logaddexp of the gap and the rest (for a prediction line, where a log_softmax besides
    would double the passes over a vocabulary)."""
    gap, rest = _gap_and_rest(scores, given)
    return gap - torch.logaddexp(gap, rest), gap - rest


def token_nll(scores: Tensor, given: Tensor) -> Tensor:
    """Per row, -log p(given) in float64 as softplus of minus its log-odds: accurate where p
    nears 1 and the NLL is tiny, as float32's -log_softmax is not (it rounds to 0 below about
    6e-8)."""
    return F.softplus(-of_class(scores.float(), given).double())


def of_nll(nll: Tensor) -> Tensor:
    """The log-odds of p = exp(-nll), in float64, stable for every ``nll`` >= 0:
    -nll - log(1 - exp(-nll)), with ``nll`` at least the smallest normal float64 so that a
    certain prediction (nll 0) stays finite."""
    m = nll.double().clamp_min(torch.finfo(torch.float64).tiny)
    return -m - torch.log(-torch.expm1(-m))


def of_tokens(token_odds: Tensor, real: Tensor) -> Tensor:
    """Per sequence, the log-odds of its per-token geometric mean probability exp(-m), m the
    mean NLL over its ``real`` positions [B, T] of tokens whose log-odds are ``token_odds``
    [B, T]: each NLL softplus of minus the log-odds, in float64."""
    nll = torch.where(real, F.softplus(-token_odds.double()), 0.0)
    return of_nll(nll.sum(1) / real.sum(1).clamp_min(1))


def of_sequence(scores: Tensor, gold: Tensor, real: Tensor) -> Tensor:
    """``of_tokens`` of the ``gold`` tokens [B, T] under the scores [B, T, V]."""
    token = of_class(scores.flatten(0, 1).float(), gold.flatten()).view(gold.shape)
    return of_tokens(token, real)


def on_line(x: float) -> float:
    """A line's ``logit_given``: within +-LIMIT, rounded as the protocol asks, never -0.0."""
    return round(min(max(x, -LIMIT), LIMIT), 6) + 0.0
