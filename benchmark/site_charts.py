"""The published site's figures, drawn as inline SVG from the results.

The reader's question, "which model memorizes the noise, and which generalizes despite it?",
is answered by pictures: on each board, test score against noise rate (one line per model,
its 95% interval over seeds as a band) beside the training score against the given labels
(the gap between the two is the memorization the study talks about), and memorization rate
against clean test score, one point per model. Inline SVG keeps the site one folder that
loads nothing from anywhere; colours are Okabe-Ito, told apart under the common colour
blindnesses, and each model also has its own marker and dash, so no line is told by colour
alone. Every figure has a title, axis labels and a text alternative.
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmark.metrics.checks import scale
from benchmark.metrics.sweep import mean_interval
from benchmark.numbers import finite
from benchmark.standings import RunRecord, board_key

COLORS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "4 4", "1 2")
MARKERS = ("circle", "square", "triangle", "diamond", "down", "cross")
W, H = 360, 250
LEFT, RIGHT, TOP, BOTTOM = 52, 14, 30, 42


@dataclass(frozen=True)
class Series:
    """One line: a name and (x, mean, low, high) points; low/high None without an interval."""

    name: str
    points: list[tuple[float, float, float | None, float | None]]


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values from at or below ``lo`` to at or above ``hi``. Each is
    a whole multiple of the step: adding a step of 1e-17 to 0.525 left it 0.525, and the
    loop of ten equal scores' axis filled the memory (found by probing)."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step + 1e-9)  # the ticks enclose [lo, hi]
    last = math.ceil(hi / step - 1e-9)
    return [round(i * step, 10) for i in range(first, last + 1)]


def _pad(lo: float, hi: float, share: float) -> float:
    """The margin around values from ``lo`` to ``hi``: ``share`` of their span, or where they
    are one value (to rounding: ten equal scores have a standard deviation of 1e-16) a
    tenth of it."""
    if hi - lo > 1e-9 * max(1.0, abs(lo), abs(hi)):
        return (hi - lo) * share
    return max(abs(hi) * 0.1, 0.05)


def _fmt_tick(v: float) -> str:
    return f"{v:g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.1e}"


def _marker(shape: str, x: float, y: float, color: str) -> str:
    r = 3.6
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{color}"/>'
    if shape == "square":
        return (f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r}" height="{2 * r}" '
                f'fill="{color}"/>')  # fmt: skip
    pts = {
        "triangle": [(0, -r * 1.2), (r * 1.1, r * 0.8), (-r * 1.1, r * 0.8)],
        "down": [(0, r * 1.2), (r * 1.1, -r * 0.8), (-r * 1.1, -r * 0.8)],
        "diamond": [(0, -r * 1.3), (r * 1.1, 0), (0, r * 1.3), (-r * 1.1, 0)],
        "cross": [(-r, -r), (r, r), (0, 0), (r, -r), (-r, r), (0, 0)],
    }[shape]
    poly = " ".join(f"{x + dx:.1f},{y + dy:.1f}" for dx, dy in pts)
    if shape == "cross":
        return f'<polyline points="{poly}" fill="none" stroke="{color}" stroke-width="2"/>'
    return f'<polygon points="{poly}" fill="{color}"/>'


def style_of(i: int) -> tuple[str, str, str]:
    """The colour, dash and marker of the i-th model of a figure."""
    return COLORS[i % len(COLORS)], DASHES[i % len(DASHES)], MARKERS[i % len(MARKERS)]


@dataclass(frozen=True)
class Plot:
    """A figure's plotting area: from data coordinates to the SVG's."""

    x0: float
    x1: float
    y0: float
    y1: float

    def px(self, x: float) -> float:
        return LEFT + (x - self.x0) / (self.x1 - self.x0) * (W - LEFT - RIGHT)

    def py(self, y: float) -> float:
        return TOP + (1 - (y - self.y0) / (self.y1 - self.y0)) * (H - TOP - BOTTOM)


def _frame(plot: Plot, title: str, full: str, desc: str, xlabel: str, ylabel: str,
           xticks: Sequence[tuple[float, str]], yticks: Sequence[float],
           small: bool = False) -> list[str]:  # fmt: skip
    """A figure's opening: the svg element with its text alternative (``full`` title and
    ``desc``), the drawn title, the grid with its tick labels, the frame and the axis labels."""
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    px, py = plot.px, plot.py
    out = [f'<svg class="chart{" small" if small else ""}" viewBox="0 0 {W} {H}" role="img" '
           f'aria-label="{esc(full)}. {esc(desc)}">',
           f"<title>{esc(full)}</title><desc>{esc(desc)}</desc>",
           f'<text class="ttl" x="{W / 2}" y="16" text-anchor="middle">'
           f"{esc(title)}</text>"]  # fmt: skip
    for t in yticks:
        out.append(f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{py(t):.1f}" '
                   f'y2="{py(t):.1f}"/><text class="tick" x="{LEFT - 5}" y="{py(t) + 4:.1f}" '
                   f'text-anchor="end">{_fmt_tick(t)}</text>')  # fmt: skip
    for t, label in xticks:
        out.append(f'<line class="grid" x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{TOP}" '
                   f'y2="{TOP + ph}"/><text class="tick" x="{px(t):.1f}" y="{TOP + ph + 15}" '
                   f'text-anchor="middle">{label}</text>')  # fmt: skip
    out.append(f'<rect class="frame" x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}"/>')
    out.append(f'<text class="lbl" x="{LEFT + pw / 2}" y="{H - 6}" text-anchor="middle">'
               f"{esc(xlabel)}</text>")  # fmt: skip
    out.append(f'<text class="lbl" transform="translate(13 {TOP + ph / 2}) rotate(-90)" '
               f'text-anchor="middle">{esc(ylabel)}</text>')  # fmt: skip
    return out


def line_chart(title: str, xlabel: str, ylabel: str, series: Sequence[Series],
               xs: Sequence[float] | None = None, names: Sequence[str] | None = None,
               small: bool = False, context: str = "") -> str:  # fmt: skip
    """Lines with interval bands; ``names`` fixes each series' style by its place there (so a
    model keeps its colour across a page's figures). ``context`` (the board) goes into the
    text alternative, not the drawn title, which must fit the figure's width."""
    names = list(names or [s.name for s in series])
    values = [v for s in series for p in s.points for v in p[1:] if v is not None]
    xvals = sorted({p[0] for s in series for p in s.points} | set(xs or []))
    if not values or not xvals:
        return (f'<figure class="chart"><figcaption>{esc(title)}: nothing to draw</figcaption>'
                "</figure>")  # fmt: skip
    ylo, yhi = min(values), max(values)
    pad = _pad(ylo, yhi, 0.08)
    yticks = _ticks(ylo - pad, yhi + pad)
    x0, x1 = (xvals[0], xvals[-1]) if xvals[-1] > xvals[0] else (xvals[0] - 0.5, xvals[0] + 0.5)
    plot = Plot(x0, x1, yticks[0], yticks[-1])
    px, py = plot.px, plot.py
    desc = "; ".join(
        f"{s.name}: " + ", ".join(f"{_fmt_tick(x)} → {m:.3g}" for x, m, _, _ in s.points)
        for s in series
    )
    full = f"{title} ({context})" if context else title
    out = _frame(plot, title, full, desc, xlabel, ylabel, [(t, _fmt_tick(t)) for t in xvals],
                 yticks, small)  # fmt: skip
    for s in series:
        color, dash, shape = style_of(names.index(s.name) if s.name in names else len(names))
        pts = sorted(s.points)
        banded = [p for p in pts if p[2] is not None and p[3] is not None]
        if len(banded) >= 1:
            upper = [f"{px(x):.1f},{py(hi):.1f}" for x, _, _, hi in banded]
            lower = [f"{px(x):.1f},{py(lo):.1f}" for x, _, lo, _ in reversed(banded)]
            if len(banded) == 1:  # an interval at one rate: a bar
                x, _, lo, hi = banded[0]
                out.append(f'<line class="band" data-model="{esc(s.name)}" x1="{px(x):.1f}" '
                           f'x2="{px(x):.1f}" y1="{py(lo):.1f}" y2="{py(hi):.1f}" '
                           f'stroke="{color}" stroke-width="6" opacity="0.25"/>')  # fmt: skip
            else:
                out.append(f'<polygon class="band" data-model="{esc(s.name)}" '
                           f'points="{" ".join(upper + lower)}" fill="{color}" '
                           'fill-opacity="0.18" stroke="none"/>')  # fmt: skip
        line = " ".join(f"{px(x):.1f},{py(m):.1f}" for x, m, _, _ in pts)
        out.append(f'<polyline class="line" data-model="{esc(s.name)}" points="{line}" '
                   f'fill="none" stroke="{color}" stroke-width="2" '
                   f'stroke-dasharray="{dash}"/>')  # fmt: skip
        for x, m, lo, hi in pts:
            ci = "" if lo is None or hi is None else f" [{lo:.3g}, {hi:.3g}]"
            out.append(f"<g><title>{esc(s.name)} at {_fmt_tick(x)}: {m:.3g}{ci}</title>"
                       f"{_marker(shape, px(x), py(m), color)}</g>")  # fmt: skip
    out.append("</svg>")
    return "".join(out)


def legend(names: Sequence[str]) -> str:
    """The models of a page's figures, each with its colour, dash and marker."""
    items = []
    for i, name in enumerate(names):
        color, dash, shape = style_of(i)
        swatch = (f'<svg width="34" height="14" aria-hidden="true"><line x1="2" x2="32" y1="7" '
                  f'y2="7" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}"/>'
                  f"{_marker(shape, 17, 7, color)}</svg>")  # fmt: skip
        items.append(f"<li>{swatch} {esc(name)}</li>")
    return f'<ul class="legend">{"".join(items)}</ul>'


def scatter(title: str, rows: Sequence[dict[str, Any]], names: Sequence[str]) -> str:
    """Memorization rate against clean test score, one point per model."""
    pts = [(r["model"], r.get("memorization_rate"), (r.get("clean") or {}).get("mean"))
           for r in rows]  # fmt: skip
    pts = [(m, x, y) for m, x, y in pts if x is not None and y is not None]
    metric = rows[0]["metric"] if rows else "score"
    if not pts:
        return (f'<figure class="chart"><figcaption>{esc(title)}: no model has both a noisy '
                "run and a clean one</figcaption></figure>")  # fmt: skip
    ys = [y for _, _, y in pts]
    pad = _pad(min(ys), max(ys), 0.1)
    yticks = _ticks(min(ys) - pad, max(ys) + pad)
    plot = Plot(0.0, 1.0, yticks[0], yticks[-1])
    px, py = plot.px, plot.py
    desc = "; ".join(f"{m}: memorization {x:.3g}, clean test {metric} {y:.3g}" for m, x, y in pts)
    out = _frame(plot, title, title, desc, "memorization rate (noisy runs)",
                 f"clean test {metric}", [(t, f"{t:g}") for t in (0, 0.25, 0.5, 0.75, 1)],
                 yticks)  # fmt: skip
    for m, x, y in pts:
        color, _, shape = style_of(names.index(m) if m in names else len(names))
        out.append(f'<g class="point" data-model="{esc(m)}"><title>{esc(m)}: memorization '
                   f"{x:.3g}, clean test {esc(metric)} {y:.3g}</title>"
                   f"{_marker(shape, px(x), py(y), color)}</g>")  # fmt: skip
    out.append("</svg>")
    return "".join(out)


def _interval_points(by_rate: dict[float, list[float]], metric: str) -> list[tuple]:
    pts = []
    for rate, values in sorted(by_rate.items()):
        s = mean_interval(values, scale(metric))
        if s["mean"] is not None:
            pts.append((rate, float(s["mean"]), s["ci_low"], s["ci_high"]))
    return pts


def train_given(runs: Sequence[RunRecord]) -> dict[tuple, dict[str, dict[float, list[float]]]]:
    """Per board and model, per noise rate: the training score against the given labels (the
    board's metric, at the selected epoch) of each seed."""
    out: dict[tuple, dict[str, dict[float, list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    for r in runs:
        value = finite((r.metrics.get("train") or {}).get(r.metric))
        if value is not None:
            u = r.unit
            out[(u.task, u.dataset, u.noise_kind, r.profile)][u.model][u.noise_rate].append(
                float(value)
            )
    return out


def board_figures(members: Sequence[dict[str, Any]], train: dict[str, dict[float, list[float]]],
                  names: Sequence[str], small: bool = False) -> str:  # fmt: skip
    """Test score against noise rate for every model of a board, and (unless ``small``) the
    training score against the given labels beside it and the memorization scatter."""
    metric = members[0]["metric"]
    task, dataset, kind, profile = board_key(members[0])
    test = [Series(r["model"], [(float(k), v["mean"], v.get("ci_low"), v.get("ci_high"))
                                for k, v in r["scores"].items() if v.get("mean") is not None])
            for r in members]  # fmt: skip
    where = f"{task}, {dataset}, {profile} profile"
    parts = [line_chart(f"Test {metric} by {kind} noise", f"{kind} noise rate", f"test {metric}",
                        test, names=names, small=small, context=where)]  # fmt: skip
    if not small:
        fitted = [Series(m, _interval_points(by_rate, metric)) for m, by_rate in train.items()]
        fitted = [s for s in fitted if s.points]
        if fitted:
            parts.append(line_chart(f"Train {metric} on the given labels",
                                    f"{kind} noise rate", f"train {metric}, given labels",
                                    fitted, names=names, context=where))  # fmt: skip
        parts.append(scatter(f"Memorization vs clean test {metric}", members, names))
    return f'<div class="figs">{"".join(parts)}</div>'


def epoch_chart(title: str, runs: Sequence[RunRecord], names: Sequence[str]) -> str:
    """Test score per epoch, one line per noise rate (mean over seeds, 95% band)."""
    by_rate: dict[float, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    metric = runs[0].metric if runs else "score"
    for r in runs:
        for e in r.metrics.get("per_epoch") or []:
            v = finite((e.get("test") or {}).get(metric))
            if v is not None and isinstance(e.get("epoch"), int):
                by_rate[r.unit.noise_rate][e["epoch"]].append(v)
    series = [Series(f"noise {rate:g}",
                     _interval_points({float(k): v for k, v in ep.items()}, metric))
              for rate, ep in sorted(by_rate.items())]  # fmt: skip
    return line_chart(title, "epoch", f"test {metric}", [s for s in series if s.points],
                      names=names)  # fmt: skip
