"""The kit's tests of several queues in priority order: ``reserve_first()`` and ``wait_for_work()``.

:class:`~alligator.testing.contract.BackendContract` inherits
:class:`PriorityContract`. The waits are checked against generous wall-clock
deadlines only. A backend without
:attr:`~alligator.backend.Backend.blocking_reserve` is checked for what the
base class documents instead: it returns empty (``wait_for_work``: False)
within the deadline rather than waking for work.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from alligator import store_defaults
from alligator.testing.capable import CapableBackend
from alligator.testing.clock import FakeClock
from alligator.testing.fixtures import LEASE
from alligator.testing.inspection import InspectionFixtures

#: Wall-clock seconds a waiting call may take before the test calls it lost.
WAIT_DEADLINE = 20.0


class PriorityContract(InspectionFixtures):
    """A due task of an earlier queue always goes first; an idle wait wakes for work in any queue."""

    def _queues(self, queue: str, other_queue: Callable[[str], str]) -> list[str]:
        return [queue, other_queue("b"), other_queue("c")]

    def test_reserve_first_takes_the_first_queue_with_due_work(
        self, backend: CapableBackend, clock: FakeClock, queue: str, other_queue: Callable[[str], str]
    ) -> None:
        high, mid, low = self._queues(queue, other_queue)
        backend.push(low, "l1", "low")
        backend.push(mid, "m1", "mid")
        backend.push(high, "h-later", "x", delay=60.0)  # not due: does not count
        clock.advance(1.0)
        backend.push(low, "l2", "low")
        got_queue, got = backend.reserve_first([high, mid, low], LEASE, limit=5)
        assert got_queue == mid
        assert [(r.task_id, r.payload) for r in got] == [("m1", "mid")], "only the first queue with work"
        backend.push(high, "h1", "high")
        got_queue, got = backend.reserve_first([high, mid, low], LEASE, limit=5)
        assert (got_queue, [r.task_id for r in got]) == (high, ["h1"])
        got_queue, got = backend.reserve_first([high, mid, low], LEASE, limit=5)
        assert (got_queue, [r.task_id for r in got]) == (low, ["l1", "l2"])

    def test_reserve_first_follows_the_order_it_is_given(
        self, backend: CapableBackend, clock: FakeClock, queue: str, other_queue: Callable[[str], str]
    ) -> None:
        first, second, _ = self._queues(queue, other_queue)
        backend.push(first, "a", "x")
        backend.push(second, "b", "x")
        got_queue, got = backend.reserve_first([second, first], LEASE)
        assert (got_queue, [r.task_id for r in got]) == (second, ["b"])

    def test_reserve_first_is_fifo_within_a_queue(
        self, backend: CapableBackend, clock: FakeClock, queue: str, other_queue: Callable[[str], str]
    ) -> None:
        high, low, _ = self._queues(queue, other_queue)
        backend.push_many(high, [(f"t{n}", str(n), 0.0) for n in range(5)])
        backend.push(low, "low", "x")
        got_queue, got = backend.reserve_first([high, low], LEASE, limit=3)
        assert (got_queue, [r.task_id for r in got]) == (high, ["t0", "t1", "t2"])
        assert [(r.attempts, r.failures) for r in got] == [(1, 0)] * 3
        got_queue, got = backend.reserve_first([high, low], LEASE, limit=3)
        assert (got_queue, [r.task_id for r in got]) == (high, ["t3", "t4"])

    def test_reserve_first_counts_an_ended_lease_as_due(
        self, backend: CapableBackend, clock: FakeClock, queue: str, other_queue: Callable[[str], str]
    ) -> None:
        high, low, _ = self._queues(queue, other_queue)
        backend.push(high, "crashed", "x")
        assert backend.reserve(high, 10.0)
        backend.push(low, "low", "x")
        clock.advance(11.0)  # that worker died
        got_queue, got = backend.reserve_first([high, low], LEASE)
        assert (got_queue, [(r.task_id, r.attempts) for r in got]) == (high, [("crashed", 2)])

    def test_reserve_first_returns_nothing_when_every_queue_is_empty(
        self, backend: CapableBackend, clock: FakeClock, queue: str, other_queue: Callable[[str], str]
    ) -> None:
        queues = self._queues(queue, other_queue)
        backend.push(queues[1], "later", "x", delay=60.0)
        assert backend.reserve_first(queues, LEASE, limit=10) == ("", [])
        started = time.monotonic()
        assert backend.reserve_first(queues, LEASE, limit=10, timeout=0.2) == ("", [])
        assert time.monotonic() - started < WAIT_DEADLINE

    def test_reserve_first_of_one_queue_is_reserve(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        backend.push_many(queue, [("a", "x", 0.0), ("b", "y", 0.0)])
        got_queue, got = backend.reserve_first([queue], LEASE, limit=5)
        assert (got_queue, [r.task_id for r in got]) == (queue, ["a", "b"])
        # The base class answers an empty single queue with (queue, []): only
        # the reservations are checked here.
        assert backend.reserve_first([queue], LEASE)[1] == []

    def test_reserve_first_wakes_for_a_push_in_any_queue(
        self, backend: CapableBackend, queue: str, other_queue: Callable[[str], str]
    ) -> None:
        # No fake clock: the wait is on the wall clock, and the push must be due.
        queues = self._queues(queue, other_queue)
        started = time.monotonic()
        if not backend.blocking_reserve:
            assert backend.reserve_first(queues, LEASE, timeout=5.0) == ("", [])
            assert time.monotonic() - started < WAIT_DEADLINE
            return
        pusher = threading.Timer(0.3, backend.push, (queues[-1], "t1", "x"))
        pusher.start()
        try:
            got_queue, got = backend.reserve_first(queues, LEASE, timeout=WAIT_DEADLINE)
        finally:
            pusher.join()
        assert (got_queue, [r.task_id for r in got]) == (queues[-1], ["t1"])
        assert time.monotonic() - started < WAIT_DEADLINE - 1.0, "it waited for its timeout, not the push"

    @pytest.mark.parametrize("how", ["push", "release", "requeue"])
    def test_wait_for_work_wakes_for_work_in_any_queue(
        self, backend: CapableBackend, queue: str, other_queue: Callable[[str], str], how: str
    ) -> None:
        queues = self._queues(queue, other_queue)
        target = queues[1]
        wake: Callable[[], object]
        if how == "push":
            wake = lambda: backend.push(target, "t1", "x")  # noqa: E731 - one line per case
        else:
            assert backend.push(target, "t1", "x")
            [held] = backend.reserve(target, LEASE)
            if how == "release":
                wake = lambda: backend.release(target, "t1", held.receipt)  # noqa: E731
            else:
                assert backend.dead_letter(target, "t1", held.receipt, "why")
                wake = lambda: backend.requeue(target, "t1")  # noqa: E731
        started = time.monotonic()
        waker = threading.Timer(0.3, wake)
        waker.start()
        try:
            woken = store_defaults.wait_for_work(
                backend, queues, WAIT_DEADLINE if backend.blocking_reserve else 5.0
            )
        finally:
            waker.join()
        assert time.monotonic() - started < WAIT_DEADLINE - 1.0, "it waited for its timeout, not the work"
        if backend.blocking_reserve:
            assert woken is True, f"a {how} on one of the queues must wake it"
        assert [r.task_id for r in backend.reserve(target, LEASE)] == ["t1"]

    @pytest.mark.parametrize("how", ["pushed", "lease ended"])
    def test_wait_for_work_returns_at_once_when_work_is_already_due(
        self,
        backend: CapableBackend,
        clock: FakeClock,
        queue: str,
        other_queue: Callable[[str], str],
        how: str,
    ) -> None:
        # Work that is due before the wait starts wakes it as a push would:
        # the wait never sleeps through work it could take.
        queues = self._queues(queue, other_queue)
        assert backend.push(queues[1], "t1", "x")
        if how == "lease ended":
            assert backend.reserve(queues[1], LEASE)
            clock.advance(LEASE)
        started = time.monotonic()
        timeout = WAIT_DEADLINE if backend.blocking_reserve else 5.0
        woken = store_defaults.wait_for_work(backend, queues, timeout)
        assert time.monotonic() - started < WAIT_DEADLINE - 1.0, "it waited for its timeout with work due"
        if backend.blocking_reserve:
            assert woken is True, "work already due must wake it at once"
        assert [r.task_id for r in backend.reserve(queues[1], LEASE)] == ["t1"]

    def test_wait_for_work_returns_false_at_its_timeout(
        self, backend: CapableBackend, queue: str, other_queue: Callable[[str], str]
    ) -> None:
        queues = self._queues(queue, other_queue)
        started = time.monotonic()
        assert store_defaults.wait_for_work(backend, queues, 0.3) is False
        assert time.monotonic() - started < WAIT_DEADLINE
