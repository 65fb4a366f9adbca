"""The trainer's process-level pieces: prediction threads and malloc settings."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
import torch

from benchmark import trainer


def a_fit(**predictions: object) -> trainer.Fit:
    net = torch.nn.Linear(2, 2)
    return trainer.Fit(
        model=net,
        optimizer=torch.optim.Adam(net.parameters()),
        train_epoch=lambda order: 0.0,
        vocabularies=[],
        samples=0,
        **predictions,  # type: ignore[arg-type]
    )


def test_fit_takes_exactly_one_way_to_predict() -> None:
    with pytest.raises(TypeError, match="one of prediction_lines and prediction_pieces"):
        a_fit()
    with pytest.raises(TypeError, match="one of prediction_lines and prediction_pieces"):
        a_fit(prediction_lines=lambda net: iter(()), prediction_pieces=lambda net: [])


def pieces_of(seen: list[tuple[int, bool]]) -> list[trainer.Piece]:
    """Forty pieces of three lines each that record whether they ran in inference mode."""

    def piece(k: int) -> list[str]:
        seen.append((k, torch.is_inference_mode_enabled()))
        if k % 7 == 0:  # let the other thread overtake this one
            threading.Event().wait(0.002)
        return [f"{k}.{j}\n" for j in range(3)]

    return [lambda k=k: piece(k) for k in range(40)]


@pytest.mark.parametrize("workers", [1, 3])
def test_epoch_lines_keep_file_order_on_any_number_of_threads(workers: int) -> None:
    seen: list[tuple[int, bool]] = []
    run = a_fit(prediction_pieces=lambda net: pieces_of(seen))
    ctx = trainer.Context(torch.device("cpu"))
    with torch.inference_mode():
        lines = list(trainer.epoch_lines(run, run.model, ctx, workers))
    assert lines == [f"{k}.{j}\n" for k in range(40) for j in range(3)]
    assert sorted(k for k, _ in seen) == list(range(40))
    assert all(inference for _, inference in seen)  # each worker thread holds it too


def test_a_failing_piece_fails_the_epoch_file() -> None:
    def boom() -> list[str]:
        raise RuntimeError("batch 3 broke")

    pieces = [lambda: ["a\n"], lambda: ["b\n"], boom, lambda: ["d\n"]]
    run = a_fit(prediction_pieces=lambda net: pieces)
    ctx = trainer.Context(torch.device("cpu"))
    with pytest.raises(RuntimeError, match="batch 3 broke"):
        list(trainer.epoch_lines(run, run.model, ctx, 2))


def test_idle_workers_follow_the_cores_given(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu, cuda = trainer.Context(torch.device("cpu")), trainer.Context(torch.device("cuda"))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        monkeypatch.setenv("OMP_NUM_THREADS", "4")
        assert trainer.idle_workers(cpu) == 4 and trainer.idle_workers(cuda) == 1
        torch.set_num_threads(2)
        assert trainer.idle_workers(cpu) == 2
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        assert trainer.idle_workers(cpu) == 1 and not trainer.spare_core()
    finally:
        torch.set_num_threads(threads)


# Six rounds of allocating and freeing four 8 MiB blocks in a second thread, as the trainer's
# prediction thread does; prints whether the settings took, then the page faults of the last
# four rounds.
FAULTS = """
import resource, sys, threading
import numpy as np
from benchmark import trainer
print(trainer.keep_freed_memory())
def rounds():
    blocks = []
    for r in range(6):
        if r == 2:
            start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        blocks = [np.ones(1 << 21, dtype=np.float32) for _ in range(4)]
        del blocks
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
t = threading.Thread(target=rounds); t.start(); t.join()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux's")
def test_freed_memory_is_reused_without_page_faults() -> None:
    def faults(env: dict[str, str]) -> tuple[str, int]:
        out = subprocess.run([sys.executable, "-c", FAULTS], capture_output=True, text=True,
                             check=True, env=env).stdout.split()  # fmt: skip
        return out[0], int(out[1])

    base = {k: v for k, v in os.environ.items() if k not in trainer.MALLOC_SETTINGS}
    took, kept = faults(base)
    assert took == "True"
    assert kept < 4 * 2048 * 0.1, kept  # a round touches 4 x 2,048 pages
    # glibc's own behaviour, where the user tuned malloc: left alone, and the freed blocks
    # come back to the thread's arena as new pages
    untuned, refaulted = faults({**base, "GLIBC_TUNABLES": "glibc.malloc.tcache_count=7"})
    assert untuned == "False"
    assert refaulted > 2048, refaulted


# The deterministic flag set before and after inductor's config is loaded: prints, each time,
# torch's flag, its warn_only and whether inductor is loaded / inductor's own flag.
DETERMINISTIC = """
import sys, torch
from benchmark import trainer
trainer.deterministic_algorithms(True, warn_only=True)
print(torch.are_deterministic_algorithms_enabled(),
      torch.is_deterministic_algorithms_warn_only_enabled(), "torch._inductor" in sys.modules)
import torch._inductor.config as inductor
trainer.deterministic_algorithms(True)
print(torch.are_deterministic_algorithms_enabled(),
      torch.is_deterministic_algorithms_warn_only_enabled(), inductor.deterministic)
"""


def test_the_deterministic_flag_is_set_without_loading_inductor() -> None:
    # torch.use_deterministic_algorithms imports torch._inductor.config (1.1 s at every model
    # start) for a flag only torch.compile reads; once a program has loaded inductor, its flag
    # is set too
    proc = subprocess.run([sys.executable, "-c", DETERMINISTIC], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.split("\n")[:2] == ["True True False", "True False True"], proc.stdout


def test_cpu_runs_use_deterministic_kernels_and_cuda_runs_the_fast_ones() -> None:
    """Same seed, same bytes is a CPU promise; on CUDA the deterministic index_add and scatter
    (sorting instead of atomics) are not worth their cost, nor is cuDNN's attention, which
    builds a graph per input shape. The flags are process-wide, so they are put back after."""
    saved = (torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cuda.cudnn_sdp_enabled())  # fmt: skip
    try:
        trainer.seed_everything(3, torch.device("cuda"))
        assert not torch.are_deterministic_algorithms_enabled()
        assert not torch.backends.cuda.cudnn_sdp_enabled()
        assert torch.backends.cuda.flash_sdp_enabled()
        assert torch.backends.cuda.mem_efficient_sdp_enabled()
        cuda_draw = torch.rand(3)
        trainer.seed_everything(3, torch.device("cpu"))
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.equal(torch.rand(3), cuda_draw)  # seeded alike either way
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cuda.enable_cudnn_sdp(saved[2])
    assert trainer.adam_options(torch.device("cuda")) == {"fused": True}
    assert trainer.adam_options(torch.device("cpu")) == {}
    assert trainer.end_check_every(torch.device("cuda")) == 8
    assert trainer.end_check_every(torch.device("cpu")) == 1


def test_a_checkpoint_on_a_full_disk_says_so_and_leaves_no_partial_file(tmp_path) -> None:
    """torch's writer reports a full disk as "unexpected pos N vs M"; the model's error line
    says which file and how much room its disk has, and the previous checkpoint stays."""
    path = tmp_path / trainer.CHECKPOINT
    trainer.save_checkpoint(path, {"epoch": 1})
    (tmp_path / f"{trainer.CHECKPOINT}.tmp").symlink_to("/dev/full")  # writes: ENOSPC
    with pytest.raises(OSError, match=rf"^cannot write {trainer.CHECKPOINT} \([\d.]+ MiB free "
                                      r"on its disk\): \S"):  # fmt: skip
        trainer.save_checkpoint(path, {"epoch": 2, "weights": torch.zeros(1 << 16)})
    assert sorted(p.name for p in tmp_path.iterdir()) == [trainer.CHECKPOINT]
    assert torch.load(path)["epoch"] == 1
