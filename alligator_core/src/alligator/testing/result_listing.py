"""The kit's tests of the ResultListing capability: ``succeeded()`` and ``finished_queues()``.

A backend that claims :class:`~alligator.capabilities.ResultListing` (which
needs :class:`~alligator.capabilities.Results`) adopts
:class:`ResultListingContract`; its first test checks the claim.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from alligator import capabilities, reasons
from alligator.backend import Ack, Backend, Finished
from alligator.constants import SUCCESS
from alligator.testing.capable import CapableBackend
from alligator.testing.clock import FakeClock
from alligator.testing.fixtures import (
    LEASE,
    ContractFixtures,
    InspectionFixtures,
    assert_claims,
    assert_reason,
    bury,
    hold,
)

_held = hold
_bury = bury


def _kept(backend: CapableBackend, result: str | None) -> str | None:
    """The result ``finished()`` must hand back: ``result`` where the backend keeps results, else None."""
    return result if capabilities.supports(backend, capabilities.Results) else None


def _listed(backend: CapableBackend, queue: str, offset: int = 0, limit: int = 100) -> list[Finished] | None:
    """``backend.succeeded(...)``; None for a store that keeps the default, which must say why."""
    if not capabilities.supports(backend, capabilities.ResultListing):
        with pytest.raises(NotImplementedError, match="keeps no results"):
            backend.succeeded(queue, offset, limit)
        return None
    return backend.succeeded(queue, offset, limit)


class SucceededListingContract(ContractFixtures):
    """``succeeded()`` pages the tasks ``status()`` calls SUCCESS, newest first, as ``finished()`` reads them.

    A store that keeps the default (no results) must refuse with
    ``NotImplementedError`` saying it keeps no results; each test checks that
    instead.
    """

    def test_succeeded_lists_acked_tasks_newest_first_with_their_results(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        times = {}
        for task_id, result in (("t1", '"one"'), ("t2", None), ("t3", '{"n": 3}')):
            receipt = _held(backend, queue, task_id)
            times[task_id] = backend.now()
            assert backend.ack_results(queue, [Ack(task_id, receipt, result)]) == 1
            clock.advance(1.0)
        listed = _listed(backend, queue)
        if listed is None:
            return
        assert [found.task_id for found in listed] == ["t3", "t2", "t1"]
        assert [found.result for found in listed] == [
            _kept(backend, '{"n": 3}'),
            None,
            _kept(backend, '"one"'),
        ]
        for found in listed:
            assert (found.status, found.reason) == (SUCCESS, None)
            assert found.finished_at == pytest.approx(times[found.task_id]), "when it was acked"
            assert found == backend.finished(queue, found.task_id), "as finished() reads it"

    def test_succeeded_pages_with_offset_and_limit_the_greater_id_first_on_a_tie(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        held = [(task_id, _held(backend, queue, task_id)) for task_id in ("b", "é", "a", "c")]
        assert backend.ack_many(queue, held) == 4  # all at one instant
        everything = _listed(backend, queue)
        if everything is None:
            return
        assert [found.task_id for found in everything] == ["é", "c", "b", "a"], (
            "by UTF-8 bytes, greatest first"
        )
        pages = [backend.succeeded(queue, offset, 2) for offset in (0, 2, 4)]
        assert [[found.task_id for found in page] for page in pages] == [["é", "c"], ["b", "a"], []]
        assert backend.succeeded(queue, 1, 0) == []

    def test_succeeded_lists_only_what_status_calls_success(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        receipt = _held(backend, queue, "old")
        assert backend.ack(queue, "old", receipt)
        clock.advance(backend.status_ttl * 1.5 + 1.0)
        receipt = _held(backend, queue, "again")
        assert backend.ack(queue, "again", receipt)
        assert backend.push(queue, "again", "x"), "pushed again: live, its success forgotten"
        receipt = _held(backend, queue, "done")
        assert backend.ack_results(queue, [Ack("done", receipt, '"v"')]) == 1
        receipt = _held(backend, queue, "dead")
        assert backend.dead_letter(queue, "dead", receipt, "broke")
        backend.push(queue, "waiting", "x")
        backend.push(queue, "delayed", "x", delay=60.0)
        _held(backend, queue, "running")
        listed = _listed(backend, queue)
        if listed is None:
            return
        assert [found.task_id for found in listed] == ["done"]
        for task_id in ("old", "again", "dead", "waiting", "delayed", "running"):
            assert backend.status(queue, task_id) != SUCCESS, task_id
        neighbour = f"{queue}-neighbour"
        try:
            assert backend.succeeded(neighbour) == [], "another queue's successes are its own"
        finally:
            backend.drop_all(neighbour)

    def test_succeeded_withholds_a_result_over_the_limit_as_finished_does(
        self, backend: CapableBackend, clock: FakeClock, queue: str, payload_limit: Callable[[int], None]
    ) -> None:
        receipt = _held(backend, queue, "wide")
        assert backend.ack_results(queue, [Ack("wide", receipt, '"' + "é" * 30 + '"')]) == 1
        payload_limit(40)
        listed = _listed(backend, queue)
        if listed is None:
            return
        [found] = listed
        assert (found.task_id, found.result) == ("wide", None)
        if capabilities.supports(backend, capabilities.Results):
            assert found.reason is not None
            assert_reason(found.reason, reasons.too_large(reasons.RESULT, 62, 40))

    def test_succeeded_refuses_a_negative_page_and_changes_nothing(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        receipt = _held(backend, queue, "done")
        assert backend.ack_results(queue, [Ack("done", receipt, '"v"')]) == 1
        if _listed(backend, queue) is None:
            return
        for offset, limit in ((-1, 10), (0, -1)):
            with pytest.raises(ValueError, match="offset and limit must be >= 0"):
                backend.succeeded(queue, offset, limit)
        assert backend.succeeded(queue) == backend.succeeded(queue)
        assert backend.status(queue, "done") == SUCCESS
        assert backend.finished(queue, "done") == backend.succeeded(queue)[0]


class FinishedQueuesContract(InspectionFixtures):
    """``finished_queues()`` lists the queues remembering a finished task, which ``queues()`` leaves out."""

    def test_finished_queues_lists_a_queue_whose_tasks_all_finished(
        self, backend: CapableBackend, clock: FakeClock, other_queue: Callable[[str], str]
    ) -> None:
        done, failed, live = other_queue("done"), other_queue("failed"), other_queue("live")
        backend.push(done, "t1", "x")
        [held] = backend.reserve(done, LEASE)
        assert backend.ack(done, "t1", held.receipt)
        _bury(backend, failed, "t1")
        backend.push(live, "t1", "x")
        listed = backend.finished_queues()
        if not capabilities.supports(backend, capabilities.ResultListing):
            assert listed == [], "the default lists none"
            return
        assert {done, failed} <= set(listed)
        assert live not in listed, "a queue that finished nothing"
        assert listed == sorted(listed), "finished_queues() must be sorted by name"


class ResultListingContract(SucceededListingContract, FinishedQueuesContract):
    """Every rule of :class:`~alligator.capabilities.ResultListing`, for a backend that claims it."""

    def test_the_backend_claims_result_listing(self, backend: Backend) -> None:
        assert_claims(backend, capabilities.ResultListing, "ResultListingContract")
