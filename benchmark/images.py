"""The suite's Docker images: a base with the suite installed, one thin image per model.

Each tag is a hash of everything that goes into its image (the Dockerfile folder, the base
image's name and id, the suite's source files, the wheelhouse's file names and sizes; for a
model image, its folder and the base image's tag), as the SWE-bench harness names its images.
The same inputs give the same tag, so `build` builds only what is missing, and a changed input
gives a new tag instead of a stale image under an old name.

A wheelhouse is a folder of wheels for the suite and every dependency (torch included) that
lets images build with no network at all, on machines and clusters without internet.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from benchmark.models import MODELS
from benchmark.options import folder_problem

SUITE_ROOT = Path(__file__).resolve().parents[1]
CONTAINERS = SUITE_ROOT / "containers"
DEFAULT_BASE = "pytorch/pytorch:2.8.0-cuda12.8-cudnn9-runtime"
PREFIX = "bench-"
BASE = "base"  # the folder and name of the base image
SOURCE_DIRS = ("benchmark", "native")  # the packages that go into the suite's wheel
SOURCE_FILES = ("pyproject.toml", "README.md")
MANIFEST = "wheelhouse.json"
SUITE_WHEEL = "bench_memorization-"  # how the suite's own wheel is named
# The classic builder's own lines, which a failed build's reason leaves out.
BUILDER_CHATTER = re.compile(
    r"\s*(Step \d+/\d+ :|---> |Running in |Removing intermediate container|Successfully)"
)
LABEL = "bench.image"  # label on every image this module builds: its name (base, ggnn, ...)
TASKS_LABEL = "bench.tasks"  # an image's claim: the tasks it does, comma-separated
REFERENCE = frozenset(MODELS)  # reference models (manifests' too): names no submission may take


class ImageError(Exception):
    """An image cannot be named or built; the message is one line."""


def claimed_tasks(image: Any) -> list[str]:
    """The tasks an image claims: its ``bench.tasks`` label, else, for a reference model's
    image (``bench images build`` labels it ``bench.image=MODEL``), that model's tasks."""
    labels = (image.attrs.get("Config") or {}).get("Labels") or {}
    claimed = [t.strip() for t in str(labels.get(TASKS_LABEL, "")).split(",") if t.strip()]
    if not claimed and labels.get(LABEL) in REFERENCE:
        claimed = list(MODELS[labels[LABEL]].tasks)
    return claimed


def model_names(containers: Path = CONTAINERS) -> list[str]:
    """The names of the model images: every folder of ``containers`` with a Dockerfile."""
    if not (containers / BASE / "Dockerfile").is_file():
        raise ImageError(f"no {containers / BASE / 'Dockerfile'}: images build from a checkout")
    return sorted(
        d.name for d in containers.iterdir() if d.name != BASE and (d / "Dockerfile").is_file()
    )


def _files(folder: Path, suffixes: tuple[str, ...] = ()) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.name.endswith(".pyc"):
            continue
        if not suffixes or path.suffix in suffixes:
            yield path


def _source_files() -> list[Path]:
    """The suite's files that make its wheel (setuptools packs the packages' .py files)."""
    files = [SUITE_ROOT / f for f in SOURCE_FILES]
    for d in SOURCE_DIRS:
        files += _files(SUITE_ROOT / d, (".py",))
    return files


def _hash_files(h: Any, root: Path, files: Sequence[Path]) -> None:
    for f in files:
        h.update(f"{f.relative_to(root).as_posix()}\0".encode())
        h.update(hashlib.sha256(f.read_bytes()).digest())


def _wheels(wheelhouse: Path | None) -> list[Path]:
    """The wheelhouse's wheels that go into the base image: all but the suite's own, which
    the wheel built from this checkout replaces."""
    if wheelhouse is None:
        return []
    if not wheelhouse.is_dir():
        raise ImageError(f"wheelhouse {wheelhouse} is not a folder")
    wheels = sorted(w for w in wheelhouse.glob("*.whl") if not w.name.startswith(SUITE_WHEEL))
    if not wheels:
        raise ImageError(
            f"wheelhouse {wheelhouse} holds no wheels; fill it: bench images wheelhouse"
        )
    return wheels


def _client() -> Any:
    import docker

    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except docker.errors.DockerException as e:
        reason = " ".join(str(e).split())[:200]
        raise ImageError(
            f"the Docker daemon does not answer ({reason}); "
            "start it (tests/docker/start-dockerd.sh)"
        ) from None
    return client


def _image_id(client: Any, name: str) -> str | None:
    """The id of image ``name`` here, None where there is none; a name the daemon refuses as
    a reference (``UPPER::bad``) is an ImageError, one line."""
    import docker

    try:
        return client.images.get(name).id
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.APIError as e:
        reason = " ".join(str(e.explanation or e).split())[:300]
        raise ImageError(f"image {name!r}: {reason}") from None


def _tags(
    names: Sequence[str], base: str, base_id: str | None, wheelhouse: Path | None, containers: Path
) -> dict[str, str]:
    """The tag of the base image and of each named model image."""
    h = hashlib.sha256(b"bench-base\0")
    h.update(f"{base}\0{base_id or ''}\0".encode())
    _hash_files(h, containers / BASE, list(_files(containers / BASE)))
    _hash_files(h, SUITE_ROOT, _source_files())
    for w in _wheels(wheelhouse):
        h.update(f"{w.name}\0{w.stat().st_size}\0".encode())
    tags = {BASE: f"{PREFIX}{BASE}:{h.hexdigest()[:12]}"}
    known = model_names(containers)
    for name in names:
        if name == BASE:
            continue
        if name not in known:
            raise ImageError(f"no image for model {name!r}; choose from: {', '.join(known)}")
        m = hashlib.sha256(f"bench-model\0{name}\0{tags[BASE]}\0".encode())
        _hash_files(m, containers / name, list(_files(containers / name)))
        tags[name] = f"{PREFIX}{name}:{m.hexdigest()[:12]}"
    return tags


def image_for(
    model: str,
    base: str | None = None,
    wheelhouse: Path | None = None,
    *,
    containers: Path = CONTAINERS,
) -> str:
    """The tag that `build` gives ``model``'s image (``"base"`` for the base image).

    The base image's id is part of the hash where it is present here; a default base that is
    not yet pulled is named by its reference alone, so its tag changes once `build` pulls it.
    """
    base = base or DEFAULT_BASE
    return _tags([model], base, _image_id(_client(), base), wheelhouse, containers)[model]


def _ca_bundle() -> bytes:
    """The host's CA bundle, for pip inside a build behind a TLS-inspecting proxy."""
    paths = ssl.get_default_verify_paths()
    for candidate in (
        os.environ.get("PIP_CERT"),
        os.environ.get("SSL_CERT_FILE"),
        os.environ.get("REQUESTS_CA_BUNDLE"),
        paths.cafile,
        "/etc/ssl/certs/ca-certificates.crt",
    ):
        if candidate and Path(candidate).is_file():
            return Path(candidate).read_bytes()
    return b""


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _pip(args: Sequence[str], what: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        raise ImageError(f"{what} failed: {lines[-1].strip() if lines else 'no output'}")


def suite_wheel(dest: Path) -> Path:
    """Build the suite's wheel from the sources of this checkout into ``dest``.

    The sources are copied first, so the build never writes into the checkout that other
    processes use; the environment's setuptools builds it where it has one (no network).
    """
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-suite-") as tmp:
        src = Path(tmp) / "src"
        for f in _source_files():
            target = src / f.relative_to(SUITE_ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, target)
        out = Path(tmp) / "out"
        isolation = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
        _pip(["wheel", "-q", "--no-deps", *isolation, "--wheel-dir", str(out), str(src)],
             "building the suite's wheel")  # fmt: skip
        (wheel,) = out.glob("*.whl")
        shutil.copy2(wheel, dest / wheel.name)
        return dest / wheel.name


def _requirements(torch: str) -> list[str]:
    deps = _dependencies()
    return [torch, *(d for d in deps if not re.match(r"torch\s*([<>=!~;\[]|$)", d))]


def _torch_spec() -> str:
    try:
        return f"torch=={importlib.metadata.version('torch')}"
    except importlib.metadata.PackageNotFoundError:
        raise ImageError("torch is not installed here; name the one to ship with --torch") from None


def wheelhouse_current(dest: Path, torch: str | None = None) -> bool:
    """Whether ``dest`` holds a complete wheelhouse for today's dependencies."""
    manifest = dest / MANIFEST
    if not manifest.is_file():
        return False
    got = json.loads(manifest.read_text())
    return got.get("requirements") == _requirements(torch or _torch_spec())


def make_wheelhouse(
    dest: Path,
    torch: str | None = None,
    find_links: Sequence[Path] = (),
    say: Callable[[str], None] = lambda s: None,
) -> list[Path]:
    """Fill ``dest`` with wheels of the suite and every dependency; return the wheels.

    torch is pinned (by default to the version installed here, e.g. the CPU build 2.13.0+cpu)
    and looked up in ``find_links`` first; everything else comes from the package index, as
    wheels built where it only publishes sources. Wheels already in ``dest`` are reused, so
    running it again only fetches what changed. The wheels are for this interpreter's Python
    version and platform, which must be those of the image's base (3.11 on bookworm).
    """
    torch = torch or _torch_spec()
    if why := folder_problem(dest):
        raise ImageError(f"the wheelhouse {dest} {why}")
    say("building the suite's wheel")
    suite = suite_wheel(dest)
    reqs = _requirements(torch)
    say(f"fetching wheels for {len(reqs)} requirements into {dest}")
    links = [a for p in [dest, *find_links] for a in ("--find-links", str(p))]
    _pip(["wheel", "-q", "--prefer-binary", "--wheel-dir", str(dest), *links, str(suite), torch],
         f"pip wheel into {dest}")  # fmt: skip
    (dest / MANIFEST).write_text(json.dumps({"requirements": reqs}, indent=2) + "\n")
    return sorted(dest.glob("*.whl"))


def _dependencies() -> list[str]:
    return tomllib.loads((SUITE_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def _context(name: str, tmp: Path, wheelhouse: Path | None, containers: Path) -> Path:
    """The build context of one image: its folder, plus for the base the suite's dependencies,
    its wheel, the wheelhouse and the host's CA bundle."""
    ctx = tmp / name
    shutil.copytree(containers / name, ctx)
    if name == BASE:
        (ctx / "wheelhouse").mkdir()
        (ctx / "wheelhouse" / "README").write_text("wheels for an offline install, if any\n")
        for w in _wheels(wheelhouse):
            _link_or_copy(w, ctx / "wheelhouse" / w.name)
        suite_wheel(ctx / "suite")
        (ctx / "requirements.txt").write_text("".join(f"{d}\n" for d in _dependencies()))
        (ctx / "ca-certificates.crt").write_bytes(_ca_bundle())
    return ctx


def _build_one(
    client: Any, name: str, tag: str, ctx: Path, base: str, offline: bool, say: Callable
) -> None:
    last = "no build output"
    stream = client.api.build(
        path=str(ctx),
        tag=tag,
        buildargs={"BASE": base},
        labels={LABEL: name, "bench.base": base},
        rm=True,
        forcerm=True,
        pull=False,
        decode=True,
        network_mode="none" if offline else None,
    )
    for chunk in stream:
        if "error" in chunk:
            error = " ".join(str(chunk["error"]).split())
            raise ImageError(f"building {tag} failed: {error}; last log line: {last}")
        text = str(chunk.get("stream", "")).strip()
        if text.startswith("Step "):
            say(f"{tag}: {' '.join(text.split())[:300]}")
        lines = [ln for ln in text.splitlines() if ln.strip() and not BUILDER_CHATTER.match(ln)]
        if lines:
            last = " ".join(lines[-1].split())[:300]


def build(
    models: Sequence[str] = (),
    base: str | None = None,
    wheelhouse: Path | None = None,
    *,
    containers: Path = CONTAINERS,
    say: Callable[[str], None] = lambda s: None,
) -> dict[str, str]:
    """Build what is missing of the base image and the images of ``models`` (every model
    when empty); return ``{"base": tag, model: tag, ...}``.

    With a wheelhouse the base builds with no network; without, pip in the build reaches
    the package index. A base image that is not here is pulled first.
    """
    import docker

    base = base or DEFAULT_BASE
    names = list(models) or model_names(containers)
    client = _client()
    base_id = _image_id(client, base)
    if base_id is None:
        say(f"pulling {base}")
        try:
            base_id = client.images.pull(base).id
        except docker.errors.DockerException as e:
            reason = " ".join(str(getattr(e, "explanation", None) or e).split())[:300]
            raise ImageError(
                f"base image {base} is not here and cannot be pulled: {reason}"
            ) from None
    tags = _tags(names, base, base_id, wheelhouse, containers)
    order = [BASE, *(n for n in names if n != BASE)]
    with tempfile.TemporaryDirectory(prefix="bench-images-") as tmp:
        for name in order:
            tag = tags[name]
            if _image_id(client, tag) is not None:
                say(f"{tag} is built")
                continue
            say(f"building {tag}")
            ctx = _context(name, Path(tmp), wheelhouse, containers)
            from_image = base if name == BASE else tags[BASE]
            _build_one(client, name, tag, ctx, from_image, wheelhouse is not None, say)
            shutil.rmtree(ctx)
            say(f"built {tag}")
    return {n: tags[n] for n in order}


def listing() -> list[dict]:
    """Every image this module built that is here: name, tag, size, creation time, base."""
    client = _client()
    rows = []
    for image in client.images.list(filters={"label": LABEL}):
        labels = image.labels or {}
        for tag in image.tags:
            rows.append(
                {
                    "name": labels.get(LABEL, ""),
                    "tag": tag,
                    "id": image.id,
                    "size_mb": round(image.attrs.get("Size", 0) / 1e6, 1),
                    "created": image.attrs.get("Created", ""),
                    "base": labels.get("bench.base", ""),
                }
            )
    return sorted(rows, key=lambda r: (r["name"] != BASE, r["name"], r["created"]))
