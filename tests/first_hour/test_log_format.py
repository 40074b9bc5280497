"""latergator --log-format json: one JSON object per line, for log shippers (issue 9, item 7)."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from first_hour_helpers import enqueue, run_latergator, write

from alligator import logs


def test_json_lines_carry_the_fields_passed_with_extra() -> None:
    stream = io.StringIO()
    logs.configure("INFO", "json", stream)
    try:
        log = logging.getLogger("alligator.worker")
        extra = {
            "task_id": "t1",
            "function": "tasks:add",
            "queue": "all",
            "duration": 0.25,
            "outcome": "success",
        }
        log.info("task %s succeeded", "t1", extra=extra)
        try:
            raise ValueError("boom\nsecond line")
        except ValueError:
            log.error("task t2 failed", exc_info=True, extra={"task_id": "t2", "outcome": "dead"})
    finally:
        logging.basicConfig(force=True)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "INFO" and first["logger"] == "alligator.worker"
    assert first["message"] == "task t1 succeeded"
    assert first["time"].endswith("Z")
    assert {key: first[key] for key in extra} == extra
    assert second["level"] == "ERROR" and second["outcome"] == "dead"
    assert "ValueError: boom" in second["traceback"]


def test_a_value_json_cannot_carry_is_written_as_text() -> None:
    record = logging.LogRecord("x", logging.WARNING, "", 0, "m", (), None)
    record.where = Path("/tmp")
    assert json.loads(logs.JsonFormatter().format(record))["where"] == "/tmp"


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="text, json"):
        logs.configure("INFO", "xml")


def test_latergator_log_format_json_writes_only_json_lines(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project / "jsontasks.py", "def hello():\n    return 'hi'\n")
    dsn = f"sqlite:///{tmp_path / 'queue.db'}"
    enqueue(project, dsn, "jsontasks", "hello")
    done = run_latergator([dsn, "--allow", "jsontasks", "--max-tasks", "1", "--log-format", "json"], project)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert lines, "the start and stop lines at least"
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    [start] = [line for line in lines if "latergator starting" in line["message"]]
    assert (start["directory"], start["allowed"], start["queue"]) == (str(project), ["jsontasks"], "all")


def test_text_stays_the_default(tmp_path: Path) -> None:
    write(tmp_path / "texttasks.py", "def hello():\n    return 'hi'\n")
    enqueue(tmp_path, "sqlite:///q.db", "texttasks", "hello")
    done = run_latergator(["sqlite:///q.db", "--allow", "texttasks", "--max-tasks", "1"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert " INFO alligator.worker: latergator starting" in done.stderr.splitlines()[0]
