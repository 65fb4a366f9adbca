"""Build a code2seq-shaped archive of N Java files and time the official java-tree build.

    python tests/perf/official.py --files N [--workers W] [--json]

The archive is made from the JDK's sources (``native.sources.named("jdk", "java")``): file k
is JDK file k mod F (F = the JDK's file count), in project k mod 20 (projects 0-15 training,
16-17 validation, 18-19 test) under copy folder k // F; odd copies rename the file's class
(its simple name gets a ``_cK`` suffix) so they are new methods, even copies repeat the
original and are removed as duplicates when they fall in validation or test. It is written as
a stream, so making it needs no more memory than one file.

The build runs in a child process (a fresh ``BENCH_CACHE``), which reports its own peak RSS and
that of the largest worker it waited for. Prints ``files``, ``seconds``, ``files_per_s``,
``samples``, ``shards``, ``peak_rss_mib`` (the parent of the build) and ``worker_peak_rss_mib``;
never fails on time. The claim to check (issue 4): peak RSS is flat in N, e.g. between
N=5,000 and N=50,000.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

PROJECTS = 20


def split_of(project: int) -> str:
    return "training" if project < 16 else "validation" if project < 18 else "test"


def make_archive(path: Path, files: int) -> int:
    """Write the synthetic archive; returns its size in bytes."""
    from native import sources

    src = sources.named("jdk", "java")
    names = src.names()
    with tarfile.open(path, "w:gz") as t:
        for k in range(files):
            name = names[k % len(names)]
            copy = k // len(names)
            data = src.read(name)
            if copy % 2:
                stem = re.escape(Path(name).stem).encode()
                data = re.sub(rb"\b" + stem + rb"\b", stem + f"_c{copy}".encode(), data)
            project = k % PROJECTS
            info = tarfile.TarInfo(f"synth/{split_of(project)}/proj{project}/c{copy}/{name}")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path.stat().st_size


def build(archive: Path, workers: int | None) -> dict:
    """The child's side: build the archive as java-small and report its figures."""
    from benchmark import official

    started = time.perf_counter()
    out = official.build(official.card_of("java-small"), archive, workers=workers)
    seconds = time.perf_counter() - started
    info = json.loads((out / "info.json").read_text())
    return {
        "seconds": round(seconds, 2),
        "samples": info["samples"],
        "duplicates_removed": info["duplicates_removed"],
        "shards": info["shards"],
        "unreadable_files": info["unreadable_count"],
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "worker_peak_rss_mib": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
        ),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, required=True)
    ap.add_argument("--workers", type=int)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--build", type=Path, help=argparse.SUPPRESS)  # the child's entry
    args = ap.parse_args(argv)
    if args.build:
        print(json.dumps(build(args.build, args.workers)))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-perf-official-") as tmp:
        archive = Path(tmp) / "synth.tar.gz"
        t0 = time.perf_counter()
        size = make_archive(archive, args.files)
        made = time.perf_counter() - t0
        cmd = [sys.executable, __file__, "--files", str(args.files), "--build", str(archive)]
        if args.workers:
            cmd += ["--workers", str(args.workers)]
        env = {**os.environ, "BENCH_CACHE": str(Path(tmp) / "cache")}
        child = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, check=True)
        result = json.loads(child.stdout.decode().strip().splitlines()[-1])
    report = {
        "files": args.files,
        "archive_mib": round(size / 2**20, 1),
        "archive_seconds": round(made, 2),
        **result,
        "files_per_s": round(args.files / result["seconds"], 1),
        "workers": args.workers or min(len(os.sched_getaffinity(0)), 8),
    }
    if args.json:
        print(json.dumps(report))
    else:
        for k, v in report.items():
            print(f"{k:>22}: {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
