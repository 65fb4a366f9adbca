"""Benchmark tasks: how samples and labels are made from a corpus."""

TASKS = ("var_misuse", "method_name", "code_to_text", "code_search")
# Each task's offline default dataset: what `bench run`, `bench sweep` and `bench findings` use
# when no --dataset is named.
DEFAULT_DATASETS = {
    "var_misuse": "python-stdlib",
    "method_name": "jdk",
    # ruby-debian, not ruby-stdlib: trained on ruby-stdlib's 1,886 methods, codebert at
    # --profile cpu scores within the floor's interval (docs/findings.md).
    "code_to_text": "ruby-debian",
    "code_search": "ruby-stdlib",
}
