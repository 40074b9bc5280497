"""Several queues in strict priority order: Worker(queues=[...]) and latergator --queue ... --queue."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import sample_tasks
import worker_tasks

from alligator import Gator, Worker, cli, events
from alligator.backend import Reservation
from alligator.constants import SUCCESS
from alligator_locmem import LocmemBackend


@pytest.fixture(autouse=True)
def _clean_events() -> Iterator[None]:
    worker_tasks.EVENTS.clear()
    yield


@pytest.fixture
def low() -> Iterator[Gator]:
    g = worker_tasks.fresh_gator(queue_name="low")
    yield g
    for queue in ("high", "default", "low"):
        g.backend.drop_all(queue)


def _on(gator: Gator, queue: str) -> Gator:
    """Another gator on the same store, for another queue."""
    return Gator(gator.conn_string, queue_name=queue, allow=["worker_tasks", "sample_tasks"])


def _wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def test_with_a_backlog_in_low_a_task_pushed_to_high_starts_next(low: Gator) -> None:
    high = _on(low, "high")
    for n in range(6):
        low.task(worker_tasks.sleep, 0.2, f"low{n}")
    worker = Worker(low, max_tasks=7, queues=["high", "default", "low"])
    started: list[tuple[str, str]] = []
    worker.add_listener(lambda e: started.append((e.queue, e.task_id)) if e.kind == events.STARTED else None)
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    _wait_for(lambda: worker_tasks.names("start") == ["low0"], 5, "the first low task to start")
    urgent = high.task(worker_tasks.sleep, 0.001, "urgent")
    thread.join(30)
    assert not thread.is_alive()
    assert worker_tasks.names("start")[:3] == ["low0", "urgent", "low1"]
    assert started[1] == ("high", urgent.task_id)
    assert high.status(urgent.task_id) == SUCCESS
    assert low.len() == 0 and high.len() == 0


def test_acks_and_retries_go_to_the_queue_each_task_came_from(low: Gator) -> None:
    high = _on(low, "high")
    with high.options(retries=1, retry_delay=0.01, retry_jitter=False) as opts:
        flaky = opts.task(sample_tasks.flaky, "k", 1)
    plain = low.task(sample_tasks.record, "low")
    worker = Worker(low, max_tasks=3, queues=["high", "low"])
    assert worker.run_forever() == 3
    assert high.status(flaky.task_id) == SUCCESS
    assert low.status(plain.task_id) == SUCCESS
    assert low.status(flaky.task_id) is None and high.status(plain.task_id) is None
    assert high.counts().total == 0 and low.counts().total == 0


def test_an_idle_worker_on_several_queues_does_not_spin(low: Gator, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = low.backend.reserve

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(low.backend, "reserve", counting)
    worker = Worker(low, queues=["high", "low"], concurrency=2)
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    time.sleep(1.0)
    worker.stop()
    thread.join(10)
    assert not thread.is_alive()
    # The backend's wait between looks (0.1 s at least): a busy loop would
    # make thousands of calls.
    assert len(calls) < 200


def test_queues_are_checked(low: Gator) -> None:
    for bad in ([], "high", ["high", "high"], ["high", ""]):
        with pytest.raises(ValueError, match="queue"):
            Worker(low, queues=bad)  # type: ignore[arg-type]
    worker = Worker(low, queues=["a", "b"])
    assert worker.queues == ("a", "b") and worker.to_consume == "a"
    assert Worker(low).queues == ("low",)


def test_latergator_takes_repeated_queues_in_priority_order(
    low: Gator, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = cli.build_parser().parse_args(
        ["locmem://", "--queue", "high", "--queue", "low", "--prefetch", "4"]
    )
    assert (args.queue, args.queues, args.prefetch, args.time_limit) == ("high", ["high", "low"], 4, None)
    monkeypatch.setattr(cli.logs, "configure", lambda *args: None)
    high = _on(low, "high")
    low.task(sample_tasks.record, "second")
    high.task(sample_tasks.record, "first")
    argv = [low.conn_string, "--queue", "high", "--queue", "low", "--max-tasks", "2", "--concurrency", "1"]
    assert cli.main([*argv, "--allow", "sample_tasks", "--time-limit", "5"]) == 0
    assert sample_tasks.CALLS == [("record", "first"), ("record", "second")]


class _NonBlocking(LocmemBackend):
    """A store that cannot wait for work (as SQLite): reserve returns at once."""

    blocking_reserve = False
    calls = 0

    def reserve(
        self, queue: str, lease_seconds: float, limit: int = 1, timeout: float = 0.0
    ) -> list[Reservation]:
        type(self).calls += 1
        return super().reserve(queue, lease_seconds, limit, 0.0)


def test_an_idle_worker_on_several_queues_of_a_store_that_cannot_wait_naps() -> None:
    gator = Gator(f"locmem://{uuid.uuid4().hex}", allow=["worker_tasks"], backend_class=_NonBlocking)
    _NonBlocking.calls = 0
    worker = Worker(gator, queues=["high", "low"], nap_time=0.1)
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    time.sleep(1.0)
    worker.stop()
    thread.join(10)
    assert not thread.is_alive()
    assert _NonBlocking.calls < 100, f"{_NonBlocking.calls} looks at the queues in 1 s: a busy loop"
