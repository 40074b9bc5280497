"""The kit's tests of the ResultWaiting capability: ``wait_finished()`` woken by the ack or dead letter.

A backend that claims :class:`~alligator.capabilities.ResultWaiting` adopts
:class:`ResultWaitingContract`; its first test checks the claim.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from alligator import capabilities
from alligator.backend import Ack, Backend
from alligator.constants import FAILED, SUCCESS
from alligator.testing.capable import CapableBackend
from alligator.testing.clock import FakeClock
from alligator.testing.fixtures import (
    ContractFixtures,
    assert_claims,
    hold,
)

#: Wall-clock seconds a test lets a waiting call take before it calls the
#: wait lost: generous, for a busy CI machine; a correct backend takes a
#: fraction of a second.
WAIT_DEADLINE = 20.0

_held = hold


def _kept(backend: CapableBackend, result: str | None) -> str | None:
    """The result ``finished()`` must hand back: ``result`` where the backend keeps results, else None."""
    return result if capabilities.supports(backend, capabilities.Results) else None


class WaitFinishedContract(ContractFixtures):
    """``wait_finished()`` returns once another client acks or dead-letters the task, or None at its timeout.

    Only generous wall-clock deadlines are checked (never how fast a wait
    was compared to another), so a busy machine does not fail it.
    """

    @pytest.fixture
    def acker(self, other_backend: CapableBackend, clock: FakeClock) -> Iterator[Callable[..., None]]:
        """``acker(delay, fn, *args)``: ``fn(other_backend, *args)`` in a thread after ``delay`` seconds."""
        other_backend.clock = clock
        timers: list[threading.Timer] = []

        def later(delay: float, fn: Callable[..., object], *args: object) -> None:
            timers.append(threading.Timer(delay, fn, (other_backend, *args)))
            timers[-1].start()

        yield later
        for timer in timers:
            timer.join(WAIT_DEADLINE)

    def test_wait_finished_wakes_when_another_client_acks(
        self, backend: CapableBackend, clock: FakeClock, queue: str, acker: Callable[..., None]
    ) -> None:
        receipt = _held(backend, queue, "t1")

        def ack(other: Backend) -> None:
            assert capabilities.results(other).ack_results(queue, [Ack("t1", receipt, '"done"')]) == 1

        started = time.monotonic()
        acker(0.2, ack)
        found = backend.wait_finished(queue, "t1", WAIT_DEADLINE)
        assert time.monotonic() - started < WAIT_DEADLINE - 1.0, "it waited for its timeout, not for the ack"
        assert found is not None and (found.status, found.result) == (SUCCESS, _kept(backend, '"done"'))

    def test_wait_finished_wakes_for_a_dead_letter(
        self, backend: CapableBackend, clock: FakeClock, queue: str, acker: Callable[..., None]
    ) -> None:
        receipt = _held(backend, queue, "t1")

        def bury(other: Backend) -> None:
            assert other.dead_letter(queue, "t1", receipt, "gave up")

        started = time.monotonic()
        acker(0.2, bury)
        found = backend.wait_finished(queue, "t1", WAIT_DEADLINE)
        assert time.monotonic() - started < WAIT_DEADLINE - 1.0, "it waited for its timeout"
        assert found is not None and (found.status, found.reason) == (FAILED, "gave up")

    def test_wait_finished_returns_at_once_for_a_finished_task(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        receipt = _held(backend, queue, "t1")
        assert backend.ack_results(queue, [Ack("t1", receipt, '"v"')]) == 1
        started = time.monotonic()
        found = backend.wait_finished(queue, "t1", WAIT_DEADLINE)
        assert time.monotonic() - started < WAIT_DEADLINE - 1.0
        assert found == backend.finished(queue, "t1")

    def test_wait_finished_returns_none_at_its_timeout(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "t1", "x")
        started = time.monotonic()
        assert backend.wait_finished(queue, "t1", 0.3) is None
        assert backend.wait_finished(queue, "unknown", 0.0) is None
        assert time.monotonic() - started < WAIT_DEADLINE, "the timeout is honoured"


class ResultWaitingContract(WaitFinishedContract):
    """Every rule of :class:`~alligator.capabilities.ResultWaiting`, for a backend that claims it."""

    def test_the_backend_claims_result_waiting(self, backend: Backend) -> None:
        assert_claims(backend, capabilities.ResultWaiting, "ResultWaitingContract")
