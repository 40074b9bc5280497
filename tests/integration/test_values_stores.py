"""Typed values through a worker process, on an SQLite file and the shared Redis.

Tuples, datetimes, Decimals... queued by this process reach a ``latergator``
process as themselves, and its results come back as themselves; hostile
tagged values planted in the store are dead-lettered with the reason while
the same worker process carries on and exits 0.
"""

from __future__ import annotations

import datetime
import decimal
import json
import subprocess
import sys
import uuid
import zoneinfo
from pathlib import Path
from typing import Any

import pytest
import results_tasks

from alligator import Gator
from alligator.values import identical

TESTS = Path(__file__).resolve().parents[1]  # tests/, where results_tasks lives
VALUES: list[Any] = [
    (1, "a", (2.5, None)),
    datetime.datetime(2026, 12, 6, 20, 0, tzinfo=datetime.timezone.utc),
    datetime.datetime(2026, 10, 25, 2, 30, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"), fold=1),
    datetime.date(2026, 12, 6),
    datetime.time(9, 30),
    datetime.timedelta(hours=36, microseconds=5),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    decimal.Decimal("19.90"),
    {"$t": "tuple", "v": "a dict of the user's, not a tag"},
]
HOSTILE = {
    "bad-date": ({"$t": "datetime", "v": "2026-02-30T25:00:00"}, "the 'datetime' value"),
    "huge-decimal": ({"$t": "decimal", "v": "1E+999999999"}, "more than 4300 digits or an exponent beyond"),
    "unknown-tag": ({"$t": "pickle", "v": "gASV"}, "not a type Alligator carries"),
}


@pytest.fixture(params=["sqlite", "redis"])
def real_dsn(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A real store: an SQLite file, or the shared Redis (its db 4, emptied of our queue after)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tasks.db'}"
    return "redis://127.0.0.1:6379/4"


def _planted(task_id: str, value: Any) -> str:
    return json.dumps(
        {
            "v": 2,
            "task_id": task_id,
            "module": "results_tasks",
            "callable": "give",
            "args": [value],
            "kwargs": {},
            "retries": 0,
        }
    )


def test_typed_values_cross_a_worker_process_both_ways(real_dsn: str) -> None:
    queue = f"values-{uuid.uuid4().hex[:8]}"
    gator = Gator(real_dsn, queue_name=queue, allow=["results_tasks"])
    try:
        for task_id, (value, _) in HOSTILE.items():
            assert gator.backend.push(queue, task_id, _planted(task_id, value))
        tasks = [gator.task(results_tasks.give, value) for value in VALUES]
        # This interpreter and its path, so the worker runs the code under test.
        command = [sys.executable, "-c", "import sys; from alligator.cli import main; sys.exit(main())"]
        done = subprocess.run(
            [
                *(*command, real_dsn, "--queue", queue, "--path", str(TESTS), "--allow", "results_tasks"),
                *("--max-tasks", str(len(VALUES) + len(HOSTILE)), "--nap-time", "0.05"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        for task, value in zip(tasks, VALUES, strict=True):
            back = gator.result(task.task_id, timeout=30)
            assert identical(back, value), f"{value!r} came back as {back!r}"
        reasons = {letter.task_id: letter.reason for letter in gator.dead_letters()}
        assert set(reasons) == set(HOSTILE)
        for task_id, (_, reason) in HOSTILE.items():
            assert reasons[task_id].startswith("unreadable payload: payload is not a valid task: ")
            assert reason in reasons[task_id]
    finally:
        gator.drop_all()
        gator.backend.close()
