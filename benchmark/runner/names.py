"""What a model may say about itself: the names and text of its start event end up in
run.json and on leaderboard pages, so both runners refuse markup rather than show it escaped."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from benchmark.models.spec import NAME

# What a model may call itself (and what `bench submit` accepts as a name): no markup, no paths.
NAME_RE = NAME
UNSAFE_TEXT = re.compile(r"[<>&\"'`\x00-\x1f\x7f]")  # markup and control characters


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def check_events(events: Sequence[dict]) -> str | None:
    """Why the start event names or describes the model with text the harness will not carry
    into run.json and leaderboard pages (markup, control characters, overlong strings), or
    None. Such a model ends as a failed unit rather than being shown escaped."""
    for event in events:
        if event.get("event") != "start":
            continue
        for key in ("name", "model"):
            if key in event and not (isinstance(event[key], str) and NAME_RE.fullmatch(event[key])):
                return (
                    f"the model's start event names it {str(event[key])[:60]!r}: a name is "
                    "1-64 of a-z, 0-9, '.', '_', '-' starting with a letter or digit"
                )
        for text in _strings(event):
            if len(text) > 200 or UNSAFE_TEXT.search(text):
                return f"the model's start event holds {text[:60]!r}, which is not plain text"
        params = event.get("parameters")
        if params is not None and not (isinstance(params, int) and not isinstance(params, bool)
                                       and params >= 0):  # fmt: skip
            return f"the model's start event has parameters={params!r}, not a count"
    return None


def missing_event(events: Sequence[dict]) -> str | None:
    """Why a model that exited has not run as the protocol says, where its ``start`` or
    ``done`` event is missing (both runners ask this), or None."""
    for kind in ("start", "done"):
        if not any(e["event"] == kind for e in events):
            return f"the model exited without writing its '{kind}' event"
    return None
