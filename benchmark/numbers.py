"""Numbers read from JSON the suite did not just compute (a model's lines, a results folder).

JSON has no bound on an integer's length: ``10**400`` parses, and then ``float()`` and
``math.isfinite`` raise OverflowError, a traceback wherever a figure is checked or shown.
"""

from __future__ import annotations

import math


def finite(value: object) -> float | None:
    """``value`` as a finite float; None for a bool, a non-number, NaN, an infinity or an
    integer too long for a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def logistic(x: float) -> float:
    """1 / (1 + e^-x) for any float x: written with tanh, so that e^-x never overflows where a
    line's log-odds is a large negative number."""
    return 0.5 * (1.0 + math.tanh(0.5 * x))
