"""Benchmark tasks: how samples and labels are made from a corpus.

Each task is a package that declares its `TaskSpec` (benchmark.tasks.spec); `TASKS` is the
live registry, name -> spec, the suite's four first and any plugin's after them.
"""

from benchmark.tasks import code_search, code_to_text, method_name, var_misuse
from benchmark.tasks.spec import TASKS, Derived, NoiseKinds, TaskMetrics, TaskSpec, register_task

for _task in (var_misuse, method_name, code_to_text, code_search):
    register_task(_task.SPEC)

# Each task's offline default dataset: what `bench run`, `bench sweep` and `bench findings` use
# when no --dataset is named (declared in each task's spec).
DEFAULT_DATASETS: Derived[str] = Derived(lambda spec: spec.default_dataset)

__all__ = ["DEFAULT_DATASETS", "TASKS", "Derived", "NoiseKinds", "TaskMetrics", "TaskSpec",
           "register_task"]  # fmt: skip
