"""``async def`` functions are tasks like any other: awaited on one event loop per worker thread."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import worker_tasks

from alligator import Gator, Worker
from alligator.constants import SUCCESS


@pytest.fixture(autouse=True)
def _clean_events() -> Iterator[None]:
    worker_tasks.EVENTS.clear()
    yield


@pytest.fixture
def gator() -> Iterator[Gator]:
    g = worker_tasks.fresh_gator()
    yield g
    g.drop_all()


def test_an_async_task_is_awaited_and_its_hooks_see_the_value(gator: Gator) -> None:
    with gator.options(on_success=worker_tasks.success_hook) as opts:
        task = opts.task(worker_tasks.async_double, 21)
    results: list[object] = []
    worker = Worker(gator, max_tasks=1)

    def collect(result: object) -> None:
        results.append(result)

    worker.result = collect  # type: ignore[method-assign]
    assert worker.run_forever() == 1
    assert gator.status(task.task_id) == SUCCESS
    assert results == [42]
    assert worker_tasks.names("on_success") == [42]


def test_one_loop_per_thread_not_per_task(gator: Gator) -> None:
    for n in range(4):
        gator.task(worker_tasks.async_double, n)
    Worker(gator, max_tasks=4).run_forever()
    assert len(set(worker_tasks.names("async"))) == 1
    worker_tasks.EVENTS.clear()
    for n in range(8):
        gator.task(worker_tasks.async_double, n)
    Worker(gator, max_tasks=8, concurrency=2, prefetch=1).run_forever()
    assert 1 <= len(set(worker_tasks.names("async"))) <= 2


def test_a_failing_async_task_is_retried_then_dead_lettered(gator: Gator) -> None:
    with gator.options(retries=1, retry_delay=0.01, retry_jitter=False) as opts:
        task = opts.task(worker_tasks.async_fails)
    Worker(gator, max_tasks=2).run_forever()
    [letter] = gator.dead_letters()
    assert letter.task_id == task.task_id and "ValueError: async boom" in letter.reason


def test_is_async_false_runs_it_to_completion_in_the_caller(gator: Gator) -> None:
    task = gator.options(is_async=False).task(worker_tasks.async_double, 3)
    assert task.result == 6 and task.status == SUCCESS
    assert gator.len() == 0


def test_is_async_false_from_inside_a_running_loop(gator: Gator) -> None:
    async def caller() -> object:
        return gator.options(is_async=False).task(worker_tasks.async_double, 5).result

    assert asyncio.run(caller()) == 10


def test_gator_pop_awaits_an_async_task(gator: Gator) -> None:
    gator.task(worker_tasks.async_double, 7)
    done = gator.pop()
    assert done is not None and done.result == 14
