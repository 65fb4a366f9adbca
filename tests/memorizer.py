"""A synthetic protocol-3 var_misuse model for the membership tests: it predicts nothing about
the code, and its loss on a labelled sample is near 0 when it "memorized" the sample and drawn
from one fixed distribution otherwise (a hash of the id, so runs repeat).

    python tests/memorizer.py --input IN --output OUT [--remembers train|none]

``train``: it memorized every training sample and no holdout one (a perfect memorizer, which
the loss attack must find at any false positive rate); ``none``: every loss comes from the same
distribution, members or not (nothing to find).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from pathlib import Path


def _uniform(sample_id: str) -> float:
    """A number in [0, 1) fixed by the id."""
    return int.from_bytes(hashlib.sha256(sample_id.encode()).digest()[:8], "big") / 2**64


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--remembers", choices=("train", "none"), default="train")
    args = parser.parse_args()
    task = json.loads((args.input / "task.json").read_text())
    events = args.output / "events.jsonl"
    (args.output / "predictions").mkdir(parents=True, exist_ok=True)
    lines = []
    for split, name in task["files"].items():
        for raw in (args.input / name).read_text().splitlines():
            r = json.loads(raw)
            cands = r["repair_candidates"]
            line = {"id": r["id"], "split": split, "location": 0, "repair": cands[0] if cands
                    else 0, "location_score": 0.5, "repair_score": 1 / max(len(cands), 1),
                    "repair_probs": [1 / len(cands)] * len(cands)}  # fmt: skip
            if split in ("train", "holdout"):
                memorized = split == "train" and args.remembers == "train"
                loss = 0.01 * _uniform(r["id"]) if memorized else 1 + 2 * _uniform(r["id"])
                line |= {"loss": loss, "p_given": math.exp(-loss)}
            lines.append(json.dumps(line) + "\n")
    with events.open("a") as log:
        log.write(json.dumps({"event": "start", "parameters": 0, "device": "cpu"}) + "\n")
        for epoch in range(1, task["epochs"] + 1):
            (args.output / "predictions" / f"epoch-{epoch:03d}.jsonl").write_text("".join(lines))
            log.write(json.dumps({"event": "epoch_end", "epoch": epoch, "train_loss": 0.5}) + "\n")
        log.write(json.dumps({"event": "done"}) + "\n")


if __name__ == "__main__":
    main()
