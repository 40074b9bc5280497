"""The worker's log at INFO: no line per successful task, a progress line instead (issue 20)."""

from __future__ import annotations

import logging
import uuid

import pytest

from alligator import Gator, Worker
from alligator.progress import Progress


def _gator() -> Gator:
    return Gator(f"locmem://progress-{uuid.uuid4().hex}", allow=["builtins"])


def test_successes_are_not_logged_one_by_one_at_info(caplog: pytest.LogCaptureFixture) -> None:
    gator = _gator()
    for n in range(5):
        gator.task(abs, -n)
    with caplog.at_level(logging.INFO, logger="alligator.worker"):
        worker = Worker(gator, max_tasks=5)
        worker.run_forever()
        worker._log_progress()
    messages = [r.getMessage() for r in caplog.records if r.name == "alligator.worker"]
    assert not [m for m in messages if "succeeded in" in m], messages
    [line] = [m for m in messages if m.startswith("handled ")]
    assert "handled 5 tasks in the last" in line and "5 succeeded" in line


def test_debug_still_has_a_line_per_success(caplog: pytest.LogCaptureFixture) -> None:
    gator = _gator()
    for n in range(3):
        gator.task(abs, -n)
    with caplog.at_level(logging.DEBUG, logger="alligator.worker"):
        Worker(gator, max_tasks=3).run_forever()
    successes = [r for r in caplog.records if "succeeded in" in r.getMessage()]
    assert len(successes) == 3
    assert all(r.levelno == logging.DEBUG and r.task_id for r in successes)  # type: ignore[attr-defined]


def test_failures_keep_their_lines_at_warning(caplog: pytest.LogCaptureFixture) -> None:
    gator = _gator()
    with gator.options(retries=1) as opts:
        opts.task(int, "not a number")
    with caplog.at_level(logging.INFO, logger="alligator.worker"):
        Worker(gator, max_tasks=1).run_forever()
    assert [r for r in caplog.records if r.levelno == logging.WARNING and "int" in r.getMessage()]


def test_progress_counts_by_outcome_and_resets() -> None:
    progress = Progress()
    assert progress.line() is None
    for outcome in ["succeeded", "succeeded", "retrying"]:
        progress.count(outcome)
    line = progress.line()
    assert line is not None
    assert line.startswith("handled 3 tasks in the last ") and line.endswith("2 succeeded, 1 retrying")
    assert progress.line() is None
