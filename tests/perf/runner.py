"""What the docker runner costs per unit over the process runner, in seconds.

    python tests/perf/runner.py [--model ggnn] [--image IMAGE] [--profile smoke]
                                [--repeats 3] [--bare-only] [--json]

Two measurements, each alternating the runners after one warm-up of each, reporting medians:

- bare: the runner alone. A standard-library model (tests/docker_fakes.py, which needs no
  torch) on a tiny hand-made input, started by the process runner as ``python3 model.py`` and
  by the docker runner as its image: container creation, start, sandbox checks and removal.
- unit: the whole unit, end to end with ``bench run``'s own ``run_unit`` (the model at noise
  0.25, seed 0; its reference image, or IMAGE), each time into a fresh results folder.

Prints the overhead against the target of at most 3 s per unit (issue 7); never fails on time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmark.profiles import PROFILES
from benchmark.run import RunConfig, run_unit

TARGET_S = 3.0


def one(model: str, runner: str, image: str | None, profile: str) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-perf-runner-") as tmp:
        cfg = RunConfig("var_misuse", "python-stdlib", model, "label", 0.25, 0, profile,
                        PROFILES[profile].epochs, "cpu", Path(tmp), runner, image)  # fmt: skip
        t0 = time.perf_counter()
        run_unit(cfg)
        return time.perf_counter() - t0


def bare(repeats: int) -> dict[str, list[float]]:
    from benchmark.runner import docker as docker_runner
    from benchmark.runner import process as process_runner
    from tests import docker_fakes
    from tests.test_docker_runner import tiny_input

    image = docker_fakes.build(docker_runner.client(), "good")
    times: dict[str, list[float]] = {"process": [], "docker": []}
    with tempfile.TemporaryDirectory(prefix="bench-perf-runner-") as tmp:
        root = Path(tmp)
        tiny_input(root / "input")
        (root / "model.py").write_text(docker_fakes.MODEL)
        for i in range(repeats + 1):
            for runner in times:
                out = root / f"{runner}-{i}"
                t0 = time.perf_counter()
                if runner == "process":
                    process_runner.run(["python3", str(root / "model.py")], root / "input", out,
                                       root / "log", 60)  # fmt: skip
                else:
                    docker_runner.run(image, (), root / "input", out, root / "log", 60)
                if i:  # the first round warms up
                    times[runner].append(time.perf_counter() - t0)
    return times


def summary(times: dict[str, list[float]]) -> dict:
    medians = {r: statistics.median(t) for r, t in times.items()}
    overhead = medians["docker"] - medians["process"]
    return {
        "seconds": {r: [round(x, 2) for x in t] for r, t in times.items()},
        "median_s": {r: round(m, 2) for r, m in medians.items()},
        "overhead_s": round(overhead, 2), "within_target": overhead <= TARGET_S,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ggnn")
    parser.add_argument("--image", help="the image to run; the model's reference image if unset")
    parser.add_argument("--profile", default="smoke", choices=list(PROFILES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--bare-only", action="store_true", help="measure the runner alone")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    result = {"target_s": TARGET_S, "repeats": args.repeats, "bare": summary(bare(args.repeats))}
    if not args.bare_only:
        for runner in ("process", "docker"):  # warm-up
            one(args.model, runner, args.image, args.profile)
        times: dict[str, list[float]] = {"process": [], "docker": []}
        for _ in range(args.repeats):
            for runner in times:
                times[runner].append(one(args.model, runner, args.image, args.profile))
        result["unit"] = {"model": args.model, "profile": args.profile, **summary(times)}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for what in ("bare", "unit"):
        if what not in result:
            continue
        r = result[what]
        title = "the runner alone" if what == "bare" else f"a {args.model} unit ({args.profile})"
        print(f"{title}, median of {args.repeats}:")
        for runner, m in r["median_s"].items():
            each = ", ".join(map(str, r["seconds"][runner]))
            print(f"  --runner {runner:<8} {m:7.2f} s   ({each})")
        verdict = "within" if r["within_target"] else "OVER"
        print(f"  docker overhead  {r['overhead_s']:+7.2f} s ({verdict} the {TARGET_S:g} s target)")


if __name__ == "__main__":
    main()
