"""A minimal model that obeys the bench protocol: copy it, then replace `fit` and `predict`.

It predicts the most frequent training label for every sample (for var_misuse: "no bug" or a
bug at the first candidate; for method_name: the most frequent name), so it learns nothing
beyond the label counts. What matters here is the protocol around it (docs/protocol.md):
read task.json and the splits from --input, write one predictions file per epoch (to a
temporary name, then renamed) and the events `start`, `epoch_end`, `done` (or `error`) to
--output, and pick up after the last finished epoch when started again on the same folders.
Standard library only: no torch needed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections import Counter
from pathlib import Path

SPLITS = ("train", "valid", "test")


def read_jsonl(path: Path) -> list[dict]:
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


def fit(task: str, train: list[dict]) -> dict:
    """'Training': count the labels. A real model trains here (and checkpoints each epoch)."""
    if task == "var_misuse":
        p_bug = (sum(bool(r["has_bug"]) for r in train) + 1) / (len(train) + 2)
        return {"p_bug": p_bug}
    if task == "method_name":
        counts = Counter(tuple(r["label"]) for r in train)
        name = counts.most_common(1)[0][0] if counts else ("get",)
        return {"name": list(name), "counts": counts, "n": len(train)}
    raise ValueError(f"this template does not do task {task!r} (it does var_misuse, method_name)")


def predict(task: str, state: dict, split: str, row: dict) -> dict:
    """One prediction line; training lines also carry the loss and p(given label)."""
    line: dict = {"id": row["id"], "split": split}
    if task == "var_misuse":
        p_bug = state["p_bug"]
        candidates = row["repair_candidates"] or [0]
        u = 1 / len(candidates)  # probability of each candidate position
        say_bug = p_bug > 0.5
        line |= {
            "location": candidates[0] if say_bug else 0,
            "repair": candidates[0],
            "location_score": p_bug * u if say_bug else 1 - p_bug,
            "repair_score": u,
            # one probability per candidate, in their order (protocol 2): the harness counts a
            # repair as right when the mass on the true targets is >= 0.5, as GREAT does
            "repair_probs": [u] * len(row["repair_candidates"]),
        }
        if split == "train":
            if row["has_bug"]:
                p_given = p_bug * u * min(1.0, len(row["repair_targets"]) * u)
            else:
                p_given = 1 - p_bug
            line |= {"loss": -math.log(max(p_given, 1e-12)), "p_given": p_given}
    else:  # method_name
        counts, n = state["counts"], max(state["n"], 1)
        line |= {"subtokens": state["name"], "score": counts[tuple(state["name"])] / n}
        if split == "train":
            p_given = counts[tuple(row["label"])] / n
            line |= {"loss": -math.log(max(p_given, 1e-12)), "p_given": p_given}
    return line


def finished_epochs(out: Path) -> int:
    """The last epoch whose `epoch_end` event was written; drops a line torn by a kill."""
    path = out / "events.jsonl"
    if not path.exists():
        return 0
    lines = path.read_text().splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        path.write_text("".join(lines[:-1]))  # the last line was cut short: drop it
        lines = lines[:-1]
    epochs = [json.loads(x).get("epoch", 0) for x in lines if '"epoch_end"' in x]
    return max(epochs, default=0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", type=Path, required=True, help="read-only input folder")
    ap.add_argument("--output", type=Path, required=True, help="writable output folder")
    args = ap.parse_args()
    out: Path = args.output
    (out / "predictions").mkdir(parents=True, exist_ok=True)
    done = finished_epochs(out)
    events = (out / "events.jsonl").open("a")

    def event(**fields: object) -> None:
        events.write(json.dumps(fields) + "\n")
        events.flush()  # the harness follows this file while the model runs

    try:
        spec = json.loads((args.input / "task.json").read_text())
        task = spec["task"]
        data = {s: read_jsonl(args.input / spec["files"][s]) for s in SPLITS}
        resumed = {"resumed_after_epoch": done} if done else {}
        event(event="start", parameters=0, device="cpu", **resumed)
        state = fit(task, data["train"])
        for epoch in range(done + 1, int(spec["epochs"]) + 1):
            lines = [predict(task, state, s, row) for s in SPLITS for row in data[s]]
            final = out / "predictions" / f"epoch-{epoch:03d}.jsonl"
            tmp = final.with_name(f".{final.name}.tmp")
            tmp.write_text("".join(json.dumps(x) + "\n" for x in lines))
            os.replace(tmp, final)  # complete before its epoch_end event
            losses = [x["loss"] for x in lines if x["split"] == "train"]
            event(event="epoch_end", epoch=epoch, train_loss=sum(losses) / max(len(losses), 1))
    except Exception as e:  # one line for the harness; the traceback goes to the log
        event(event="error", message=f"{type(e).__name__}: {e}".splitlines()[0])
        raise
    event(event="done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
