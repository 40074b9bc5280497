"""The kit's tests of inspection and management: listing queues and tasks, counting, steering dead letters.

One mixin per group of rules of :meth:`~alligator.capabilities.Inspection.queues`,
:meth:`~alligator.capabilities.ResultListing.finished_queues`,
:meth:`~alligator.capabilities.Inspection.counts`,
:meth:`~alligator.capabilities.Inspection.tasks`, the dead-letter steps
(:meth:`~alligator.capabilities.Administration.delete_dead`,
:meth:`~alligator.capabilities.Administration.purge_dead`,
:meth:`~alligator.capabilities.Administration.requeue_all`) and dead-letter retention.
:class:`~alligator.testing.contract.BackendContract` inherits them all; each can be
adopted on its own with :class:`~alligator.testing.fixtures.ContractFixtures`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from alligator import capabilities
from alligator.backend import QueueCounts, TaskInfo
from alligator.constants import FAILED, WAITING
from alligator.testing.capable import CapableBackend
from alligator.testing.clock import FakeClock
from alligator.testing.fixtures import LEASE, ContractFixtures


def _bury(
    backend: CapableBackend, queue: str, task_id: str, reason: str = "broken", payload: str = "x"
) -> None:
    """Pushes a task and dead-letters it at once."""
    assert backend.push(queue, task_id, payload)
    held = backend.get(queue, task_id, LEASE)
    assert held is not None
    assert backend.dead_letter(queue, task_id, held.receipt, reason)


def _ids(infos: list[TaskInfo]) -> list[str]:
    return [info.task_id for info in infos]


class InspectionFixtures(ContractFixtures):
    """One more fixture: extra queue names, emptied after the test."""

    @pytest.fixture
    def other_queue(self, backend: CapableBackend, queue: str) -> Iterator[Callable[[str], str]]:
        """``other_queue(suffix)``: a second queue name unique to this test, dropped afterwards."""
        made: list[str] = []

        def name(suffix: str) -> str:
            made.append(f"{queue}-{suffix}")
            return made[-1]

        yield name
        for made_name in made:
            backend.drop_all(made_name)


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


class DeadLetterManagementContract(InspectionFixtures):
    """``delete_dead``, ``purge_dead`` and ``requeue_all`` touch dead letters only."""

    def test_delete_dead_removes_that_letter_only(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        for task_id in ("a", "b", "c"):
            _bury(backend, queue, task_id)
        assert backend.delete_dead(queue, "b") is True
        assert [d.task_id for d in backend.dead_letters(queue)] == ["a", "c"]
        assert backend.status(queue, "b") is None, "a deleted letter's FAILED status is forgotten"
        assert backend.status(queue, "a") == FAILED
        assert backend.delete_dead(queue, "b") is False, "a second delete finds nothing"
        assert backend.push(queue, "b", "again") is True, "a deleted letter's id is free again"

    def test_delete_dead_never_touches_a_live_task(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        backend.push_many(queue, [("w", "x", 0.0), ("d", "x", 60.0), ("r", "x", 0.0)])
        assert backend.get(queue, "r", LEASE) is not None
        for task_id in ("w", "d", "r", "unknown"):
            assert backend.delete_dead(queue, task_id) is False
        assert backend.counts(queue) == QueueCounts(waiting=1, delayed=1, running=1)

    def test_purge_dead_removes_every_letter_and_nothing_else(
        self, backend: CapableBackend, clock: FakeClock, queue: str, other_queue: Callable[[str], str]
    ) -> None:
        neighbour = other_queue("neighbour")
        for task_id in ("a", "b", "c"):
            _bury(backend, queue, task_id)
        _bury(backend, neighbour, "a")
        backend.push(queue, "live", "x")
        assert backend.purge_dead(queue) == 3
        assert backend.dead_letters(queue) == []
        assert backend.counts(queue) == QueueCounts(waiting=1)
        assert backend.status(queue, "a") is None
        assert [d.task_id for d in backend.dead_letters(neighbour)] == ["a"], "another queue's letters stay"
        assert backend.purge_dead(queue) == 0

    def test_requeue_all_requeues_in_failed_order(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "first", "x")
        for task_id in ("c", "a", "b"):
            _bury(backend, queue, task_id, payload=f"p{task_id}")
            clock.advance(1.0)
        assert backend.requeue_all(queue) == 3
        assert backend.dead_letters(queue) == []
        taken = backend.reserve(queue, LEASE, limit=10)
        assert [(r.task_id, r.payload) for r in taken] == [
            ("first", "x"),
            ("c", "pc"),
            ("a", "pa"),
            ("b", "pb"),
        ]
        assert [(r.attempts, r.failures) for r in taken[1:]] == [(1, 0)] * 3, "each as requeue() does"
        assert backend.requeue_all(queue) == 0


class DeadLetterRetentionContract(InspectionFixtures):
    """Dead letters are kept at most ``max_dead_letters`` per queue and ``dead_letter_ttl`` seconds."""

    def test_retention_defaults_keep_ten_thousand_letters_for_a_week(self, backend: CapableBackend) -> None:
        assert type(backend).max_dead_letters == 10_000
        assert type(backend).dead_letter_ttl == 7 * 24 * 3600.0

    def test_dead_letters_over_the_cap_drop_the_oldest(
        self, backend: CapableBackend, clock: FakeClock, queue: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(backend, "max_dead_letters", 3)
        for n in range(5):
            _bury(backend, queue, f"t{n}")
            clock.advance(1.0)
        assert [d.task_id for d in backend.dead_letters(queue)] == ["t2", "t3", "t4"]
        assert backend.counts(queue).dead == 3
        assert backend.push(queue, "t0", "x") is True, "a dropped letter's id is free again"

    def test_an_unreadable_record_counts_against_the_cap(
        self,
        backend: CapableBackend,
        clock: FakeClock,
        queue: str,
        monkeypatch: pytest.MonkeyPatch,
        plant_raw_payload: Callable[[str, str, bytes], None],
    ) -> None:
        monkeypatch.setattr(backend, "max_dead_letters", 2)
        _bury(backend, queue, "a")
        clock.advance(1.0)
        _bury(backend, queue, "b")
        clock.advance(1.0)
        plant_raw_payload(queue, "bad", b"\xff\xfe")
        assert backend.reserve(queue, LEASE) == []
        assert [d.task_id for d in backend.dead_letters(queue)] == ["b", "bad"]

    def test_dead_letters_past_their_ttl_are_dropped_when_one_is_written(
        self, backend: CapableBackend, clock: FakeClock, queue: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(backend, "dead_letter_ttl", 100.0)
        _bury(backend, queue, "old")
        clock.advance(50.0)
        _bury(backend, queue, "mid")
        clock.advance(60.0)
        _bury(backend, queue, "new")
        assert [d.task_id for d in backend.dead_letters(queue)] == ["mid", "new"]

    def test_dead_letters_past_their_ttl_are_dropped_when_listed(
        self, backend: CapableBackend, clock: FakeClock, queue: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # A queue no task fails on any more must not keep its letters for ever.
        monkeypatch.setattr(backend, "dead_letter_ttl", 100.0)
        _bury(backend, queue, "old")
        clock.advance(50.0)
        _bury(backend, queue, "mid")
        clock.advance(60.0)
        assert [d.task_id for d in backend.dead_letters(queue)] == ["mid"]
        clock.advance(50.0)
        assert backend.tasks(queue, "dead") == []
        assert backend.counts(queue).dead == 0

    def test_a_letter_past_its_ttl_is_gone_for_every_reader_before_it_is_dropped(
        self, backend: CapableBackend, clock: FakeClock, queue: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Reads change nothing, so the letter may still be stored; no reader
        # may tell: counts() agrees with what listing would show.
        monkeypatch.setattr(backend, "dead_letter_ttl", 100.0)
        _bury(backend, queue, "old")
        clock.advance(50.0)
        _bury(backend, queue, "mid")
        assert backend.counts(queue).dead == 2
        clock.advance(60.0)
        assert backend.counts(queue).dead == 1, "a letter past its TTL is not counted"
        assert backend.status(queue, "old") is None
        assert backend.status(queue, "mid") == FAILED
        assert [d.task_id for d in backend.dead_letters(queue)] == ["mid"]
        assert backend.counts(queue).dead == 1


class InspectionContract(
    QueueListingContract,
    FinishedQueuesContract,
    CountsContract,
    TaskListingContract,
    DeadLetterManagementContract,
    DeadLetterRetentionContract,
):
    """Every inspection and management rule.

    :class:`~alligator.testing.contract.BackendContract` inherits it.
    """
