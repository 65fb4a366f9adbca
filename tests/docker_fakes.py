"""Tiny model images for the docker tests: plain python3 on ``bench-os:bookworm``, no torch.

One script plays a good model that obeys the protocol for var_misuse and, by its BEHAVIOR
(baked in at build time), each way a model can break it. Images build in about a second, so
the tests build them in the session instead of shipping them. The session fails, with the
reason, when the daemon or the base image is missing: a docker test never skips.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from typing import Any

BASE = "bench-os:bookworm"

MODEL = r"""
import json, os, socket, sys, time

behavior = os.environ.get("BEHAVIOR", "good")
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
inp, out = args["--input"], args["--output"]
task = json.load(open(os.path.join(inp, "task.json")))
os.makedirs(os.path.join(out, "predictions"), exist_ok=True)
events_path = os.path.join(out, "events.jsonl")

def event(**e):
    with open(events_path, "a") as f:
        f.write(json.dumps(e) + "\n")

if behavior == "once" and os.path.exists(events_path):
    raise SystemExit("refusing to start on a used output folder")
if behavior == "probe":  # what the sandbox lets the model see and do
    probe = {"uid": os.getuid(), "interfaces": sorted(os.listdir("/sys/class/net"))}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key in ("CapEff", "NoNewPrivs"):
            probe[key] = value.strip()
    for where in ("/probe-root", os.path.join(inp, "probe"), "/tmp/probe"):
        try:
            open(where, "w").close()
            probe[where] = "written"
        except OSError as e:
            probe[where] = e.strerror
    try:
        socket.create_connection(("198.51.100.7", 80), timeout=3)
        probe["network"] = "reached"
    except OSError as e:
        probe["network"] = e.strerror or str(e)
    for limit in ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory.max",
                  "/sys/fs/cgroup/pids/pids.max", "/sys/fs/cgroup/pids.max"):
        if os.path.exists(limit):
            probe[limit] = open(limit).read().strip()
    probe["env"] = {k: v for k, v in os.environ.items() if k.endswith("_THREADS")}
    with open(os.path.join(out, "probe.json"), "w") as f:
        json.dump(probe, f)
if behavior == "outside":
    open("/opt/model-was-here", "w").write("x")
if behavior == "network":
    socket.create_connection(("198.51.100.7", 80), timeout=5)
start = {"event": "start", "parameters": 3, "device": "cpu"}
if behavior == "html":
    start["name"] = "<script>alert('pwned')</script>"
event(**start)
if behavior == "garbled":  # nested past Python's stack: json.loads raises RecursionError
    with open(events_path, "a") as f:
        f.write("[" * 100000 + "]" * 100000 + "\n")
if behavior == "crash":
    raise RuntimeError("the fake model crashed on purpose")
if behavior == "hang":
    time.sleep(3600)
samples = []
for split in ("train", "valid", "test"):
    with open(os.path.join(inp, task["files"][split])) as f:
        samples += [(split, json.loads(line)) for line in f if line.strip()]
for epoch in range(1, task["epochs"] + 1):
    path = os.path.join(out, "predictions", "epoch-%03d.jsonl" % epoch)
    with open(path + ".tmp", "w") as f:
        for split, s in samples:
            cands = s["repair_candidates"]
            row = {"id": s["id"], "split": split, "location": 0,
                   "repair": cands[0] if cands else 0, "location_score": 0.5,
                   "repair_score": 0.5,
                   "repair_probs": [1.0 / len(cands)] * len(cands)}
            if split == "train":
                row.update(loss=1.0 / epoch, p_given=0.5)
            if behavior == "malformed":
                row["location_score"] = "high"
            f.write(json.dumps(row) + "\n")
    os.replace(path + ".tmp", path)
    if behavior == "oversized":
        with open(os.path.join(out, "blob.bin"), "wb") as f:
            f.write(b"\0" * (4 << 20))
    if behavior == "slow":
        time.sleep(1.5)
    event(event="epoch_end", epoch=epoch, train_loss=1.0 / epoch, seconds=0.0)
event(event="done")
"""

BEHAVIORS = ("good", "crash", "hang", "malformed", "oversized", "outside", "network", "html",
             "slow", "once", "probe", "garbled")  # fmt: skip


def dockerfile(behavior: str, tasks: str = "var_misuse") -> str:
    return (
        f"FROM {BASE}\n"
        "COPY model.py /opt/model/model.py\n"
        f"ENV BEHAVIOR={behavior}\n"
        f'LABEL bench.tasks="{tasks}"\n'
        'ENTRYPOINT ["python3", "/opt/model/model.py"]\n'
    )


def context(behavior: str) -> bytes:
    """The build context as a tar archive: the Dockerfile and the script."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in (("Dockerfile", dockerfile(behavior)), ("model.py", MODEL)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def tag(behavior: str) -> str:
    digest = hashlib.sha256(context(behavior)).hexdigest()[:12]
    return f"bench-test-fake/{behavior}:{digest}"


def build(client: Any, behavior: str) -> str:
    """Build the fake model image of ``behavior`` unless it exists; return its tag."""
    import docker

    name = tag(behavior)
    try:
        client.images.get(name)
    except docker.errors.ImageNotFound:
        client.images.build(fileobj=io.BytesIO(context(behavior)), custom_context=True,
                            tag=name, rm=True, network_mode="none")  # fmt: skip
    return name


def require_docker() -> Any:
    """The daemon with the base image, or a failure that says what is missing."""
    import pytest

    try:
        import docker
    except ImportError:
        pytest.fail("the docker tests need the 'docker' package (pip install docker)")
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as e:
        pytest.fail(f"no docker daemon answers ({e}); start one: tests/docker/start-dockerd.sh")
    try:
        client.images.get(BASE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"base image {BASE} is missing; build it: tests/docker/make-base.sh")
    return client
