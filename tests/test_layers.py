"""The layers hold: the import-linter contracts of pyproject.toml are kept (the model programs
and their trainer never import the orchestrator, the runner never looks up submissions or
images, native stands below the benchmark, no package cycles), and no module of benchmark or
native reaches itself through its imports, those made inside functions included; and a
model program starts without the heavy libraries it does not use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contracts_are_kept():
    # lint-imports of this interpreter's import-linter, reading pyproject.toml; no cache is
    # written into the checkout.
    run = "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())"
    proc = subprocess.run([sys.executable, "-c", run, "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "0 broken" in out, out[-4000:]


def test_no_module_imports_itself_round_about():
    graph = grimp.build_graph("benchmark", "native", cache_dir=None)
    cycles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                cycles.append(" -> ".join((importer, *back)))
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_model_programs_start_without_libraries_they_do_not_run():
    # Importing torch_geometric loads torch._dynamo and, through its LLM utilities,
    # transformers: ~1.9 s at every start of every model program (and of every test that runs
    # one); the models keep PyG's batch layout and compute its scatter with torch's kernels.
    # scikit-learn and SciPy (~1.1 s) are code_to_text's retrieval's alone, imported there.
    models = ["ggnn", "great", "transformer", "rnn", "code2vec", "code2seq", "codebert", "hf"]
    heavy = ["torch_geometric", "torch._dynamo", "transformers", "sklearn", "scipy", "polars"]
    run = (f"import sys\nfor m in {models!r}: __import__('benchmark.models.' + m)\n"
           f"print([m for m in {heavy!r} if m in sys.modules])")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", run], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.strip() == "[]", proc.stdout
