"""docs/metrics.md names every key that a unit's metrics.json holds, for every task: a key
added to the summary without its definition and original fails (tests/test_tasks_baseline.py
checks each task's metrics.json of a real run against the page with `undocumented`)."""

from __future__ import annotations

import re
from pathlib import Path

from benchmark.metrics import memorization
from benchmark.metrics.summary import SUBSETS

DOC = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"


def keys(value: object, prefix: str = "") -> set[str]:
    """Dotted paths of the leaves; a list of objects contributes its first element as `[]`."""
    if isinstance(value, dict):
        out: set[str] = set()
        for k, v in value.items():
            out |= keys(v, f"{prefix}.{k}" if prefix else k)
        return out
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return keys(value[0], f"{prefix}[]")
    return {prefix}


def documented_name(key: str) -> str:
    """The name a key goes by on the page: per-epoch keys without their `per_epoch[].`, the
    subsets as `<subset>`, the detection signals as `<signal>`, the avg-score splits as
    `<split>`."""
    key = key.removeprefix("per_epoch[].")
    first, _, rest = key.partition(".")
    if first in SUBSETS and rest:
        return f"<subset>.{rest}"
    if first == "detection" and rest.split(".")[0] in memorization.SIGNALS:
        signal, _, field = rest.partition(".")
        return f"detection.cleanlab.{field}" if signal == "cleanlab" and field not in (
            "auroc", "auprc") else f"detection.<signal>.{field}"  # fmt: skip
    if first == "avg_predicted_score":
        return "avg_predicted_score.<split>"
    if first == "membership":
        return _membership_name(key)
    return key


def _membership_name(key: str) -> str:
    """`membership.selected.loss.noisy.auroc.low` -> `membership.<epoch>.<attack>.<subset>.
    <figure>.low`, as the page names them."""
    parts = key.split(".")
    if len(parts) > 2 and parts[1] in ("selected", "last"):
        parts[1] = "<epoch>"
        if parts[2] in ("loss", "zlib", "min_k", "confidence") and len(parts) > 3:
            parts[2] = "<attack>"
            parts[3] = "<subset>" if parts[3] in ("all", "clean", "noisy") else parts[3]
        if parts[2] == "test_as_nonmembers":  # null for code_search
            return ".".join(parts[:4]) + ".*" if len(parts) > 3 else ".".join(parts)
        if len(parts) > 5 and parts[4] in ("auroc", "tpr_at_1pct_fpr", "tpr_at_0_1pct_fpr"):
            parts[4] = "<figure>"
    return ".".join(parts)


def on_page(name: str, text: str) -> bool:
    """`name` in backquotes, or its parent in backquotes followed by `.leaf` ones (a row such
    as `forgetting_events.mean`, `.clean`)."""
    if f"`{name}`" in text:
        return True
    parent, _, leaf = name.rpartition(".")
    if not parent:
        return False
    siblings = rf"`{re.escape(parent)}\.[^`]*`[^|]*`\.{re.escape(leaf)}`"
    return re.search(siblings, text) is not None or f"`{parent}.*`" in text


def undocumented(metrics: dict) -> list[str]:
    """The names of a metrics.json's keys that docs/metrics.md does not define."""
    text = DOC.read_text()
    return sorted(n for n in {documented_name(k) for k in keys(metrics)} if not on_page(n, text))


def test_the_check_itself_catches_an_undocumented_key() -> None:
    text = DOC.read_text()
    assert on_page("<subset>.repair_acc", text) and on_page("forgetting_events.clean", text)
    assert on_page("cartography.variability.noisy", text)
    assert not on_page("<subset>.made_up_metric", text) and not on_page("aum.median", text)
    assert undocumented({"test": {"acc": 1.0}, "made_up": {"x": 1}}) == ["made_up.x"]
