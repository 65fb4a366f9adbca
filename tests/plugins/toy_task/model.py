"""toy-lookup, the toy task's model program: memorizes each training bit string's given label,
answers unseen ones with the parity it computes, and writes the protocol's files itself.

python -m tests.plugins.toy_task.model --input DIR --output DIR
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    task = json.loads((args.input / "task.json").read_text())
    args.output.mkdir(parents=True, exist_ok=True)
    with (args.output / "events.jsonl").open("a") as events:

        def emit(event: str, **fields: object) -> None:
            events.write(json.dumps({"event": event, **fields}) + "\n")
            events.flush()

        emit("start", parameters=0, device="cpu", hyperparameters={})
        data = {s: _read(args.input / task["files"][s]) for s in ("train", "valid", "test")}
        seen = {tuple(r["source_tokens"]): r["label"] for r in data["train"]}
        out = []
        for split, rows in data.items():
            for r in rows:
                key = tuple(r["source_tokens"])
                label = seen.get(key, key.count("1") % 2)
                line = {"id": r["id"], "split": split, "label": label, "score": 0.9}
                if split == "train":
                    p = 0.9 if label == r["label"] else 0.1
                    line.update(loss=-math.log(p), p_given=p)
                out.append(json.dumps(line) + "\n")
        folder = args.output / "predictions"
        folder.mkdir(exist_ok=True)
        for epoch in range(1, int(task["epochs"]) + 1):
            (folder / f"epoch-{epoch:03d}.jsonl").write_text("".join(out))
            emit("epoch_end", epoch=epoch, train_loss=0.1)
        emit("done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
