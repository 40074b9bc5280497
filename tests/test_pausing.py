"""Pausing a queue or a function: the Gator's methods, the worker's behaviour, hostile records.

The worker tests run a real Worker in a thread on a private locmem store and
count the store calls it makes while work is paused: a paused queue or
function must cost about one read of the pauses a second, never a busy loop.
Real ``latergator`` processes on SQLite and Redis are in
``tests/operating/test_command_pause.py``.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sample_tasks

from alligator import Gator, Worker, capabilities
from alligator.backend import Backend
from alligator.constants import DELAYED, SUCCESS, WAITING
from alligator.pausing import MAX_PAUSE_NAME_BYTES, SET_ASIDE_SECONDS
from alligator.testing.capable import without
from alligator_locmem import LocmemBackend

WAIT = 60.0


def wait_for(predicate: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


class Counted:
    """Counts the calls of some of a backend instance's methods."""

    def __init__(self, backend: Backend, names: tuple[str, ...]) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        for name in names:
            method = getattr(backend, name)
            setattr(backend, name, self._wrap(name, method))

    def _wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return method(*args, **kwargs)

        return counted


@pytest.fixture
def running() -> Iterator[Callable[[Worker], None]]:
    """``start(worker)``: runs it in a thread; stopped and joined after the test."""
    started: list[tuple[Worker, threading.Thread]] = []

    def start(worker: Worker) -> None:
        thread = threading.Thread(target=worker.run_forever, daemon=True)
        thread.start()
        started.append((worker, thread))

    yield start
    for worker, thread in started:
        worker.stop()
        thread.join(WAIT)


# -- the Gator's methods -----------------------------------------------------------


def test_gator_pauses_its_queue_a_queue_or_a_function_and_lists_them(gator: Gator) -> None:
    assert gator.paused() == []
    assert gator.pause() is True, "with no argument: the gator's own queue"
    assert gator.pause() is False
    assert gator.pause(queue="emails") is True
    assert gator.pause(function=sample_tasks.record) is True
    assert gator.pause(function="sample_tasks:add") is True
    assert gator.pause(function="sample_tasks.noop") is True, "a dotted name is read as module:name"
    assert gator.paused() == [
        ("function", "sample_tasks:add"),
        ("function", "sample_tasks:noop"),
        ("function", "sample_tasks:record"),
        ("queue", "all"),
        ("queue", "emails"),
    ]
    assert gator.resume(function="sample_tasks:record") is True
    assert gator.resume(function=sample_tasks.record) is False
    assert gator.resume() is True
    assert ("queue", "all") not in gator.paused()


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"queue": "q", "function": "m:f"}, "one of them"),
        ({"function": "record"}, "module:name"),
        ({"queue": "x" * (MAX_PAUSE_NAME_BYTES + 1)}, "over the limit"),
        ({"function": lambda: None}, "lambda"),
    ],
)
def test_gator_refuses_what_cannot_be_paused(gator: Gator, kwargs: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        gator.pause(**kwargs)
    assert gator.paused() == []


#: A store without the capability.
_CannotPause = without(LocmemBackend, capabilities.Pausing)


def test_a_store_that_cannot_pause_says_so_and_its_workers_never_ask(
    running: Callable[[Worker], None],
) -> None:
    gator = Gator(f"locmem://{uuid.uuid4().hex}", backend_class=_CannotPause, allow=["sample_tasks"])
    with pytest.raises(NotImplementedError, match="this store cannot pause"):
        gator.pause()
    with pytest.raises(NotImplementedError, match="this store cannot pause"):
        gator.paused()
    counted = Counted(gator.backend, ("paused",))
    gator.task(sample_tasks.record, 1)
    assert Worker(gator, max_tasks=1).run_forever() == 1
    assert counted.calls["paused"] == 0


# -- the worker --------------------------------------------------------------------


def test_a_worker_leaves_a_paused_queue_waiting_then_runs_it_once_resumed(
    gator: Gator, running: Callable[[Worker], None]
) -> None:
    gator.pause()
    counted = Counted(gator.backend, ("paused", "reserve", "reserve_first", "release"))
    worker = Worker(gator, concurrency=2)
    started = time.monotonic()
    running(worker)
    for n in range(3):
        gator.options(task_id=f"t{n}").task(sample_tasks.record, n)
    # Several refreshes of the pauses: the tasks stay as they were.
    wait_for(lambda: counted.calls["paused"] >= 4, "the worker to read the pauses a few times")
    elapsed = time.monotonic() - started
    assert sample_tasks.CALLS == []
    assert [(t.task_id, t.attempts) for t in gator.tasks("waiting")] == [("t0", 0), ("t1", 0), ("t2", 0)]
    assert counted.calls["reserve"] + counted.calls["reserve_first"] + counted.calls["release"] == 0
    assert counted.calls["paused"] <= elapsed + 2, "the pauses are read about once a second, not per task"
    gator.resume()
    wait_for(lambda: len(sample_tasks.CALLS) == 3, "the resumed queue to run")
    # Each once. Not in line order: two threads run them, and which records
    # first is up to the threads (the store's FIFO order is the kit's to prove).
    assert sorted(value for _, value in sample_tasks.CALLS) == [0, 1, 2]


def test_a_running_worker_notices_a_pause_and_a_resume(
    gator: Gator, running: Callable[[Worker], None], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="alligator.worker")
    running(Worker(gator))
    gator.task(sample_tasks.record, "before")
    wait_for(lambda: len(sample_tasks.CALLS) == 1, "the worker to run a task")
    gator.pause()
    wait_for(lambda: f"queue '{gator.queue_name}' is paused" in caplog.text, "the worker to notice the pause")
    gator.options(task_id="during").task(sample_tasks.record, "during")
    time.sleep(2.0)  # two more reads of the pauses
    assert [value for _, value in sample_tasks.CALLS] == ["before"]
    assert gator.status("during") == WAITING
    gator.resume()
    wait_for(lambda: gator.status("during") == SUCCESS, "the resumed queue to run")
    assert f"queue '{gator.queue_name}' is resumed" in caplog.text


def test_a_paused_function_is_set_aside_uncounted_while_others_run(
    gator: Gator, running: Callable[[Worker], None]
) -> None:
    gator.pause(function=sample_tasks.noop)
    counted = Counted(gator.backend, ("paused", "reserve", "reserve_first", "release", "dead_letter"))
    for n in range(3):
        gator.options(task_id=f"held-{n}").task(sample_tasks.noop)
        gator.options(task_id=f"runs-{n}").task(sample_tasks.record, n)
    started = time.monotonic()
    running(Worker(gator))
    wait_for(lambda: len(sample_tasks.CALLS) == 3, "the other function's tasks to run")
    # Long enough for the held tasks to come due again once and be set aside again.
    wait_for(lambda: counted.calls["release"] >= 6, "the held tasks to be set aside twice")
    elapsed = time.monotonic() - started
    assert all(gator.status(f"held-{n}") in (DELAYED, WAITING) for n in range(3))
    listed = gator.tasks("delayed") + gator.tasks("waiting")
    assert sorted((t.task_id, t.attempts, t.failures) for t in listed) == [
        (f"held-{n}", 0, 0) for n in range(3)
    ], "handed back uncounted: no attempt, no failure"
    assert gator.dead_letters() == [] and counted.calls["dead_letter"] == 0
    # No busy loop: each held task is met about once per set-aside period.
    rounds = elapsed / SET_ASIDE_SECONDS + 2
    assert counted.calls["release"] <= 3 * rounds, counted.calls
    assert counted.calls["paused"] <= elapsed + 2, counted.calls
    assert counted.calls["reserve"] + counted.calls["reserve_first"] <= 20 * (elapsed + 2), counted.calls
    gator.resume(function=sample_tasks.noop)
    wait_for(
        lambda: all(gator.status(f"held-{n}") == SUCCESS for n in range(3)), "the resumed function to run"
    )
    assert gator.dead_letters() == []


# -- hostile records (SQLite's and Redis's are in their plugins' tests) -----------


GOOD = [("function", "mod.tasks:fn"), ("queue", "emails")]


def _hostile_listing(backend: Backend) -> None:
    for kind, name in GOOD:
        capabilities.pausing(backend).set_paused(kind, name, True)
    assert capabilities.pausing(backend).paused() == GOOD, "each hostile record is skipped, the others listed"


def test_locmem_skips_hostile_pauses() -> None:
    backend = LocmemBackend(f"locmem://{uuid.uuid4().hex}")
    backend._paused.update(
        {("topic", "x"), ("queue", ""), ("queue", "x" * 300), ("queue", "bad\udcff"), ("function", "nocolon")}
    )
    _hostile_listing(backend)


# -- the worker's view of the pauses -------------------------------------------------


def test_the_pause_watch_keeps_the_last_known_pauses_while_the_store_fails(
    gator: Gator, caplog: pytest.LogCaptureFixture
) -> None:
    from alligator.exceptions import BackendError
    from alligator.pausing import PauseWatch

    gator.pause(queue="emails")
    watch = PauseWatch(gator.backend, refresh=0.0)
    assert watch.current().queues == {"emails"}
    backend: LocmemBackend = gator.backend  # type: ignore[assignment]
    real = backend.paused

    def failing() -> list[tuple[str, str]]:
        raise BackendError("the store is down")

    backend.paused = failing  # type: ignore[method-assign]
    assert watch.current().queues == {"emails"}, "the last known pauses stay in force"
    assert watch.current().queues == {"emails"}
    assert caplog.text.count("could not read the paused queues") == 1, "said once, not at every read"
    backend.paused = real  # type: ignore[method-assign]
    gator.resume(queue="emails")
    assert watch.current().queues == frozenset()


def test_the_pause_watch_reads_the_store_at_most_once_per_refresh(gator: Gator) -> None:
    from alligator.pausing import PauseWatch

    counted = Counted(gator.backend, ("paused",))
    watch = PauseWatch(gator.backend, refresh=3600.0)
    for _ in range(1000):
        watch.current()
    assert counted.calls["paused"] == 1
