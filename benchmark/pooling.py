"""What units must share to be pooled into one figure, beside what their paths name: the
program that made them (a unit --name'd after another model), the profile and epochs they
trained for, and the weights and fine-tuning they started from. Seeds of 10 epochs and of 50
averaged into one mean would be a figure no command reproduces."""

from __future__ import annotations

from collections.abc import Sequence

SETTINGS = ("model", "profile", "epochs", "weights", "finetune")


def settings_of(config: object, keys: Sequence[str] = SETTINGS) -> tuple[str, ...]:
    """The ``keys`` of a run.json ``config``, as text (null where one is missing)."""
    found = config if isinstance(config, dict) else {}
    return tuple(str(found.get(key)) for key in keys)


def differences(keys: Sequence[str], mine: Sequence[str], theirs: Sequence[str],
                whose: str) -> list[str]:  # fmt: skip
    """'epochs 10 where the newest has 50', for each key whose settings differ."""
    return [f"{key} {a} where {whose} has {b}"
            for key, a, b in zip(keys, mine, theirs, strict=True) if a != b]  # fmt: skip
