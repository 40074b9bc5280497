"""Fair dispatch: no task waits in a worker's hands while a thread is idle; acks go out at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
import sample_tasks
import worker_tasks

from alligator import Gator, Worker, settler
from alligator.constants import RUNNING, SUCCESS, WAITING


@pytest.fixture(autouse=True)
def _clean_events() -> Iterator[None]:
    worker_tasks.EVENTS.clear()
    yield


@pytest.fixture
def gator() -> Iterator[Gator]:
    g = worker_tasks.fresh_gator()
    yield g
    g.drop_all()


def _wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def _start(worker: Worker) -> threading.Thread:
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    return thread


def test_fast_tasks_do_not_wait_behind_a_slow_one(gator: Gator) -> None:
    """The issue's proof: concurrency 2, a 5 s task, then five 10 ms tasks pushed after it."""
    slow = gator.task(worker_tasks.sleep, 5.0, "slow")
    fast = [gator.task(worker_tasks.sleep, 0.01, f"fast{n}") for n in range(5)]
    worker = Worker(gator, max_tasks=6, concurrency=2)
    thread = _start(worker)
    _wait_for(lambda: all(gator.status(t.task_id) == SUCCESS for t in fast), 4.5, "the five fast tasks")
    assert "slow" not in worker_tasks.names("done"), "the fast tasks finished only after the slow one"
    assert gator.status(slow.task_id) == RUNNING
    thread.join(30)
    assert not thread.is_alive()
    assert worker_tasks.names("done")[-1] == "slow"
    assert gator.dead_letters() == []


def test_buffered_tasks_are_handed_back_and_say_waiting_while_every_thread_is_busy(gator: Gator) -> None:
    slow = gator.task(worker_tasks.sleep, 2.0, "slow")
    followers = [gator.task(worker_tasks.sleep, 0.001, f"f{n}") for n in range(5)]
    worker = Worker(gator, max_tasks=6, concurrency=1)
    # As if tiny tasks had run before: the first batch takes all six.
    worker._seconds_per_task = 1e-4
    thread = _start(worker)
    _wait_for(lambda: worker_tasks.names("start") == ["slow"], 5, "the slow task to start")
    _wait_for(
        lambda: all(gator.status(t.task_id) == WAITING for t in followers),
        1.5,
        "the buffered tasks to say WAITING",
    )
    assert gator.status(slow.task_id) == RUNNING
    thread.join(30)
    assert worker.tasks_complete == 6
    assert all(gator.status(t.task_id) == SUCCESS for t in [slow, *followers])
    # Handed back unstarted: the hand-back took no delivery off anyone.
    assert gator.dead_letters() == []


def test_prefetch_1_reserves_only_what_a_free_thread_starts(gator: Gator) -> None:
    slow = gator.task(worker_tasks.sleep, 1.0, "slow")
    other = gator.task(worker_tasks.sleep, 0.001, "other")
    worker = Worker(gator, max_tasks=2, concurrency=1, prefetch=1)
    worker._seconds_per_task = 1e-4
    thread = _start(worker)
    _wait_for(lambda: worker_tasks.names("start") == ["slow"], 5, "the slow task to start")
    assert gator.status(other.task_id) == WAITING
    assert gator.status(slow.task_id) == RUNNING
    thread.join(30)
    assert worker_tasks.names("done") == ["slow", "other"]


def test_a_finished_task_is_acked_while_a_slow_task_of_its_batch_runs(gator: Gator) -> None:
    fast = gator.task(worker_tasks.sleep, 0.001, "fast")
    slow = gator.task(worker_tasks.sleep, 3.0, "slow")
    worker = Worker(gator, max_tasks=2, concurrency=1)
    worker._seconds_per_task = 1e-4  # so both come in one batch
    thread = _start(worker)
    _wait_for(lambda: "slow" in worker_tasks.names("start"), 5, "the slow task to start")
    _wait_for(lambda: gator.status(fast.task_id) == SUCCESS, 1.5, "the fast task's ack")
    assert "slow" not in worker_tasks.names("done")
    thread.join(30)
    assert gator.status(slow.task_id) == SUCCESS


def test_idle_threads_share_one_reservation_stream(gator: Gator) -> None:
    with gator.batch() as batch:
        for n in range(200):
            batch.task(worker_tasks.note, "ran", n)
    assert Worker(gator, max_tasks=200, concurrency=4).run_forever() == 200
    assert sorted(worker_tasks.names("ran")) == list(range(200))
    assert gator.len() == 0 and gator.counts().running == 0


def test_prefetch_must_be_a_count(gator: Gator) -> None:
    assert Worker(gator, prefetch=0).prefetch == 1
    assert Worker(gator).prefetch == 128


def test_a_lone_task_is_acked_before_the_worker_waits_for_more(
    gator: Gator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Were the ack left to the settler's ack timer, it would wait a minute.
    monkeypatch.setattr(settler, "ACK_FLUSH_SECONDS", 60.0)
    task = gator.task(worker_tasks.sleep, 0.001, "lone")
    worker = Worker(gator)
    thread = _start(worker)
    try:
        _wait_for(lambda: gator.status(task.task_id) == SUCCESS, 5, "the lone task's ack")
    finally:
        worker.stop()
        thread.join(10)


def test_stop_never_blocks_on_the_dispatch_lock(gator: Gator) -> None:
    """stop() runs in signal handlers, possibly while the interrupted thread holds that lock."""
    worker = Worker(gator)
    with worker._cond:
        stopper = threading.Thread(target=worker.stop)
        stopper.start()
        stopper.join(5)
        assert not stopper.is_alive(), "stop() waited for the lock"
    assert worker.run_forever() == 0


class _CountingReserves:
    """Wraps a gator's backend so each reserve_first call is counted by the name of the thread making it."""

    def __init__(self, gator: Gator) -> None:
        self.by_thread: dict[str, int] = {}
        backend = gator.backend
        original = backend.reserve_first

        def reserve_first(*args: object, **kwargs: object) -> object:
            name = threading.current_thread().name
            self.by_thread[name] = self.by_thread.get(name, 0) + 1
            return original(*args, **kwargs)  # type: ignore[arg-type]

        backend.reserve_first = reserve_first  # type: ignore[method-assign,assignment]


def test_tiny_tasks_are_reserved_ahead_by_the_dispatch_thread(gator: Gator) -> None:
    """Issue 20: the next batch is reserved while the last runs, not by a task thread waiting on the store."""
    with gator.batch() as batch:
        for _ in range(5000):
            batch.task(sample_tasks.noop)
    counting = _CountingReserves(gator)
    worker = Worker(gator, max_tasks=5000, concurrency=1)
    assert worker.run_forever() == 5000
    # Most batches: a task thread reserves only when the buffer ran dry (it
    # did for 39 of 44 batches while reading each payload drew a random id,
    # and that call let go of the GIL: see tests/test_ids.py).
    ahead = counting.by_thread.get("alligator-dispatch", 0)
    assert ahead > counting.by_thread.get("alligator-task-0", 0), counting.by_thread
    assert gator.len() == 0 and gator.dead_letters() == []


def test_slow_tasks_and_prefetch_1_are_never_reserved_ahead(gator: Gator) -> None:
    for n in range(6):
        gator.task(worker_tasks.sleep, 0.06, f"s{n}")
    for _ in range(200):
        gator.task(sample_tasks.noop)
    counting = _CountingReserves(gator)
    Worker(gator, max_tasks=206, concurrency=2, prefetch=1).run_forever()
    assert "alligator-dispatch" not in counting.by_thread, counting.by_thread
    for n in range(6):
        gator.task(worker_tasks.sleep, 0.06, f"t{n}")
    counting = _CountingReserves(gator)
    Worker(gator, max_tasks=6, concurrency=2).run_forever()
    # Tasks of 60 ms: a batch holds one per thread at most, taken only by a free thread.
    assert "alligator-dispatch" not in counting.by_thread, counting.by_thread
