"""Rate limits and concurrency per key in one process (locmem): options, the worker's gate, ``gator.limit``.

The proofs with real worker processes on SQLite and Redis are in
``plugins/*/tests/test_*_limits.py``; the store's rules are the kit's
(:class:`~alligator.testing.limiting.LimitContract`).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import limit_tasks
import pytest

from alligator import Gator, Worker, capabilities
from alligator.constants import DELAYED, SUCCESS
from alligator.limit_store import LimitState
from alligator.testing.capable import without
from alligator_locmem import LocmemBackend

WAIT = 60.0


def wait_for(predicate: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture
def limited() -> Gator:
    return Gator(f"locmem://limits-{uuid.uuid4().hex}", allow=["limit_tasks"])


@pytest.fixture
def running() -> Iterator[Callable[[Worker], None]]:
    started: list[tuple[Worker, threading.Thread]] = []

    def start(worker: Worker) -> None:
        thread = threading.Thread(target=worker.run_forever, daemon=True)
        thread.start()
        started.append((worker, thread))

    yield start
    for worker, thread in started:
        worker.stop()
        thread.join(WAIT)


@pytest.mark.parametrize(
    "rate", ["10", "10/d", "0/s", "ten/s", "10/sec", "-1/s", "1.5/s", "/s", "10000000/s"]
)
def test_a_bad_rate_is_refused_naming_the_accepted_forms(limited: Gator, rate: str) -> None:
    with pytest.raises(ValueError, match=r"N/s|from 1 to"):
        limited.options(rate_limit=rate)


@pytest.mark.parametrize(
    ("kwargs", "error", "says"),
    [
        ({"rate_limit": 10}, TypeError, "must be a string"),
        ({"concurrency_limit": 0}, ValueError, "from 1"),
        ({"concurrency_limit": True}, TypeError, "whole number"),
        ({"concurrency_limit": 2, "limit_key": ""}, ValueError, "non-empty"),
        ({"concurrency_limit": 2, "limit_key": "k" * 257}, ValueError, "over the limit"),
        ({"limit_key": "customer:7"}, ValueError, "needs a rate_limit or a concurrency_limit"),
    ],
)
def test_bad_limit_options_are_refused(
    limited: Gator, kwargs: dict[str, object], error: type[Exception], says: str
) -> None:
    with pytest.raises(error, match=says):
        limited.options(**kwargs)


def test_limits_travel_in_the_payload_and_a_task_without_any_keeps_the_usual_payload(limited: Gator) -> None:
    task = limited.options(rate_limit=" 20 / s", concurrency_limit=2, limit_key="customer:7").task(
        limit_tasks.stamp, "p", "x"
    )
    back = type(task).deserialize(task.serialize())
    assert (back.rate_limit, back.concurrency_limit, back.limit_key) == ("20/s", 2, "customer:7")
    plain = limited.task(limit_tasks.stamp, "p", "y")
    assert "_limit" not in plain.serialize() and "limit_key" not in plain.serialize()


def test_a_store_without_the_capability_refuses_a_limited_task_at_enqueue() -> None:
    backend_class = without(LocmemBackend, capabilities.Limiting)
    gator = Gator(f"locmem://nolimits-{uuid.uuid4().hex}", allow=["limit_tasks"])
    gator.backend = backend_class(gator.backend.conn_string)
    with pytest.raises(capabilities.Unsupported, match=r"cannot keep rate limits.*WithoutLimiting"):
        gator.options(rate_limit="1/s").task(limit_tasks.stamp, "p", "x")
    with pytest.raises(capabilities.Unsupported):
        gator.options(concurrency_limit=1).task(limit_tasks.stamp, "p", "x")
    assert gator.backend.len(gator.queue_name) == 0, "nothing was queued"
    gator.task(limit_tasks.stamp, "p", "plain")  # an unlimited task is queued as ever
    assert gator.backend.len(gator.queue_name) == 1


def test_a_task_over_the_rate_is_handed_back_uncounted_and_runs_at_its_slot(
    limited: Gator, tmp_path: Path, running: Callable[[Worker], None]
) -> None:
    log = str(tmp_path / "log")
    tasks = [limited.options(rate_limit="2/s").task(limit_tasks.stamp, log, f"t{i}") for i in range(5)]
    worker = Worker(limited, concurrency=2)
    running(worker)
    wait_for(lambda: all(limited.status(t.task_id) == SUCCESS for t in tasks), "every task to run")
    starts = [at for kind, at, _, _ in limit_tasks.read(log) if kind == "start"]
    assert len(starts) == 5
    assert limit_tasks.most_in_window(starts, 1.0) <= 2 + 1, "2 per second (one more for the clock's jitter)"
    assert max(starts) - min(starts) >= 1.0 - 0.05, "five at 2/s take at least a second and a half"
    assert worker._limits.delayed >= 3, "three of five waited"


def test_a_task_handed_back_by_a_limit_is_not_an_attempt(limited: Gator) -> None:
    backend = limited.backend
    # The key is full for an hour: the task can only wait.
    assert capabilities.limiting(backend).take_rate("busy", "someone", 1, 3600.0) == 0.0
    task = limited.options(rate_limit="1/h", limit_key="busy").task(limit_tasks.stamp, "/dev/null", "x")
    worker = Worker(limited)
    [reservation] = backend.reserve(limited.queue_name, 30.0)
    assert worker._execute(limited.queue_name, reservation) == 0
    assert limited.status(task.task_id) == DELAYED, "handed back with a delay: not due now"
    again = backend.get(limited.queue_name, task.task_id, 30.0)
    assert again is not None and (again.attempts, again.failures) == (1, 0), "the hand-back counted nothing"
    states = capabilities.limiting(backend).limit_states()
    assert states == [LimitState("rate", "busy", "1/h", 1, 1)]


def test_at_most_concurrency_limit_tasks_of_a_key_run_at_once(
    limited: Gator, tmp_path: Path, running: Callable[[Worker], None]
) -> None:
    log = str(tmp_path / "log")
    opts = limited.options(concurrency_limit=2, limit_key="customer:7")
    tasks = [opts.task(limit_tasks.hold, log, f"c{i}", 0.2) for i in range(6)]
    other = limited.task(limit_tasks.hold, log, "free", 0.0)
    running(Worker(limited, concurrency=4))
    wait_for(lambda: all(limited.status(t.task_id) == SUCCESS for t in [*tasks, other]), "every task")
    rows = [row for row in limit_tasks.read(log) if row[3] != "free"]
    assert limit_tasks.most_at_once(limit_tasks.runs(rows, {})) <= 2
    assert capabilities.limiting(limited.backend).limit_states() == [
        state for state in capabilities.limiting(limited.backend).limit_states() if state.held == 0
    ], "every slot was given back"


def test_gator_limit_waits_for_its_slot_and_shares_the_key_with_tasks(limited: Gator) -> None:
    backend = capabilities.limiting(limited.backend)
    assert backend.take_rate("api", "task", 1, 1.0) == 0.0
    began = time.monotonic()
    with limited.limit("api", rate="1/s"):
        waited = time.monotonic() - began
    assert waited >= 0.9, "the block waited for the next slot of the key a task had taken"
    with pytest.raises(TimeoutError, match="past its timeout"):
        with limited.limit("api", rate="1/h", timeout=0.1):
            pass
    with pytest.raises(ValueError, match="N/s"):
        with limited.limit("api", rate="fast"):
            pass


def test_a_limited_payload_on_a_store_without_limits_is_dead_lettered_saying_why() -> None:
    dsn = f"locmem://nolimits-{uuid.uuid4().hex}"
    limited = Gator(dsn, allow=["limit_tasks"])
    task = limited.options(rate_limit="1/s").task(limit_tasks.stamp, "/dev/null", "x")
    [reservation] = limited.backend.reserve(limited.queue_name, 30.0)
    gator = Gator(dsn, allow=["limit_tasks"])
    gator.backend = without(LocmemBackend, capabilities.Limiting)(dsn)
    # Written by hand: a producer on this store would have refused it.
    gator.backend.push(gator.queue_name, "by-hand", reservation.payload.replace(task.task_id, "by-hand"))
    worker = Worker(gator)
    [held] = gator.backend.reserve(gator.queue_name, 30.0)
    assert worker._execute(gator.queue_name, held) == 1
    [letter] = capabilities.administration(gator.backend).dead_letters(gator.queue_name)
    assert letter.task_id == "by-hand"
    assert "asks for a limit, but this store cannot keep rate limits" in letter.reason


def _slots(count: int, per: float, tasks: int, every: float | None = None) -> list[float]:
    """The start times a limiter of ``count`` per ``per`` gives ``tasks`` tasks: a burst, then a slot each
    ``every`` seconds (``per / count`` for a correct limiter)."""
    step = per / count if every is None else every
    return [1000.0] * count + [1000.0 + step * k for k in range(1, tasks - count + 1)]


def test_the_rate_check_allows_a_late_first_start_and_still_fails_a_fast_limiter() -> None:
    # Nothing started until 0.4 s after the first slot (the first take's commit waited on a busy disk,
    # the other takes on it), then every task on its slot: the check once measured the span from the
    # first start and counted a correct limiter at 22.2/s.
    starts = [max(at, 1000.4) for at in _slots(20, 1.0, 100)]
    limit_tasks.check_rate(starts, 20, 1.0)
    # Every start late by up to START_LAG, in any pattern, is still a correct limiter's.
    lags = [at + limit_tasks.START_LAG * (k % 7) / 7 for k, at in enumerate(_slots(20, 1.0, 100))]
    limit_tasks.check_rate(lags, 20, 1.0)
    with pytest.raises(AssertionError, match="starts in two periods"):
        limit_tasks.check_rate(_slots(20, 1.0, 100, every=1 / 30), 20, 1.0)  # 30/s after the burst
    with pytest.raises(AssertionError, match="per period"):
        limit_tasks.check_rate(_slots(20, 1.0, 100, every=1 / 25), 20, 1.0)  # 25/s after the burst
    with pytest.raises(AssertionError, match="starts in two periods"):
        limit_tasks.check_rate(_slots(40, 1.0, 100, every=0.05), 20, 1.0)  # a burst of twice the limit
    with pytest.raises(AssertionError, match="starts in two periods"):
        limit_tasks.check_rate(_slots(90, 1.0, 100, every=0.05), 20, 1.0)  # a burst of 90, not 20
    four_unshared = sorted(at for _ in range(4) for at in _slots(20, 1.0, 25))
    with pytest.raises(AssertionError):
        limit_tasks.check_rate(four_unshared, 20, 1.0)  # each of four processes limiting on its own
