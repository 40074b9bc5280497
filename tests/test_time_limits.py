"""Soft time limits: TimeLimitExceeded raised inside a late task, which then fails like any failure."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import worker_tasks

from alligator import Gator, Worker, events
from alligator.constants import FAILED, SUCCESS
from alligator.exceptions import TimeLimitExceeded
from alligator.timelimits import Watchdog


@pytest.fixture(autouse=True)
def _clean_events() -> Iterator[None]:
    worker_tasks.EVENTS.clear()
    yield


@pytest.fixture
def gator() -> Iterator[Gator]:
    g = worker_tasks.fresh_gator()
    yield g
    g.drop_all()


def test_an_infinite_python_loop_is_stopped_and_its_finally_block_runs(gator: Gator) -> None:
    task = gator.task(worker_tasks.spin, "loop")
    after = gator.task(worker_tasks.sleep, 0.001, "after")
    worker = Worker(gator, max_tasks=2, time_limit=0.5)
    assert worker.run_forever() == 2
    assert gator.status(task.task_id) == FAILED
    [letter] = gator.dead_letters()
    assert letter.reason.startswith("time limit of 0.5 s exceeded on attempt 1 of 1:")
    assert "TimeLimitExceeded" in letter.reason
    assert worker_tasks.names("finally") == ["loop"]
    # The worker went on, and its thread is not hit again later.
    assert gator.status(after.task_id) == SUCCESS


def test_a_late_task_is_retried_then_dead_lettered(gator: Gator) -> None:
    with gator.options(
        retries=1, retry_delay=0.01, retry_jitter=False, on_error=worker_tasks.error_hook
    ) as o:
        task = o.task(worker_tasks.spin, "twice")
    assert Worker(gator, max_tasks=2, time_limit=0.3).run_forever() == 2
    assert worker_tasks.names("start") == ["twice", "twice"]
    assert worker_tasks.names("on_error") == ["TimeLimitExceeded", "TimeLimitExceeded"]
    [letter] = gator.dead_letters()
    assert letter.task_id == task.task_id
    assert letter.reason.startswith("time limit of 0.3 s exceeded on attempt 2 of 2")


def test_a_task_within_its_limit_succeeds_and_is_not_hit_afterwards(gator: Gator) -> None:
    tasks = [gator.task(worker_tasks.spin_for, 0.05, n) for n in range(3)]
    assert Worker(gator, max_tasks=3, time_limit=0.3).run_forever() == 3
    # Long after the limits of the finished runs, nothing lands in this thread.
    time.sleep(0.5)
    assert [gator.status(t.task_id) for t in tasks] == [SUCCESS] * 3


def test_a_task_s_own_limit_wins_over_the_worker_s(gator: Gator) -> None:
    own = worker_tasks.fresh_gator(task_class=worker_tasks.LimitedTask)
    own.task(worker_tasks.spin, "own")
    seen: list[events.TaskEvent] = []
    worker = Worker(own, max_tasks=1, time_limit=60.0)
    worker.add_listener(seen.append)
    worker.run_forever()
    [letter] = own.dead_letters()
    assert letter.reason.startswith("time limit of 0.4 s exceeded")
    assert seen[0].kind == events.STARTED and seen[0].time_limit == 0.4
    own.drop_all()


def test_gator_options_time_limit_travels_with_the_task(gator: Gator) -> None:
    with gator.options(time_limit=0.3) as limited:
        late = limited.task(worker_tasks.spin, "limited")
    free = gator.task(worker_tasks.spin_for, 0.5, "free")
    seen: list[events.TaskEvent] = []
    # No worker default: only the task's own option can stop the first one.
    worker = Worker(gator, max_tasks=2)
    worker.add_listener(seen.append)
    assert worker.run_forever() == 2
    [letter] = gator.dead_letters()
    assert letter.task_id == late.task_id
    assert letter.reason.startswith("time limit of 0.3 s exceeded on attempt 1 of 1")
    assert gator.status(free.task_id) == SUCCESS
    assert [e.time_limit for e in seen if e.kind == events.STARTED] == [0.3, None]


def test_without_a_limit_a_task_runs_as_long_as_it_likes(gator: Gator) -> None:
    task = gator.task(worker_tasks.spin_for, 0.4, "free")
    worker = Worker(gator, max_tasks=1)
    assert worker.time_limit is None
    worker.run_forever()
    assert gator.status(task.task_id) == SUCCESS


def test_an_async_task_past_its_limit_is_cancelled_at_its_await(gator: Gator) -> None:
    task = gator.task(worker_tasks.async_sleep_forever, "await")
    assert Worker(gator, max_tasks=1, time_limit=0.3).run_forever() == 1
    [letter] = gator.dead_letters()
    assert letter.task_id == task.task_id
    assert letter.reason.startswith("time limit of 0.3 s exceeded")
    assert worker_tasks.names("finally") == ["await"]


def test_an_async_task_that_never_yields_is_stopped_too(gator: Gator) -> None:
    gator.task(worker_tasks.async_spin, "spin")
    after = gator.task(worker_tasks.async_double, 4)
    assert Worker(gator, max_tasks=2, time_limit=0.3).run_forever() == 2
    [letter] = gator.dead_letters()
    assert letter.reason.startswith("time limit of 0.3 s exceeded")
    assert worker_tasks.names("finally") == ["spin"]
    # Its thread's loop was replaced; the next async task runs fine.
    assert gator.status(after.task_id) == SUCCESS


def test_limits_hold_in_every_thread_of_a_concurrent_worker(gator: Gator) -> None:
    for n in range(3):
        gator.task(worker_tasks.spin, n)
    fine = gator.task(worker_tasks.sleep, 0.01, "fine")
    assert Worker(gator, max_tasks=4, concurrency=3, time_limit=0.5).run_forever() == 4
    assert sorted(worker_tasks.names("finally")) == [0, 1, 2]
    assert len(gator.dead_letters()) == 3 and gator.status(fine.task_id) == SUCCESS


def test_a_swallowed_time_limit_still_fails_the_run() -> None:
    watchdog = Watchdog()
    with pytest.raises(TimeLimitExceeded, match=r"time limit of 0\.1 s exceeded"):
        with watchdog.limit(0.1):
            try:
                while True:
                    pass
            except TimeLimitExceeded:
                pass  # a task that catches it and returns
    # Nothing is left pending for this thread.
    time.sleep(0.2)


def test_the_watchdog_is_one_thread_for_every_limited_run() -> None:
    watchdog = Watchdog()
    before = threading.active_count()
    for _ in range(5):
        with watchdog.limit(10.0):
            pass
    assert threading.active_count() <= before + 1


def test_time_limit_is_checked(gator: Gator) -> None:
    for bad in (0, -1, float("nan"), float("inf"), 10**9, True):
        with pytest.raises(ValueError, match="time_limit"):
            Worker(gator, time_limit=bad)


def test_gator_pop_enforces_a_task_s_limit_too() -> None:
    own = worker_tasks.fresh_gator(task_class=worker_tasks.LimitedTask)
    own.task(worker_tasks.spin, "popped")
    done = own.pop()
    assert done is not None and done.status == FAILED
    [letter] = own.dead_letters()
    assert letter.reason.startswith("time limit of 0.4 s exceeded")
    assert worker_tasks.names("finally") == ["popped"]
    own.drop_all()
