"""Training throughput of the reference models, on CPU or CUDA.

    python tests/perf/training.py [--device cpu|cuda] [--profile cpu|smoke|paper]
                                  [--models a,b] [--samples N] [--threads T]
                                  [--peak-tflops F] [--json] [--trace N] [--compile]
                                  [--hf-weights DIR,DIR] [--hf-modes full,lora,head]
                                  [--hf-tasks code_to_text,code_search,var_misuse,method_name]

On the first N training samples of the task's offline default dataset (python-stdlib for the
var-misuse models, jdk for code2vec and code2seq, ruby-stdlib for codebert, as ``bench run``
selects and writes them for the profile), each model is built with the profile's
hyperparameters and trained for one warm-up pass over a few batches, then for one timed pass
over the N samples with its trainer's own ``train_epoch`` (on CUDA under its bf16 autocast,
synchronized before the clock is read), with malloc set as the model programs set it. Per
model it prints samples/s; training tokens/s (var-misuse: source tokens; code2vec and
code2seq: path contexts; codebert: not counted);
peak device memory (CUDA); an MFU estimate (the FLOPs that torch.utils.flop_counter counts in
one training batch, or for the var-misuse models in 8 batches spread over the pass, per sample,
times samples/s, over ``--peak-tflops``: by default the
datasheet's dense bf16 rate on an H100 or H200, none elsewhere); the share of the timed pass in
which the GPU was busy (NVML's utilization, sampled every 50 ms; CUDA only); how often one
training batch made the host wait for the GPU (torch's sync debug mode: 1 is its loss, read
back at the end; CUDA only); where, on any device, one training batch reads a value back from
its tensors outside the optimizer's step (each read waits for a GPU; 1 is its loss, read at
the end), so that the CPU machine sees it too (reads of code that runs on the CPU alone, such
as the CPU dropout's key, are listed apart); how many operators one training batch
dispatches (each costs host time, however small its kernel); for the var-misuse models, the
padding (tokens padded to each batch's longest function, over the tokens); and the input
pipeline alone (batches/s that making the pass's batches and copying them to the device
produce with no model; for the var-misuse models, planning them too) against the batches/s
the model consumes. Never fails on time.

A GPU session is minutes that do not come back, so no row costs another: a model that fails
(out of device memory, a kernel the device lacks) gets a row with its ``error`` and a traceback
on stderr, and the others are measured (exit status 1 at the end); each row is announced on
stderr as it is done; and SIGTERM (``timeout``'s first signal) prints the rows done so far,
marked ``"interrupted": true`` (exit status 124).

Two diagnostics say where to go next when a target is missed: ``--trace N`` adds the N
operators with the most self time in one training batch (on CUDA by device time, with the
batch's kernel count and device milliseconds against its wall time), and ``--compile`` times
the var-misuse models with their encoders compiled by ``torch.compile`` (dynamic shapes, as
batches of functions change shape at every step), with the compilation's seconds, graphs and
graph breaks, against the same figures eager in a run without it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import signal
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmark import datasets, noise, trainer
from benchmark.models import VAR_MISUSE, code2seq, code2vec, methodname
from benchmark.models.packed import PackedSplit
from benchmark.models.varmisuse import (
    EdgeTypes,
    Vocabulary,
    read_samples,
    train_epoch,
    training_batches,
)
from benchmark.profiles import PROFILES, select_splits
from benchmark.protocol import EDGE_TYPES, write_inputs
from benchmark.tasks import method_name

MODELS = (*VAR_MISUSE, "code2vec", "code2seq", "codebert")
OPTIONAL = ("hf",)  # measured only when --models names it
# hf's tasks and the dataset each is measured on (as `bench run` selects them offline).
HF_TASKS = {"code_to_text": "ruby-stdlib", "code_search": "ruby-stdlib",
            "var_misuse": "python-stdlib", "method_name": "jdk"}  # fmt: skip
# Dense bf16 TFLOP/s by NVIDIA's datasheets (the ceiling an MFU estimate is read against), the
# most specific name first: the PCIe and NVL cards run lower clocks than the SXM ones.
PEAK_TFLOPS = {"H100 PCIe": 756.0, "H100 NVL": 835.0, "H200 NVL": 835.0,
               "H100": 989.0, "H200": 989.0}  # fmt: skip


def peak_for(name: str) -> float | None:
    """The datasheet's dense bf16 TFLOP/s of the GPU that CUDA calls ``name``, if known."""
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


def peak_tflops(device: torch.device, asked: float | None) -> float | None:
    if asked is not None or device.type != "cuda":
        return asked
    return peak_for(torch.cuda.get_device_name(device))


@contextmanager
def gpu_busy(device: torch.device, out: dict):
    """Sample NVML's GPU utilization every 50 ms while the block runs; out['busy'] is their
    mean share (None on CPU or without NVML)."""
    if device.type != "cuda":
        yield
        return
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(device.index or 0)
    except Exception:  # no NVML here: the share is not measured
        yield
        return
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            samples.append(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        out["busy"] = round(sum(samples) / len(samples) / 100, 3) if samples else None


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def host_syncs(device: torch.device, one_batch: Callable[[], object]) -> int | None:
    """How many times one training batch (its train_epoch, which reads the loss back once at
    the end) made the host wait for the GPU: torch's sync debug mode warns at each (CUDA only;
    None elsewhere)."""
    if device.type != "cuda":
        return None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            one_batch()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


# Operators that make the host wait for the device's answer: a value read back (.item(),
# float(), bool(), int(): _local_scalar_dense, or item and is_nonzero whole where torch does not
# decompose them, as under inference mode), or an output whose size is the data's (nonzero,
# masked_select, unique). Boolean indexing, repeat_interleave and copies to the host are told
# apart by their arguments (``waits``).
WAITING = {
    "_local_scalar_dense", "item", "is_nonzero", "equal", "allclose", "nonzero",
    "masked_select", "unique", "_unique", "_unique2", "unique_dim", "unique_consecutive",
    "bincount", "histc",
}  # fmt: skip


def waits(func: torch._ops.OpOverload, args: tuple, kwargs: dict | None) -> bool:
    """Whether the operator ``func`` called with ``args`` makes the host wait for the device:
    one of ``WAITING``; indexing by, or assigning through, a boolean mask (its nonzero); a
    repeat_interleave by a tensor of counts not told its output's size; a copy from a device
    tensor to the host (.cpu(), .tolist(), .numpy() of a CUDA tensor: on the CPU, none)."""
    name, kwargs = func.overloadpacket.__name__, kwargs or {}
    if name in ("index", "index_put", "index_put_", "_index_put_impl_"):
        return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in args[1])
    if name == "repeat_interleave":
        return func._overloadname != "self_int" and kwargs.get("output_size") is None
    if name == "_to_copy":
        to = torch.device(kwargs.get("device") or args[0].device)
        return args[0].device.type != "cpu" and to.type == "cpu"
    if name == "copy_":
        return args[1].device.type != "cpu" and args[0].device.type == "cpu"
    return name in WAITING


# Code that runs on the CPU alone: its reads would not happen on a GPU. The reference models'
# CPU dropout reads one key from torch's generator per mask; on other devices it is torch's.
CPU_ONLY = ("benchmark/models/dropout.py",)


def host_reads(
    one_batch: Callable[[], object], cpu_only: dict[str, int] | None = None
) -> dict[str, int]:
    """Where one training batch reads a value back from its tensors, outside the optimizer's
    step (fused on CUDA; on the CPU torch's Adam reads its step count): each such read waits
    for a GPU, so this counts on any device what ``host_syncs`` sees on CUDA alone. Keyed by
    "file:line function" of the innermost frame outside torch that asked. torch's recurrent
    layers read a PackedSequence's batch sizes, which torch keeps on the host: not counted.
    Reads in ``CPU_ONLY`` code go into ``cpu_only`` instead, where it is given."""
    import traceback

    from torch.optim.optimizer import (
        register_optimizer_step_post_hook,
        register_optimizer_step_pre_hook,
    )
    from torch.utils._python_dispatch import TorchDispatchMode

    torch_dir = str(Path(torch.__file__).parent)
    here, reads, stepping = str(Path(__file__).resolve()), {}, [False]

    class Reads(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            if not stepping[0] and waits(func, args, kwargs):
                stack = traceback.extract_stack()
                if not any(f.filename.endswith(("nn/modules/rnn.py", "nn/utils/rnn.py"))
                           and f.filename.startswith(torch_dir) for f in stack):  # fmt: skip
                    ours = [
                        f
                        for f in stack
                        if not f.filename.startswith(torch_dir) and f.filename != here
                    ]
                    at = (f"{ours[-1].filename}:{ours[-1].lineno} {ours[-1].name}" if ours
                          else "torch")  # fmt: skip
                    reads[at] = reads.get(at, 0) + 1
            return func(*args, **(kwargs or {}))

    pre = register_optimizer_step_pre_hook(lambda *_: stepping.__setitem__(0, True))
    post = register_optimizer_step_post_hook(lambda *_: stepping.__setitem__(0, False))
    try:
        with Reads():
            one_batch()
    finally:
        pre.remove()
        post.remove()
    root = str(Path(__file__).resolve().parents[2]) + "/"
    found = {k.removeprefix(root): v for k, v in reads.items()}
    if cpu_only is not None:
        cpu_only.update({k: v for k, v in found.items() if k.startswith(CPU_ONLY)})
    return {k: v for k, v in found.items() if not k.startswith(CPU_ONLY)}


def dispatches(one_batch: Callable[[], object]) -> int:
    """How many operators one training batch dispatches (forward, backward and optimizer
    step; views included): each costs host time however small its kernel, which on a GPU is
    what keeps the device waiting when a step is made of many small ones."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            Count.n += 1
            return func(*args, **(kwargs or {}))

    with Count():
        one_batch()
    return Count.n


def compiled(compile_model: Callable[[], object], warm: Callable[[], object],
             device: torch.device) -> float:  # fmt: skip
    """Seconds that ``compile_model`` and a warm-up pass after it took: mostly compilation, which
    a run pays once per process (and again for each new graph dynamo makes)."""
    import torch._dynamo

    torch._dynamo.reset()  # the previous model's graphs and counters
    torch._dynamo.utils.counters.clear()
    started = time.perf_counter()
    compile_model()
    warm()
    sync(device)
    return time.perf_counter() - started


def dynamo_graphs() -> dict:
    """What dynamo made of the compiled module so far: how many graphs (a new one for each
    shape or value it could not treat as dynamic), and how often it broke a graph and ran
    Python eagerly instead, with the first reasons it gave."""
    from torch._dynamo.utils import counters

    breaks = counters["graph_break"]
    reasons = [str(k).strip().splitlines()[0] for k in breaks][:3]
    return {"compiled_graphs": counters["stats"]["unique_graphs"],
            "graph_breaks": sum(breaks.values()), "graph_break_reasons": reasons}  # fmt: skip


def top_operators(device: torch.device, one_batch: Callable[[], object], n: int) -> dict:
    """Where one training batch spends its time, by torch's profiler: the ``n`` entries with
    the most self time on the device (CUDA: operators, by the kernels each launched itself,
    and the kernels by name) or on the host (CPU), and on CUDA how many kernels and copies the
    batch ran and for how long, against its wall time (the profiler's overhead included), so
    that a session with a GPU sees what keeps it waiting."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if cuda else [])]
    sync(device)
    with profile(activities=activities) as prof:
        started = time.perf_counter()
        one_batch()
        sync(device)
        wall = time.perf_counter() - started

    def on_device(e: object) -> float:
        return float(getattr(e, "self_device_time_total", 0) or 0)

    events = prof.key_averages()
    own = on_device if cuda else (lambda e: float(e.self_cpu_time_total))
    top = sorted(events, key=own, reverse=True)[:n]
    # The device's own events (kernels, copies, fills): an operator's device time repeats
    # its kernels', so only these are summed.
    kernels = [e for e in prof.events() if e.device_type == DeviceType.CUDA] if cuda else []
    return {
        "batch_ms": round(wall * 1e3, 2),
        "kernels": len(kernels) if cuda else None,
        "device_ms": round(sum(e.device_time_total for e in kernels) / 1e3, 2) if cuda else None,
        "ops": [{"name": e.key, "calls": e.count,
                 "self_host_ms": round(e.self_cpu_time_total / 1e3, 3),
                 "self_device_ms": round(on_device(e) / 1e3, 3) if cuda else None}
                for e in top],
    }  # fmt: skip


def error_line(exc: Exception) -> str:
    """``exc`` as one line for a row: its type and its message's first line."""
    return " ".join([f"{type(exc).__name__}:", *str(exc).strip().splitlines()[:1]])


def traced(device: torch.device, one_batch: Callable[[], object], n: int) -> dict:
    """``top_operators``, or the error that stopped it: a diagnostic that fails (its CUDA
    side runs only where a GPU is lent) costs its own figure, not the model's row."""
    try:
        return top_operators(device, one_batch, n)
    except Exception as exc:
        return {"error": error_line(exc)}


def time_training(
    device: torch.device, warm: Callable[[], object], epoch: Callable[[], object],
    one_batch: Callable[[], object], batch_samples: int, peak: float | None,
    counted: tuple[Callable[[], object], int] | None = None, trace: int = 0,
    compile_model: Callable[[], object] | None = None,
) -> dict:  # fmt: skip
    """Warm up, count FLOPs, then time one pass: seconds, peak memory, FLOPs per sample, MFU
    and the GPU's busy share. FLOPs are counted on ``one_batch`` (of ``batch_samples``), or on
    ``counted`` (a pass over some batches, and their sample count) where batches differ in
    their cost per sample, as the var-misuse models' batches of similar length do. With
    ``compile_model`` (which compiles the model), FLOPs, host reads and operators are counted
    eagerly first (the same arithmetic; dispatch modes do not see inside compiled graphs), then
    the model is compiled and warmed up again before the timed pass. ``trace``: the top
    operators of one batch (``top_operators``)."""
    from torch.utils.flop_counter import FlopCounterMode

    warm()
    counter = FlopCounterMode(display=False)
    flops_pass, flops_samples = counted or (one_batch, batch_samples)
    with counter:
        flops_pass()
    flops_per_sample = counter.get_total_flops() / max(flops_samples, 1)
    syncs = host_syncs(device, one_batch)
    cpu_only: dict[str, int] = {}
    reads = host_reads(one_batch, cpu_only)
    ops = dispatches(one_batch)
    compile_s = None if compile_model is None else compiled(compile_model, warm, device)
    top = traced(device, one_batch, trace) if trace else None
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    busy: dict = {}
    with gpu_busy(device, busy):
        started = time.perf_counter()
        epoch()
        sync(device)
        seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "peak_memory_mib": round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
        if device.type == "cuda" else None,
        "flops_per_sample": flops_per_sample, "peak_tflops": peak, "gpu_busy": busy.get("busy"),
        "host_syncs": syncs, "host_reads": reads, "cpu_only_reads": cpu_only, "ops": ops,
        "trace": top,
        "compile": None if compile_s is None else {"compile_s": round(compile_s, 2),
                                                   **dynamo_graphs()},
    }  # fmt: skip


def figures(name: str, profile: str, net: torch.nn.Module, count: int, tokens: int | None,
            timing: dict, **extra: object) -> dict:  # fmt: skip
    """One model's row: throughput, memory, MFU and what else was measured."""
    seconds = timing["seconds"]
    per_s = count / seconds
    peak = timing["peak_tflops"]
    mfu = (timing["flops_per_sample"] * per_s / (peak * 1e12)) if peak else None
    return {
        "model": name, "profile": profile,
        "parameters": sum(p.numel() for p in net.parameters()),
        "threads": torch.get_num_threads(), "samples": count, "seconds": round(seconds, 3),
        "samples_per_s": round(per_s, 1),
        "tokens_per_s": None if tokens is None else round(tokens / seconds, 1),
        "peak_memory_mib": timing["peak_memory_mib"],
        "gflops_per_sample": round(timing["flops_per_sample"] / 1e9, 4),
        "mfu": None if mfu is None else round(mfu, 5), "gpu_busy": timing["gpu_busy"],
        "host_syncs_per_batch": timing["host_syncs"],
        "host_reads_per_batch": sum(timing["host_reads"].values()),
        "host_reads_at": timing["host_reads"],
        # what the CPU's own code reads (not a GPU's wait: that code does not run there)
        "cpu_only_reads_at": timing["cpu_only_reads"], "ops_per_batch": timing["ops"],
        **({"trace": timing["trace"]} if timing["trace"] else {}),
        **({"compiled": timing["compile"]} if timing["compile"] else {}), **extra,
    }  # fmt: skip


def pipeline(device: torch.device, produce: Callable[[], int], seconds: float) -> dict:
    """The input pipeline alone: ``produce`` makes the timed pass's batches with no model (and
    says how many), which are compared with the batches/s the model consumed in ``seconds``."""
    sync(device)
    started = time.perf_counter()
    count = produce()
    sync(device)
    rate = count / (time.perf_counter() - started)
    consumed = count / seconds
    return {"pipeline_batches_per_s": round(rate, 1), "model_batches_per_s": round(consumed, 1),
            "pipeline_headroom": round(rate / consumed, 1)}  # fmt: skip


def slices(order: np.ndarray, size: int) -> list[np.ndarray]:
    """``order`` in consecutive batches of ``size``, as code2vec, code2seq and codebert train."""
    return [order[i : i + size] for i in range(0, len(order), size)]


def training_samples(profile: str, n: int) -> list:
    """The first ``n`` training functions of the profile's selection, read back through the
    protocol's files so that the trainer sees exactly what it sees in a run."""
    splits = select_splits(datasets.load("python-stdlib").samples, PROFILES[profile])
    train = splits["train"].head(n)
    train = train.with_columns(
        train["has_bug"].alias("given_has_bug"),
        train["error_location"].alias("given_location"),
        train["repair_targets"].alias("given_targets"),
    )
    with tempfile.TemporaryDirectory() as tmp:
        empty = {s: splits[s].head(0) for s in ("valid", "test")}
        write_inputs(Path(tmp), {"task": "var_misuse"}, {"train": train, **empty})
        return read_samples(Path(tmp) / "train.jsonl", labelled=True)


def method_rows(profile: str, n: int) -> list[dict]:
    """The first ``n`` method_name training samples (jdk), written and read back as code2vec
    and code2seq read them in a run at noise 0 (before numbering)."""
    splits = select_splits(datasets.load("jdk").samples, PROFILES[profile])
    splits["train"] = splits["train"].head(n)
    splits, _ = method_name.prepare(splits, noise.mask(splits["train"].height, 0.0, 0), "label", 0)
    with tempfile.TemporaryDirectory() as tmp:
        method_name.write_inputs(Path(tmp), {"task": "method_name"}, splits)
        return list(methodname.iter_rows(Path(tmp) / "train.jsonl", labelled=True))


def measure_code2vec(profile: str, rows: list[dict], threads: int, device: torch.device,
                     peak: float | None, trace: int = 0) -> dict:  # fmt: skip
    hp = dict(code2vec.DEFAULTS[profile])
    torch.set_num_threads(threads or int(hp["threads"]) or torch.get_num_threads())
    trainer.seed_everything(0, device)
    methods = methodname.methods_of({"train": rows}, int(hp["contexts"]))["train"]
    tokens, paths, targets = code2vec.vocabularies(methods, hp)
    ids = code2vec.vocabulary_ids(methods.strings, tokens, paths)
    inputs = code2vec.Encoded(methods, *ids, int(hp["contexts"]))
    given = np.array([targets.get("|".join(r["label"])) for r in rows], dtype=np.int64)
    net = code2vec.Code2Vec(len(tokens), len(paths), len(targets), hp).to(device)
    optimizer = torch.optim.Adam(
        net.parameters(), lr=float(hp["lr"]), **trainer.adam_options(device)
    )
    ctx = trainer.Context(device)
    order = np.random.default_rng(0).permutation(len(rows))
    size = int(hp["batch_size"])

    def run(which: np.ndarray) -> Callable[[], object]:
        return lambda: code2vec.train_epoch(net, optimizer, inputs, given, which, hp, ctx)

    timing = time_training(device, run(order[: 3 * size]), run(order), run(order[:size]),
                           min(size, len(order)), peak, trace=trace)  # fmt: skip
    contexts = len(methods.contexts)

    def produce() -> int:
        batches = slices(order, size)
        for idx in batches:
            code2vec.batch(inputs, given, idx, device)
        return len(batches)

    return figures("code2vec", profile, net, len(rows), contexts, timing,
                   mean_contexts=round(contexts / max(len(rows), 1), 1),
                   **pipeline(device, produce, timing["seconds"]))  # fmt: skip


def measure_code2seq(profile: str, rows: list[dict], threads: int, device: torch.device,
                     peak: float | None, trace: int = 0) -> dict:  # fmt: skip
    hp = dict(code2seq.DEFAULTS[profile])
    torch.set_num_threads(threads or int(hp["threads"]) or torch.get_num_threads())
    trainer.seed_everything(0, device)
    data = code2seq.Data(methodname.methods_of({"train": rows}, int(hp["contexts"])), hp)
    net = code2seq.Code2Seq(len(data.subtokens), len(data.nodes), len(data.targets), hp)
    net = net.to(device)
    optimizer = torch.optim.Adam(
        net.parameters(), lr=float(hp["lr"]), **trainer.adam_options(device)
    )
    ctx = trainer.Context(device)
    order = np.random.default_rng(0).permutation(len(rows))
    size = int(hp["batch_size"])
    net.train()

    def run(which: np.ndarray) -> Callable[[], object]:
        return lambda: code2seq.train_epoch(net, optimizer, data, which, hp, ctx)

    timing = time_training(device, run(order[: 3 * size]), run(order), run(order[:size]),
                           min(size, len(order)), peak, trace=trace)  # fmt: skip
    contexts = len(data.methods["train"].contexts)

    def produce() -> int:
        batches = slices(order, size)
        for idx in batches:
            data.batch("train", idx, device, labelled=True)
        return len(batches)

    return figures("code2seq", profile, net, len(rows), contexts, timing,
                   mean_contexts=round(contexts / max(len(rows), 1), 1),
                   **pipeline(device, produce, timing["seconds"]))  # fmt: skip


def measure_codebert(profile: str, n: int, threads: int, device: torch.device,
                     peak: float | None, trace: int = 0) -> Iterator[dict]:  # fmt: skip
    """codebert on each of its tasks (`measure_codebert_task`), each row as it is done."""
    from benchmark.models import codebert

    for t in codebert.TASKS:
        yield from guarded({"model": "codebert", "task": t}, device,
                           lambda t=t: measure_codebert_task(t, profile, n, threads, device,
                                                             peak, trace))  # fmt: skip


def measure_codebert_task(task: str, profile: str, n: int, threads: int, device: torch.device,
                          peak: float | None, trace: int = 0) -> dict:  # fmt: skip
    """The first ``n`` ruby-stdlib training samples of ``task`` at noise 0, written and read
    back as codebert reads them in a run, timed with its ``train_epoch``."""
    from benchmark.models import codebert
    from benchmark.tasks.hooks import task_hooks

    splits = select_splits(datasets.load("ruby-stdlib").samples, PROFILES[profile])
    splits["train"] = splits["train"].head(n)
    hooks = task_hooks(task)
    splits, _ = hooks.prepare(splits, noise.mask(splits["train"].height, 0.0, 0), "label", 0)
    with tempfile.TemporaryDirectory() as tmp:
        hooks.write_inputs(Path(tmp), {"task": task, "profile": profile}, splits)
        meta = codebert.read_task(Path(tmp))
        hp = trainer.hyperparameters(meta, codebert.DEFAULTS, codebert.POSITIVE)
        rows, codes, _ = codebert.read_inputs(Path(tmp), meta)
    torch.set_num_threads(threads or int(hp["threads"]) or torch.get_num_threads())
    trainer.seed_everything(0, device)
    net, _, data, _ = codebert.setup(task, rows, codes, hp, None)
    net = net.to(device)
    optimizer = torch.optim.AdamW(
        net.parameters(), lr=float(hp["lr"]), **trainer.adam_options(device)
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    ctx = trainer.Context(device)
    order = np.random.default_rng(0).permutation(len(rows["train"]))
    size = int(hp["batch_size"])

    def run(which: np.ndarray) -> Callable[[], object]:
        return lambda: codebert.train_epoch(net, optimizer, schedule, data, which, hp, ctx)

    timing = time_training(device, run(order[: 3 * size]), run(order), run(order[:size]),
                           min(size, len(order)), peak, trace=trace)  # fmt: skip

    def produce() -> int:
        batches = slices(order, size)
        for idx in batches:
            data.training_batch(idx.tolist(), device)
        return len(batches)

    return figures("codebert", profile, net, len(order), None, timing, task=task,
                   **pipeline(device, produce, timing["seconds"]))  # fmt: skip


def tiny_checkpoints(folder: Path) -> list[Path]:
    """tests/test_hf.py's tiny random RoBERTa, T5 and GPT-2 checkpoints, built into ``folder``."""
    from transformers.utils import logging

    from tests.test_hf import FAMILIES, build_tiny

    logging.disable_progress_bar()  # save_pretrained's bar would fill the measurement's output
    return [build_tiny(f, folder / f"tiny-{f}") for f in FAMILIES]


def measure_hf(
    weights: list[Path], modes: list[str], tasks: list[str], profile: str, n: int, threads: int,
    device: torch.device, peak: float | None, trace: int = 0,
) -> Iterator[dict]:  # fmt: skip
    """hf per weights folder x mode x task (`measure_hf_task`), each row as it is done;
    combinations the weights cannot do are skipped with a line on stderr."""
    from benchmark.trainer import InputError

    def one(folder: Path, mode: str, task: str) -> dict:
        try:
            return measure_hf_task(folder, mode, task, profile, n, threads, device, peak, trace)
        except InputError as exc:
            print(f"hf {folder.name} {mode} {task}: skipped ({exc})", file=sys.stderr)
            return {}

    for folder in weights:
        for mode in modes:
            for task in tasks:
                label = {"model": "hf", "weights": folder.name, "finetune": mode, "task": task}
                yield from guarded(label, device, lambda f=folder, m=mode, t=task: one(f, m, t))


def measure_hf_task(weights: Path, mode: str, task: str, profile: str, n: int, threads: int,
                    device: torch.device, peak: float | None, trace: int = 0) -> dict:  # fmt: skip
    """The first ``n`` training samples of ``task`` on its dataset at noise 0, written as
    ``bench run --model hf --weights WEIGHTS --finetune MODE`` writes them, read back and
    built into the network and batches as the model program does (benchmark.models.hf.train's
    ``run``), timed with its ``train_epoch``."""
    from benchmark.models.codebert.train import train_epoch
    from benchmark.models.hf import train as hf
    from benchmark.models.hf.config import DEFAULTS, POSITIVE
    from benchmark.models.hf.data import Generation, VarMisuse
    from benchmark.tasks.hooks import task_hooks

    splits = select_splits(datasets.load(HF_TASKS[task]).samples, PROFILES[profile])
    splits["train"] = splits["train"].head(n)
    hooks = task_hooks(task)
    splits, _ = hooks.prepare(splits, noise.mask(splits["train"].height, 0.0, 0), "label", 0)
    with tempfile.TemporaryDirectory() as tmp:
        meta = {"task": task, "model": "hf", "profile": profile, "weights": str(weights),
                "hyperparameters": {"finetune": mode}}  # fmt: skip
        hooks.write_inputs(Path(tmp), meta, splits)
        meta = hf.read_task(Path(tmp))
        hp = trainer.hyperparameters(meta, DEFAULTS, POSITIVE)
        hf.check_hyperparameters(hp)
        rows, codes, _ = hf.read_inputs(Path(tmp), meta)
        torch.set_num_threads(threads or int(hp["threads"]) or torch.get_num_threads())
        trainer.seed_everything(0, device)
        loaded, net, data = hf.build(meta, hp, rows, codes, device)  # var_misuse reads here
    if isinstance(data, VarMisuse):
        tokens = len(data.inputs["train"].ids)
    elif isinstance(data, Generation):
        tokens = sum(map(len, data.source["train"])) + sum(map(len, data.target))
    else:
        pairs = zip(data.query["train"], data.code["train"], strict=True)
        tokens = sum(len(data.pair(q, c)[0]) for q, c in pairs)
    count, size = data.counts()["train"], int(hp["batch_size"])
    optimizer, schedule = hf.optimizer_and_schedule(net, hp, 2 * math.ceil(count / size) + 3)
    ctx = trainer.Context(device)
    order = np.random.default_rng(0).permutation(count)
    net.train()

    def run(which: np.ndarray) -> Callable[[], object]:
        return lambda: train_epoch(net, optimizer, schedule, data, which, hp, ctx)  # type: ignore[arg-type]

    timing = time_training(device, run(order[: 3 * size]), run(order), run(order[:size]),
                           min(size, count), peak, trace=trace)  # fmt: skip
    return figures("hf", profile, net, count, tokens, timing, task=task, weights=weights.name,
                   family=loaded.family, finetune=mode,
                   trainable_parameters=net.trainable_parameters(),
                   mean_tokens=round(tokens / max(count, 1), 1))  # fmt: skip


def measure(model: str, profile: str, samples: list, threads: int, device: torch.device,
            peak: float | None, trace: int = 0, compile: bool = False) -> dict:  # fmt: skip
    module = importlib.import_module(f"benchmark.models.{model}")
    hp = dict(module.DEFAULTS[profile])
    torch.set_num_threads(threads or int(hp["threads"]) or torch.get_num_threads())
    trainer.seed_everything(0, device)
    vocab = Vocabulary.build((s.tokens for s in samples), int(hp["vocab_size"]))
    edge_types = EdgeTypes({str(k): v for k, v in EDGE_TYPES.items()}, bool(hp["reverse_edges"]))
    graphs = PackedSplit.of(samples, vocab, edge_types)
    net = getattr(module, VAR_MISUSE[model])(len(vocab), len(edge_types), hp).to(device)
    optimizer = torch.optim.Adam(
        net.parameters(), lr=float(hp["lr"]), **trainer.adam_options(device)
    )
    ctx = trainer.Context(device)
    sizes = np.array([len(s.tokens) for s in samples])
    order = np.random.default_rng(0).permutation(len(samples))
    batches = training_batches(sizes, order, hp)
    net.train()

    def run(which: list) -> Callable[[], object]:
        return lambda: train_epoch(net, optimizer, graphs, which, hp, ctx)

    # FLOPs on up to 8 batches spread over the pass: a batch of short functions costs less per
    # sample than one of long functions.
    spread = batches[:: max(1, len(batches) // 8)][:8]
    timing = time_training(device, run(batches[:3]), run(batches), run(batches[:1]),
                           len(batches[0]), peak,
                           counted=(run(spread), sum(len(b) for b in spread)), trace=trace,
                           # in place: the module's parameter names stay those of eager
                           compile_model=(lambda: net.encoder.compile(dynamic=True)) if compile
                           else None)  # fmt: skip

    def produce() -> int:
        """The same batches planned, collated and copied."""
        planned = training_batches(sizes, order, hp)
        for indices in planned:
            graphs.batch(indices, device)
        return len(planned)

    return figures(model, profile, net, len(samples), int(sizes.sum()), timing,
                   mean_tokens=round(float(sizes.mean()), 1),
                   # what the Transformer, GREAT and the BiRNN compute on: tokens padded to
                   # each batch's longest function, over the tokens
                   padding=round(sum(int(sizes[b].max()) * len(b) for b in batches)
                                 / int(sizes.sum()), 3),
                   **pipeline(device, produce, timing["seconds"]))  # fmt: skip


class Interrupted(BaseException):
    """SIGTERM arrived: the rows measured so far are printed. A BaseException, as
    KeyboardInterrupt is, so that no ``except Exception`` on the way takes it for an error."""


def interrupt(signum: int, frame: object) -> None:
    raise Interrupted


def guarded(label: dict, device: torch.device, measure: Callable[[], dict]) -> list[dict]:
    """``measure``'s row (none if it gives an empty one), announced on stderr; or, where it
    raises, ``label`` with the error, so that one model that breaks on a device costs its own
    row and not the others'."""
    name = " ".join(str(v) for v in label.values())
    try:
        row = measure()
    except Exception as exc:  # a row that says why, and the traceback on stderr
        traceback.print_exc()
        error = error_line(exc)
        print(f"{name}: failed ({error})", file=sys.stderr, flush=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return [{**label, "error": error}]
    if not row:
        return []
    print(f"{name}: {row['samples_per_s']:,.1f} samples/s ({row['samples']} in "
          f"{row['seconds']} s)", file=sys.stderr, flush=True)  # fmt: skip
    return [row]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu", choices=sorted(PROFILES))
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated")
    parser.add_argument("--samples", type=int, default=512, help="training functions timed")
    parser.add_argument("--threads", type=int, default=0, help="0: the profile's setting")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where to train")
    parser.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="the device's peak TFLOP/s for MFU (H100/H200: 989 by default)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--trace", type=int, default=0, metavar="N",
                        help="the N operators with the most self time in one batch")
    parser.add_argument("--compile", action="store_true",
                        help="var-misuse models: torch.compile the encoder (dynamic shapes)")
    parser.add_argument("--hf-weights", default="", help="hf: comma-separated local Hugging "
                        "Face folders (default: tiny random RoBERTa, T5 and GPT-2)")  # fmt: skip
    parser.add_argument("--hf-modes", default="full,lora,head", help="hf: comma-separated")
    parser.add_argument("--hf-tasks", default=",".join(HF_TASKS), help="hf: comma-separated")
    args = parser.parse_args()
    # As every model program's command line does: without it, each step's tensors of a few
    # MiB come from freshly faulted pages (ggnn at cpu: 349-373 against 454-463 samples/s).
    trainer.keep_freed_memory()
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in (*MODELS, *OPTIONAL)]
    if unknown:
        choices = ", ".join((*MODELS, *OPTIONAL))
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {choices}")
    if args.trace < 0:
        parser.error(f"--trace takes a count of operators >= 0, not {args.trace}")
    if args.compile and (eager := [m for m in models if m not in VAR_MISUSE]):
        parser.error(f"--compile is for the var-misuse models ({', '.join(VAR_MISUSE)}), "
                     f"not {', '.join(eager)}")  # fmt: skip
    hf_modes = [m for m in args.hf_modes.split(",") if m]
    hf_tasks = [t for t in args.hf_tasks.split(",") if t]
    hf_weights = [Path(w) for w in args.hf_weights.split(",") if w]
    if bad := [m for m in hf_modes if m not in ("full", "lora", "head")]:
        parser.error(f"unknown --hf-modes {', '.join(bad)}; choose from full, lora, head")
    if bad := [t for t in hf_tasks if t not in HF_TASKS]:
        parser.error(f"unknown --hf-tasks {', '.join(bad)}; choose from {', '.join(HF_TASKS)}")
    if bad := [str(w) for w in hf_weights if not (w / "config.json").is_file()]:
        parser.error(f"--hf-weights {', '.join(bad)}: no config.json (not a Hugging Face folder)")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available on this machine")
    device = trainer.pick_device(args.device)
    peak = peak_tflops(device, args.peak_tflops)
    rows: list[dict] = []
    before = signal.signal(signal.SIGTERM, interrupt)
    try:
        for row in measure_all(models, args, hf_weights, hf_modes, hf_tasks, device, peak):
            rows.append(row)
        interrupted = False
    except Interrupted:
        print("SIGTERM: printing the rows measured so far", file=sys.stderr, flush=True)
        interrupted = True
    finally:
        signal.signal(signal.SIGTERM, before)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    status = 124 if interrupted else int(any("error" in r for r in rows))
    if args.json:
        print(json.dumps({"device": device.type, "device_name": name, "torch": torch.__version__,
                          "interrupted": interrupted, "rows": rows}))  # fmt: skip
        sys.exit(status)
    labels = [" ".join(str(r[k]) for k in ("model", "weights", "finetune", "task") if k in r)
              for r in rows]  # fmt: skip
    width = max(map(len, labels), default=22)
    for r, label in zip(rows, labels, strict=True):
        if "error" in r:
            print(f"{label:{width}} failed: {r['error']}")
            continue
        extra = ""
        if r.get("padding") is not None:
            extra = f", padded to {r['padding']}x the tokens"
        if r.get("pipeline_headroom") is not None:
            extra += f", input pipeline {r['pipeline_headroom']}x what the model consumes"
        if r.get("trainable_parameters") is not None:
            extra += f", {r['trainable_parameters']:,} parameters trained"
        if c := r.get("compiled"):
            extra += (f", compiled in {c['compile_s']} s: {c['compiled_graphs']} graph(s), "
                      f"{c['graph_breaks']} break(s)")  # fmt: skip
        print(f"{label:{width}} {r['profile']:6} {r['parameters']:>11,} params "
              f"{r['samples_per_s']:>9.1f} samples/s {fmt(r['tokens_per_s'], ' tokens/s')}"
              f"{fmt(r['peak_memory_mib'], ' MiB peak')}{fmt(r['mfu'], ' MFU')}"
              f"{fmt(r['gpu_busy'], ' GPU busy')}{fmt(r['host_syncs_per_batch'], ' syncs/batch')}"
              f"{r['host_reads_per_batch']} reads/batch "
              f"{r['ops_per_batch']:,} ops/batch ({r['samples']} in {r['seconds']}s on {name}, "
              f"{r['threads']} thread(s){extra})")  # fmt: skip
        if error := r.get("trace", {}).get("error"):
            print(f"    trace failed: {error}")
        for op in r.get("trace", {}).get("ops", []):
            print(f"    {op['name'][:60]:60} {op['calls']:>6} calls "
                  f"{op['self_host_ms']:>9.3f} ms host{fmt(op['self_device_ms'], ' ms device')}")
    if interrupted:
        print("interrupted (SIGTERM): the models not listed were not measured")
    sys.exit(status)


def measure_all(models: list[str], args: argparse.Namespace, hf_weights: list[Path],
                hf_modes: list[str], hf_tasks: list[str], device: torch.device,
                peak: float | None) -> Iterator[dict]:  # fmt: skip
    """Every asked model's rows, each as it is done (so that an interrupted run has them)."""
    var_misuse = [m for m in models if m in VAR_MISUSE]
    samples = training_samples(args.profile, args.samples) if var_misuse else []
    on = (args.threads, device, peak, args.trace)
    for m in var_misuse:
        yield from guarded({"model": m}, device,
                           lambda m=m: measure(m, args.profile, samples, *on,
                                               compile=args.compile))  # fmt: skip
    # code2vec and code2seq read the same methods (neither changes them): made once
    method_models = {"code2vec", "code2seq"} & set(models)
    methods = method_rows(args.profile, args.samples) if method_models else []
    if "code2vec" in models:
        yield from guarded({"model": "code2vec"}, device,
                           lambda: measure_code2vec(args.profile, methods, *on))  # fmt: skip
    if "code2seq" in models:
        yield from guarded({"model": "code2seq"}, device,
                           lambda: measure_code2seq(args.profile, methods, *on))  # fmt: skip
    if "codebert" in models:
        yield from measure_codebert(args.profile, args.samples, *on)
    if "hf" in models:
        with tempfile.TemporaryDirectory() as tmp:
            weights = hf_weights or tiny_checkpoints(Path(tmp))
            yield from measure_hf(weights, hf_modes, hf_tasks, args.profile, args.samples, *on)


def fmt(value: float | None, unit: str) -> str:
    return "" if value is None else f"{value:>12,.4g}{unit} "


if __name__ == "__main__":
    main()
