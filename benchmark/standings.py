"""The leaderboard's numbers: unit folders from one or many results roots, checked, merged and
ranked.

Results come from laptops, cluster nodes and submitted containers, then get copied together, so
nothing in a folder is trusted by position alone: a unit is shown only when its folder is
complete, its manifest verifies (results.verify: no file changed, every score in range), its
path, run.json and metrics.json all name the same unit, it was made from the same version
of its dataset as the newest unit of that dataset, and with the same epochs and weights as
the newest unit of its model's rows. Anything else is a warning, never a row.
The same unit found in several roots counts once; two different results for one unit are a
conflict, reported and left out, since neither can be preferred.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.metrics.checks import scale
from benchmark.metrics.schema import RUN_METRICS
from benchmark.metrics.sweep import (
    FLOOR_KIND,
    floor_and_gain,
    floor_rate,
    mean_interval,
    normalized_area,
)
from benchmark.numbers import finite
from benchmark.pooling import SETTINGS, differences, settings_of
from benchmark.results import REQUIRED, Unit, dataset_fingerprint, noise_of, unsegment, verify

RANKING = (
    "Within each board (one task, dataset, noise kind and profile), models are ranked by "
    "robustness: the area under their mean test score against the noise rate, divided by the "
    "span of rates they were run at (the mean test score over the noise range; the score "
    "itself for a single rate). Ties are broken by the clean (0% noise) test score, then by "
    "name. Test scores are the task's primary metric on the test split at the epoch selected "
    "by validation. Means are over seeds, with 95% Student-t intervals where there are two or "
    "more. Memorization rate and detection AUROC are means over the noisy runs (rate > 0). "
    "The floor is the same model's test score when trained on labels that carry nothing about "
    "the code: label noise 1.0 where each noisy label is another sample's (method_name, "
    "code_to_text), 0.5 where labels are flipped (var_misuse, code_search), since at 1.0 a "
    "flipped label is the truth inverted, which a model learns; the gain is the clean score "
    "above it, with a 95% Welch interval over seeds. A model whose gain's interval includes 0 "
    "is marked as not learning from the code."
)


@dataclass(frozen=True)
class RunRecord:
    """One checked unit folder: where it is, what it is, and what it holds."""

    unit: Unit
    folder: Path
    metrics: dict[str, Any]
    run: dict[str, Any]

    @property
    def profile(self) -> str:
        return str(self.metrics.get("profile") or self.run.get("config", {}).get("profile", ""))

    @property
    def metric(self) -> str:
        return str(self.metrics.get("selection", {}).get("metric", "acc"))

    @property
    def test_score(self) -> float | None:
        return finite(self.metrics.get("test", {}).get(self.metric))

    @property
    def key(self) -> str:
        """A stable identity string for the unit (also its run page's name)."""
        u = self.unit
        return "/".join([u.task, u.dataset, u.model, u.noise_kind, f"{u.noise_rate:g}",
                         str(u.seed)])  # fmt: skip


@dataclass
class Collection:
    """What a scan found: the runs to show and the reasons others are not shown."""

    runs: list[RunRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _candidates(root: Path) -> list[Path]:
    """Every folder at a unit's depth, complete or not (hidden staging folders excluded)."""
    return sorted(p for p in root.glob("*/*/*/noise-*/seed-*") if p.is_dir())


def _unit_from_path(root: Path, folder: Path) -> Unit:
    task, dataset, model, noise, seed = folder.relative_to(root).parts
    kind, rate = noise_of(noise)
    return Unit(unsegment(task), unsegment(dataset), unsegment(model), kind, rate,
                int(seed.removeprefix("seed-")))  # fmt: skip


def unit_from_metrics(m: dict[str, Any]) -> Unit:
    """The unit metrics.json names."""
    noise = m["noise"]
    return Unit(str(m["task"]), str(m["dataset"]), str(m["model"]), str(noise["kind"]),
                float(noise["rate"]), int(m["seed"]))  # fmt: skip


def unit_from_run(r: dict[str, Any]) -> Unit:
    """The unit run.json's config names: under its ``name`` where the run gave one (``bench run
    --name``, or hf's folder-and-mode default), else under its model."""
    c = r["config"]
    return Unit(str(c["task"]), str(c["dataset"]), str(c.get("name") or c["model"]),
                str(c["noise_kind"]), float(c["noise_rate"]), int(c["seed"]))  # fmt: skip


def check(root: Path, folder: Path) -> RunRecord | str:
    """The unit in ``folder``, or why it cannot be shown."""
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    if missing:
        return f"{folder}: incomplete (missing {', '.join(missing)}); not shown"
    try:
        unit = _unit_from_path(root, folder)
    except ValueError as e:
        return f"{folder}: path does not name a unit ({e}); not shown"
    if unit.path(root) != folder:  # noise-label-0.0 or %72nn beside the unit bench made
        return f"{folder}: not where bench puts its unit ({unit.path(root)}); not shown"
    try:
        metrics = json.loads((folder / "metrics.json").read_text())
        run = json.loads((folder / "run.json").read_text())
        in_metrics, in_run = unit_from_metrics(metrics), unit_from_run(run)
    except (OSError, ValueError, KeyError, TypeError, RecursionError, OverflowError) as e:
        return f"{folder}: unreadable run.json or metrics.json ({type(e).__name__}: {e}); not shown"
    for source, other in (("metrics.json", in_metrics), ("run.json", in_run)):
        if other != unit:
            return f"{folder}: provenance mismatch: {source} names {other}, path names {unit}"
    reason = verify(folder) or shape_problem(run, metrics)
    if reason is not None:
        return f"{folder}: {reason}; not shown"
    return RunRecord(unit, folder, metrics, run)


# What the board and the site read of run.json beyond its config, and the type each must be.
RUN_FIELDS = {"hardware": dict, "code": dict, "dataset": dict, "config": dict, "noise": dict,
              "image": dict, "container": dict, "submission": dict, "started": str,
              "model_command": list, "command": (list, str)}  # fmt: skip


def shape_problem(run: dict[str, Any], metrics: dict[str, Any]) -> str | None:
    """What a verified unit's run.json or metrics.json holds of the wrong type for the board:
    a manifest re-signed by hand vouches for the bytes, not for what they say."""
    for key, kind in RUN_FIELDS.items():
        if key in run and run[key] is not None and not isinstance(run[key], kind):
            return f"run.json's {key} is not as the harness writes it"
    if not isinstance(metrics.get("profile", ""), str):
        return "metrics.json's profile is not a name"
    return None


def _same_data(runs: list[RunRecord], warnings: list[str]) -> list[RunRecord]:
    """Only units made from one version of each dataset: the version of its newest unit.
    Units of an older version measured something else, and would be ranked beside it."""
    made = {r.folder: dataset_fingerprint(r.folder) for r in runs}
    newest: dict[str, tuple[str, str]] = {}
    for r in runs:
        stamp = (str(r.run.get("started", "")), made[r.folder] or "")
        if r.unit.dataset not in newest or stamp > newest[r.unit.dataset]:
            newest[r.unit.dataset] = stamp
    kept = []
    for r in runs:
        if (made[r.folder] or "") == newest[r.unit.dataset][1]:
            kept.append(r)
        else:
            warnings.append(f"{r.folder}: made from an older version of dataset "
                            f"{r.unit.dataset}; not shown")  # fmt: skip
    return kept


def _same_settings(runs: list[RunRecord], warnings: list[str]) -> list[RunRecord]:
    """Only the units of each model's rows (one task, dataset and profile) run with the
    settings of its newest unit: seeds of 10 epochs and of 50 pooled into one mean, or a
    floor of other weights, would be a figure no command reproduces (benchmark.pooling)."""

    def row_of(r: RunRecord) -> tuple[str, ...]:
        return (r.unit.task, r.unit.dataset, r.profile, r.unit.model)

    newest: dict[tuple[str, ...], RunRecord] = {}
    for r in sorted(runs, key=lambda r: str(r.run.get("started", ""))):
        newest[row_of(r)] = r
    kept = []
    for r in runs:
        mine = settings_of(r.run.get("config"))
        theirs = settings_of(newest[row_of(r)].run.get("config"))
        if mine == theirs:
            kept.append(r)
            continue
        differ = ", ".join(differences(SETTINGS, mine, theirs, "the newest"))
        warnings.append(f"{r.folder}: run with other settings than the newest unit of "
                        f"{r.unit.model}'s rows ({differ}); not shown")  # fmt: skip
    return kept


def collect(roots: Iterable[Path]) -> Collection:
    """Every showable unit under ``roots``, each once, and a warning for each one left out."""
    out = Collection()
    found: dict[Unit, list[RunRecord]] = defaultdict(list)
    for root in roots:
        if not root.is_dir():
            out.warnings.append(f"{root}: no such results folder")
            continue
        for folder in _candidates(root):
            got = check(root, folder)
            if isinstance(got, str):
                out.warnings.append(got)
            else:
                found[got.unit].append(got)
    for unit in sorted(found, key=lambda u: (u.task, u.dataset, u.model, u.noise_kind,
                                              u.noise_rate, u.seed)):  # fmt: skip
        copies = found[unit]
        distinct = {json.dumps(c.metrics, sort_keys=True) for c in copies}
        if len(distinct) > 1:
            where = ", ".join(str(c.folder) for c in copies)
            out.warnings.append(f"conflicting results for unit {copies[0].key} in {where}; "
                                "not shown")  # fmt: skip
            continue
        out.runs.append(copies[0])  # identical copies (merged from several places): one unit
    out.runs = _same_settings(_same_data(out.runs, out.warnings), out.warnings)
    return out


def _mean(values: Iterable[float | None]) -> float | None:
    xs = [v for v in values if v is not None]
    return sum(xs) / len(xs) if xs else None


def hardware_label(run: dict[str, Any]) -> str:
    """A short description of the machine a run used, e.g. 'cuda: NVIDIA H100 (16 cores)'."""
    hw = run.get("hardware", {})
    device = hw.get("device") or run.get("config", {}).get("device") or "?"
    name = hw.get("gpu") or hw.get("cpu") or hw.get("machine") or "?"
    cores = f" ({hw['cores']} cores)" if hw.get("cores") else ""
    return f"{device}: {name}{cores}"


def board_rows(runs: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """One ranked row per (task, dataset, noise kind, profile, model) of ``runs``, with the
    model's floor (its test score trained on labels that carry nothing about the code: label
    noise at the task's floor rate) and
    the clean score's gain above it, where those runs are there."""
    groups: dict[tuple[str, str, str, str, str], list[RunRecord]] = defaultdict(list)
    floors: dict[tuple[str, str, str, str], list[float | None]] = defaultdict(list)
    for r in runs:
        u = r.unit
        groups[(u.task, u.dataset, u.noise_kind, r.profile, u.model)].append(r)
        if u.noise_kind == FLOOR_KIND and u.noise_rate == floor_rate(u.task):
            floors[(u.task, u.dataset, r.profile, u.model)].append(r.test_score)
    rows = []
    for (task, dataset, kind, profile, model), members in groups.items():
        by_rate: dict[float, list[RunRecord]] = defaultdict(list)
        for r in members:
            by_rate[r.unit.noise_rate].append(r)
        rates = sorted(by_rate)
        within = scale(members[0].metric)
        scores = {rate: mean_interval([r.test_score for r in by_rate[rate]], within)
                  for rate in rates}  # fmt: skip
        curve = [(rate, s["mean"]) for rate, s in scores.items() if s["mean"] is not None]
        noisy = [r for r in members if r.unit.noise_rate > 0]
        counts = (r.run.get("hardware", {}).get("parameters") for r in members)
        params = sorted({p for p in counts if isinstance(p, int)})
        clean = scores.get(0.0, {"n": 0, "mean": None, "ci_low": None, "ci_high": None})
        floor = floors.get((task, dataset, profile, model), [])
        versus: dict[str, Any] = {"floor": None, "gain": None, "learns": None}
        if floor and 0.0 in by_rate:
            versus = floor_and_gain([r.test_score for r in by_rate[0.0]], floor, within)
        rows.append({
            "task": task, "dataset": dataset, "noise_kind": kind, "profile": profile,
            "model": model, "metric": members[0].metric,
            "clean": clean, "scores": {f"{rate:g}": scores[rate] for rate in rates}, **versus,
            "robustness": normalized_area([c[0] for c in curve], [c[1] for c in curve]),
            **{m.key: _mean(m.of(r.metrics) for r in (noisy if m.noisy_only else members))
               for m in RUN_METRICS},
            "parameters": params[-1] if params else None,
            "train_seconds": _mean(finite(r.run.get("seconds")) for r in members),
            "hardware": sorted({hardware_label(r.run) for r in members}),
            "seeds": len({r.unit.seed for r in members}),
            "runs": sorted(r.key for r in members),
        })  # fmt: skip
    rows.sort(key=_rank_key)
    rank: dict[tuple[str, ...], int] = defaultdict(int)
    for row in rows:
        board = board_key(row)
        rank[board] += 1
        row["rank"] = rank[board]
    return rows


def gain_text(row: dict[str, Any], digits: int = 3) -> str:
    """The clean score's gain above the model's floor with its interval, flagged when the
    interval includes 0; '-' where the floor was not run."""
    gain = row.get("gain")
    if not gain or gain.get("diff") is None:
        return "-"
    text = f"{gain['diff']:+.{digits}f}"
    if gain.get("low") is not None:
        text += f" [{gain['low']:+.{digits}f}, {gain['high']:+.{digits}f}]"
    if row.get("learns") is False:
        text += " not learning from the code"
    return text


def floor_text(row: dict[str, Any], digits: int = 3) -> str:
    floor = row.get("floor")
    return "-" if not floor or floor.get("mean") is None else f"{floor['mean']:.{digits}f}"


def board_key(row: dict[str, Any]) -> tuple[str, str, str, str]:
    return (row["task"], row["dataset"], row["noise_kind"], row["profile"])


def _rank_key(row: dict[str, Any]) -> tuple:
    def desc(v: float | None) -> tuple[int, float]:
        return (1, 0.0) if v is None else (0, -v)

    return (*board_key(row), desc(row["robustness"]), desc(row["clean"]["mean"]), row["model"])


def leaderboard(roots: Iterable[Path]) -> tuple[list[dict[str, Any]], Collection]:
    """The ranked rows of every board under ``roots``, and the collection behind them."""
    found = collect(roots)
    return board_rows(found.runs), found
