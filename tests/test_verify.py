"""``bench verify`` with real containers: it passes the template and a reference model's image,
and fails an image that breaks a rule, naming the rule.

Needs a docker daemon and the ``bench-os:bookworm`` base (tests/docker/); the reference images
build once per session on it (tests/docker_fixtures.py). Without them these tests fail.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from benchmark.runner import docker as sandbox
from benchmark.verify import RULES, check_events, verify
from tests import docker_fakes as fakes


@pytest.fixture(scope="module")
def image():
    client = fakes.require_docker()
    return {b: fakes.build(client, b) for b in fakes.BEHAVIORS}


def statuses(report: dict, task: str = "var_misuse") -> dict[str, str]:
    return {r["rule"]: r["status"] for r in report["rules"] if r["task"] in (task, "-")}


def test_a_good_image_passes_every_rule(image):
    report = verify(image["good"])
    assert report["passed"] is True
    assert report["tasks"] == ["var_misuse"]
    assert statuses(report) == dict.fromkeys(RULES, "passed")
    assert report["digest"].startswith("sha256:")


@pytest.mark.parametrize(
    ("behavior", "rule", "reason", "options"),
    [
        ("crash", "starts", "RuntimeError: the fake model crashed on purpose", {}),
        ("malformed", "predictions", "scores must be finite numbers in [0, 1]", {}),
        ("html", "names", "start event names it \"<script>", {}),
        ("outside", "outside", "Read-only file system: '/opt/model-was-here'", {}),
        ("network", "network", "Network is unreachable", {}),
        ("hang", "time", "ran past its time limit of 4 s", {"time_limit": 4}),
        ("oversized", "size", "over the limit of 1.0 MiB for one output file",
         {"limits": sandbox.Limits(file=1 << 20)}),
        ("once", "rerun", "refusing to start on a used output folder", {}),
    ],
)  # fmt: skip
def test_a_rule_breaking_image_fails_naming_the_rule(image, behavior, rule, reason, options):
    report = verify(image[behavior], **options)
    assert report["passed"] is False
    row = next(r for r in report["rules"] if r["rule"] == rule and r["task"] == "var_misuse")
    assert row["status"] == "failed", report["rules"]
    assert reason in row["reason"]
    assert "\n" not in row["reason"]
    failed = [r["rule"] for r in report["rules"] if r["status"] == "failed"]
    assert failed[0] == rule or rule in failed


def test_verify_from_the_command_line(image):
    bench = [sys.executable, "-m", "benchmark", "verify"]
    bad = subprocess.run([*bench, image["malformed"]], capture_output=True, text=True)
    assert bad.returncode == 1
    assert "predictions" in bad.stdout and "failed" in bad.stdout
    good = subprocess.run([*bench, image["good"], "--json"], capture_output=True, text=True)
    assert good.returncode == 0, good.stderr[-2000:]
    report = json.loads(good.stdout)
    assert report["passed"] and {r["rule"] for r in report["rules"]} == set(RULES)


def test_an_image_that_claims_no_task_needs_one():
    report = verify(fakes.BASE)
    assert report["passed"] is False
    assert statuses(report)["image"] == "failed"
    assert "claims no task" in report["rules"][0]["reason"]
    missing = verify("bench-test-fake/none:0")
    assert missing["rules"][0]["status"] == "failed"
    assert "is not on this machine" in missing["rules"][0]["reason"]


def test_event_order_rules():
    start, done = {"event": "start"}, {"event": "done"}

    def end(n: int) -> dict:
        return {"event": "epoch_end", "epoch": n}

    assert check_events([start, end(1), end(2), done], 2, fresh=True) is None
    assert "epochs [2, 1]" in check_events([start, end(2), end(1), done], 2, fresh=True)
    assert "not done" in check_events([start, end(1), end(2)], 2, fresh=True)
    assert "more than once" in check_events([start, end(1), done, end(2), done], 2, fresh=True)
    resumed = [start, end(1), {**start, "resumed_after_epoch": 1}, end(2), done]
    assert check_events(resumed, 2, fresh=False) is None
    gap = [start, end(1), start, done]
    assert "epoch 2 has no epoch_end" in check_events(gap, 2, fresh=False)
    skipped = [start, end(1), start, end(3), done]
    assert "epoch 2 has no epoch_end" in check_events(skipped, 3, fresh=False)
    backwards = [start, end(1), start, end(2), end(1), done]
    assert "after the restart" in check_events(backwards, 2, fresh=False)
    finished = [start, end(1), end(2), done, {**start, "resumed_after_epoch": 2}, done]
    assert check_events(finished, 2, fresh=False) is None


def test_the_template_and_a_reference_model_pass(built_images):
    """Acceptance 3: the template a researcher copies and GGNN's image pass every rule."""
    template = verify(built_images["template"], ["var_misuse"])
    assert template["passed"], [r for r in template["rules"] if r["status"] != "passed"]
    ggnn = verify(built_images["ggnn"])
    assert ggnn["tasks"] == ["var_misuse"]
    assert ggnn["passed"], [r for r in ggnn["rules"] if r["status"] != "passed"]
    assert statuses(ggnn) == dict.fromkeys(RULES, "passed")
