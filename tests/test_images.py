"""The suite's Docker images (benchmark/images.py) with a real daemon: built offline from the
local OS base and a wheelhouse, named by a hash of their inputs, built once, run as non-root,
and obeying the protocol end to end (the ggnn image and the template).

Needs `tests/docker/start-dockerd.sh` and `tests/docker/make-base.sh` (CI runs both); without
them the tests fail and say which to run.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from benchmark import images
from benchmark.cli import app
from benchmark.models import MODELS
from benchmark.tasks import method_name, var_misuse
from tests import test_ggnn
from tests.docker_fixtures import BENCH_UID
from tests.test_ggnn import TINY, events, make_input

great_rows = test_ggnn.great_rows

REFERENCE_MODELS = ("ggnn", "great", "transformer", "rnn", "code2vec", "code2seq", "codebert",
                    "baseline")  # fmt: skip
TEMPLATE_MODEL = images.CONTAINERS / "template" / "model.py"


def entrypoint(name: str) -> list[str]:
    text = (images.CONTAINERS / name / "Dockerfile").read_text()
    (line,) = [ln for ln in text.splitlines() if ln.startswith("ENTRYPOINT ")]
    return json.loads(line.removeprefix("ENTRYPOINT "))


def run_container(client: Any, tag: str, input_dir: Path, output_dir: Path) -> tuple[int, str]:
    """Run an image the way the protocol does, sandboxed; return (exit status, its log)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    os.chown(output_dir, BENCH_UID, BENCH_UID)
    container = client.containers.run(
        tag,
        ["--input", "/in", "--output", "/out"],
        volumes={
            str(input_dir): {"bind": "/in", "mode": "ro"},
            str(output_dir): {"bind": "/out", "mode": "rw"},
        },
        network_mode="none",
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        environment={"OMP_NUM_THREADS": "1", "NUMBA_CACHE_DIR": "/tmp/numba"},
        detach=True,
    )
    try:
        status = container.wait(timeout=600)["StatusCode"]
        return status, container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)


def expected(input_dir: Path, key: str = "repair_candidates") -> dict[str, pl.DataFrame]:
    return {s: pl.read_ndjson(input_dir / f"{s}.jsonl").select(["id", key])
            for s in ("train", "valid", "test")}  # fmt: skip


# --- the Dockerfiles, without a daemon ---------------------------------------------------------


def test_every_reference_model_and_the_template_has_a_thin_image() -> None:
    assert set(REFERENCE_MODELS) | {"template"} <= set(images.model_names())
    for name in images.model_names():
        text = (images.CONTAINERS / name / "Dockerfile").read_text()
        assert re.search(r"^ARG BASE\nFROM \$\{BASE\}$", text, re.M), name
        assert re.search(r"^USER bench$", text, re.M), name
        command = entrypoint(name)
        assert command[0] == "python3", name
        if name != "template":
            assert command[1] == "-m" and importlib.util.find_spec(command[2]), name


def test_entrypoints_are_the_models_commands() -> None:
    """A model's image runs what `--runner process` runs, with the image's python3."""
    builtin = [m for m in MODELS if (images.CONTAINERS / m).is_dir()]
    assert {"ggnn", "baseline", "code2vec"} <= set(builtin)
    for name in builtin:
        assert entrypoint(name) == ["python3", *MODELS[name].command[1:]], name


def test_template_model_is_standard_library_only() -> None:
    tree = ast.parse(TEMPLATE_MODEL.read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                for a in n.names}  # fmt: skip
    imported |= {n.module.split(".")[0] for n in ast.walk(tree)
                 if isinstance(n, ast.ImportFrom) and n.module}  # fmt: skip
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported


def test_template_speaks_method_name(tmp_path: Path) -> None:
    """The template on a method_name input, as a plain process: the harness accepts it."""
    inp = tmp_path / "in"
    inp.mkdir()
    names = [["get", "value"], ["get", "value"], ["set", "name"], ["to", "string"]]
    rows = {
        "train": [{"id": f"t{i}", "source_tokens": ["a"], "contexts": [], "label": n}
                  for i, n in enumerate(names)],
        "valid": [{"id": "v0", "source_tokens": ["b"], "contexts": []}],
        "test": [{"id": "x0", "source_tokens": ["c"], "contexts": []}],
    }  # fmt: skip
    for split, part in rows.items():
        (inp / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    task = {"protocol": 1, "task": "method_name", "epochs": 2, "seed": 0,
            "files": {s: f"{s}.jsonl" for s in rows}}  # fmt: skip
    (inp / "task.json").write_text(json.dumps(task))
    out = tmp_path / "out"
    cmd = [sys.executable, str(TEMPLATE_MODEL), "--input", str(inp), "--output", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    splits = {s: pl.DataFrame({"id": [r["id"] for r in part]}) for s, part in rows.items()}
    table = method_name.read_predictions(out, 2, splits)
    assert table.height == 2 * 6
    assert table.filter(pl.col("split") == "test")["subtokens"].to_list()[0] == ["get", "value"]
    assert [e["event"] for e in events(out)] == ["start", "epoch_end", "epoch_end", "done"]


# --- tags and builds ----------------------------------------------------------------------------


def test_build_gives_the_tags_image_for_names(
    built_images: dict[str, str], os_base: str, wheelhouse: Path, docker_client: Any
) -> None:
    assert list(built_images) == ["base", "ggnn", "template"]
    for name, tag in built_images.items():
        assert re.fullmatch(rf"bench-{name}:[0-9a-f]{{12}}", tag), tag
        assert images.image_for(name, os_base, wheelhouse) == tag
        image = docker_client.images.get(tag)
        assert image.labels[images.LABEL] == name
    # Nothing of the build stage (wheelhouse, CA bundle) is left in the base image.
    probe = ["sh", "-c", "ls /tmp/bench-build 2>&1; python3 -c 'import benchmark, torch; "
             "print(torch.__version__)'"]  # fmt: skip
    out = docker_client.containers.run(
        built_images["base"], probe, network_mode="none", remove=True
    ).decode()
    assert "No such file or directory" in out and "2.13.0+cpu" in out, out


def test_second_build_is_a_no_op(
    built_images: dict[str, str], os_base: str, wheelhouse: Path, docker_client: Any
) -> None:
    ids = {n: docker_client.images.get(t).id for n, t in built_images.items()}
    said: list[str] = []
    again = images.build(["ggnn", "template"], os_base, wheelhouse, say=said.append)
    assert again == built_images
    assert {n: docker_client.images.get(t).id for n, t in again.items()} == ids
    assert not [s for s in said if s.startswith("building")], said
    assert len([s for s in said if s.endswith(" is built")]) == 3, said


def test_a_changed_input_changes_the_tag(
    built_images: dict[str, str], os_base: str, wheelhouse: Path, tmp_path: Path, docker_client: Any
) -> None:
    containers = tmp_path / "containers"
    shutil.copytree(images.CONTAINERS, containers)

    def tags(base: str = os_base, wh: Path | None = wheelhouse) -> dict[str, str]:
        return {n: images.image_for(n, base, wh, containers=containers) for n in built_images}

    assert tags() == built_images  # a copy of the same inputs: the same tags
    dockerfile = containers / "template" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "# changed\n")
    changed = tags()
    assert changed["template"] != built_images["template"]
    assert {n: changed[n] for n in ("base", "ggnn")} == {
        n: built_images[n] for n in ("base", "ggnn")
    }
    # Only the changed image is built again.
    said: list[str] = []
    got = images.build(["template"], os_base, wheelhouse, containers=containers, say=said.append)
    assert got["template"] == changed["template"]
    assert [s for s in said if s.startswith("building")] == [f"building {changed['template']}"]
    docker_client.images.remove(changed["template"])
    # The base's inputs name every image: its Dockerfile folder, the base image, the wheels.
    (containers / "base" / "install.sh").write_text(
        (containers / "base" / "install.sh").read_text() + "# changed\n"
    )
    other = tags()
    assert all(other[n] != changed[n] for n in built_images)
    shutil.copytree(images.CONTAINERS / "base", containers / "base", dirs_exist_ok=True)
    assert tags() == changed
    assert tags(base="debian:bookworm")["base"] != changed["base"]
    assert tags(wh=None)["base"] != changed["base"]
    fewer = tmp_path / "wheels"
    fewer.mkdir()
    for w in sorted(wheelhouse.glob("*.whl"))[1:]:
        os.link(w, fewer / w.name)
    assert tags(wh=fewer)["base"] != changed["base"]


def test_images_run_as_the_non_root_user(built_images: dict[str, str], docker_client: Any) -> None:
    for name, tag in built_images.items():
        image = docker_client.images.get(tag)
        assert image.attrs["Config"]["User"] == "bench", name
        out = docker_client.containers.run(
            tag, ["-c", "import os; print(os.getuid(), os.getgid())"], entrypoint=["python3"],
            network_mode="none", remove=True,
        ).decode()  # fmt: skip
        assert out.split() == [str(BENCH_UID), str(BENCH_UID)], (name, out)


# --- the protocol, end to end -------------------------------------------------------------------


@pytest.mark.slow
def test_ggnn_image_trains_like_the_process(
    built_images: dict[str, str], docker_client: Any, great_rows: list[dict], tmp_path: Path
) -> None:
    """The ggnn image on a tiny input obeys the protocol, and (same torch, same seed, CPU)
    writes the very predictions that `python -m benchmark.models.ggnn` writes here."""
    inp = make_input(tmp_path / "in", great_rows, (96, 24, 24), TINY, epochs=2)
    status, log = run_container(docker_client, built_images["ggnn"], inp, tmp_path / "out")
    assert status == 0, log[-2000:]
    got = events(tmp_path / "out")
    assert [e["event"] for e in got] == ["start", "epoch_end", "epoch_end", "done"]
    table = var_misuse.read_predictions(tmp_path / "out", 2, expected(inp))
    assert table.height == 2 * 144
    local = tmp_path / "local"
    cmd = [*MODELS["ggnn"].command, "--input", str(inp), "--output", str(local)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(cmd, check=True, capture_output=True, timeout=600, env=env)
    for epoch in (1, 2):
        name = f"predictions/epoch-{epoch:03d}.jsonl"
        assert (tmp_path / "out" / name).read_bytes() == (local / name).read_bytes(), name


def test_template_image_obeys_the_protocol_and_resumes(
    built_images: dict[str, str], docker_client: Any, great_rows: list[dict], tmp_path: Path
) -> None:
    inp = make_input(tmp_path / "in", great_rows, (60, 20, 20), {}, epochs=3)
    out = tmp_path / "out"
    status, log = run_container(docker_client, built_images["template"], inp, out)
    assert status == 0, log
    assert [e["event"] for e in events(out)] == ["start", *["epoch_end"] * 3, "done"]
    assert var_misuse.read_predictions(out, 3, expected(inp)).height == 3 * 100
    # Killed after epoch 1 (the later files lost, a torn line): it resumes after epoch 1.
    lines = (out / "events.jsonl").read_text().splitlines(keepends=True)
    (out / "events.jsonl").write_text("".join(lines[:2]) + '{"event": "epo')
    for epoch in (2, 3):
        (out / "predictions" / f"epoch-{epoch:03d}.jsonl").unlink()
    status, log = run_container(docker_client, built_images["template"], inp, out)
    assert status == 0, log
    got = events(out)
    assert [e["event"] for e in got] == ["start", "epoch_end", "start", "epoch_end",
                                         "epoch_end", "done"]  # fmt: skip
    assert got[2]["resumed_after_epoch"] == 1 and [e.get("epoch") for e in got[3:5]] == [2, 3]
    assert var_misuse.read_predictions(out, 3, expected(inp)).height == 3 * 100


# --- errors and the command line ----------------------------------------------------------------


def test_errors_are_one_line(
    built_images: dict[str, str], os_base: str, wheelhouse: Path, tmp_path: Path, monkeypatch
) -> None:
    with pytest.raises(images.ImageError, match=r"no image for model 'nope'; choose from: .*ggnn"):
        images.build(["nope"], os_base, wheelhouse)
    with pytest.raises(images.ImageError, match="holds no wheels"):
        images.image_for("ggnn", os_base, tmp_path)
    containers = tmp_path / "containers"
    shutil.copytree(images.CONTAINERS, containers)
    dockerfile = containers / "template" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "RUN echo about to fail && exit 3\n")
    with pytest.raises(images.ImageError) as err:
        images.build(["template"], os_base, wheelhouse, containers=containers)
    message = str(err.value)
    assert "\n" not in message
    assert re.match(r"building bench-template:[0-9a-f]{12} failed: .*non-zero code: 3", message)
    assert message.endswith("last log line: about to fail"), message
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no.sock")
    with pytest.raises(images.ImageError, match="the Docker daemon does not answer"):
        images.image_for("ggnn", os_base, wheelhouse)


def test_cli_build_and_list(built_images: dict[str, str], os_base: str, wheelhouse: Path) -> None:
    runner = CliRunner()
    args = ["images", "build", "template", "--base", os_base, "--wheelhouse", str(wheelhouse)]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {n: built_images[n] for n in ("base", "template")}
    result = runner.invoke(app, ["images", "list", "--json"])
    assert result.exit_code == 0, result.output
    listed = {r["tag"]: r for r in json.loads(result.stdout)}
    for name, tag in built_images.items():
        assert listed[tag]["name"] == name and listed[tag]["size_mb"] > 0
    result = runner.invoke(app, ["images", "build", "nope", "--base", os_base])
    assert result.exit_code == 2
    assert "no image for model 'nope'" in result.output


def test_a_wheelhouse_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    """Before any wheel is built: a file, or a folder below a file, is one line, exit 1."""
    mine = tmp_path / "notes.txt"
    mine.write_text("mine")
    for dest, says in [(mine, "is a file, not a folder"),
                       (mine / "wheels", "cannot be written (Not a directory)")]:  # fmt: skip
        proc = subprocess.run([sys.executable, "-m", "benchmark", "images", "wheelhouse",
                               str(dest)], capture_output=True, text=True, timeout=120)  # fmt: skip
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1, proc.stderr[-2000:]
        assert f"the wheelhouse {dest} {says}" in lines[0]
    assert mine.read_text() == "mine" and [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_base_the_daemon_refuses_as_a_name_is_one_line(docker_client: Any) -> None:
    proc = subprocess.run([sys.executable, "-m", "benchmark", "images", "build", "template",
                           "--base", "UPPER::bad!!"], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith("error: image 'UPPER::bad!!': ")
    assert "invalid reference format" in lines[0]
