"""The kit's tests of the Waking capability: an idle wait wakes for work on any of several queues.

A backend that claims :class:`~alligator.capabilities.Waking` adopts
:class:`WakingContract`; its first test checks the claim. The waits are
checked against generous wall-clock deadlines only. A backend without
:attr:`~alligator.backend.Backend.blocking_reserve` is checked for what the
base class documents instead: it returns empty (``wait_for_work``: False)
within the deadline rather than waking for work. The tests of
``reserve_first`` without waiting are required ones
(:class:`~alligator.testing.required_order.ReserveFirstContract`);
:class:`PriorityContract`, their old home, is both.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from alligator import capabilities, store_defaults
from alligator.backend import Backend
from alligator.testing.capable import CapableBackend
from alligator.testing.clock import FakeClock
from alligator.testing.fixtures import LEASE, InspectionFixtures, assert_claims
from alligator.testing.required_order import ReserveFirstContract

#: Wall-clock seconds a waiting call may take before the test calls it lost.
WAIT_DEADLINE = 20.0


class WakingContract(InspectionFixtures):
    """Every rule of :class:`~alligator.capabilities.Waking`: an idle wait wakes for work in any queue."""

    def test_the_backend_claims_waking(self, backend: Backend) -> None:
        assert_claims(backend, capabilities.Waking, "WakingContract")

    def _queues(self, queue: str, other_queue: Callable[[str], str]) -> list[str]:
        return [queue, other_queue("b"), other_queue("c")]

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


class PriorityContract(ReserveFirstContract, WakingContract):
    """The tests of several queues in priority order, grouped as before: ``reserve_first`` and waking."""
