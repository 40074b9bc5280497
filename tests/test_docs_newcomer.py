"""What the tutorial tells a newcomer agrees with what the code does (issue 17, point 7.10)."""

from __future__ import annotations

import re
from pathlib import Path

from alligator.retries import backoff_delay

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_the_tutorials_workers_use_the_absolute_sqlite_path_it_recommends() -> None:
    text = (DOCS / "tutorial.md").read_text()
    assert "Give SQLite an absolute path" in text
    commands = re.findall(r"^\$ (latergator .*)$", text, re.M)
    assert commands, "the tutorial starts workers"
    for command in commands:
        dsn = command.split()[1]
        if dsn.startswith("sqlite:"):
            assert dsn.startswith("sqlite:////"), f"a relative DSN in: {command}"


def test_the_tutorial_states_the_retry_waits_the_code_draws() -> None:
    text = " ".join((DOCS / "tutorial.md").read_text().split())
    assert "randomized a little" not in text
    assert "from the upper half" in text
    stated = {1: (0.5, 1.0), 3: (2.0, 4.0)}
    assert "the first retry waits between 0.5 and 1 second, the third between 2 and 4" in text
    for retry, (low, high) in stated.items():
        draws = [backoff_delay(retry) for _ in range(500)]
        assert low <= min(draws) and max(draws) <= high
        assert min(draws) < low + (high - low) * 0.1 and max(draws) > high - (high - low) * 0.1
