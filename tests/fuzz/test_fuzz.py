"""The fuzz targets, briefly (40 inputs each, seconds in all): only a one-line FormatError
escapes a dataset reader, only a one-line ProtocolError a model's predictions files, and a
metrics.json is never shown unless it verifies. ``tests/fuzz/campaign.py`` runs them at 10,000
inputs a target."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz.results_targets import TARGETS as RESULTS
from tests.fuzz.targets import TARGETS as READERS
from tests.fuzz.targets import outcome

TARGETS = {**READERS, **RESULTS}

SHORT = settings(max_examples=40, deadline=None, derandomize=True,
                 suppress_health_check=list(HealthCheck))  # fmt: skip


@pytest.mark.parametrize("name", list(TARGETS))
def test_only_one_line_input_errors_escape(name):
    strategy, run = TARGETS[name]

    @SHORT
    @given(strategy)
    def check(data: object) -> None:
        failure = outcome(lambda: run(data))
        assert failure is None, failure

    check()
