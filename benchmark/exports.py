"""The leaderboard as CSV, JSON and Markdown files.

Model, task and dataset names come from submissions, so they are data, never markup: Markdown
cells escape both HTML and Markdown syntax, and the CSV writer quotes whatever a name holds and
defuses text that a spreadsheet would run as a formula.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from typing import Any

from benchmark.metrics.schema import RUN_METRICS
from benchmark.standings import RANKING, board_key, floor_text, gain_text

FORMATS = ("csv", "json", "md")


def fmt(value: Any, digits: int = 3) -> str:
    """A cell as text: '-' for missing, fixed digits for fractions."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def with_interval(s: dict[str, Any]) -> str:
    """'0.512 [0.480, 0.544]' or '0.512' for one seed, '-' for none."""
    if s.get("mean") is None:
        return "-"
    if s.get("ci_low") is None:
        return fmt(s["mean"])
    return f"{fmt(s['mean'])} [{fmt(s['ci_low'])}, {fmt(s['ci_high'])}]"


def rates_of(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The noise rates that appear in ``rows``, in numeric order, as their keys."""
    return sorted({r for row in rows for r in row["scores"]}, key=float)


def flat(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One flat record per row (numbers stay numbers), with a column per noise rate."""
    rates = rates_of(rows)
    out = []
    for row in rows:
        rec: dict[str, Any] = {k: row[k] for k in ("task", "dataset", "noise_kind", "profile",
                                                   "rank", "model", "metric")}  # fmt: skip
        rec |= {"clean": row["clean"]["mean"], "clean_ci_low": row["clean"]["ci_low"],
                "clean_ci_high": row["clean"]["ci_high"]}  # fmt: skip
        for rate in rates:
            rec[f"score@{rate}"] = row["scores"].get(rate, {}).get("mean")
        gain = row.get("gain") or {}
        rec |= {"floor": (row.get("floor") or {}).get("mean"), "gain": gain.get("diff"),
                "gain_ci_low": gain.get("low"), "gain_ci_high": gain.get("high"),
                "learns_from_code": row.get("learns")}  # fmt: skip
        rec["robustness"] = row["robustness"]
        rec |= {m.key: row.get(m.key) for m in RUN_METRICS}
        rec |= {k: row[k] for k in ("parameters", "train_seconds", "seeds")}
        rec["hardware"] = "; ".join(row["hardware"])
        out.append(rec)
    return out


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """Text a spreadsheet would evaluate (``=HYPERLINK(...)``, ``@SUM``, ``-2+3``) gets a
    leading apostrophe, as OWASP advises for CSV injection; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    records = [{k: spreadsheet_safe(v) for k, v in r.items()} for r in flat(rows)]
    buf = io.StringIO()
    columns = list(records[0]) if records else ["task", "model"]
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buf.getvalue()


def to_json(rows: Sequence[dict[str, Any]], warnings: Sequence[str]) -> str:
    return json.dumps({"ranking": RANKING, "rows": list(rows), "warnings": list(warnings)},
                      indent=2)  # fmt: skip


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


def md_escape(text: str) -> str:
    """Text that a Markdown renderer shows as itself: no tags, links, emphasis or cell breaks."""
    text = " ".join(str(text).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace('"', "&quot;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def to_markdown(rows: Sequence[dict[str, Any]], warnings: Sequence[str]) -> str:
    lines = ["# Leaderboard", "", RANKING, ""]
    boards: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        boards.setdefault(board_key(row), []).append(row)
    for (task, dataset, kind, profile), members in boards.items():
        rates = rates_of(members)
        title = (f"{task}: {dataset}, {kind} noise, {profile} profile "
                 f"(test {members[0]['metric']})")  # fmt: skip
        lines += [f"## {md_escape(title)}", ""]
        header = ["rank", "model", "clean [95% CI]", "floor", "gain over floor [95%]",
                  *[f"@{r}" for r in rates], "robustness", *[m.column for m in RUN_METRICS],
                  "parameters", "train s", "seeds", "hardware"]  # fmt: skip
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in members:
            cells = [str(row["rank"]), md_escape(row["model"]), with_interval(row["clean"]),
                     floor_text(row), md_escape(gain_text(row)),
                     *[fmt(row["scores"].get(r, {}).get("mean")) for r in rates],
                     fmt(row["robustness"]), *[fmt(row.get(m.key)) for m in RUN_METRICS],
                     fmt(row["parameters"]),
                     fmt(row["train_seconds"], 1), str(row["seeds"]),
                     md_escape("; ".join(row["hardware"]))]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    if warnings:
        lines += ["## Not shown", ""] + [f"- {md_escape(w)}" for w in warnings] + [""]
    return "\n".join(lines)


def export(rows: Sequence[dict[str, Any]], warnings: Sequence[str], format: str) -> str:
    """The leaderboard in ``format`` (one of FORMATS)."""
    if format == "csv":
        return to_csv(rows)
    if format == "json":
        return to_json(rows, warnings)
    if format == "md":
        return to_markdown(rows, warnings)
    raise ValueError(f"unknown format {format!r}; choose from: {', '.join(FORMATS)}")
