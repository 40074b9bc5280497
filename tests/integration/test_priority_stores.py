"""Priority queues on real stores: an SQLite file and the shared Redis."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import worker_tasks

from alligator import Gator, Worker
from alligator.constants import SUCCESS


@pytest.fixture(autouse=True)
def _clean_events() -> Iterator[None]:
    worker_tasks.EVENTS.clear()
    yield


def _wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


@pytest.fixture(params=["sqlite", "redis"])
def real_dsn(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A real store: an SQLite file, or the shared Redis (its db 4, emptied of our queues after)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tasks.db'}"
    return "redis://127.0.0.1:6379/4"


def test_priority_holds_on_real_stores(real_dsn: str) -> None:
    tag = uuid.uuid4().hex
    low = Gator(real_dsn, queue_name=f"low-{tag}", allow=["worker_tasks"])
    high = Gator(real_dsn, queue_name=f"high-{tag}", allow=["worker_tasks"])
    try:
        for n in range(3):
            low.task(worker_tasks.sleep, 0.3, f"low{n}")
        worker = Worker(low, max_tasks=4, queues=[high.queue_name, low.queue_name])
        thread = threading.Thread(target=worker.run_forever, daemon=True)
        thread.start()
        _wait_for(lambda: worker_tasks.names("start") == ["low0"], 60, "the first low task to start")
        urgent = high.task(worker_tasks.sleep, 0.001, "urgent")
        thread.join(120)
        assert not thread.is_alive()
        assert worker_tasks.names("start") == ["low0", "urgent", "low1", "low2"]
        assert high.status(urgent.task_id) == SUCCESS
        assert low.counts().total == 0 and high.counts().total == 0
    finally:
        low.drop_all()
        high.drop_all()
        low.backend.close()
        high.backend.close()
