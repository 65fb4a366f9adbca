"""The benchmarks of tests/perf print every figure they promise on the CPU (issue 24's first
acceptance point), so that a GPU session finds them working: each runs here at the smoke
profile on a few functions, as a user runs it, and its ``--json`` is checked figure by figure.
Nothing is timed: the figures are measured, not judged."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

PERF = Path(__file__).resolve().parent / "perf"


def usage_error(script: str, *args: str, timeout: int = 300) -> str:
    """The last line a benchmark prints when its options are refused (exit status 2, no
    traceback)."""
    done = subprocess.run([sys.executable, str(PERF / script), *args],
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    return done.stderr.strip().splitlines()[-1]


def run_json(script: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, str(PERF / script), *args, "--json"],
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.mark.slow
def test_training_benchmark_prints_every_figure_on_cpu() -> None:
    out = run_json("training.py", "--profile", "smoke", "--samples", "40", "--threads", "1")
    assert out["device"] == "cpu"
    rows = {(r["model"], r.get("task")): r for r in out["rows"]}
    assert set(rows) == {("ggnn", None), ("great", None), ("transformer", None), ("rnn", None),
                         ("code2vec", None), ("code2seq", None),
                         ("codebert", "code_to_text"), ("codebert", "code_search")}  # fmt: skip
    for (model, _), r in rows.items():
        assert r["samples"] > 0 and r["seconds"] > 0 and r["samples_per_s"] > 0, model
        assert r["parameters"] > 0 and r["ops_per_batch"] > 0, model
        assert r["gflops_per_sample"] >= 0, model
        # CUDA's figures are None on the CPU, not made up; no peak rate, so no MFU.
        for key in ("peak_memory_mib", "gpu_busy", "host_syncs_per_batch", "mfu"):
            assert r[key] is None, (model, key)
        if model in ("ggnn", "great", "transformer", "rnn", "code2vec", "code2seq"):
            assert r["tokens_per_s"] > 0, model
        # A training step never waits for the device: the one value read back, on any device,
        # is the pass's loss, once at its end (each model's train_epoch returns it).
        ((at, n),) = r["host_reads_at"].items()
        assert n == r["host_reads_per_batch"] == 1 and at.endswith(" train_epoch"), (model, at)
        assert r["cpu_only_reads_at"] == {}, model  # no dropout at smoke
        # The input pipeline alone, for every model (the host side a GPU can wait on).
        assert r["pipeline_headroom"] > 0, model
        assert r["pipeline_batches_per_s"] > 0 and r["model_batches_per_s"] > 0, model
    for model in ("ggnn", "great", "transformer", "rnn"):
        assert rows[(model, None)]["padding"] >= 1.0, model
    assert rows[("great", None)]["gflops_per_sample"] > 0


@pytest.mark.slow
def test_training_benchmark_traces_a_batch_and_times_a_compiled_encoder() -> None:
    """The diagnostics a GPU session needs when a target is missed: where one batch spends
    its time, and whether torch.compile pays (its compilation's cost, its graphs and breaks)."""
    out = run_json("training.py", "--profile", "smoke", "--samples", "24", "--threads", "1",
                   "--models", "transformer", "--trace", "4", "--compile")  # fmt: skip
    (row,) = out["rows"]
    trace = row["trace"]
    assert len(trace["ops"]) == 4 and trace["batch_ms"] > 0
    times = [op["self_host_ms"] for op in trace["ops"]]
    assert times == sorted(times, reverse=True) and times[0] > 0  # most self time first
    assert all(op["name"] and op["calls"] >= 1 for op in trace["ops"])
    # Device figures are CUDA's: None on the CPU, not made up.
    assert trace["kernels"] is None and trace["device_ms"] is None
    assert all(op["self_device_ms"] is None for op in trace["ops"])
    compiled = row["compiled"]
    assert compiled["compile_s"] > 0 and compiled["compiled_graphs"] >= 1
    # At smoke there is no dropout, so the encoder is one graph with dynamic shapes: batches
    # of other sizes do not make dynamo compile again.
    assert compiled["graph_breaks"] == 0 and compiled["graph_break_reasons"] == []
    assert row["samples_per_s"] > 0 and row["ops_per_batch"] > 0


@pytest.mark.parametrize(("args", "said"), [
    (("--models", "code2vec", "--compile"),
     "error: --compile is for the var-misuse models (ggnn, great, transformer, rnn), "
     "not code2vec"),
    (("--trace", "-1"), "error: --trace takes a count of operators >= 0, not -1"),
])  # fmt: skip
def test_the_diagnostics_options_are_checked_in_one_line(args: tuple[str, ...], said: str) -> None:
    assert usage_error("training.py", *args, timeout=120).endswith(said)


def test_a_trace_that_fails_costs_its_own_figure_not_the_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The trace's CUDA side runs only where a GPU is lent: if the profiler fails there, the
    row keeps its figures and says why the trace is missing."""
    import torch

    from tests.perf import training

    def fails(*args: object) -> dict:
        raise RuntimeError("CUPTI_ERROR_NOT_INITIALIZED\n(the rest)")

    monkeypatch.setattr(training, "top_operators", fails)
    said = training.traced(torch.device("cpu"), lambda: None, 12)
    assert said == {"error": "RuntimeError: CUPTI_ERROR_NOT_INITIALIZED"}


def test_a_failed_trace_is_said_in_the_printed_table(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.perf import training

    def fails(*args: object) -> dict:
        raise RuntimeError("CUPTI_ERROR_NOT_INITIALIZED")

    monkeypatch.setattr(training, "top_operators", fails)
    argv = ["training.py", "--profile", "smoke", "--samples", "16", "--threads", "1",
            "--models", "ggnn", "--trace", "3"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as done:
        training.main()
    assert done.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("ggnn ") and " samples/s " in lines[0]
    assert lines[1] == "    trace failed: RuntimeError: CUPTI_ERROR_NOT_INITIALIZED"


def benchmark_main(monkeypatch: pytest.MonkeyPatch, on_great: Callable[[], None],
                   *args: str) -> int:  # fmt: skip
    """tests/perf/training.py's main in this process, ``on_great`` called where great would be
    measured: its exit status."""
    from tests.perf import training

    measured = training.measure

    def measure(model: str, *rest: object, **options: object) -> dict:
        if model == "great":
            on_great()
        return measured(model, *rest, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(training, "measure", measure)
    monkeypatch.setattr(sys, "argv", ["training.py", "--profile", "smoke", "--samples", "16",
                                      "--threads", "1", "--json", *args])  # fmt: skip
    with pytest.raises(SystemExit) as done:
        training.main()
    assert signal.getsignal(signal.SIGTERM) is not training.interrupt  # put back
    return done.value.code


def test_a_model_that_fails_costs_its_own_row_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A GPU is lent for minutes that do not come back: one model that breaks there (out of
    device memory, say) gets a row that says why, and the others are measured; exit 1."""

    def out_of_memory() -> None:
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\n(the rest)")

    status = benchmark_main(monkeypatch, out_of_memory, "--models", "great,ggnn")
    said = capsys.readouterr()
    assert status == 1
    out = json.loads(said.out)
    assert out["interrupted"] is False
    great, ggnn = out["rows"]
    assert great == {"model": "great",
                     "error": "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"}
    assert ggnn["model"] == "ggnn" and ggnn["samples_per_s"] > 0
    assert f"great: failed ({great['error']})" in said.err


def test_sigterm_prints_the_rows_measured_so_far(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`timeout` ends a step of the GPU session with SIGTERM: the rows done by then come back,
    marked interrupted, rather than nothing."""
    status = benchmark_main(monkeypatch, lambda: os.kill(os.getpid(), signal.SIGTERM),
                            "--models", "ggnn,great,rnn")  # fmt: skip
    said = capsys.readouterr()
    assert status == 124
    out = json.loads(said.out)
    assert out["interrupted"] is True
    assert [r["model"] for r in out["rows"]] == ["ggnn"] and out["rows"][0]["samples"] == 16
    assert "Traceback" not in said.err and "SIGTERM: printing the rows measured so far" in said.err
    assert any(line.startswith("ggnn: ") for line in said.err.splitlines())  # announced when done


def test_training_benchmark_on_cuda_without_cuda_is_one_line() -> None:
    """Where there is no GPU (CUDA_VISIBLE_DEVICES empty hides any), --device cuda says so."""
    done = subprocess.run([sys.executable, str(PERF / "training.py"), "--device", "cuda",
                           "--models", "ggnn"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].endswith(
        "--device cuda: CUDA is not available on this machine"
    )


def test_mfu_is_read_against_the_datasheet_of_the_card_cuda_names() -> None:
    from tests.perf.training import peak_for

    assert peak_for("NVIDIA H100 80GB HBM3") == peak_for("NVIDIA H200") == 989.0
    assert peak_for("NVIDIA H100 PCIe") == 756.0
    assert peak_for("NVIDIA H100 NVL") == peak_for("NVIDIA H200 NVL") == 835.0
    assert peak_for("NVIDIA A100-SXM4-80GB") is None  # no MFU rather than a wrong one


def test_host_reads_are_what_waits_for_a_gpu() -> None:
    """The training benchmark's ``host_reads`` counts, on the CPU, what would make the host
    wait for a GPU, where it is asked, and nothing else: not an operator whose output size is
    known, not a host tensor's values, not the optimizer's step."""
    import torch

    from tests.perf.training import host_reads

    def one_batch() -> None:
        x, w = torch.arange(6.0), torch.nn.Parameter(torch.ones(3))
        x[x > 2]  # waits: a boolean index's size
        x[x > 4] = 0.0  # waits: a boolean assignment's
        float(x.sum())  # waits: a value
        torch.repeat_interleave(x, torch.tensor([1, 2, 1, 1, 1, 1]))  # waits: its size
        torch.nonzero(x)  # waits: its size
        torch.repeat_interleave(x, 2)
        torch.repeat_interleave(x, torch.tensor([1, 2, 1, 1, 1, 1]), output_size=7)
        torch.where(x > 0, x, 0.0)
        x.tolist()  # a host tensor: no device to wait for
        with torch.inference_mode():  # where torch shows some operators whole
            bool(x.sum())  # waits: a value
            x.repeat_interleave(2, 0)
        optimizer = torch.optim.Adam([w])
        (w * 2).sum().backward()
        optimizer.step()  # on the CPU Adam reads its step count; fused on CUDA, it does not

    first = one_batch.__code__.co_firstlineno
    expected = {f"tests/test_perf_benchmarks.py:{first + k} one_batch": 1
                for k in (2, 3, 4, 5, 6, 12)}  # fmt: skip
    assert host_reads(one_batch) == expected


def test_reads_of_code_that_runs_on_the_cpu_alone_are_listed_apart() -> None:
    """The CPU dropout reads a key from torch's generator for each mask; on a GPU torch's
    dropout runs instead, so that read is no GPU's wait and is not counted as one."""
    import torch

    from benchmark.models.dropout import Dropout
    from tests.perf.training import host_reads

    dropout = Dropout(0.1)

    def one_batch() -> None:
        float(dropout(torch.ones(4, 3)).sum())  # waits: a value

    cpu_only: dict[str, int] = {}
    line = one_batch.__code__.co_firstlineno + 1
    assert host_reads(one_batch, cpu_only) == {f"tests/test_perf_benchmarks.py:{line} one_batch": 1}
    ((at, n),) = cpu_only.items()
    assert at.startswith("benchmark/models/dropout.py:") and at.endswith(" forward") and n == 1


@pytest.mark.slow
def test_training_benchmark_times_hf_per_family_mode_and_task() -> None:
    """`--models hf` builds the network as the model program does (models.hf.train.build): it
    broke once when the program's steps changed and its copy of them did not."""
    out = run_json("training.py", "--models", "hf", "--profile", "smoke", "--samples", "16",
                   "--threads", "1")  # fmt: skip
    rows = {(r["weights"], r["finetune"], r["task"]): r for r in out["rows"]}
    assert set(rows) == {
        (w, m, t)
        for w in ("tiny-roberta", "tiny-t5", "tiny-gpt2")
        for m in ("full", "lora", "head")
        for t in ("code_to_text", "code_search", "var_misuse", "method_name")
    }
    for key, r in rows.items():
        assert r["samples"] == 16 and r["samples_per_s"] > 0 and r["tokens_per_s"] > 0, key
        assert 0 < r["trainable_parameters"] <= r["parameters"], key
        assert (r["trainable_parameters"] == r["parameters"]) == (key[1] == "full"), key
        assert all(r[k] is None for k in ("peak_memory_mib", "gpu_busy", "mfu")), key
        # Our code reads the loss once, at the pass's end; transformers reads whether any row
        # is padded, once or twice a forward, so as to drop the mask for the flash kernel.
        ours = {k: n for k, n in r["host_reads_at"].items() if k.startswith("benchmark/")}
        ((at, n),) = ours.items()
        assert n == 1 and at.endswith(" train_epoch"), (key, at)
        theirs = r["host_reads_at"].keys() - ours.keys()
        assert theirs and all("transformers/masking_utils.py" in k for k in theirs), (key, theirs)
    # var_misuse and code_search run T5's encoder alone: fewer parameters than code_to_text's
    t5 = {t: rows[("tiny-t5", "full", t)]["parameters"] for t in ("code_to_text", "var_misuse")}
    assert t5["var_misuse"] < t5["code_to_text"]


@pytest.mark.slow
def test_padding_benchmark_compares_both_ways() -> None:
    out = run_json("padding.py", "--profile", "cpu", "--model", "great")
    assert out["functions"] > 1000 and out["batch_tokens"] == 4000
    before, after = out["consecutive"], out["similar_length"]
    for r in (before, after):
        assert r["batches"] > 0 and r["planning_ms"] >= 0
        assert r["attention_over_needed"] >= 1.0 and r["padded_over_tokens"] >= 1.0
    # Whatever the machine: the batches of similar length pad python-stdlib far less.
    assert after["padded_over_tokens"] < 1.1 < 2.0 < before["padded_over_tokens"]


def test_verify_benchmark_reads_every_unit_cold_and_warm() -> None:
    out = run_json("verify.py", "--units", "3", "--mib", "0.25")
    assert (out["units"], out["mib_per_unit"]) == (3, 0.25)
    assert out["cold_s"] > 0 and len(out["warm_s"]) == 2 and out["cold_over_warm"] > 0


def test_scoring_benchmark_measures_a_table_and_its_peak() -> None:
    out = run_json("scoring.py", "--samples", "500", "--epochs", "3")
    assert out["rows"] == 1500 and out["seconds"] > 0
    assert out["table_mib"] > 0 and out["inputs_mib"] > 0 and out["peak_above_inputs_mib"] >= 0


def test_metrics_benchmark_summarizes_a_table_or_a_scan_of_its_file() -> None:
    for scan in ((), ("--scan",)):
        out = run_json("metrics.py", "--rows", "20000", "--epochs", "4", *scan)
        assert out["rows"] == 20000 and out["scan"] == bool(scan) and out["seconds"] > 0
        assert out["peak_rss_mib"] >= out["table_peak_rss_mib"] > 0
        assert out["summary_peak_mib"] >= 0


def test_inputs_benchmark_measures_what_each_model_program_holds() -> None:
    out = run_json("inputs.py", "--models", "ggnn,code2vec", "--functions", "300,600",
                   "--profile", "smoke")  # fmt: skip
    assert out["profile"] == "smoke"
    assert [(r["model"], r["train"]) for r in out["rows"]] == [
        ("ggnn", 300), ("ggnn", 600), ("code2vec", 300), ("code2vec", 600)]  # fmt: skip
    for r in out["rows"]:
        assert "error" not in r and r["samples"] > r["train"] and r["seconds"] > 0
        # the peak is the kernel's high-water mark, the held size a count of pages: they may
        # differ by a page table's worth where nothing was freed
        assert 0 < r["held_mib"] <= r["peak_mib"] + 1
        rounding = 0.05 * 2**20 / r["samples"] + 1  # the MiB are printed to 0.1
        for kind in ("held", "peak"):
            per_sample = r[f"{kind}_mib"] * 2**20 / r["samples"]
            assert abs(r[f"{kind}_bytes_per_sample"] - per_sample) <= rounding


def test_harness_benchmark_measures_what_a_unit_holds_while_its_model_trains() -> None:
    out = run_json("harness.py", "--functions", "400,800")
    assert (out["task"], out["model"], out["profile"]) == ("var_misuse", "baseline", "paper")
    assert [r["functions"] for r in out["rows"]] == [400, 800]
    for r in out["rows"]:
        assert "error" not in r and r["seconds"] > 0 and r["peak_mib"] > 0
        assert r["while_training_mib"] <= r["peak_mib"] + 1
        per_function = r["while_training_mib"] * 2**20 / r["functions"]
        assert abs(r["while_training_bytes_per_function"] - per_function) <= 0.05 * 2**20 / 400 + 1


def test_inputs_benchmark_measures_hf_with_the_weights_it_is_given(tmp_path: Path) -> None:
    from tests.test_hf import build_tiny

    weights = build_tiny("roberta", tmp_path / "tiny")
    out = run_json("inputs.py", "--models", "hf", "--hf-weights", str(weights),
                   "--functions", "200", "--profile", "smoke")  # fmt: skip
    ((row,),) = [out["rows"]]
    assert (row["model"], row["train"]) == ("hf", 200) and "error" not in row
    assert row["seconds"] > 0 and 0 < row["held_mib"] <= row["peak_mib"] + 1


@pytest.mark.parametrize(("args", "said"), [
    (("--models", "hf"), "--models hf needs --hf-weights, a checkpoint folder"),
    (("--models", "nope"), "--models: unknown nope"),
    (("--functions", "0"), "--functions '0': comma-separated counts of 1 or more"),
])  # fmt: skip
def test_inputs_benchmark_checks_its_options_in_one_line(args: tuple[str, ...], said: str) -> None:
    assert said in usage_error("inputs.py", *args)


@pytest.mark.parametrize(("args", "said"), [
    (("--model", "nope"), "--model: unknown nope"),
    (("--functions", "abc"), "--functions 'abc': comma-separated counts of 1 or more"),
])  # fmt: skip
def test_harness_benchmark_checks_its_options_in_one_line(args: tuple[str, ...], said: str) -> None:
    assert said in usage_error("harness.py", *args)


def test_padding_benchmark_names_an_unknown_model_in_one_line() -> None:
    assert "invalid choice: 'code2vec'" in usage_error("padding.py", "--model", "code2vec")


def test_seed_noise_says_whether_the_difference_of_means_is_inside_its_interval(
    tmp_path: Path,
) -> None:
    """Welch's two standard errors on hand-checked numbers: b's mean 0.1 above a's, whose
    interval is 2 * sqrt(0.01 / 3 + 0.01 / 3) = 0.1633 wide each side."""
    base = {"task": "var_misuse", "model": "ggnn", "dataset": "d", "profile": "cpu",
            "noise": {"kind": "label", "rate": 0.25}}  # fmt: skip
    for side, accs in (("a", (0.4, 0.5, 0.6)), ("b", (0.5, 0.6, 0.7))):
        for seed, acc in enumerate(accs):
            unit = tmp_path / side / f"seed{seed}"
            unit.mkdir(parents=True)
            metrics = {**base, "seed": seed, "test": {"acc": acc}, "memorization_rate": 0.3}
            (unit / "metrics.json").write_text(json.dumps(metrics))
    out = run_json("seed_noise.py", "--a", str(tmp_path / "a"), "--b", str(tmp_path / "b"))
    assert out["seeds"] == {"a": [0, 1, 2], "b": [0, 1, 2]}
    rows = {r["figure"]: r for r in out["rows"]}
    assert set(rows) == {"test.acc", "memorization_rate"}  # figures none of the runs has: left out
    acc = rows["test.acc"]
    assert acc["difference"] == pytest.approx(0.1) and acc["sd_a"] == pytest.approx(0.1)
    assert acc["interval"] == pytest.approx([0.1 - 0.16330, 0.1 + 0.16330], abs=1e-5)
    assert acc["within_seed_noise"] and rows["memorization_rate"]["within_seed_noise"]
    # Another experiment on one side is refused, in one line.
    other = json.loads((tmp_path / "b" / "seed0" / "metrics.json").read_text())
    (tmp_path / "b" / "seed0" / "metrics.json").write_text(json.dumps({**other, "model": "rnn"}))
    done = subprocess.run([sys.executable, str(PERF / "seed_noise.py"), "--a", str(tmp_path / "a"),
                           "--b", str(tmp_path / "b")], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        "the runs differ in model: not the same experiment"
    ]


@pytest.mark.slow
def test_the_gpu_session_script_runs_its_steps_on_the_cpu(tmp_path: Path) -> None:
    """tests/perf/gpu_session.sh is what a session with a GPU runs once, in minutes it cannot get
    back: its dry run here takes every step at the smoke profile and checks what comes back.
    Both sides are the CPU then, so CPU runs of a seed must score the same to the bit."""
    import os

    env = {**os.environ, "DRY": "1", "BUDGET": "400", "OUT": str(tmp_path), "MODELS": "ggnn",
           "PYTHON": sys.executable}  # fmt: skip
    done = subprocess.run(["bash", str(PERF / "gpu_session.sh"), "run"], env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    assert {p.name for p in tmp_path.iterdir()} == {
        "hardware.txt", "paper.json", "default.json", "seed-noise.txt", "compiled.json",
        "cpu-profile.json", "shared.json", "session.log"}  # fmt: skip
    assert len(list(tmp_path.iterdir())) <= 8  # what one device call brings back
    log = (tmp_path / "session.log").read_text()
    assert "skipped" not in log and "== done at" in log, log
    for name in ("paper.json", "compiled.json", "cpu-profile.json"):
        rows = json.loads((tmp_path / name).read_text())["rows"]
        assert [r["model"] for r in rows] == ["ggnn"] and rows[0]["samples_per_s"] > 0
    paper, compiled = (json.loads((tmp_path / f"{n}.json").read_text())["rows"][0]
                       for n in ("paper", "compiled"))  # fmt: skip
    assert len(paper["trace"]["ops"]) == 12 and "compiled" not in paper
    cpu_sizes = json.loads((tmp_path / "cpu-profile.json").read_text())["rows"][0]
    assert len(cpu_sizes["trace"]["ops"]) == 12
    assert compiled["compiled"]["compile_s"] > 0 and "trace" not in compiled
    runs = json.loads((tmp_path / "default.json").read_text())
    assert sorted((r["side"], r["seed"]) for r in runs) == [
        (side, seed) for side in ("cpu", "gpu") for seed in (0, 1, 2)
    ]
    for r in runs:
        assert r["exit"] == 0 and r["wall_s"] >= 0 and r["metrics"]["seed"] == r["seed"], r
    by = {(r["side"], r["seed"]): r["metrics"] for r in runs}
    for seed in (0, 1, 2):
        assert by[("cpu", seed)]["test"] == by[("gpu", seed)]["test"]
    shared = json.loads((tmp_path / "shared.json").read_text())
    assert [r["units"] for r in shared["rows"]] == [1, 2] and not shared["interrupted"]
    for r in shared["rows"]:
        assert r["complete"] == r["units"] and r["units_per_hour"] > 0, r
        assert r["gpu_busy"] is None and "error" not in r, r  # the CPU has no busy share
    said = (tmp_path / "seed-noise.txt").read_text().splitlines()
    assert said[0] == "a: seeds [0, 1, 2]   b: seeds [0, 1, 2]"
    assert len(said) > 5 and all(" b - a +0.0000 " in line and line.endswith(
        "within seed noise") for line in said[1:]), said  # fmt: skip


@pytest.mark.slow
def test_generation_benchmark_compares_lines_per_second_with_a_revision() -> None:
    """hf's generated lines, with random checkpoints of each family built by the benchmark,
    with this checkout and with HEAD's code (a worktree), as `--against REV` compares them."""
    out = run_json("generation.py", "--profile", "smoke", "--samples", "6", "--repeats", "1",
                   "--against", "HEAD")  # fmt: skip
    assert set(out["weights"]) == {"random-gpt2", "random-t5", "random-roberta"}
    families = set()
    for name, entry in out["weights"].items():
        assert entry["ratio"] > 0, name
        for version in ("this checkout", "HEAD"):
            (run,) = entry[version]["runs"]
            assert run["lines"] == 6 and run["max_target"] == 16, (name, run)
            assert run["device"] == "cpu", (name, run)
            assert run["seconds"] > 0 and run["lines_per_s"] > 0, (name, run)
            assert entry[version]["median_lines_per_s"] == run["lines_per_s"]
            families.add(run["family"])
    assert families == {"causal", "seq2seq", "encoder"}


def test_generation_benchmark_names_bad_weights_in_one_line(tmp_path: Path) -> None:
    """A folder that is not a checkpoint, or one whose config does not parse (found by the
    measuring process), is one line on stderr, not a traceback."""
    bad = tmp_path / "bad"
    bad.mkdir()
    for expected in ("no config.json", "is not a valid JSON file"):
        done = subprocess.run([sys.executable, str(PERF / "generation.py"), "--weights", str(bad),
                               "--profile", "smoke", "--samples", "2", "--repeats", "1"],
                              capture_output=True, text=True, timeout=600)  # fmt: skip
        assert done.returncode != 0
        assert expected in done.stderr.strip().splitlines()[-1], done.stderr[-1000:]
        assert "Traceback" not in done.stderr and '  File "' not in done.stderr, done.stderr
        (bad / "config.json").write_text("{")
