"""`bench leaderboard publish`: the leaderboard as a static site.

The site is plain files that open from disk or any static host: no server, no CDN, no request
to anywhere (style and the column sort are inline). Pages: an index, a sortable leaderboard per
task, a page per model (with the figures of `bench report` where a report was written for its
runs) and a provenance page per run. Every name in them comes from a submission and is escaped;
file names are derived from a hash, so no name reaches a path or a URL unescaped.

The site is written into a new folder beside ``--out`` and renamed into place, with a marker
file that lists what it wrote; an ``--out`` that holds anything else is refused, so a
re-publish replaces only a site that publish wrote, and never deletes another file.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import shlex
import shutil
import stat
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmark import console
from benchmark import site_charts as charts
from benchmark.exports import fmt, rates_of, with_interval
from benchmark.metrics.schema import RUN_METRICS
from benchmark.report_seal import seal_problem
from benchmark.results import noise_version
from benchmark.standings import (
    RANKING,
    Collection,
    RunRecord,
    board_key,
    floor_text,
    gain_text,
    hardware_label,
)
from benchmark.sweep_spec import command as sweep_command

GUIDE = (
    "How to read the charts: each board is one task, dataset, noise kind and profile. The "
    "left chart is each model's test score against the share of noisy training labels, the "
    "line the mean over seeds and the band its 95% interval; the training score against the "
    "given (noisy) labels is drawn beside it on each board's page. A model that generalizes "
    "keeps its test score as the noise rises; one that memorizes keeps fitting the training "
    "labels while its test score falls: the gap between the two charts is the memorization. "
    "The scatter places each model by its memorization rate (the share of noisy training "
    "samples it predicts as their wrong label) against its clean test score: lower right is "
    "better. Units that fail their checks are listed under Not shown, never drawn."
)
MARKER = ".bench-site.json"  # in every published site: the files publish wrote there

STYLE = """
:root { --fg: #222; --bg: #fff; --muted: #666; --line: #ccc; --head: #f2f2f2; --grid: #e4e4e4;
  --link: #0b57a4; color-scheme: light dark; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e6e6; --bg: #161616; --muted: #aaa;
  --line: #444; --head: #262626; --grid: #333; --link: #7db8ff; } }
body { font-family: sans-serif; margin: 1.5em auto; max-width: 1200px; color: var(--fg);
  background: var(--bg); padding: 0 1em; line-height: 1.4; }
a { color: var(--link); }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 0.9em; margin-bottom: 1.5em; }
th, td { border: 1px solid var(--line); padding: 3px 7px; text-align: right; }
th { background: var(--head); } td.t, th.t { text-align: left; }
td.cmd { min-width: 16em; } td.cmd code { font-size: 0.85em; overflow-wrap: anywhere; }
.figs { display: flex; flex-wrap: wrap; gap: 0.5em 1.5em; margin: 0.5em 0; }
svg.chart { width: 100%; max-width: 420px; height: auto; }
svg.chart.small { max-width: 300px; }
svg.chart .ttl { font-size: 12px; font-weight: bold; fill: var(--fg); }
svg.chart .lbl, svg.chart .tick { font-size: 11px; fill: var(--muted); }
svg.chart .grid { stroke: var(--grid); stroke-width: 1; }
svg.chart .frame { fill: none; stroke: var(--line); }
ul.legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 0.3em 1.2em; }
ul.legend li { display: flex; align-items: center; gap: 0.3em; }
.guide { max-width: 60em; }
.board { margin-bottom: 2em; }
table.sortable th { cursor: pointer; user-select: none; }
th[aria-sort=ascending]::after { content: " \\25B2"; }
th[aria-sort=descending]::after { content: " \\25BC"; }
dt { font-weight: bold; margin-top: 0.5em; } dd { margin-left: 1.5em; font-family: monospace; }
.warn { color: #8a4b00; } img { max-width: 100%; } nav { margin-bottom: 1em; }
"""

# Click a header: sort by it, ascending then descending; missing values always go last.
SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("thead th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      table.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      function key(row) {
        var cell = row.cells[col];
        var v = cell.getAttribute("data-v");
        if (v === null) { return cell.textContent; }
        return v === "" ? null : parseFloat(v);
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null || y === null) { return (x === null) - (y === null); }
        if (typeof x === "number") { return dir * (x - y); }
        return dir * String(x).localeCompare(String(y));
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def slug(kind: str, name: str) -> str:
    """A file name for a page: readable where the name is plain, unique by a hash."""
    plain = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:40].strip("._") or "x"
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{kind}-{plain}-{digest}.html"


def page(title: str, body: Sequence[str], script: bool = False) -> str:
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>",
             '<nav><a href="index.html">leaderboard</a></nav>', f"<h1>{esc(title)}</h1>",
             *body]  # fmt: skip
    if script:
        parts.append(f"<script>{SORT_JS}</script>")
    parts.append("</body></html>")
    return "\n".join(parts)


def num_cell(value: float | int | None, text: str | None = None) -> str:
    v = "" if value is None else repr(float(value))
    return f'<td data-v="{v}">{esc(text if text is not None else fmt(value))}</td>'


def text_cell(text: str, href: str | None = None) -> str:
    inner = esc(text) if href is None else f'<a href="{esc(href)}">{esc(text)}</a>'
    return f'<td class="t">{inner}</td>'


def header(names: Sequence[str], text: Sequence[bool]) -> str:
    ths = "".join(f'<th class="t">{esc(n)}</th>' if t else f"<th>{esc(n)}</th>"
                  for n, t in zip(names, text, strict=True))  # fmt: skip
    return f"<thead><tr>{ths}</tr></thead>"


def reproduce(row: dict[str, Any], runs: dict[str, RunRecord]) -> str:
    """The `bench sweep` that makes a row's runs, from what they record."""
    mine = [runs[k] for k in row["runs"] if k in runs]
    config = mine[0].run.get("config", {}) if mine else {}
    seeds = max((r.unit.seed for r in mine), default=0) + 1
    return sweep_command(row["task"], row["dataset"], row["model"], row["noise_kind"],
                   [float(k) for k in rates_of([row])], seeds, row["profile"], config)  # fmt: skip


def board_table(rows: Sequence[dict[str, Any]], with_board: bool = False,
                runs: dict[str, RunRecord] | None = None) -> str:  # fmt: skip
    """A sortable table of leaderboard rows (one board, or several with ``with_board``), each
    with the command that reproduces it."""
    rates = rates_of(rows)
    names = ["rank", "model", "clean [95% CI]", "floor", "gain over floor [95%]",
             *[f"@{r}" for r in rates], "robustness", *[m.column for m in RUN_METRICS],
             "parameters", "train s", "seeds", "hardware", "reproduce"]  # fmt: skip
    text = [False, True, False, False, False, *[False] * len(rates), False,
            *[False] * len(RUN_METRICS), *[False] * 3, True, True]  # fmt: skip
    if with_board:
        names, text = ["task", "dataset", "noise", "profile", *names], [True] * 4 + text
    out = [f'<div class="scroll"><table class="sortable">{header(names, text)}<tbody>']
    for row in rows:
        cells = []
        if with_board:
            cells += [text_cell(x) for x in board_key(row)]
        cells += [num_cell(row["rank"], str(row["rank"])),
                  text_cell(row["model"], slug("model", row["model"])),
                  num_cell(row["clean"]["mean"], with_interval(row["clean"])),
                  num_cell((row.get("floor") or {}).get("mean"), floor_text(row)),
                  num_cell((row.get("gain") or {}).get("diff"), gain_text(row))]  # fmt: skip
        for r in rates:
            score = row["scores"].get(r, {})
            cells.append(num_cell(score.get("mean"), with_interval(score) if score else "-"))
        cells += [num_cell(row["robustness"]), *[num_cell(row.get(m.key)) for m in RUN_METRICS],
                  num_cell(row["parameters"]),
                  num_cell(row["train_seconds"], fmt(row["train_seconds"], 1)),
                  num_cell(row["seeds"], str(row["seeds"])),
                  text_cell("; ".join(row["hardware"])),
                  f'<td class="t cmd"><code>{esc(reproduce(row, runs or {}))}</code>'
                  "</td>"]  # fmt: skip
        out.append(f"<tr>{''.join(cells)}</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def runs_table(runs: Sequence[RunRecord]) -> str:
    names = ["task", "dataset", "noise", "rate", "seed", "test", *[m.column for m in RUN_METRICS],
             "run"]  # fmt: skip
    text = [True] * 3 + [False] * (3 + len(RUN_METRICS)) + [True]
    out = [f'<div class="scroll"><table class="sortable">{header(names, text)}<tbody>']
    for r in runs:
        u = r.unit
        cells = [text_cell(u.task), text_cell(u.dataset), text_cell(u.noise_kind),
                 num_cell(u.noise_rate, f"{u.noise_rate:g}"), num_cell(u.seed, str(u.seed)),
                 num_cell(r.test_score), *[num_cell(m.of(r.metrics)) for m in RUN_METRICS],
                 text_cell("provenance", slug("run", r.key))]  # fmt: skip
        out.append(f"<tr>{''.join(cells)}</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def image_digest(run: dict[str, Any]) -> str | None:
    """The container image's digest, where the run was a container (None for a process)."""
    for holder in (run.get("image"), run.get("container"), run.get("code"), run.get("config")):
        if isinstance(holder, dict):
            for key in ("digest", "image_digest"):
                if holder.get(key):
                    return str(holder[key])
    return None


def submission_items(run: dict[str, Any]) -> list[tuple[str, Any]]:
    """A submitted model's provenance (`bench submit`), as run.json records it."""
    sub = run.get("submission")
    if not isinstance(sub, dict):
        return []
    image = run.get("image") if isinstance(run.get("image"), dict) else {}
    source = sub.get("source") or "an image"
    if sub.get("source_hash"):
        source += f" (sha256 {str(sub['source_hash'])[:16]})"
    return [("image", image.get("name", sub.get("image"))),
            ("submitted", f"{sub.get('name')} on {sub.get('submitted')}, verified: "
                          f"{'yes' if sub.get('verified') else 'no'}"),
            ("submitted from", source)]  # fmt: skip


def _reports(runs: Sequence[RunRecord]) -> list[Path]:
    """`bench report` outputs written for these runs: in a run's folder or above it, up to
    the model's folder; one that is not as bench report wrote it for its runs as they are now
    (report_seal) is left out with a warning line."""
    found: list[Path] = []
    for r in runs:
        for folder in (r.folder, r.folder.parent, r.folder.parents[1]):
            report = folder / "report" / "report.html"
            if report.is_file() and report not in found:
                found.append(report)
    kept = []
    for report in found:
        if why := seal_problem(report.parent):
            console.err.print(f"warning: {report.parent}: {why}; not published",
                              highlight=False, soft_wrap=True)  # fmt: skip
        else:
            kept.append(report)
    return kept


def model_page(model: str, rows: Sequence[dict[str, Any]], runs: Sequence[RunRecord],
               out: Path) -> str:  # fmt: skip
    """The model's rows on every board with its curves (score against noise rate, and per
    epoch at each rate), its runs, and any `bench report` figures of them (copied in)."""
    by_key = {r.key: r for r in runs}
    train = charts.train_given(runs)
    body = ["<h2>Boards</h2>", board_table(rows, with_board=True, runs=by_key)]
    for row in rows:
        board = board_key(row)
        mine = [r for r in runs if (r.unit.task, r.unit.dataset, r.unit.noise_kind,
                                    r.profile) == board]  # fmt: skip
        rates = [f"noise {float(k):g}" for k in rates_of([row])]
        body += [f"<h3>{esc(' / '.join(board))}</h3>",
                 charts.board_figures([row], {model: train[board].get(model, {})}, [model]),
                 charts.legend([model]),
                 '<div class="figs">' + charts.epoch_chart(
                     f"Test {row['metric']} per epoch at each noise rate", mine, rates)
                 + "</div>" + charts.legend(rates)]  # fmt: skip
    body += ["<h2>Runs</h2>", runs_table(runs)]
    reports = _reports(runs)
    if reports:
        body.append("<h2>Report figures</h2>")
    for i, report in enumerate(reports):
        stem = slug("report", f"{model}\0{i}").removesuffix(".html")
        (out / "reports").mkdir(exist_ok=True)
        shutil.copy(report, out / "reports" / f"{stem}.html")
        body.append(f'<p><a href="reports/{stem}.html">full report</a> '
                    f"({esc(report.parent.parent)})</p>")  # fmt: skip
        for png in sorted((report.parent / "figures").glob("*.png")):
            name = f"{stem}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', png.name)}"
            shutil.copy(png, out / "reports" / name)
            body.append(f'<figure><img src="reports/{esc(name)}" alt="{esc(png.stem)}">'
                        f"<figcaption>{esc(png.stem)}</figcaption></figure>")  # fmt: skip
    return page(f"Model {model}", body, script=True)


def run_page(r: RunRecord) -> str:
    """Where a number came from: the run's identity and provenance, as recorded in run.json."""
    u, run = r.unit, r.run
    code = run.get("code", {})
    commit = code.get("git_commit", "unknown")
    if code.get("git_dirty"):
        commit += " (with uncommitted changes)"
    command = run.get("command")
    items = [
        ("task", u.task), ("dataset", u.dataset), ("model", u.model),
        ("noise", f"{u.noise_kind} {u.noise_rate:g} (version {noise_version(run)} of the "
                  "kind)"), ("seed", u.seed),
        ("profile", r.profile), ("code version", f"{code.get('package', '?')} {commit}"),
        ("image digest", image_digest(run) or "none (ran as a local process)"),
        *submission_items(run),
        ("dataset fingerprint", run.get("dataset", {}).get("fingerprint", "unknown")),
        ("hardware", hardware_label(run)),
        ("hardware details", json.dumps(run.get("hardware", {}), sort_keys=True)),
        ("command line", shlex.join(command) if isinstance(command, list) else command),
        ("model command", shlex.join(map(str, run.get("model_command", [])))),
        ("started", run.get("started", "unknown")), ("seconds", run.get("seconds", "unknown")),
        ("test " + r.metric, fmt(r.test_score)),
        ("selected epoch", r.metrics.get("selected_epoch")),
        *[(m.title, fmt(m.of(r.metrics))) for m in RUN_METRICS],
        ("result folder", r.folder),
    ]  # fmt: skip
    dl = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items)
    links = f'<p><a href="{esc(slug("model", u.model))}">model {esc(u.model)}</a></p>'
    return page(f"Run {r.key}", [links, f"<dl>{dl}</dl>"])


class SiteError(Exception):
    """The site cannot go where it was asked to; the message is one line."""


def written_files(site: Path) -> set[str] | None:
    """The files a site's marker lists (relative, '/'-separated), or None where the folder
    has no readable marker, so publish did not write it."""
    try:
        marker = json.loads((site / MARKER).read_text())
        files = marker["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return {f for f in files if isinstance(f, str)} if isinstance(files, list) else None


def check_replaceable(out: Path) -> None:
    """Raise SiteError unless ``out`` is missing, empty, or a site publish wrote and nothing
    else since: publishing replaces the folder whole, so it must hold only what it wrote."""
    if not out.exists():
        return
    if not out.is_dir():
        raise SiteError(f"--out {out} is a file, not a folder")
    if out.parent == out:
        raise SiteError(f"--out {out} is the root folder; give a folder for the site")
    if not any(out.iterdir()):
        return
    written = written_files(out)
    if written is None:
        raise SiteError(f"--out {out} is not empty and is not a site bench published (no "
                        f"{MARKER}); give a new or empty folder")  # fmt: skip
    folders = {parent.as_posix() for f in written for parent in Path(f).parents}
    for root, dirs, files in os.walk(out):
        for name in sorted(dirs + files):
            rel = (Path(root) / name).relative_to(out).as_posix()
            if rel not in written and rel not in folders:
                raise SiteError(f"--out {out} holds {rel}, which bench did not publish; move it "
                                "away or publish elsewhere")  # fmt: skip


def swap_in(new: Path, out: Path) -> None:
    """Rename ``new`` to ``out``; an old ``out`` is renamed aside first and removed after, so
    a failure at any point leaves the old site or the new one, never a mix."""
    if not out.exists():
        new.rename(out)
        return
    old = out.with_name(f".{out.name}.old-{os.getpid()}-{time.time_ns()}")
    out.rename(old)
    try:
        new.rename(out)
    except OSError:
        old.rename(out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def publish(rows: Sequence[dict[str, Any]], found: Collection, out: Path) -> list[Path]:
    """Write the site into a new folder beside ``out`` and swap it in; returns the pages.

    ``out`` must be missing, empty, or a site published before (``check_replaceable``): a
    re-publish replaces it whole, so pages of units no longer shown do not linger, and
    publishing never deletes a file it did not write. Raises SiteError with one line.
    """
    out = out.resolve()  # a link to the site: the folder it names is replaced
    check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    new = out.with_name(f".{out.name}.new-{os.getpid()}-{time.time_ns()}")
    new.mkdir()
    try:
        if out.is_dir():  # the site keeps the folder's permissions
            os.chmod(new, stat.S_IMODE(out.stat().st_mode))
        names = write_pages(rows, found, new)
        files = sorted(p.relative_to(new).as_posix() for p in new.rglob("*") if p.is_file())
        marker = {"written_by": "bench leaderboard publish", "files": [*files, MARKER]}
        (new / MARKER).write_text(json.dumps(marker, indent=1) + "\n")
        swap_in(new, out)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    return [out / name for name in names]


def write_pages(rows: Sequence[dict[str, Any]], found: Collection, out: Path) -> list[str]:
    """Write every page (and the report figures) into the empty folder ``out``; returns the
    pages' names."""
    pages: dict[str, str] = {}
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_task[row["task"]].append(row)
        by_model[row["model"]].append(row)
    runs_of: dict[str, list[RunRecord]] = defaultdict(list)
    for r in found.runs:
        runs_of[r.unit.model].append(r)

    runs_by_key = {r.key: r for r in found.runs}
    train = charts.train_given(found.runs)
    boards_of: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        boards_of[board_key(row)].append(row)
    index = []
    for board, members in boards_of.items():
        names = [r["model"] for r in members]
        index += ['<div class="board">',
                  f'<h3><a href="{esc(slug("task", board[0]))}">{esc(" / ".join(board))}</a>'
                  "</h3>",
                  charts.board_figures(members, train[board], names, small=True),
                  charts.legend(names), "</div>"]  # fmt: skip
    index += [
        f'<p class="guide">{esc(GUIDE)}</p>',
        f"<p>{esc(RANKING)}</p>",
        "<h2>Tasks</h2>",
        "<ul>",
    ]
    index += [f'<li><a href="{esc(slug("task", t))}">{esc(t)}</a></li>' for t in sorted(by_task)]
    index += ["</ul>", "<h2>Models</h2>", "<ul>"]
    index += [f'<li><a href="{esc(slug("model", m))}">{esc(m)}</a></li>' for m in sorted(by_model)]
    index.append("</ul>")
    if found.warnings:
        index += ['<h2>Not shown</h2><ul class="warn">']
        index += [f"<li>{esc(w)}</li>" for w in found.warnings] + ["</ul>"]
    pages["index.html"] = page("Leaderboard", index)

    for task, task_rows in by_task.items():
        body = [f"<p>{esc(RANKING)}</p>"]
        boards: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for row in task_rows:
            boards[board_key(row)].append(row)
        for board, members in boards.items():
            _, dataset, kind, profile = board
            names = [r["model"] for r in members]
            body.append(f"<h2>{esc(dataset)}, {esc(kind)} noise, {esc(profile)} profile "
                        f"(test {esc(members[0]['metric'])})</h2>")  # fmt: skip
            body += [charts.board_figures(members, train[board], names), charts.legend(names)]
            body.append(board_table(members, runs=runs_by_key))
        pages[slug("task", task)] = page(f"Task {task}", body, script=True)
    for model, model_rows in by_model.items():
        pages[slug("model", model)] = model_page(model, model_rows, runs_of[model], out)
    for r in found.runs:
        pages[slug("run", r.key)] = run_page(r)

    for name, text in pages.items():
        (out / name).write_text(text)
    return list(pages)
