"""``--runner docker`` with real containers: the sandbox holds, and every way a container can
misbehave ends its unit with a one-line reason while other results stay untouched.

Needs a docker daemon and the ``bench-os:bookworm`` base (tests/docker/); without them these
tests fail, saying which is missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmark.models import MODELS
from benchmark.results import is_complete
from benchmark.run import RunConfig, run_unit
from benchmark.runner import UnitFailed
from benchmark.runner import docker as sandbox
from benchmark.submit import adhoc_model, save
from tests import docker_fakes as fakes


@pytest.fixture(scope="module")
def client():
    return fakes.require_docker()


@pytest.fixture(scope="module")
def image(client):
    """behavior -> the tag of its fake model image (built once, in about a second each)."""
    return {b: fakes.build(client, b) for b in fakes.BEHAVIORS}


def tiny_input(folder: Path, epochs: int = 2) -> None:
    """A hand-made var_misuse input folder: six samples a split, no dataset needed."""
    folder.mkdir(parents=True)
    samples = [{"id": f"s{i}", "source_tokens": ["#NEWLINE#", "a", "b"], "edges": [],
                "repair_candidates": [1, 2]} for i in range(6)]  # fmt: skip
    files = {s: f"{s}.jsonl" for s in ("train", "valid", "test")}
    task = {"protocol": 1, "task": "var_misuse", "epochs": epochs, "files": files}
    (folder / "task.json").write_text(json.dumps(task))
    for split, name in files.items():
        rows = [{**s, "id": f"{split}-{s['id']}"} for s in samples]
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows))


def left_behind(client, output: Path) -> list:
    return client.containers.list(all=True, filters={"label": f"{sandbox.LABEL}={output}"})


def run_fake(client, image: str, tmp_path: Path, **limits) -> tuple[list[dict], str]:
    tiny_input(tmp_path / "input")
    out = tmp_path / "output"
    try:
        return sandbox.run(image, (), tmp_path / "input", out, tmp_path / "model.log", 60,
                           device="cpu", limits=sandbox.Limits(**limits))  # fmt: skip
    finally:
        assert left_behind(client, out.resolve()) == [], "the container was not removed"


def test_good_container_runs_and_hands_back_its_output(client, image, tmp_path):
    events, digest = run_fake(client, image["good"], tmp_path)
    assert [e["event"] for e in events] == ["start", "epoch_end", "epoch_end", "done"]
    assert digest == client.images.get(image["good"]).id
    out = tmp_path / "output"
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    assert files == ["events.jsonl", "predictions", "predictions/epoch-001.jsonl",
                     "predictions/epoch-002.jsonl"]  # fmt: skip
    for path in [out, *out.rglob("*")]:
        st = path.stat()
        assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid()), path
        assert st.st_mode & 0o002 == 0, f"{path} is left world-writable"


def test_the_sandbox_as_the_model_sees_it(client, image, tmp_path):
    run_fake(client, image["probe"], tmp_path, memory=512 << 20, pids=64)
    probe = json.loads((tmp_path / "output" / "probe.json").read_text())
    assert probe["uid"] != 0
    assert int(probe["CapEff"], 16) == 0, "capabilities were not dropped"
    assert probe["NoNewPrivs"] == "1"
    assert probe["interfaces"] == ["lo"], "the container has a network interface"
    assert probe["network"] != "reached"
    assert probe["/probe-root"] == "Read-only file system"
    assert probe["/input/probe"] == "Read-only file system"
    assert probe["/tmp/probe"] == "written"
    memory = probe.get("/sys/fs/cgroup/memory/memory.limit_in_bytes") or probe.get(
        "/sys/fs/cgroup/memory.max"
    )
    assert int(memory) == 512 << 20
    pids = probe.get("/sys/fs/cgroup/pids/pids.max") or probe.get("/sys/fs/cgroup/pids.max")
    assert int(pids) == 64


@pytest.mark.parametrize(
    ("behavior", "limits", "rule", "reason"),
    [
        ("crash", {}, "starts", r"exited with status 1: RuntimeError: the fake model crashed"),
        ("hang", {"time_s": 3}, "time", r"ran past its time limit of 3 s"),
        ("oversized", {"file": 1 << 20}, "size", r"wrote 4\.0 MiB to blob\.bin, over the limit"),
        ("oversized", {"output": 2 << 20}, "size", r"wrote 4\.0 MiB to its output folder"),
        ("outside", {}, "outside", r"writing outside its output folder.*'/opt/model-was-here'"),
        ("network", {}, "network", r"trying to reach the network.*Network is unreachable"),
        ("html", {}, "names", r"start event names it \"<script>"),
        ("garbled", {}, "events", r"^the model's events\.jsonl line 2 is not JSON$"),
    ],
)
def test_a_misbehaving_container_fails_with_one_line(
    client, image, tmp_path, behavior, limits, rule, reason
):
    with pytest.raises(sandbox.ContainerFailed, match=reason) as failed:
        run_fake(client, image[behavior], tmp_path, **limits)
    assert "\n" not in str(failed.value)
    assert failed.value.rule == rule


def test_a_missing_image_is_one_line(client, tmp_path):
    with pytest.raises(UnitFailed, match=r"docker image 'bench-test-fake/none:0' is not on"):
        run_fake(client, "bench-test-fake/none:0", tmp_path)


def test_limits_from_the_environment():
    limits = sandbox.Limits.from_env({"BENCH_DOCKER_MEMORY": "2g", "BENCH_DOCKER_CPUS": "1.5",
                                      "BENCH_DOCKER_FILE": "10m"})  # fmt: skip
    assert (limits.memory, limits.cpus, limits.file) == (2 << 30, 1.5, 10 << 20)
    assert limits.resolved().pids == sandbox.Limits().pids
    with pytest.raises(UnitFailed, match=r"BENCH_DOCKER_MEMORY='lots' is not a size"):
        sandbox.Limits.from_env({"BENCH_DOCKER_MEMORY": "lots"})
    for text in ("nan", "inf", "-1"):
        with pytest.raises(UnitFailed, match=r"CPUS='.*' must be a finite number, not negative"):
            sandbox.Limits.from_env({"BENCH_DOCKER_CPUS": text})


def test_weights_are_mounted_read_only_at_their_path(client, image, tmp_path):
    weights = tmp_path / "weights"
    weights.mkdir()
    tiny_input(tmp_path / "input")
    task = json.loads((tmp_path / "input" / "task.json").read_text())
    (tmp_path / "input" / "task.json").write_text(json.dumps({**task, "weights": str(weights)}))
    limits = sandbox.Limits().resolved()
    options = sandbox.container_options(image["good"], (), tmp_path / "input",
                                        tmp_path / "output", "cpu", limits)  # fmt: skip
    assert options["volumes"][str(weights.resolve())] == {"bind": str(weights.resolve()),
                                                           "mode": "ro"}  # fmt: skip
    assert options["network_mode"] == "none" and options["read_only"] is True
    assert "device_requests" not in options
    gpu = sandbox.container_options(image["good"], (), tmp_path / "input", tmp_path / "output",
                                    "cuda", limits)  # fmt: skip
    assert gpu["device_requests"][0]["Capabilities"] == [["gpu"]]


# --- whole units: `bench run` and `bench sweep` ------------------------------------------------


def digest_tree(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode() + path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module", autouse=True)
def ad_hoc_models_stay_in_this_module():
    """`adhoc_model` registers names in the process's MODELS; later tests see only theirs."""
    before = dict(MODELS)
    yield
    MODELS.clear()
    MODELS.update(before)


def config(model: str, image: str, results: Path, rate: float = 0.0) -> RunConfig:
    adhoc_model(model, "var_misuse")
    return RunConfig("var_misuse", "python-stdlib", model, "label", rate, 0, "smoke", 2, "cpu",
                     results, "docker", image)  # fmt: skip


@pytest.fixture(scope="module")
def done(image, tmp_path_factory):
    """A results folder holding one complete unit of a good container."""
    results = tmp_path_factory.mktemp("results")
    cfg = config("fake-good", image["good"], results)
    run_unit(cfg)
    return results, cfg.unit.path(results)


def test_a_container_unit_records_its_image(client, image, done):
    _, folder = done
    run = json.loads((folder / "run.json").read_text())
    assert run["image"] == {"name": image["good"], "digest": client.images.get(image["good"]).id,
                            "runner": "docker"}  # fmt: skip
    assert run["model_command"] == ["python3", "/opt/model/model.py", "--input", "/input",
                                    "--output", "/output"]  # fmt: skip
    assert run["config"]["runner"] == "docker"


@pytest.mark.parametrize(
    ("behavior", "env", "reason"),
    [
        ("crash", {}, r"the model exited with status 1: RuntimeError"),
        ("hang", {"BENCH_DOCKER_TIME_S": "3"}, r"the model ran past its time limit of 3 s"),
        ("malformed", {}, r"predictions/epoch-001\.jsonl line 1: scores must be finite"),
        ("oversized", {"BENCH_DOCKER_FILE": "1m"}, r"blob\.bin, over the limit of 1\.0 MiB"),
        ("outside", {}, r"writing outside its output folder"),
        ("network", {}, r"trying to reach the network"),
        ("html", {}, r"start event names it \"<script>"),
    ],
)
def test_a_bad_container_fails_its_unit_only(
    client, image, done, monkeypatch, behavior, env, reason
):
    results, good = done
    before = digest_tree(good)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    cfg = config(f"fake-{behavior}", image[behavior], results)
    with pytest.raises(UnitFailed, match=reason) as failed:
        run_unit(cfg)
    assert "\n" not in str(failed.value)
    assert not cfg.unit.path(results).exists()
    assert digest_tree(good) == before, "a failed unit touched a complete one"
    assert list((results / ".tmp").iterdir()) == []
    leftovers = client.containers.list(all=True, filters={"label": sandbox.LABEL})
    assert [c for c in leftovers if str(results) in c.labels[sandbox.LABEL]] == []


def test_a_sweep_with_a_bad_image_runs_the_good_ones(client, image, tmp_path):
    """Acceptance 2 end to end: bench sweep --runner docker, one unit's image crashes, one
    names itself with HTML; the good model's units complete and the earlier result stays."""
    results = tmp_path / "results"
    for name, behavior in (("good", "good"), ("crashy", "crash"), ("shouty", "html")):
        found = client.images.get(image[behavior])
        record = {"name": name, "image": image[behavior], "image_id": found.id,
                  "digest": found.id, "tasks": ["var_misuse"], "submitted": "test"}  # fmt: skip
        save(results, record)
    bench = [sys.executable, "-m", "benchmark"]
    common = ["--task", "var_misuse", "--profile", "smoke", "--results", str(results)]
    first = subprocess.run([*bench, "run", "--model", "good", "--noise", "0.5", "--runner",
                            "docker", *common], capture_output=True, text=True)  # fmt: skip
    assert first.returncode == 0, first.stderr[-2000:]
    earlier = results / "var_misuse/python-stdlib/good/noise-label-0.5/seed-0"
    before = digest_tree(earlier)
    sweep = subprocess.run([*bench, "sweep", "--models", "good,crashy,shouty", "--noise", "0,0.5",
                            "--seeds", "1", "--runner", "docker", "--retries", "0", "--json",
                            "--max-parallel", "2", *common],
                           capture_output=True, text=True)  # fmt: skip
    assert sweep.returncode == 1, sweep.stderr[-2000:]
    summary = json.loads(sweep.stdout)
    assert summary["complete"] == 2 and summary["skipped"] == 1
    failed = {f["unit"]: f["reason"] for f in summary["failed"]}
    assert set(failed) == {f"{m}/noise-label-{r}/seed-0" for m in ("crashy", "shouty")
                           for r in ("0", "0.5")}  # fmt: skip
    for unit, reason in failed.items():
        assert "\n" not in reason
        expected = "RuntimeError: the fake model crashed" if "crashy" in unit else "<script>"
        assert expected in reason, reason
    assert is_complete(results / "var_misuse/python-stdlib/good/noise-label-0/seed-0")
    assert digest_tree(earlier) == before
    run = json.loads((earlier.parent.parent / "noise-label-0/seed-0/run.json").read_text())
    assert run["image"]["digest"] == client.images.get(image["good"]).id
    assert run["submission"]["name"] == "good"


def test_ggnn_gives_the_same_metrics_in_its_container(built_images, tmp_path):
    """Acceptance 1: `bench run --model ggnn --noise 0.25 --profile smoke --runner docker`
    scores exactly as `--runner process` for the same seed (CPU training is deterministic)."""
    metrics = {}
    for runner in ("process", "docker"):
        results = tmp_path / runner
        out = subprocess.run([sys.executable, "-m", "benchmark", "run", "--model", "ggnn",
                              "--noise", "0.25", "--profile", "smoke", "--runner", runner,
                              "--results", str(results), "--json"],
                             capture_output=True, text=True)  # fmt: skip
        assert out.returncode == 0, out.stderr[-2000:]
        metrics[runner] = json.loads(out.stdout)
        unit = results / "var_misuse/python-stdlib/ggnn/noise-label-0.25/seed-0"
        run = json.loads((unit / "run.json").read_text())
    assert metrics["docker"] == metrics["process"]
    assert run["image"]["name"] == built_images["ggnn"]  # the reference image, found by label
    assert run["hardware"]["device"] == "cpu"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_run_removes_its_container(client, image, tmp_path, sig):
    """Ctrl-C or SIGTERM (scancel, a killed sweep) during a unit leaves no container behind,
    and keeps the unit's staging folder (not moved to .failed) for the rerun to resume."""
    results = tmp_path / "results"
    argv = [sys.executable, "-m", "benchmark", "run", "--model", "hangs", "--runner", "docker",
            "--image", image["hang"], "--profile", "smoke", "--results", str(results)]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    mine: list = []
    while not mine and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
        mine = [c for c in client.containers.list(filters={"label": sandbox.LABEL})
                if c.labels[sandbox.LABEL].startswith(str(results))]  # fmt: skip
    assert mine, f"no container started: {proc.stderr.read() if proc.poll() is not None else ''}"
    proc.send_signal(sig)
    assert proc.wait(timeout=60) != 0
    left = [c for c in client.containers.list(all=True, filters={"label": sandbox.LABEL})
            if c.labels[sandbox.LABEL].startswith(str(results))]  # fmt: skip
    assert left == []
    [kept] = list((results / ".tmp").iterdir())
    assert (kept / "output").is_dir() and not (results / ".failed").exists()


def test_a_file_renamed_while_the_output_is_scanned_is_not_an_error(tmp_path, monkeypatch):
    """A model renames each epoch's .tmp file into place while the harness scans its output:
    a name listed and gone by the time it is looked at is skipped (seen failing a real
    resumed run under load), and the rest of the folder is still checked."""
    (tmp_path / "epoch-001.jsonl.tmp").write_text("x")
    (tmp_path / "big").write_bytes(b"0" * 100)
    real = os.scandir

    def scandir(path):
        entries = list(real(path))
        (tmp_path / "epoch-001.jsonl.tmp").unlink(missing_ok=True)  # renamed meanwhile
        return iter(entries)

    monkeypatch.setattr(sandbox.os, "scandir", scandir)
    assert sandbox.scan_output(tmp_path, sandbox.Limits()) is None
    assert "over the limit" in sandbox.scan_output(tmp_path, sandbox.Limits(file=50))
