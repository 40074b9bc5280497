"""The required contract's core: push, reserve, ack, release, leases, delays, dead letters, get, cancel.

Part of :class:`~alligator.testing.contract.RequiredContract`: every test
here uses only the required methods of :class:`alligator.backend.Backend`,
and :class:`ModelContract` runs the state machine of
:mod:`alligator.testing.stateful` against them.
"""

from __future__ import annotations

import threading
import time

from alligator.backend import Backend
from alligator.constants import DELAYED, FAILED, RUNNING, SUCCESS, WAITING
from alligator.testing.clock import FakeClock
from alligator.testing.fixtures import LEASE, ContractFixtures
from alligator.testing.stateful import run_backend_state_machine


class DeliveryContract(ContractFixtures):
    """Push, reserve, ack and release: each task is handed out once, in order, and finished for good.

    Push counts a task as waiting and ignores an id already queued; reserve
    hands out due tasks oldest first and hides them from others; ack needs
    the lease's receipt and finishes the task; release puts it back; a
    finished task's status is forgotten after ``status_ttl``.
    """

    def test_push_counts_as_waiting(self, clocked_backend: Backend, queue: str) -> None:
        assert clocked_backend.len(queue) == 0
        assert clocked_backend.push(queue, "t1", "{}") is True
        assert clocked_backend.len(queue) == 1
        assert clocked_backend.status(queue, "t1") == WAITING

    def test_pushing_an_id_already_queued_changes_nothing(self, clocked_backend: Backend, queue: str) -> None:
        assert clocked_backend.push(queue, "t1", "first")
        assert clocked_backend.push(queue, "t1", "second") is False
        assert clocked_backend.len(queue) == 1
        [got] = clocked_backend.reserve(queue, LEASE, 5)
        assert got.payload == "first"
        assert clocked_backend.push(queue, "t1", "third") is False, "a reserved id is still in the queue"

    def test_unknown_id_has_no_status(self, clocked_backend: Backend, queue: str) -> None:
        assert clocked_backend.status(queue, "nope") is None

    def test_payload_comes_back_unchanged(self, clocked_backend: Backend, queue: str) -> None:
        payloads = [
            "",
            "plain",
            '{"json": [1, 2.5, null]}',
            "ünïcødé ✓ 🐊",
            "line\nbreak\ttab",
            "x" * 100_000,
        ]
        for index, payload in enumerate(payloads):
            clocked_backend.push(queue, f"p{index}", payload)
        got = clocked_backend.reserve(queue, LEASE, len(payloads))
        assert [r.payload for r in got] == payloads

    def test_reserve_is_fifo(self, clocked_backend: Backend, queue: str) -> None:
        for n in range(5):
            clocked_backend.push(queue, f"t{n}", f"payload {n}")
        got = clocked_backend.reserve(queue, LEASE, 3)
        assert [r.task_id for r in got] == ["t0", "t1", "t2"]
        assert [r.payload for r in got] == ["payload 0", "payload 1", "payload 2"]
        assert all(r.attempts == 1 for r in got)
        assert len({r.receipt for r in got}) == 3
        assert [r.task_id for r in clocked_backend.reserve(queue, LEASE, 10)] == ["t3", "t4"]

    def test_reserve_on_empty_queue_returns_nothing(self, clocked_backend: Backend, queue: str) -> None:
        assert clocked_backend.reserve(queue, LEASE, 10) == []

    def test_reserved_task_is_hidden_from_others(self, clocked_backend: Backend, queue: str) -> None:
        clocked_backend.push(queue, "t1", "x")
        [got] = clocked_backend.reserve(queue, LEASE)
        assert got.task_id == "t1"
        assert clocked_backend.reserve(queue, LEASE, 10) == []
        assert clocked_backend.len(queue) == 0
        assert clocked_backend.status(queue, "t1") == RUNNING

    def test_push_many_keeps_order(self, clocked_backend: Backend, queue: str) -> None:
        added = clocked_backend.push_many(
            queue, [(f"t{n}", str(n), 0.0) for n in range(20)] + [("t0", "dup", 0.0)]
        )
        assert added == 20
        got = clocked_backend.reserve(queue, LEASE, 100)
        assert [r.task_id for r in got] == [f"t{n}" for n in range(20)]

    def test_ack_finishes_for_good(self, clocked_backend: Backend, queue: str, clock: FakeClock) -> None:
        clocked_backend.push(queue, "t1", "x")
        [got] = clocked_backend.reserve(queue, LEASE)
        assert clocked_backend.ack(queue, "t1", got.receipt) is True
        assert clocked_backend.status(queue, "t1") == SUCCESS
        assert clocked_backend.ack(queue, "t1", got.receipt) is False
        clock.advance(LEASE * 3)
        assert clocked_backend.reserve(queue, LEASE, 10) == []
        assert clocked_backend.len(queue) == 0

    def test_ack_with_wrong_receipt_is_refused(self, clocked_backend: Backend, queue: str) -> None:
        clocked_backend.push(queue, "t1", "x")
        [got] = clocked_backend.reserve(queue, LEASE)
        assert clocked_backend.ack(queue, "t1", "not-the-receipt") is False
        assert clocked_backend.status(queue, "t1") == RUNNING
        assert clocked_backend.ack(queue, "t1", got.receipt) is True

    def test_ack_many(self, clocked_backend: Backend, queue: str) -> None:
        for n in range(4):
            clocked_backend.push(queue, f"t{n}", "x")
        got = clocked_backend.reserve(queue, LEASE, 4)
        pairs = [(r.task_id, r.receipt) for r in got] + [("t0", "stale")]
        assert clocked_backend.ack_many(queue, pairs) == 4
        assert all(clocked_backend.status(queue, r.task_id) == SUCCESS for r in got)

    def test_finished_status_is_forgotten_after_its_ttl(
        self, clocked_backend: Backend, queue: str, clock: FakeClock
    ) -> None:
        clocked_backend.push(queue, "t1", "x")
        [got] = clocked_backend.reserve(queue, LEASE)
        clocked_backend.ack(queue, "t1", got.receipt)
        clock.advance(clocked_backend.status_ttl / 2)
        assert clocked_backend.status(queue, "t1") == SUCCESS
        clock.advance(clocked_backend.status_ttl)
        # Another finish makes the backend tidy up, where it tidies lazily.
        clocked_backend.push(queue, "t2", "x")
        [other] = clocked_backend.reserve(queue, LEASE)
        clocked_backend.ack(queue, "t2", other.receipt)
        assert clocked_backend.status(queue, "t1") is None

    def test_release_puts_it_back(self, clocked_backend: Backend, queue: str) -> None:
        clocked_backend.push(queue, "t1", "x")
        [got] = clocked_backend.reserve(queue, LEASE)
        assert clocked_backend.release(queue, "t1", got.receipt) is True
        assert clocked_backend.status(queue, "t1") == WAITING
        assert clocked_backend.len(queue) == 1
        [again] = clocked_backend.reserve(queue, LEASE)
        assert (again.task_id, again.attempts) == ("t1", 2)

    def test_release_unattempted_does_not_count(self, clocked_backend: Backend, queue: str) -> None:
        clocked_backend.push(queue, "t1", "x")
        [got] = clocked_backend.reserve(queue, LEASE)
        assert clocked_backend.release(queue, "t1", got.receipt, attempted=False)
        [again] = clocked_backend.reserve(queue, LEASE)
        assert again.attempts == 1


class LeaseContract(ContractFixtures):
    """Leases: an ended lease delivers the task again, its receipt is refused, extend keeps a lease."""

    def test_expired_lease_is_delivered_again(
        self, clocked_backend: Backend, queue: str, clock: FakeClock
    ) -> None:
        clocked_backend.push(queue, "t1", "x")
        [first] = clocked_backend.reserve(queue, 10.0)
        clock.advance(9.0)
        assert clocked_backend.reserve(queue, 10.0) == []
        clock.advance(2.0)
        [second] = clocked_backend.reserve(queue, 10.0)
        assert second.task_id == "t1"
        assert second.attempts == 2
        assert second.receipt != first.receipt
        assert clocked_backend.ack(queue, "t1", first.receipt) is False, "a stale receipt must not ack"
        assert clocked_backend.release(queue, "t1", first.receipt) is False
        assert clocked_backend.dead_letter(queue, "t1", first.receipt, "late") is False
        assert clocked_backend.ack(queue, "t1", second.receipt) is True

    def test_ended_lease_refuses_its_receipt_before_anyone_reserves_it(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "t1", "x")
        [got] = backend.reserve(queue, 10.0)
        clock.advance(11.0)
        assert backend.ack(queue, "t1", got.receipt) is False, "the lease ended: its receipt is stale"
        assert backend.extend(queue, "t1", got.receipt, 10.0) is False
        assert backend.release(queue, "t1", got.receipt) is False
        assert backend.dead_letter(queue, "t1", got.receipt, "late") is False
        assert backend.status(queue, "t1") == WAITING
        assert backend.len(queue) == 1
        [again] = backend.reserve(queue, 10.0)
        assert (again.task_id, again.attempts, again.failures) == ("t1", 2, 0)

    def test_extend_keeps_the_lease(self, clocked_backend: Backend, queue: str, clock: FakeClock) -> None:
        clocked_backend.push(queue, "t1", "x")
        [got] = clocked_backend.reserve(queue, 10.0)
        for _ in range(5):
            clock.advance(8.0)
            assert clocked_backend.extend(queue, "t1", got.receipt, 10.0) is True
            assert clocked_backend.reserve(queue, 10.0) == []
        assert clocked_backend.extend(queue, "t1", "stale", 10.0) is False
        clock.advance(11.0)
        assert clocked_backend.extend(queue, "t1", got.receipt, 10.0) is False, (
            "an expired lease cannot be extended"
        )

    def test_extend_many(self, clocked_backend: Backend, queue: str, clock: FakeClock) -> None:
        clocked_backend.push(queue, "t1", "x")
        clocked_backend.push(queue, "t2", "x")
        got = clocked_backend.reserve(queue, 10.0, 2)
        clock.advance(8.0)
        flags = clocked_backend.extend_many(
            queue, [(r.task_id, r.receipt) for r in got] + [("t1", "stale")], 10.0
        )
        assert flags == [True, True, False]
        clock.advance(8.0)
        assert clocked_backend.reserve(queue, 10.0, 2) == []


class DelayContract(ContractFixtures):
    """Delays: a delayed task (pushed or released with a delay) waits for its time, then goes in due order."""

    def test_release_with_delay(self, clocked_backend: Backend, queue: str, clock: FakeClock) -> None:
        clocked_backend.push(queue, "t1", "x")
        [got] = clocked_backend.reserve(queue, LEASE)
        assert clocked_backend.release(queue, "t1", got.receipt, delay=60.0)
        assert clocked_backend.status(queue, "t1") == DELAYED
        assert clocked_backend.len(queue) == 1
        clock.advance(59.0)
        assert clocked_backend.reserve(queue, LEASE) == []
        clock.advance(2.0)
        assert [r.task_id for r in clocked_backend.reserve(queue, LEASE)] == ["t1"]

    def test_delayed_task_waits_for_its_time(
        self, clocked_backend: Backend, queue: str, clock: FakeClock
    ) -> None:
        clocked_backend.push(queue, "later", "x", delay=60.0)
        clocked_backend.push(queue, "now", "y")
        assert clocked_backend.len(queue) == 2
        assert clocked_backend.status(queue, "later") == DELAYED
        [first] = clocked_backend.reserve(queue, LEASE, 10)
        assert first.task_id == "now"
        clocked_backend.ack(queue, "now", first.receipt)
        clock.advance(61.0)
        assert clocked_backend.status(queue, "later") == WAITING
        assert [r.task_id for r in clocked_backend.reserve(queue, LEASE, 10)] == ["later"]

    def test_delayed_tasks_come_due_in_time_order(
        self, clocked_backend: Backend, queue: str, clock: FakeClock
    ) -> None:
        clocked_backend.push(queue, "ten", "x", delay=10.0)
        clocked_backend.push(queue, "five", "x", delay=5.0)
        clocked_backend.push(queue, "seven", "x", delay=7.0)
        clock.advance(11.0)
        assert [r.task_id for r in clocked_backend.reserve(queue, LEASE, 10)] == ["five", "seven", "ten"]

    def test_task_due_earlier_goes_before_one_pushed_later(
        self, clocked_backend: Backend, queue: str, clock: FakeClock
    ) -> None:
        clocked_backend.push(queue, "delayed", "x", delay=5.0)
        clock.advance(10.0)
        clocked_backend.push(queue, "fresh", "y")
        assert [r.task_id for r in clocked_backend.reserve(queue, LEASE, 10)] == ["delayed", "fresh"]

    def test_delayed_task_is_not_redelivered_by_lease_expiry(
        self, clocked_backend: Backend, queue: str, clock: FakeClock
    ) -> None:
        clocked_backend.push(queue, "hour", "x", delay=3600.0)
        for _ in range(10):
            clock.advance(LEASE + 1)
            assert clocked_backend.reserve(queue, LEASE, 10) == []
        assert clocked_backend.status(queue, "hour") == DELAYED


class DeadLetterContract(ContractFixtures):
    """``dead_letter``: the task ends FAILED, is never handed out again, and keeps its id."""

    def test_dead_letter_fails_the_task_for_good(
        self, clocked_backend: Backend, queue: str, clock: FakeClock
    ) -> None:
        # Its listing, reason and requeue: AdministrationContract.
        clocked_backend.push(queue, "t1", "payload")
        clocked_backend.push(queue, "t2", "other")
        [got] = clocked_backend.reserve(queue, LEASE)
        assert clocked_backend.dead_letter(queue, "t1", got.receipt, "it broke") is True
        assert clocked_backend.status(queue, "t1") == FAILED
        assert clocked_backend.len(queue) == 1
        assert clocked_backend.peek(queue, "t1") is None, "a dead letter is not live"
        assert clocked_backend.get(queue, "t1", LEASE) is None
        assert clocked_backend.cancel(queue, "t1") is False
        assert clocked_backend.ack(queue, "t1", got.receipt) is False
        assert clocked_backend.dead_letter(queue, "t1", got.receipt, "again") is False
        assert clocked_backend.release(queue, "t1", got.receipt) is False
        assert clocked_backend.extend(queue, "t1", got.receipt, LEASE) is False
        clock.advance(LEASE * 2)
        assert [r.task_id for r in clocked_backend.reserve(queue, LEASE, 10)] == ["t2"]
        assert clocked_backend.status(queue, "t1") == FAILED, "its lease's end does not bring it back"

    def test_dead_letter_with_a_wrong_receipt_is_refused(self, clocked_backend: Backend, queue: str) -> None:
        clocked_backend.push(queue, "t1", "payload")
        [got] = clocked_backend.reserve(queue, LEASE)
        assert clocked_backend.dead_letter(queue, "t1", got.receipt + "-not", "no") is False
        assert clocked_backend.dead_letter(queue, "nope", got.receipt, "no") is False
        assert clocked_backend.status(queue, "t1") == RUNNING
        assert clocked_backend.ack(queue, "t1", got.receipt), "the delivery is still held"


class GetAndCancelContract(ContractFixtures):
    """Taking one task by id out of its turn (``get``), and removing a waiting one (``cancel``)."""

    def test_get_takes_a_task_out_of_turn(self, clocked_backend: Backend, queue: str) -> None:
        for n in range(3):
            clocked_backend.push(queue, f"t{n}", f"p{n}")
        got = clocked_backend.get(queue, "t2", LEASE)
        assert got is not None
        assert (got.task_id, got.payload, got.attempts) == ("t2", "p2", 1)
        assert clocked_backend.status(queue, "t2") == RUNNING
        assert clocked_backend.get(queue, "t2", LEASE) is None, "a reserved task cannot be got again"
        assert clocked_backend.get(queue, "nope", LEASE) is None
        assert [r.task_id for r in clocked_backend.reserve(queue, LEASE, 10)] == ["t0", "t1"]
        assert clocked_backend.ack(queue, "t2", got.receipt)

    def test_get_takes_a_delayed_task(self, clocked_backend: Backend, queue: str) -> None:
        clocked_backend.push(queue, "later", "x", delay=600.0)
        got = clocked_backend.get(queue, "later", LEASE)
        assert got is not None and got.task_id == "later"
        assert clocked_backend.len(queue) == 0

    def test_cancel(self, clocked_backend: Backend, queue: str, clock: FakeClock) -> None:
        clocked_backend.push(queue, "t1", "x")
        clocked_backend.push(queue, "t2", "x", delay=30.0)
        clocked_backend.push(queue, "t3", "x")
        assert clocked_backend.cancel(queue, "t1") is True
        assert clocked_backend.cancel(queue, "t2") is True
        assert clocked_backend.cancel(queue, "t1") is False
        assert clocked_backend.status(queue, "t1") is None
        assert clocked_backend.len(queue) == 1
        [got] = clocked_backend.reserve(queue, LEASE, 10)
        assert got.task_id == "t3"
        assert clocked_backend.cancel(queue, "t3") is False, "a reserved task cannot be cancelled"
        assert clocked_backend.cancel(queue, "nope") is False
        clocked_backend.ack(queue, "t3", got.receipt)
        clock.advance(60.0)
        assert clocked_backend.reserve(queue, LEASE, 10) == []


class QueueIsolationContract(ContractFixtures):
    """Queues: each queue is apart from the others, and ``drop_all`` empties one for good."""

    def test_queues_are_isolated(self, clocked_backend: Backend, queue: str) -> None:
        other = f"{queue}-other"
        try:
            clocked_backend.push(queue, "t1", "mine")
            clocked_backend.push(other, "t1", "theirs")
            assert clocked_backend.len(queue) == 1 and clocked_backend.len(other) == 1
            [got] = clocked_backend.reserve(other, LEASE)
            assert got.payload == "theirs"
            assert clocked_backend.status(queue, "t1") == WAITING
            clocked_backend.drop_all(other)
            assert clocked_backend.len(queue) == 1
            assert clocked_backend.reserve(queue, LEASE)[0].payload == "mine"
        finally:
            clocked_backend.drop_all(other)

    def test_drop_all_removes_every_state(
        self, clocked_backend: Backend, queue: str, clock: FakeClock
    ) -> None:
        for n in range(4):
            clocked_backend.push(queue, f"t{n}", "x")
        clocked_backend.push(queue, "later", "x", delay=60.0)
        held = clocked_backend.reserve(queue, LEASE, 2)
        clocked_backend.dead_letter(queue, held[0].task_id, held[0].receipt, "dead")
        clocked_backend.drop_all(queue)
        assert clocked_backend.len(queue) == 0
        assert clocked_backend.status(queue, held[0].task_id) is None, "the dead letter is gone too"
        assert clocked_backend.push(queue, held[0].task_id, "again") is True, "and its id is free"
        assert clocked_backend.cancel(queue, held[0].task_id) is True
        clock.advance(LEASE * 3)
        assert clocked_backend.reserve(queue, LEASE, 10) == []
        assert clocked_backend.status(queue, "t3") is None


class ConcurrencyContract(ContractFixtures):
    """One client used from several threads, and a blocking reserve that wakes up for new work.

    (Several clients of one store: :class:`~alligator.testing.required_shared.SharedStoreContract`.)
    """

    def test_threads_never_share_a_task(self, clocked_backend: Backend, queue: str) -> None:
        total = 200
        clocked_backend.push_many(queue, [(f"t{n}", "x", 0.0) for n in range(total)])
        seen: list[str] = []
        lock = threading.Lock()

        def consume() -> None:
            while True:
                got = clocked_backend.reserve(queue, LEASE, 3)
                if not got:
                    return
                with lock:
                    seen.extend(r.task_id for r in got)
                clocked_backend.ack_many(queue, [(r.task_id, r.receipt) for r in got])

        threads = [threading.Thread(target=consume) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(seen) == sorted(f"t{n}" for n in range(total))

    def test_blocking_reserve_wakes_up_for_new_work(self, backend: Backend, queue: str) -> None:
        if not backend.blocking_reserve:
            started = time.monotonic()
            assert backend.reserve(queue, LEASE, 1, timeout=5.0) == []
            assert time.monotonic() - started < 1.0, "a non-blocking backend must return at once"
            return
        pusher = threading.Timer(0.3, backend.push, (queue, "t1", "x"))
        started = time.monotonic()
        pusher.start()
        got = backend.reserve(queue, LEASE, 1, timeout=5.0)
        waited = time.monotonic() - started
        pusher.join()
        assert [r.task_id for r in got] == ["t1"]
        assert 0.2 < waited < 3.0
        started = time.monotonic()
        assert backend.reserve(queue, LEASE, 1, timeout=0.3) == []
        assert time.monotonic() - started < 3.0


class ModelContract(ContractFixtures):
    """Random sequences of operations, checked step by step against a model of the contract.

    See :class:`~alligator.testing.stateful.BackendStateMachine` (and its
    longer profile for a plugin author's CI).
    """

    def test_matches_the_model(self, backend: Backend) -> None:
        run_backend_state_machine(backend)
