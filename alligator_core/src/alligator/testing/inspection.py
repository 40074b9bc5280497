"""The kit's tests of the Inspection capability: listing queues and tasks, counting them per state.

A backend that claims :class:`~alligator.capabilities.Inspection` adopts
:class:`InspectionContract`; its first test checks the claim. The tests of
dead-letter management and retention are in
:mod:`alligator.testing.administration`, those of ``finished_queues`` in
:mod:`alligator.testing.result_listing`; their old names are importable
from here too.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from alligator import capabilities
from alligator.backend import Backend, QueueCounts, TaskInfo
from alligator.constants import WAITING

# Importable from here, where they were first.
from alligator.testing.administration import DeadLetterManagementContract as DeadLetterManagementContract
from alligator.testing.administration import DeadLetterRetentionContract as DeadLetterRetentionContract
from alligator.testing.capable import CapableBackend
from alligator.testing.clock import FakeClock
from alligator.testing.fixtures import LEASE, InspectionFixtures, assert_claims, bury
from alligator.testing.result_listing import FinishedQueuesContract as FinishedQueuesContract

_bury = bury


def _ids(infos: list[TaskInfo]) -> list[str]:
    return [info.task_id for info in infos]


class QueueListingContract(InspectionFixtures):
    """``queues()`` lists every queue holding a task, in any state, and no other."""

    def test_queues_lists_every_queue_holding_a_task_in_any_state(
        self, backend: CapableBackend, clock: FakeClock, other_queue: Callable[[str], str]
    ) -> None:
        waiting, delayed, running, dead = (other_queue(s) for s in ("w", "d", "r", "x"))
        backend.push(waiting, "t1", "x")
        backend.push(delayed, "t1", "x", delay=60.0)
        backend.push(running, "t1", "x")
        assert backend.reserve(running, LEASE)
        _bury(backend, dead, "t1")
        listed = backend.queues()
        assert {waiting, delayed, running, dead} <= set(listed)
        assert listed == sorted(listed), "queues() must be sorted by name"

    def test_queues_leaves_out_a_queue_with_only_finished_tasks(
        self, backend: CapableBackend, clock: FakeClock, other_queue: Callable[[str], str]
    ) -> None:
        done, dropped, cancelled = other_queue("done"), other_queue("dropped"), other_queue("cancelled")
        backend.push(done, "t1", "x")
        [held] = backend.reserve(done, LEASE)
        assert backend.ack(done, "t1", held.receipt)
        backend.push(dropped, "t1", "x")
        backend.drop_all(dropped)
        backend.push(cancelled, "t1", "x")
        assert backend.cancel(cancelled, "t1")
        backend.counts(dropped)  # inspecting a queue must not make it exist
        backend.tasks(cancelled, "waiting")
        listed = set(backend.queues())
        assert not {done, dropped, cancelled} & listed

    def test_queues_lists_odd_names_unchanged(
        self, backend: CapableBackend, clock: FakeClock, other_queue: Callable[[str], str]
    ) -> None:
        odd = [other_queue(suffix) for suffix in ("{braced}", "%61", "é \U0001f40a", "a:b*c?")]
        for name in odd:
            backend.push(name, "t1", "x")
        assert set(odd) <= set(backend.queues())


class CountsContract(InspectionFixtures):
    """``counts()`` counts each state in one step; an ended lease counts as waiting."""

    def test_counts_each_state(self, backend: CapableBackend, clock: FakeClock, queue: str) -> None:
        backend.push_many(queue, [("w1", "x", 0.0), ("w2", "x", 0.0), ("r1", "x", 0.0), ("d1", "x", 60.0)])
        assert backend.get(queue, "r1", LEASE) is not None
        _bury(backend, queue, "x1")
        assert backend.counts(queue) == QueueCounts(waiting=2, delayed=1, running=1, dead=1)
        assert backend.counts(queue).total == 5

    def test_counts_an_ended_lease_as_waiting(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "t1", "x")
        backend.reserve(queue, 10.0)
        assert backend.counts(queue) == QueueCounts(running=1)
        clock.advance(11.0)
        assert backend.counts(queue) == QueueCounts(waiting=1)

    def test_counts_a_delay_that_ended_as_waiting(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "t1", "x", delay=10.0)
        assert backend.counts(queue) == QueueCounts(delayed=1)
        clock.advance(11.0)
        assert backend.counts(queue) == QueueCounts(waiting=1)

    def test_counts_of_an_unknown_queue_are_zero(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        assert backend.counts(queue) == QueueCounts()

    def test_counts_agree_with_len(self, backend: CapableBackend, clock: FakeClock, queue: str) -> None:
        backend.push_many(queue, [("a", "x", 0.0), ("b", "x", 5.0), ("c", "x", 0.0)])
        backend.reserve(queue, LEASE)
        counts = backend.counts(queue)
        assert counts.waiting + counts.delayed == backend.len(queue)


class TaskListingContract(InspectionFixtures):
    """``tasks()`` lists one page of one state, in the order tasks leave it, changing nothing."""

    def test_tasks_lists_waiting_in_fifo_order(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "late", "x", delay=5.0)
        backend.push_many(queue, [("a", "x", 0.0), ("b", "x", 0.0)])
        clock.advance(6.0)
        backend.push(queue, "c", "x")
        listed = backend.tasks(queue, "waiting")
        assert _ids(listed) == ["a", "b", "late", "c"]
        assert _ids(listed) == [r.task_id for r in backend.reserve(queue, LEASE, limit=10)], (
            "waiting tasks must be listed in the order reserve takes them"
        )

    def test_tasks_lists_delayed_in_due_order(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        start = backend.now()
        backend.push_many(queue, [("c", "x", 30.0), ("a", "x", 10.0), ("now", "x", 0.0), ("b", "x", 20.0)])
        listed = backend.tasks(queue, "delayed")
        assert _ids(listed) == ["a", "b", "c"]
        assert [info.due for info in listed] == pytest.approx([start + 10.0, start + 20.0, start + 30.0])
        assert {info.state for info in listed} == {"delayed"}

    def test_tasks_lists_running_in_lease_end_order(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        backend.push_many(queue, [("long", "x", 0.0), ("short", "x", 0.0), ("mid", "x", 0.0)])
        start = backend.now()
        assert backend.get(queue, "long", 300.0) is not None
        assert backend.get(queue, "short", 100.0) is not None
        assert backend.get(queue, "mid", 200.0) is not None
        listed = backend.tasks(queue, "running")
        assert _ids(listed) == ["short", "mid", "long"]
        assert [info.due for info in listed] == pytest.approx([start + 100.0, start + 200.0, start + 300.0])
        assert [info.attempts for info in listed] == [1, 1, 1]

    def test_tasks_lists_dead_in_failed_order_with_reason_and_time(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        times = []
        for task_id in ("b", "a", "c"):
            times.append(backend.now())
            _bury(backend, queue, task_id, reason=f"why {task_id}")
            clock.advance(1.0)
        listed = backend.tasks(queue, "dead")
        assert _ids(listed) == ["b", "a", "c"]
        assert [info.reason for info in listed] == ["why b", "why a", "why c"]
        assert [info.failed_at for info in listed] == pytest.approx(times)
        assert [(info.attempts, info.due, info.state) for info in listed] == [(1, None, "dead")] * 3

    def test_tasks_reports_payload_attempts_and_failures(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "t1", '{"n": 1}')
        [held] = backend.reserve(queue, LEASE)
        backend.release(queue, "t1", held.receipt, delay=60.0, attempted=True)
        [info] = backend.tasks(queue, "delayed")
        assert (info.task_id, info.payload, info.attempts, info.failures) == ("t1", '{"n": 1}', 1, 1)
        assert (info.reason, info.failed_at) == (None, None)

    def test_tasks_lists_an_ended_lease_as_waiting(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "t1", "x")
        backend.reserve(queue, 10.0)
        clock.advance(11.0)
        assert backend.tasks(queue, "running") == []
        assert _ids(backend.tasks(queue, "waiting")) == ["t1"]

    def test_tasks_pages_with_offset_and_limit(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        ids = [f"t{n:02d}" for n in range(12)]
        backend.push_many(queue, [(task_id, "x", 0.0) for task_id in ids])
        pages = [backend.tasks(queue, "waiting", offset=offset, limit=5) for offset in (0, 5, 10, 15)]
        assert [_ids(page) for page in pages] == [ids[:5], ids[5:10], ids[10:], []]
        assert backend.tasks(queue, "waiting", limit=0) == []
        dead = [f"d{n:02d}" for n in range(7)]
        for task_id in dead:
            _bury(backend, queue, task_id)
        assert _ids(backend.tasks(queue, "dead", offset=2, limit=3)) == dead[2:5]

    def test_tasks_cuts_a_long_payload_to_the_limit(
        self, backend: CapableBackend, clock: FakeClock, queue: str, payload_limit: Callable[[int], None]
    ) -> None:
        backend.push(queue, "long", "é" * 20)  # 40 bytes
        payload_limit(11)
        [info] = backend.tasks(queue, "waiting")
        assert info.payload == "é" * 5 + "\ufffd", "cut to 11 bytes, the split character shown as U+FFFD"

    def test_tasks_changes_nothing(self, backend: CapableBackend, clock: FakeClock, queue: str) -> None:
        backend.push_many(queue, [("a", "x", 0.0), ("b", "x", 0.0)])
        for state in ("waiting", "delayed", "running", "dead"):
            backend.tasks(queue, state)
        assert backend.status(queue, "a") == WAITING
        assert [r.task_id for r in backend.reserve(queue, LEASE, limit=5)] == ["a", "b"]

    @pytest.mark.parametrize("page", [("done", 0, 10), ("waiting", -1, 10), ("waiting", 0, -1)])
    def test_tasks_refuses_an_unknown_state_or_a_negative_page(
        self, backend: CapableBackend, clock: FakeClock, queue: str, page: tuple[str, int, int]
    ) -> None:
        with pytest.raises(ValueError):
            backend.tasks(queue, *page)


class InspectionContract(QueueListingContract, CountsContract, TaskListingContract):
    """Every rule of :class:`~alligator.capabilities.Inspection`, for a backend that claims it."""

    def test_the_backend_claims_inspection(self, backend: Backend) -> None:
        assert_claims(backend, capabilities.Inspection, "InspectionContract")
