"""What the model programs do only on CUDA, run on the CPU: a GPU session is lent for minutes,
and a branch that first runs there must not fail there.

On CUDA every training step and prediction batch runs under bf16 autocast (``trainer.Context``),
and GGNN passes its messages per node rather than per edge type. Under autocast the matrix
products come out in bf16, and whatever they flow into (a scatter into a float32 buffer, an
``index_add_``, a pointer's log-softmax, a beam's scores) must take them; the CPU's bf16
autocast casts the products alike, so a dtype mismatch that would stop a GPU session stops
here. Each model trains one epoch at smoke this way (hf: each family on each task, LoRA) and
writes predictions the harness reads.
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import polars as pl
import pytest
import torch

from benchmark import trainer
from benchmark.models import ggnn
from benchmark.tasks.hooks import task_hooks
from tests.test_code2vec import make_input as make_method_input
from tests.test_codebert import make_input as make_ruby_input
from tests.test_ggnn import make_input
from tests.test_hf import FAMILIES, checkpoints, great_input, input_folder, train  # noqa: F401
from tests.test_reference_models import rows  # noqa: F401 - the shard's samples, a fixture

CASES = [  # (program, task)
    ("ggnn", "var_misuse"),
    ("great", "var_misuse"),
    ("transformer", "var_misuse"),
    ("rnn", "var_misuse"),
    ("code2vec", "method_name"),
    ("code2seq", "method_name"),
    ("codebert", "code_to_text"),
    ("codebert", "code_search"),
]


@pytest.fixture(autouse=True)
def threads() -> Iterator[None]:
    """The model programs set torch's thread count from their profile: put it back."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def cuda_autocast(self: trainer.Context) -> AbstractContextManager:
    """``Context.amp`` as on CUDA (bf16 autocast), on the CPU."""
    return torch.autocast("cpu", dtype=torch.bfloat16)


def per_node(self: ggnn.GGNN, h: torch.Tensor, batch: object) -> torch.Tensor:
    """GGNN's forward as on CUDA: messages per node."""
    return self.propagate(h, batch, per_node=True)


@pytest.mark.parametrize(("program", "task"), CASES)
def test_a_model_trains_and_predicts_under_cuda_s_autocast(
    program: str, task: str, rows: list[dict], tmp_path: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(trainer.Context, "amp", cuda_autocast)
    monkeypatch.setattr(ggnn.GGNN, "forward", per_node)
    folder = tmp_path / "in"
    if task == "var_misuse":
        input_dir = make_input(folder, rows, (40, 10, 10), {}, epochs=1)
    elif task == "method_name":
        input_dir = make_method_input(folder, (40, 10, 10), 1, {})
    else:
        input_dir = make_ruby_input(folder, task, 1)
    out = tmp_path / "out"
    module = importlib.import_module(f"benchmark.models.{program}")
    assert module.main(["--input", str(input_dir), "--output", str(out)]) == 0, (
        (out / "events.jsonl").read_text()[-2000:]
    )
    check_epoch_one(task, input_dir, out)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("task", ["var_misuse", "code_search", "code_to_text", "method_name"])
def test_hf_trains_and_predicts_under_cuda_s_autocast(
    family: str, task: str, checkpoints: dict[str, Path], tmp_path: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Any Hugging Face checkpoint, LoRA-tuned (its adapters beside the frozen weights), with
    the suite's heads on top."""
    monkeypatch.setattr(trainer.Context, "amp", cuda_autocast)
    weights, folder = checkpoints[family], tmp_path / "in"
    if task == "var_misuse":
        input_dir = great_input(folder, weights, 1, "lora")
    else:
        input_dir = input_folder(folder, task, 1, weights, "lora")
    done = train(input_dir, tmp_path / "out")
    assert done.returncode == 0, done.stderr[-2000:]
    check_epoch_one(task, input_dir, tmp_path / "out")


def check_epoch_one(task: str, input_dir: Path, out: Path) -> None:
    """One epoch trained, with a finite loss, and its predictions as the harness reads them:
    every line of every split, every field checked."""
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["start", "epoch_end", "done"]
    assert math.isfinite(events[1]["train_loss"])
    meta = json.loads((input_dir / "task.json").read_text())
    splits = {s: pl.read_ndjson(input_dir / meta["files"][s]) for s in meta["splits"]}
    table = task_hooks(task).read_predictions(out, 1, splits)
    assert table.height == sum(meta["splits"].values())
