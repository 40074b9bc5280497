"""The required contract's rules of order and time: failures counted, due order, lease boundaries.

Part of :class:`~alligator.testing.contract.RequiredContract`: every test
here uses only the required methods of :class:`alligator.backend.Backend`
(and :meth:`~alligator.backend.Backend.reserve_first`, which has a default).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from alligator import store_defaults
from alligator.backend import Backend
from alligator.constants import RUNNING, WAITING
from alligator.testing.clock import FakeClock
from alligator.testing.fixtures import (
    LEASE,
    ContractFixtures,
    InspectionFixtures,
)

#: Wall-clock seconds a waiting call may take before the test calls it lost.
WAIT_DEADLINE = 20.0


class FailureCountContract(ContractFixtures):
    """``Reservation.failures``: deliveries that ran and failed, counted by ``release(attempted=True)``."""

    def test_first_delivery_has_no_failures(self, backend: Backend, clock: FakeClock, queue: str) -> None:
        backend.push(queue, "t1", "x")
        backend.push(queue, "t2", "x")
        [got] = backend.reserve(queue, LEASE)
        assert (got.attempts, got.failures) == (1, 0)
        by_id = backend.get(queue, "t2", LEASE)
        assert by_id is not None and (by_id.attempts, by_id.failures) == (1, 0)

    def test_release_attempted_counts_a_failure(self, backend: Backend, clock: FakeClock, queue: str) -> None:
        backend.push(queue, "t1", "x")
        [first] = backend.reserve(queue, LEASE)
        assert backend.release(queue, "t1", first.receipt, attempted=True)
        [second] = backend.reserve(queue, LEASE)
        assert (second.attempts, second.failures) == (2, 1)
        assert backend.release(queue, "t1", second.receipt, delay=5.0, attempted=True)
        clock.advance(6.0)
        [third] = backend.reserve(queue, LEASE)
        assert (third.attempts, third.failures) == (3, 2), "a delayed release counts a failure too"

    def test_release_unattempted_leaves_failures_alone(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "t1", "x")
        [first] = backend.reserve(queue, LEASE)
        backend.release(queue, "t1", first.receipt, attempted=True)
        [second] = backend.reserve(queue, LEASE)
        assert backend.release(queue, "t1", second.receipt, attempted=False)
        [third] = backend.reserve(queue, LEASE)
        assert (third.attempts, third.failures) == (2, 1)

    def test_expired_lease_is_not_a_failure(self, backend: Backend, clock: FakeClock, queue: str) -> None:
        backend.push(queue, "t1", "x")
        [first] = backend.reserve(queue, 10.0)
        backend.release(queue, "t1", first.receipt, attempted=True)
        backend.reserve(queue, 10.0)
        clock.advance(11.0)
        [third] = backend.reserve(queue, 10.0)
        assert (third.attempts, third.failures) == (3, 1)

    def test_get_returns_failures(self, backend: Backend, clock: FakeClock, queue: str) -> None:
        backend.push(queue, "t1", "x")
        [first] = backend.reserve(queue, LEASE)
        backend.release(queue, "t1", first.receipt, delay=60.0, attempted=True)
        got = backend.get(queue, "t1", LEASE)
        assert got is not None and (got.attempts, got.failures) == (2, 1)


class DueOrderContract(ContractFixtures):
    """FIFO among due tasks, in the order they became due: pushed, delay ended, released, lease ended."""

    def test_released_task_goes_behind_tasks_due_before_it(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        for task_id in ("first", "second", "third"):
            backend.push(queue, task_id, "x")
            clock.advance(1.0)
        [got] = backend.reserve(queue, LEASE)
        assert got.task_id == "first"
        clock.advance(1.0)
        backend.push(queue, "fourth", "x")  # due after the others, before the release
        clock.advance(1.0)
        assert backend.release(queue, "first", got.receipt)
        order = [r.task_id for r in backend.reserve(queue, LEASE, 10)]
        assert order == ["second", "third", "fourth", "first"], (
            "a released task is due from its release, behind every task due before it"
        )

    def test_a_release_at_the_instant_others_are_due_goes_behind_them(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        # Equal due times: the tie is broken by when each became due, and a
        # released task became due at its release, after the tasks pushed
        # (or released) before it at the same instant.
        backend.push(queue, "first", "x")
        [got] = backend.reserve(queue, LEASE)
        backend.push(queue, "second", "x")
        backend.push(queue, "third", "x")
        assert backend.release(queue, "first", got.receipt)
        backend.push(queue, "fourth", "x")
        assert [r.task_id for r in backend.reserve(queue, LEASE, 10)] == [
            "second",
            "third",
            "first",
            "fourth",
        ], "a task released at the instant others are due goes behind them, ahead of later pushes"

    def test_a_delayed_release_due_with_others_goes_behind_them(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "first", "x")
        [got] = backend.reserve(queue, LEASE)
        backend.push(queue, "second", "x", delay=5.0)
        assert backend.release(queue, "first", got.receipt, delay=5.0)
        backend.push(queue, "third", "x", delay=5.0)
        clock.advance(5.0)
        assert [r.task_id for r in backend.reserve(queue, LEASE, 10)] == ["second", "first", "third"]

    def test_unattempted_release_goes_behind_too(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "first", "x")
        clock.advance(1.0)
        backend.push(queue, "second", "x")
        clock.advance(1.0)
        [got] = backend.reserve(queue, LEASE)
        assert backend.release(queue, "first", got.receipt, attempted=False)
        assert [r.task_id for r in backend.reserve(queue, LEASE, 10)] == ["second", "first"]

    def test_expired_lease_is_due_at_the_lease_end(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "leased", "x")
        [got] = backend.reserve(queue, 10.0)
        clock.advance(5.0)
        backend.push(queue, "due-before-the-lease-end", "x")
        clock.advance(10.0)
        backend.push(queue, "due-after-the-lease-end", "x")
        order = [r.task_id for r in backend.reserve(queue, LEASE, 10)]
        assert order == ["due-before-the-lease-end", "leased", "due-after-the-lease-end"], (
            "a task whose lease ended is due at the lease's end, not at its push time"
        )
        assert got.receipt not in {r.receipt for r in backend.reserve(queue, LEASE, 10)}

    def test_expired_lease_comes_back_without_anyone_touching_it(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "t1", "x")
        backend.reserve(queue, 10.0)
        clock.advance(11.0)
        assert backend.len(queue) == 1
        assert backend.status(queue, "t1") == WAITING
        [again] = backend.reserve(queue, 10.0)
        assert (again.task_id, again.attempts) == ("t1", 2)
        clock.advance(11.0)
        [third] = backend.reserve(queue, 10.0)
        assert (third.task_id, third.attempts) == ("t1", 3), (
            "every ended lease comes back, not only the first"
        )

    def test_order_is_by_due_time_not_push_time(self, backend: Backend, clock: FakeClock, queue: str) -> None:
        backend.push(queue, "pushed-first-due-last", "x", delay=30.0)
        clock.advance(1.0)
        backend.push(queue, "pushed-second-due-second", "x", delay=10.0)
        clock.advance(1.0)
        backend.push(queue, "pushed-last-due-first", "x")
        clock.advance(60.0)
        assert [r.task_id for r in backend.reserve(queue, LEASE, 10)] == [
            "pushed-last-due-first",
            "pushed-second-due-second",
            "pushed-first-due-last",
        ]


class LeaseBoundaryContract(ContractFixtures):
    """A lease is ended once ``now >=`` its end, a delay once ``now >=`` its due time: the instant counts."""

    @pytest.fixture
    def whole_clock(self, backend: Backend, clock: FakeClock) -> FakeClock:
        """A fake clock on a whole second, so ``now + seconds`` is exact in any store."""
        fake = FakeClock(float(int(clock())))
        backend.clock = fake
        return fake

    def test_a_lease_is_held_until_just_before_its_end(
        self, backend: Backend, whole_clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "t1", "x")
        [got] = backend.reserve(queue, 10.0)
        whole_clock.advance(9.5)
        assert backend.reserve(queue, 10.0) == []
        assert backend.status(queue, "t1") == RUNNING
        assert backend.extend(queue, "t1", got.receipt, 10.0), "the lease is still held half a second before"

    def test_a_lease_is_ended_at_its_end_exactly(
        self, backend: Backend, whole_clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "t1", "x")
        backend.push(queue, "t2", "x")
        [first, second] = backend.reserve(queue, 10.0, 2)
        whole_clock.advance(10.0)  # now == the lease's end
        assert backend.status(queue, "t1") == WAITING, "a lease is ended once now >= its end"
        assert backend.len(queue) == 2
        assert backend.ack(queue, "t1", first.receipt) is False
        assert backend.extend(queue, "t2", second.receipt, 10.0) is False
        [again] = backend.reserve(queue, 10.0)
        assert (again.task_id, again.attempts) == ("t1", 2)

    def test_a_delay_ends_at_its_end_exactly(
        self, backend: Backend, whole_clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "t1", "x", delay=10.0)
        whole_clock.advance(9.5)
        assert backend.reserve(queue, LEASE) == []
        whole_clock.advance(0.5)
        assert backend.status(queue, "t1") == WAITING
        assert [r.task_id for r in backend.reserve(queue, LEASE)] == ["t1"]


class ReserveFirstContract(InspectionFixtures):
    """``reserve_first``: a due task of an earlier queue always goes first."""

    def _queues(self, queue: str, other_queue: Callable[[str], str]) -> list[str]:
        return [queue, other_queue("b"), other_queue("c")]

    def test_reserve_first_takes_the_first_queue_with_due_work(
        self, backend: Backend, clock: FakeClock, queue: str, other_queue: Callable[[str], str]
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
        self, backend: Backend, clock: FakeClock, queue: str, other_queue: Callable[[str], str]
    ) -> None:
        first, second, _ = self._queues(queue, other_queue)
        backend.push(first, "a", "x")
        backend.push(second, "b", "x")
        got_queue, got = backend.reserve_first([second, first], LEASE)
        assert (got_queue, [r.task_id for r in got]) == (second, ["b"])

    def test_reserve_first_is_fifo_within_a_queue(
        self, backend: Backend, clock: FakeClock, queue: str, other_queue: Callable[[str], str]
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
        self, backend: Backend, clock: FakeClock, queue: str, other_queue: Callable[[str], str]
    ) -> None:
        high, low, _ = self._queues(queue, other_queue)
        backend.push(high, "crashed", "x")
        assert backend.reserve(high, 10.0)
        backend.push(low, "low", "x")
        clock.advance(11.0)  # that worker died
        got_queue, got = backend.reserve_first([high, low], LEASE)
        assert (got_queue, [(r.task_id, r.attempts) for r in got]) == (high, [("crashed", 2)])

    def test_reserve_first_returns_nothing_when_every_queue_is_empty(
        self, backend: Backend, clock: FakeClock, queue: str, other_queue: Callable[[str], str]
    ) -> None:
        queues = self._queues(queue, other_queue)
        backend.push(queues[1], "later", "x", delay=60.0)
        assert backend.reserve_first(queues, LEASE, limit=10) == ("", [])
        started = time.monotonic()
        assert backend.reserve_first(queues, LEASE, limit=10, timeout=0.2) == ("", [])
        assert time.monotonic() - started < WAIT_DEADLINE

    def test_reserve_first_of_one_queue_is_reserve(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        backend.push_many(queue, [("a", "x", 0.0), ("b", "y", 0.0)])
        got_queue, got = backend.reserve_first([queue], LEASE, limit=5)
        assert (got_queue, [r.task_id for r in got]) == (queue, ["a", "b"])
        # The base class answers an empty single queue with (queue, []): only
        # the reservations are checked here.
        assert backend.reserve_first([queue], LEASE)[1] == []

    # What every store keeps around a wait, whether it can wake a waiter
    # (WakingContract checks that it does) or the core naps for it: no push
    # or release is lost, nothing waits past its deadline.

    def test_reserve_first_with_a_timeout_loses_no_push(
        self, backend: Backend, queue: str, other_queue: Callable[[str], str]
    ) -> None:
        # No fake clock: the wait is on the wall clock, and the push must be due.
        queues = self._queues(queue, other_queue)
        started = time.monotonic()
        pusher = threading.Timer(0.3, backend.push, (queues[-1], "t1", "x"))
        pusher.start()
        try:
            got_queue, got = backend.reserve_first(queues, LEASE, timeout=1.0)
        finally:
            pusher.join()
        assert time.monotonic() - started < WAIT_DEADLINE
        if not got:
            got_queue, got = backend.reserve_first(queues, LEASE)
        assert (got_queue, [r.task_id for r in got]) == (queues[-1], ["t1"])
        assert backend.reserve_first(queues, LEASE) == ("", []), "delivered once"

    @pytest.mark.parametrize("how", ["push", "release"])
    def test_a_wait_for_work_loses_none(
        self, backend: Backend, queue: str, other_queue: Callable[[str], str], how: str
    ) -> None:
        queues = self._queues(queue, other_queue)
        target = queues[1]
        wake: Callable[[], object]
        if how == "push":
            wake = lambda: backend.push(target, "t1", "x")  # noqa: E731 - one line per case
        else:
            assert backend.push(target, "t1", "x")
            [held] = backend.reserve(target, LEASE)
            wake = lambda: backend.release(target, "t1", held.receipt)  # noqa: E731
        started = time.monotonic()
        waker = threading.Timer(0.3, wake)
        waker.start()
        try:
            store_defaults.wait_for_work(backend, queues, 1.0)
        finally:
            waker.join()
        assert time.monotonic() - started < WAIT_DEADLINE
        assert [r.task_id for r in backend.reserve(target, LEASE)] == ["t1"]

    def test_a_wait_for_work_with_work_due_returns_within_its_deadline(
        self, backend: Backend, clock: FakeClock, queue: str, other_queue: Callable[[str], str]
    ) -> None:
        queues = self._queues(queue, other_queue)
        assert backend.push(queues[1], "t1", "x")
        assert backend.reserve(queues[1], LEASE)
        clock.advance(LEASE)  # the lease ended: due again
        started = time.monotonic()
        store_defaults.wait_for_work(backend, queues, WAIT_DEADLINE)
        assert time.monotonic() - started < WAIT_DEADLINE - 1.0, "it waited for its timeout with work due"
        assert [r.task_id for r in backend.reserve(queues[1], LEASE)] == ["t1"]

    def test_a_wait_for_work_without_work_is_false_at_its_timeout(
        self, backend: Backend, queue: str, other_queue: Callable[[str], str]
    ) -> None:
        started = time.monotonic()
        assert store_defaults.wait_for_work(backend, self._queues(queue, other_queue), 0.3) is False
        assert time.monotonic() - started < WAIT_DEADLINE
