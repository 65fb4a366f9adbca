"""A unit's files are hashed once while they stay as they were (benchmark.digests): a second
reader hashes nothing, and every change a reader could make to a file is still caught."""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from pathlib import Path

import pytest

from benchmark import digests
from benchmark.results import REQUIRED, Unit, verify
from tests.units import fake_unit, seal

CHANGED = "samples.parquet was changed after the unit completed"


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Counter:
    """The files each verify reads in full, with a cache of the test's own."""
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    counts: Counter = Counter()
    real = digests.sha256

    def counting(path: Path) -> str:
        counts[path.name] += 1
        return real(path)

    monkeypatch.setattr(digests, "sha256", counting)
    return counts


def settled_unit(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A sealed unit whose files have been unchanged for longer than SETTLED_NS (made short)."""
    monkeypatch.setattr(digests, "SETTLED_NS", 50_000_000)
    folder = fake_unit(root, Unit("var_misuse", "python-stdlib", "m", "label", 0.0, 0), {})
    (folder / "samples.parquet").write_bytes(os.urandom(1 << 16))
    seal(folder)
    time.sleep(0.1)
    return folder


def test_a_second_reader_hashes_nothing(hashed: Counter, tmp_path, monkeypatch) -> None:
    folder = settled_unit(tmp_path / "results", monkeypatch)
    assert verify(folder) is None
    assert set(hashed) >= set(REQUIRED) and max(hashed.values()) == 1
    hashed.clear()
    assert verify(folder) is None
    assert hashed == Counter()


@pytest.mark.parametrize("how", ["in place, times set back", "replaced by a same-size copy"])
def test_a_change_that_keeps_size_and_times_is_still_caught(
    hashed: Counter, tmp_path, monkeypatch, how
) -> None:
    """Setting a file's modification time back moves its change time, which only the kernel
    sets; a replacement has another inode."""
    folder = settled_unit(tmp_path / "results", monkeypatch)
    assert verify(folder) is None
    path = folder / "samples.parquet"
    before = path.stat()
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    time.sleep(0.05)  # a later tick of the file system's clock than the hash's
    if how.startswith("in place"):
        with path.open("r+b") as f:
            f.write(data)
    else:
        other = tmp_path / "other"
        other.write_bytes(data)
        os.replace(other, path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    assert verify(folder) == CHANGED


def test_a_file_hashed_right_after_its_change_is_hashed_again(hashed: Counter, tmp_path) -> None:
    """Within SETTLED_NS of its change a file's times may not show a write in the same clock
    tick, so its hash is not kept: an edit at once after the first verify is caught."""
    folder = fake_unit(tmp_path, Unit("var_misuse", "python-stdlib", "m", "label", 0.0, 0), {})
    assert verify(folder) is None
    path = folder / "samples.parquet"
    before = path.stat()
    path.write_text("{]")  # the same size, perhaps in the same tick
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert verify(folder) == CHANGED
    assert hashed["samples.parquet"] == 2


def test_a_copy_elsewhere_is_hashed_on_its_own(hashed: Counter, tmp_path, monkeypatch) -> None:
    folder = settled_unit(tmp_path / "results", monkeypatch)
    assert verify(folder) is None
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    hashed.clear()
    assert verify(copy) is None
    assert set(hashed) >= set(REQUIRED)


@pytest.mark.parametrize("cache", ["garbage", "another folder's", "a file in its place"])
def test_a_cache_that_cannot_be_used_changes_nothing(
    hashed: Counter, tmp_path, monkeypatch, cache
) -> None:
    folder = settled_unit(tmp_path / "results", monkeypatch)
    memory = digests.Digests(folder).path
    if cache == "a file in its place":
        (tmp_path / "cache").write_text("")  # $BENCH_CACHE is a file: nothing can be kept
    else:
        memory.parent.mkdir(parents=True)
        text = '{"folder": "/elsewhere", "files": {}}' if cache.startswith("another") else "{"
        memory.write_text(text)
    assert verify(folder) is None
    assert max(hashed.values()) == 1
    path = folder / "samples.parquet"
    before = path.stat()
    time.sleep(0.05)
    path.write_bytes(b"\0" * before.st_size)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert verify(folder) == CHANGED
