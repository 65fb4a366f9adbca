"""Session fixtures for tests with a real Docker daemon: the client, the local OS base, the
offline wheelhouse and the suite's images built once per session on them.

tests/conftest.py loads them as a plugin, so any test can ask for them by name. A missing
daemon or base image FAILS the tests that need it, with the command that fixes it: CI starts
both (.ci/run), so a skip would hide a broken setup.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmark import images

OS_BASE = "bench-os:bookworm"  # made by tests/docker/make-base.sh
WHEELHOUSE = Path(os.environ.get("BENCH_WHEELHOUSE", images.SUITE_ROOT / ".cache" / "wheelhouse"))
FIND_LINKS = [p for p in (Path("/opt/wheels"),) if p.is_dir()]  # the CPU torch wheel, if here
TEST_MODELS = ("ggnn", "template")
BENCH_UID = 10001  # the non-root user of containers/base/Dockerfile


@contextlib.contextmanager
def one_at_a_time(name: str) -> Iterator[None]:
    """Hold a lock shared by every pytest worker (pytest-xdist runs several) on this machine,
    so that one of them fills the wheelhouse or builds an image and the others then find it."""
    locks = images.SUITE_ROOT / ".cache" / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def docker_client() -> Any:
    """A client of a daemon that answers."""
    import docker

    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except docker.errors.DockerException as e:
        pytest.fail(
            f"the Docker daemon does not answer ({' '.join(str(e).split())[:200]}); "
            "start it: bash tests/docker/start-dockerd.sh",
            pytrace=False,
        )
    return client


@pytest.fixture(scope="session")
def os_base(docker_client: Any) -> str:
    """The local Debian bookworm base image, built with no registry."""
    import docker

    try:
        docker_client.images.get(OS_BASE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"image {OS_BASE} is missing; build it: bash tests/docker/make-base.sh",
                    pytrace=False)  # fmt: skip
    return OS_BASE


@pytest.fixture(scope="session")
def wheelhouse() -> Path:
    """The offline wheelhouse (.cache/wheelhouse or $BENCH_WHEELHOUSE), filled if it is not
    complete for today's dependencies."""
    with one_at_a_time("wheelhouse"):
        if not images.wheelhouse_current(WHEELHOUSE):
            images.make_wheelhouse(WHEELHOUSE, find_links=FIND_LINKS)
    return WHEELHOUSE


@pytest.fixture(scope="session")
def built_images(os_base: str, wheelhouse: Path) -> dict[str, str]:
    """The base, ggnn and template images on the OS base with the wheelhouse: {name: tag}."""
    try:
        with one_at_a_time("images"):
            return images.build(TEST_MODELS, os_base, wheelhouse)
    except images.ImageError as e:
        pytest.fail(str(e), pytrace=False)
