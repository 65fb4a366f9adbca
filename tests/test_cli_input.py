"""Careless input to `bench run` and `bench sweep` gets one line and exit status 2 before any
work (a negative seed, --results naming a file or a read-only place), a disk that fills or a
mount that goes under a run gets one line too, and a sweep runs on a ``dir:PATH`` dataset,
whose folder name is the dataset's name percent-encoded."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.results import Unit
from benchmark.sweep import unit_key
from native import sources

BENCH = [sys.executable, "-m", "benchmark"]
RUN = ["run", "--model", "ggnn", "--profile", "smoke"]
SWEEP = ["sweep", "--models", "ggnn", "--noise", "0", "--seeds", "1", "--profile", "smoke"]


def one_line_status_2(argv: list[str], *wrap: str) -> str:
    """The single line of stderr of a command that must exit 2 at once; ``wrap`` runs it."""
    proc = subprocess.run([*wrap, *BENCH, *argv], capture_output=True, text=True, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1 and proc.stdout == "", proc.stderr[-2000:]
    return lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", "-1"], "Invalid value for '--seed'"),
        (["--seed", str(2**32)], "Invalid value for '--seed'"),
    ],
)
def test_a_seed_out_of_range_is_one_line(args: list[str], message: str, tmp_path: Path):
    assert message in one_line_status_2([*RUN, *args, "--results", str(tmp_path / "r")])
    assert not (tmp_path / "r").exists()


def test_a_subset_share_without_a_subset_is_one_line(tmp_path: Path):
    """Refused rather than recorded in run.json for a run that draws no subset."""
    argv = [*RUN, "--subset-share", "0.3", "--results", str(tmp_path / "r")]
    assert one_line_status_2(argv) == "error: --subset-share needs --subset"
    argv = [*SWEEP, "--subset-share", "0.3", "--results", str(tmp_path / "r")]
    assert one_line_status_2(argv) == "error: --subset-share needs --subsets"
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("flag", ["--partition", "--time", "--account", "--mem"])
def test_a_slurm_value_that_is_not_one_is_one_line(flag: str, tmp_path: Path):
    """Each value goes into an #SBATCH line: a newline would run the rest as shell on a node."""
    marker = tmp_path / "ran"
    argv = [*SWEEP, "--executor", "slurm", flag, f"debug\ntouch {marker}", "--results",
            str(tmp_path / "r")]  # fmt: skip
    assert f"{flag} 'debug\\ntouch {marker}' is not a Slurm value" in one_line_status_2(argv)
    assert not marker.exists() and not (tmp_path / "r" / ".sweeps").exists()


@pytest.mark.parametrize("folder", ["bob's", "a&b", "x" * 201])
def test_weights_at_a_path_a_start_event_may_not_carry_is_one_line(folder: str, tmp_path: Path):
    """Refused before the model starts, not blamed on the model once it repeats the path."""
    weights = tmp_path / folder
    weights.mkdir()
    argv = ["run", "--model", "hf", "--weights", str(weights), "--profile", "smoke",
            "--results", str(tmp_path / "r")]  # fmt: skip
    assert "move the folder to a path of at most 200 characters" in one_line_status_2(argv)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("seeds", ["-1", "0"])
def test_a_sweep_without_seeds_is_one_line(seeds: str, tmp_path: Path):
    argv = [*SWEEP, "--seeds", seeds, "--results", str(tmp_path / "r")]
    assert "--seeds must be at least 1" in one_line_status_2(argv)


@pytest.mark.parametrize("command", [RUN, SWEEP])
def test_results_naming_a_file_is_one_line(command: list[str], tmp_path: Path):
    file = tmp_path / "results.csv"
    file.write_text("mine\n")
    line = one_line_status_2([*command, "--results", str(file)])
    assert f"--results {file} is a file, not a folder" in line
    line = one_line_status_2([*command, "--results", str(file / "r")])
    assert f"--results {file / 'r'} cannot be written (Not a directory)" in line
    assert file.read_text() == "mine\n"


def read_only(folder: Path) -> list[str]:
    """A command prefix under which ``folder`` is read-only: for root (whom no mode stops), a
    read-only bind mount in a mount namespace of the command's own; else the folder's mode."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return []
    if shutil.which("unshare") is None:
        pytest.fail("root needs unshare (util-linux) to make a read-only folder", pytrace=False)
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
    return ["unshare", "--mount", "sh", "-c", script, str(folder)]


@pytest.mark.parametrize("command", [RUN, SWEEP])
def test_results_in_a_read_only_folder_is_one_line(command: list[str], tmp_path: Path):
    folder = tmp_path / "ro"
    folder.mkdir()
    wrap = read_only(folder)
    for results in (folder, folder / "results"):
        line = one_line_status_2([*command, "--results", str(results)], *wrap)
        assert f"--results {results} cannot be written" in line, line
    folder.chmod(0o755)
    assert list(folder.iterdir()) == []


def test_a_read_only_folder_is_fine_for_root_when_root_can_write(tmp_path: Path):
    """As root, a mode without write bits stops nothing, so it is not refused."""
    if os.geteuid() != 0:
        pytest.skip("only root writes through a folder's mode")
    from benchmark.cli import check_results

    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    check_results(folder / "results")
    assert (folder / "results").is_dir()


def test_the_unit_key_of_a_dir_dataset():
    unit = Unit("var_misuse", "dir:/data/my code", "a/b", "label", 0.25, 1)
    assert unit_key(unit) == "a%2Fb/noise-label-0.25/seed-1"


@pytest.mark.slow
def test_a_sweep_runs_on_a_dir_dataset(tmp_path: Path):
    root = sources.python_stdlib()
    src = tmp_path / "my code"  # a space and the path's '/' are percent-encoded in its folder
    for f in sorted(root.rglob("*.py"))[:150]:
        dest = src / f.relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(f.read_bytes())
    results = tmp_path / "results"
    argv = [*BENCH, "sweep", "--models", "baseline", "--noise", "0.5", "--seeds", "1",
            "--dataset", f"dir:{src}", "--profile", "smoke", "--max-parallel", "1",
            "--results", str(results), "--json"]  # fmt: skip
    first = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    summary = json.loads(first.stdout)
    assert (summary["units"], summary["complete"], summary["failed"]) == (1, 1, [])
    again = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)
    assert (again["complete"], again["skipped"]) == (1, 1)
    status = subprocess.run([*BENCH, "sweep", "status", "--results", str(results), "--json"],
                            capture_output=True, text=True, check=True)  # fmt: skip
    (sweep,) = json.loads(status.stdout)
    assert [(u["unit"], u["state"]) for u in sweep["units"]] == [
        ("baseline/noise-label-0.5/seed-0", "complete")
    ]


@pytest.mark.parametrize("lang", ["python", "java", "ruby"])
def test_a_dir_corpus_of_binary_files_is_one_line(lang: str, tmp_path: Path):
    """Files that parse to nothing: `bench run` says so in one line, not a traceback."""
    suffix = {"python": ".py", "java": ".java", "ruby": ".rb"}[lang]
    corpus = tmp_path / "corpus"
    (corpus / "pkg").mkdir(parents=True)
    for i, folder in enumerate((corpus, corpus / "pkg")):
        (folder / f"f{i}{suffix}").write_bytes(os.urandom(4000))
    task = {"python": "var_misuse", "java": "method_name", "ruby": "code_to_text"}[lang]
    proc = subprocess.run(
        [*BENCH, "run", "--task", task, "--model", "baseline", "--noise", "0", "--profile",
         "smoke", "--dataset", f"dir:{corpus}:{lang}", "--results", str(tmp_path / "r")],
        capture_output=True, text=True, env={**os.environ, "BENCH_CACHE": str(tmp_path / "c")},
    )  # fmt: skip
    assert proc.returncode == 1 and "yields nothing" in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr


def test_a_dir_corpus_that_cannot_be_one_says_why(tmp_path: Path):
    """An empty or missing folder was "unknown dataset ...; choose from", though a dir: was
    given; and a path whose results folder name passes 255 bytes was an OSError traceback
    once the corpus was read (found by probing)."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("hi\n")
    for command in (RUN, SWEEP):
        line = one_line_status_2([*command, "--dataset", f"dir:{tmp_path / 'empty'}",
                                  "--results", str(tmp_path / "r")])  # fmt: skip
        assert "the corpus yields nothing: no .java, .py or .rb files under" in line, line
        line = one_line_status_2([*command, "--dataset", f"dir:{tmp_path / 'nope'}",
                                  "--results", str(tmp_path / "r")])  # fmt: skip
        assert line.endswith(f"{tmp_path / 'nope'} does not exist"), line
    deep = tmp_path / "模型的源代码文件" / ("变量误用检测数据集" * 3)
    deep.mkdir(parents=True)
    (deep / "a.py").write_text("def f(a, b):\n    return a + b\n")
    line = one_line_status_2([*RUN, "--dataset", f"dir:{deep}", "--results", str(tmp_path / "r")])
    assert "over the 255 a file system allows; move the corpus to a shorter path" in line, line
    assert not (tmp_path / "r").exists()


def test_a_dir_corpus_is_one_dataset_however_it_is_typed(tmp_path: Path):
    """`dir:code`, `dir:/abs/code/` and `dir:/abs/code` were three datasets, and the same
    relative name run from another folder (another corpus) took over the first one's units,
    moved to .quarantine as "another version" (found by probing)."""
    from benchmark import options

    code = tmp_path / "code"
    code.mkdir()
    (code / "a.py").write_text("def f(a, b):\n    return a + b\n")
    typed = [f"dir:{code}", f"dir:{code}/", f"dir:{code}:python"]
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        typed.append("dir:code")
        named = {options.unit("var_misuse", t, "smoke", "cpu", "process", "label") for t in typed}
    finally:
        os.chdir(cwd)
    assert named == {f"dir:{code.resolve()}:python"}


def test_datasets_info_reads_a_corpus_at_a_long_path(tmp_path: Path):
    """The cache folder was named after the whole path: ENAMETOOLONG past ~210 characters."""
    deep = tmp_path / ("A" * 200) / ("B" * 100)
    deep.mkdir(parents=True)
    (deep / "a.py").write_text("def f(a, b):\n    c = a + b\n    return c * a - b\n")
    proc = subprocess.run([*BENCH, "datasets", "info", f"dir:{deep}", "--json"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "BENCH_CACHE": str(tmp_path / "c")})  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    (built,) = (tmp_path / "c" / "datasets").iterdir()
    assert len(built.name.encode()) <= 255


def test_files_whose_names_show_alike_keep_their_own_samples(tmp_path: Path):
    """'c\\xff.py' and 'c\\xfe.py' both show as 'c\\ufffd.py': their samples got the same ids,
    and the second file's were dropped as repeats, uncounted (found by probing). Ids that do
    repeat (Java overloads on one line: File.java:LINE:NAME twice) are counted."""

    def code(tag: str) -> bytes:
        return (f"def {tag}_sum(alpha, beta):\n    gamma = alpha + beta\n    delta = gamma * "
                f"alpha\n    return delta - beta + gamma\n").encode()  # fmt: skip

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(6):
        (corpus / f"f{i}.py").write_bytes(code(f"plain{i}"))
    with open(os.fsencode(corpus) + b"/c\xff.py", "wb") as f:
        f.write(code("first"))
    with open(os.fsencode(corpus) + b"/c\xfe.py", "wb") as f:
        f.write(code("second"))

    def info(name: str) -> dict:
        proc = subprocess.run([*BENCH, "datasets", "info", name, "--json"], capture_output=True,
                              text=True, timeout=120,
                              env={**os.environ, "BENCH_CACHE": str(tmp_path / "c")})  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout)

    assert sum(info(f"dir:{corpus}")["samples"].values()) == 8
    java = tmp_path / "java"
    java.mkdir()
    for i in range(6):
        (java / f"C{i}.java").write_text(
            f"class C{i} {{\n  int total{i}(int a, int b) {{\n    int c = a + b;\n"
            f"    return c * a - b;\n  }}\n}}\n")  # fmt: skip
    (java / "Twice.java").write_text(
        "class Twice {\n  int f(int a) { int b = a + 1; return b * a - 2; } "
        "int f(long a) { long b = a + 1; return (int) (b * a - 3); }\n}\n")  # fmt: skip
    got = info(f"dir:{java}:java")
    removed = got["duplicates_removed"]
    assert sum(removed["repeated_id"].values()) == 1  # the other may go as a duplicate
    assert sum(got["samples"].values()) + sum(sum(n.values()) for n in removed.values()) == 8


def test_a_source_name_on_what_is_not_a_file_is_counted(tmp_path: Path):
    """A broken link, a fifo or a device named *.py was left out with no count (found by
    probing); it is now one of the unreadable files, with its reason."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(6):
        (corpus / f"f{i}.py").write_text(f"def f{i}(alpha, beta):\n    gamma = alpha + beta\n"
                                         "    return gamma * alpha - beta\n")  # fmt: skip
    (corpus / "dangling.py").symlink_to(tmp_path / "nonexistent")
    os.mkfifo(corpus / "fifo.py")
    (corpus / "zero.py").symlink_to("/dev/zero")
    proc = subprocess.run([*BENCH, "datasets", "info", f"dir:{corpus}", "--json"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "BENCH_CACHE": str(tmp_path / "c")})  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    info = json.loads(proc.stdout)
    assert info["unreadable_count"] == 3 and sum(info["samples"].values()) == 6
    assert [line.split(":")[0] for line in info["unreadable_files"]] == [
        "dangling.py", "fifo.py", "zero.py"]  # fmt: skip


def test_input_noise_that_can_change_nothing_is_one_line(tmp_path: Path):
    """Ruby methods whose code holds no word of their docstring: token masking could change
    none, so a noisy run would be a clean one under a noisy name. Refused; noise 0 runs."""
    src = tmp_path / "src"
    src.mkdir()
    for f in range(80):
        methods = []
        for k in range(3 * f, 3 * f + 3):
            body = " + ".join(["a"] * (k % 7 + 2) + ["b"] * (k // 7 + 1))
            methods.append(f"# Computes a quantity carefully, variant {k}.\n"
                           f"def meth_{k}(a, b)\n  {body}\nend\n")  # fmt: skip
        (src / f"f{f}.rb").write_text("\n".join(methods))
    argv = [*BENCH, "run", "--task", "code_to_text", "--model", "baseline", "--dataset",
            f"dir:{src}", "--noise-kind", "token-masking", "--profile", "smoke", "--results",
            str(tmp_path / "r")]  # fmt: skip
    proc = subprocess.run([*argv, "--noise", "0.5"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines() == [
        f"error: unit failed: noise kind token-masking can change none of the 160 training "
        f"samples of dataset dir:{src}:ruby at profile smoke"]  # fmt: skip
    assert not list((tmp_path / "r").rglob("metrics.json"))
    clean = subprocess.run([*argv, "--noise", "0"], capture_output=True, text=True, timeout=300)
    assert clean.returncode == 0, clean.stderr[-2000:]


FULL_DISK = """
import errno, os, sys
import polars as pl
FULL = sys.argv.pop(1)  # the file that finds the disk full
def full(real):
    def write(self, file, *args, **kwargs):  # the disk fills as the harness writes the scores
        if str(file).endswith(FULL):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(file))
        return real(self, file, *args, **kwargs)
    return write
pl.DataFrame.write_parquet = full(pl.DataFrame.write_parquet)
pl.LazyFrame.sink_parquet = full(pl.LazyFrame.sink_parquet)
sys.argv = ["bench", *sys.argv[1:]]
from benchmark.cli import main
main()
"""


@pytest.mark.parametrize("file", ["samples.parquet", "scored/epoch-00002.parquet"])
def test_a_full_disk_under_the_harness_fails_the_unit_in_one_line(tmp_path: Path, file: str):
    """The harness's own writes failing (the disk is full as it writes samples.parquet, or an
    epoch's scored rows as the model trains) fail the unit with the OS's reason and the file,
    keep its log under .failed, and print no traceback."""
    results = tmp_path / "results"
    argv = [sys.executable, "-c", FULL_DISK, file, "run", "--model", "baseline", "--profile",
            "smoke", "--results", str(results)]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert "Traceback" not in proc.stderr
    assert last.startswith("error: unit failed: the harness's I/O failed: No space left on "
                           f"device: {results}/.tmp/"), last  # fmt: skip
    [failed] = (results / ".failed").iterdir()
    assert (failed / "failure.txt").read_text().startswith("the harness's I/O failed: No space")
    assert not (results / "var_misuse").exists() and list((results / ".tmp").iterdir()) == []


LOST_MOUNT = """
import errno, os, sys
from benchmark import run
def gone(*args, **kwargs):
    raise OSError(errno.EIO, os.strerror(errno.EIO), "/mnt/x")
run.run_unit = gone
sys.argv = ["bench", *sys.argv[1:]]
from benchmark.cli import main
main()
"""


def test_an_os_error_no_command_expected_is_one_line(tmp_path: Path):
    """The last net: an OSError that no command turned into its own message (a mount lost under
    it) is one line with the OS's reason and the file, exit status 1."""
    code = LOST_MOUNT
    argv = [sys.executable, "-c", code, "run", "--model", "baseline", "--profile", "smoke",
            "--results", str(tmp_path)]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines() == ["error: Input/output error: /mnt/x"]
