"""The results-side fuzz targets, briefly: a unit's metrics.json is never shown unless it could
be the harness's, and only a one-line ProtocolError escapes a model's predictions files.
``tests/fuzz/campaign.py`` runs them at 10,000 inputs a target."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz.results_targets import TARGETS
from tests.fuzz.targets import outcome

SHORT = settings(max_examples=40, deadline=None, derandomize=True,
                 suppress_health_check=list(HealthCheck))  # fmt: skip


@pytest.mark.parametrize("name", list(TARGETS))
def test_bad_results_and_predictions_never_escape_as_tracebacks(name):
    strategy, run = TARGETS[name]

    @SHORT
    @given(strategy)
    def check(data: object) -> None:
        failure = outcome(lambda: run(data))
        assert failure is None, failure

    check()
