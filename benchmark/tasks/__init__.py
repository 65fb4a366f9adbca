"""Benchmark tasks: how samples and labels are made from a corpus."""

TASKS = ("var_misuse", "method_name", "code_to_text", "code_search")
# Each task's offline default dataset: what `bench run`, `bench sweep` and `bench findings` use
# when no --dataset is named.
DEFAULT_DATASETS = {
    "var_misuse": "python-stdlib",
    "method_name": "jdk",
    "code_to_text": "ruby-stdlib",
    "code_search": "ruby-stdlib",
}
