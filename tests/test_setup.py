"""The README's test command is one line that sets up what the tests need (tests/setup.sh) and
runs them; CI runs that line word for word; and setup, run again, is quick and quiet."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_test_command() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Test it\n") :]
    (command,) = re.findall(r"```bash\n(.*?)\n```", section, flags=re.S)[:1]
    assert "\n" not in command, "the README's test command is one line"
    return command


def test_ci_runs_the_readme_test_command_word_for_word():
    command = readme_test_command()
    assert command.startswith("bash tests/setup.sh && ")
    lines = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines() if ln.strip()]
    assert lines[-1] == command


def test_setup_is_quick_when_everything_is_there():
    """The tests run after setup (README, CI), so here everything is there already."""
    started = time.monotonic()
    proc = subprocess.run(["bash", str(ROOT / "tests" / "setup.sh")], capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    seconds = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr == "", proc.stderr[-2000:]
    assert seconds < 60, f"setup took {seconds:.0f} s with everything there"
