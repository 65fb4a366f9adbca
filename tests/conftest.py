"""Shared fixtures: one dataset cache per test session, built once."""

from __future__ import annotations

import os

import pytest

# The Docker fixtures (daemon, OS base, wheelhouse, images built once) for every test module.
pytest_plugins = ["tests.docker_fixtures"]


@pytest.fixture(scope="session", autouse=True)
def bench_cache(tmp_path_factory):
    """Keep the tests' dataset cache out of the user's, and share it across the session."""
    path = os.environ.get("BENCH_TEST_CACHE") or str(tmp_path_factory.mktemp("bench-cache"))
    old = os.environ.get("BENCH_CACHE")
    os.environ["BENCH_CACHE"] = path
    yield path
    if old is None:
        os.environ.pop("BENCH_CACHE", None)
    else:
        os.environ["BENCH_CACHE"] = old
