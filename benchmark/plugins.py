"""Plugins: modules that add tasks, datasets and models to the harness without editing it.

A plugin is an importable module named in ``$BENCH_PLUGINS`` (comma-separated), or the target of
an entry point in the group ``bench.plugins`` of an installed distribution. Importing it is its
whole interface: it calls ``benchmark.tasks.register_task``, ``benchmark.datasets.
register_dataset`` and ``benchmark.models.register_model``. The CLI loads the plugins once, as it
is imported, so help texts list their tasks and every ``bench run`` (a sweep's units too, which
are ``bench run`` processes inheriting the variable) sees them.
"""

from __future__ import annotations

import importlib
import os
from importlib.metadata import entry_points

ENV = "BENCH_PLUGINS"
GROUP = "bench.plugins"
_loaded: list[str] = []
_state = {"done": False}


class PluginError(Exception):
    """A plugin failed to import; the message is one line naming it."""


def _reason(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def load() -> list[str]:
    """Import every plugin once (later calls do nothing); return their names."""
    if _state["done"]:
        return list(_loaded)
    _state["done"] = True
    names = [n.strip() for n in os.environ.get(ENV, "").split(",") if n.strip()]
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as e:
            raise PluginError(f"plugin {name!r} (${ENV}) failed to import: {_reason(e)}") from None
        _loaded.append(name)
    for ep in entry_points(group=GROUP):
        try:
            ep.load()
        except Exception as e:
            raise PluginError(
                f"plugin {ep.name!r} (entry point {ep.value} in {GROUP}) failed to import: "
                f"{_reason(e)}"
            ) from None
        _loaded.append(ep.value)
    return list(_loaded)
