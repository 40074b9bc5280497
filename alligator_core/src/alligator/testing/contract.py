"""The contract tests, as a mixin every backend's test class inherits."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from alligator.backend import Backend
from alligator.constants import DELAYED, FAILED, RUNNING, SUCCESS, WAITING
from alligator.testing.clock import FakeClock
from alligator.testing.stateful import run_backend_state_machine

LEASE = 30.0


class BackendContract:
    """Tests every rule of :class:`alligator.backend.Backend`.

    Subclasses provide the ``backend`` fixture (see :mod:`alligator.testing`).
    """

    # -- fixtures ----------------------------------------------------------

    @pytest.fixture
    def backend(self) -> Iterator[Backend]:
        """A backend instance; subclasses must override this fixture."""
        raise NotImplementedError("override the 'backend' fixture to test your backend")

    @pytest.fixture
    def clock(self, backend: Backend) -> Iterator[FakeClock]:
        """A fake clock, installed as the backend's clock for the test."""
        fake = FakeClock()
        backend.clock = fake
        yield fake
        backend.clock = None

    @pytest.fixture
    def queue(self, backend: Backend) -> Iterator[str]:
        """A queue name no other test uses, emptied afterwards."""
        name = f"kit-{uuid.uuid4().hex[:12]}"
        yield name
        backend.drop_all(name)

    @pytest.fixture
    def b(self, backend: Backend, clock: FakeClock) -> Backend:
        """The backend, with the fake clock installed."""
        return backend

    # -- push, len, status -------------------------------------------------

    def test_push_counts_as_waiting(self, b: Backend, queue: str) -> None:
        assert b.len(queue) == 0
        assert b.push(queue, "t1", "{}") is True
        assert b.len(queue) == 1
        assert b.status(queue, "t1") == WAITING

    def test_pushing_an_id_already_queued_changes_nothing(self, b: Backend, queue: str) -> None:
        assert b.push(queue, "t1", "first")
        assert b.push(queue, "t1", "second") is False
        assert b.len(queue) == 1
        [got] = b.reserve(queue, LEASE, 5)
        assert got.payload == "first"
        assert b.push(queue, "t1", "third") is False, "a reserved id is still in the queue"

    def test_unknown_id_has_no_status(self, b: Backend, queue: str) -> None:
        assert b.status(queue, "nope") is None

    def test_payload_comes_back_unchanged(self, b: Backend, queue: str) -> None:
        payloads = [
            "",
            "plain",
            '{"json": [1, 2.5, null]}',
            "ünïcødé ✓ 🐊",
            "line\nbreak\ttab",
            "x" * 100_000,
        ]
        for index, payload in enumerate(payloads):
            b.push(queue, f"p{index}", payload)
        got = b.reserve(queue, LEASE, len(payloads))
        assert [r.payload for r in got] == payloads

    # -- reserve -----------------------------------------------------------

    def test_reserve_is_fifo(self, b: Backend, queue: str) -> None:
        for n in range(5):
            b.push(queue, f"t{n}", f"payload {n}")
        got = b.reserve(queue, LEASE, 3)
        assert [r.task_id for r in got] == ["t0", "t1", "t2"]
        assert [r.payload for r in got] == ["payload 0", "payload 1", "payload 2"]
        assert all(r.attempts == 1 for r in got)
        assert len({r.receipt for r in got}) == 3
        assert [r.task_id for r in b.reserve(queue, LEASE, 10)] == ["t3", "t4"]

    def test_reserve_on_empty_queue_returns_nothing(self, b: Backend, queue: str) -> None:
        assert b.reserve(queue, LEASE, 10) == []

    def test_reserved_task_is_hidden_from_others(self, b: Backend, queue: str) -> None:
        b.push(queue, "t1", "x")
        [got] = b.reserve(queue, LEASE)
        assert got.task_id == "t1"
        assert b.reserve(queue, LEASE, 10) == []
        assert b.len(queue) == 0
        assert b.status(queue, "t1") == RUNNING

    def test_push_many_keeps_order(self, b: Backend, queue: str) -> None:
        added = b.push_many(queue, [(f"t{n}", str(n), 0.0) for n in range(20)] + [("t0", "dup", 0.0)])
        assert added == 20
        got = b.reserve(queue, LEASE, 100)
        assert [r.task_id for r in got] == [f"t{n}" for n in range(20)]

    # -- ack ---------------------------------------------------------------

    def test_ack_finishes_for_good(self, b: Backend, queue: str, clock: FakeClock) -> None:
        b.push(queue, "t1", "x")
        [got] = b.reserve(queue, LEASE)
        assert b.ack(queue, "t1", got.receipt) is True
        assert b.status(queue, "t1") == SUCCESS
        assert b.ack(queue, "t1", got.receipt) is False
        clock.advance(LEASE * 3)
        assert b.reserve(queue, LEASE, 10) == []
        assert b.len(queue) == 0

    def test_ack_with_wrong_receipt_is_refused(self, b: Backend, queue: str) -> None:
        b.push(queue, "t1", "x")
        [got] = b.reserve(queue, LEASE)
        assert b.ack(queue, "t1", "not-the-receipt") is False
        assert b.status(queue, "t1") == RUNNING
        assert b.ack(queue, "t1", got.receipt) is True

    def test_ack_many(self, b: Backend, queue: str) -> None:
        for n in range(4):
            b.push(queue, f"t{n}", "x")
        got = b.reserve(queue, LEASE, 4)
        pairs = [(r.task_id, r.receipt) for r in got] + [("t0", "stale")]
        assert b.ack_many(queue, pairs) == 4
        assert all(b.status(queue, r.task_id) == SUCCESS for r in got)

    def test_finished_status_is_forgotten_after_its_ttl(
        self, b: Backend, queue: str, clock: FakeClock
    ) -> None:
        b.push(queue, "t1", "x")
        [got] = b.reserve(queue, LEASE)
        b.ack(queue, "t1", got.receipt)
        clock.advance(b.status_ttl / 2)
        assert b.status(queue, "t1") == SUCCESS
        clock.advance(b.status_ttl)
        # Another finish makes the backend tidy up, where it tidies lazily.
        b.push(queue, "t2", "x")
        [other] = b.reserve(queue, LEASE)
        b.ack(queue, "t2", other.receipt)
        assert b.status(queue, "t1") is None

    # -- leases ------------------------------------------------------------

    def test_expired_lease_is_delivered_again(self, b: Backend, queue: str, clock: FakeClock) -> None:
        b.push(queue, "t1", "x")
        [first] = b.reserve(queue, 10.0)
        clock.advance(9.0)
        assert b.reserve(queue, 10.0) == []
        clock.advance(2.0)
        [second] = b.reserve(queue, 10.0)
        assert second.task_id == "t1"
        assert second.attempts == 2
        assert second.receipt != first.receipt
        assert b.ack(queue, "t1", first.receipt) is False, "a stale receipt must not ack"
        assert b.release(queue, "t1", first.receipt) is False
        assert b.dead_letter(queue, "t1", first.receipt, "late") is False
        assert b.ack(queue, "t1", second.receipt) is True

    def test_extend_keeps_the_lease(self, b: Backend, queue: str, clock: FakeClock) -> None:
        b.push(queue, "t1", "x")
        [got] = b.reserve(queue, 10.0)
        for _ in range(5):
            clock.advance(8.0)
            assert b.extend(queue, "t1", got.receipt, 10.0) is True
            assert b.reserve(queue, 10.0) == []
        assert b.extend(queue, "t1", "stale", 10.0) is False
        clock.advance(11.0)
        assert b.extend(queue, "t1", got.receipt, 10.0) is False, "an expired lease cannot be extended"

    def test_extend_many(self, b: Backend, queue: str, clock: FakeClock) -> None:
        b.push(queue, "t1", "x")
        b.push(queue, "t2", "x")
        got = b.reserve(queue, 10.0, 2)
        clock.advance(8.0)
        flags = b.extend_many(queue, [(r.task_id, r.receipt) for r in got] + [("t1", "stale")], 10.0)
        assert flags == [True, True, False]
        clock.advance(8.0)
        assert b.reserve(queue, 10.0, 2) == []

    # -- release -----------------------------------------------------------

    def test_release_puts_it_back(self, b: Backend, queue: str) -> None:
        b.push(queue, "t1", "x")
        [got] = b.reserve(queue, LEASE)
        assert b.release(queue, "t1", got.receipt) is True
        assert b.status(queue, "t1") == WAITING
        assert b.len(queue) == 1
        [again] = b.reserve(queue, LEASE)
        assert (again.task_id, again.attempts) == ("t1", 2)

    def test_release_with_delay(self, b: Backend, queue: str, clock: FakeClock) -> None:
        b.push(queue, "t1", "x")
        [got] = b.reserve(queue, LEASE)
        assert b.release(queue, "t1", got.receipt, delay=60.0)
        assert b.status(queue, "t1") == DELAYED
        assert b.len(queue) == 1
        clock.advance(59.0)
        assert b.reserve(queue, LEASE) == []
        clock.advance(2.0)
        assert [r.task_id for r in b.reserve(queue, LEASE)] == ["t1"]

    def test_release_unattempted_does_not_count(self, b: Backend, queue: str) -> None:
        b.push(queue, "t1", "x")
        [got] = b.reserve(queue, LEASE)
        assert b.release(queue, "t1", got.receipt, attempted=False)
        [again] = b.reserve(queue, LEASE)
        assert again.attempts == 1

    # -- delays ------------------------------------------------------------

    def test_delayed_task_waits_for_its_time(self, b: Backend, queue: str, clock: FakeClock) -> None:
        b.push(queue, "later", "x", delay=60.0)
        b.push(queue, "now", "y")
        assert b.len(queue) == 2
        assert b.status(queue, "later") == DELAYED
        [first] = b.reserve(queue, LEASE, 10)
        assert first.task_id == "now"
        b.ack(queue, "now", first.receipt)
        clock.advance(61.0)
        assert b.status(queue, "later") == WAITING
        assert [r.task_id for r in b.reserve(queue, LEASE, 10)] == ["later"]

    def test_delayed_tasks_come_due_in_time_order(self, b: Backend, queue: str, clock: FakeClock) -> None:
        b.push(queue, "ten", "x", delay=10.0)
        b.push(queue, "five", "x", delay=5.0)
        b.push(queue, "seven", "x", delay=7.0)
        clock.advance(11.0)
        assert [r.task_id for r in b.reserve(queue, LEASE, 10)] == ["five", "seven", "ten"]

    def test_task_due_earlier_goes_before_one_pushed_later(
        self, b: Backend, queue: str, clock: FakeClock
    ) -> None:
        b.push(queue, "delayed", "x", delay=5.0)
        clock.advance(10.0)
        b.push(queue, "fresh", "y")
        assert [r.task_id for r in b.reserve(queue, LEASE, 10)] == ["delayed", "fresh"]

    def test_delayed_task_is_not_redelivered_by_lease_expiry(
        self, b: Backend, queue: str, clock: FakeClock
    ) -> None:
        b.push(queue, "hour", "x", delay=3600.0)
        for _ in range(10):
            clock.advance(LEASE + 1)
            assert b.reserve(queue, LEASE, 10) == []
        assert b.status(queue, "hour") == DELAYED

    # -- dead letters ------------------------------------------------------

    def test_dead_letter_keeps_reason_and_can_be_requeued(
        self, b: Backend, queue: str, clock: FakeClock
    ) -> None:
        b.push(queue, "t1", "payload")
        [got] = b.reserve(queue, LEASE)
        assert b.dead_letter(queue, "t1", got.receipt, "it broke") is True
        assert b.status(queue, "t1") == FAILED
        assert b.len(queue) == 0
        clock.advance(LEASE * 2)
        assert b.reserve(queue, LEASE) == []
        [letter] = b.dead_letters(queue)
        assert (letter.task_id, letter.payload, letter.reason, letter.attempts) == (
            "t1",
            "payload",
            "it broke",
            1,
        )
        assert abs(letter.failed_at - (clock() - LEASE * 2)) < 1.0
        assert b.requeue(queue, "t1") is True
        assert b.dead_letters(queue) == []
        assert b.status(queue, "t1") == WAITING
        [again] = b.reserve(queue, LEASE)
        assert (again.task_id, again.payload, again.attempts) == ("t1", "payload", 1)

    def test_dead_letters_are_listed_oldest_first_up_to_limit(
        self, b: Backend, queue: str, clock: FakeClock
    ) -> None:
        for n in range(5):
            b.push(queue, f"t{n}", "x")
        for r in b.reserve(queue, LEASE, 5):
            clock.advance(1.0)
            b.dead_letter(queue, r.task_id, r.receipt, f"reason {r.task_id}")
        assert [d.task_id for d in b.dead_letters(queue)] == [f"t{n}" for n in range(5)]
        assert [d.task_id for d in b.dead_letters(queue, limit=2)] == ["t0", "t1"]

    def test_requeue_unknown_is_false(self, b: Backend, queue: str) -> None:
        assert b.requeue(queue, "nope") is False

    # -- get, cancel -------------------------------------------------------

    def test_get_takes_a_task_out_of_turn(self, b: Backend, queue: str) -> None:
        for n in range(3):
            b.push(queue, f"t{n}", f"p{n}")
        got = b.get(queue, "t2", LEASE)
        assert got is not None
        assert (got.task_id, got.payload, got.attempts) == ("t2", "p2", 1)
        assert b.status(queue, "t2") == RUNNING
        assert b.get(queue, "t2", LEASE) is None, "a reserved task cannot be got again"
        assert b.get(queue, "nope", LEASE) is None
        assert [r.task_id for r in b.reserve(queue, LEASE, 10)] == ["t0", "t1"]
        assert b.ack(queue, "t2", got.receipt)

    def test_get_takes_a_delayed_task(self, b: Backend, queue: str) -> None:
        b.push(queue, "later", "x", delay=600.0)
        got = b.get(queue, "later", LEASE)
        assert got is not None and got.task_id == "later"
        assert b.len(queue) == 0

    def test_cancel(self, b: Backend, queue: str, clock: FakeClock) -> None:
        b.push(queue, "t1", "x")
        b.push(queue, "t2", "x", delay=30.0)
        b.push(queue, "t3", "x")
        assert b.cancel(queue, "t1") is True
        assert b.cancel(queue, "t2") is True
        assert b.cancel(queue, "t1") is False
        assert b.status(queue, "t1") is None
        assert b.len(queue) == 1
        [got] = b.reserve(queue, LEASE, 10)
        assert got.task_id == "t3"
        assert b.cancel(queue, "t3") is False, "a reserved task cannot be cancelled"
        assert b.cancel(queue, "nope") is False
        b.ack(queue, "t3", got.receipt)
        clock.advance(60.0)
        assert b.reserve(queue, LEASE, 10) == []

    # -- queues ------------------------------------------------------------

    def test_queues_are_isolated(self, b: Backend, queue: str) -> None:
        other = f"{queue}-other"
        try:
            b.push(queue, "t1", "mine")
            b.push(other, "t1", "theirs")
            assert b.len(queue) == 1 and b.len(other) == 1
            [got] = b.reserve(other, LEASE)
            assert got.payload == "theirs"
            assert b.status(queue, "t1") == WAITING
            b.drop_all(other)
            assert b.len(queue) == 1
            assert b.reserve(queue, LEASE)[0].payload == "mine"
        finally:
            b.drop_all(other)

    def test_drop_all_removes_everything(self, b: Backend, queue: str, clock: FakeClock) -> None:
        for n in range(4):
            b.push(queue, f"t{n}", "x")
        b.push(queue, "later", "x", delay=60.0)
        held = b.reserve(queue, LEASE, 2)
        b.dead_letter(queue, held[0].task_id, held[0].receipt, "dead")
        b.drop_all(queue)
        assert b.len(queue) == 0
        assert b.dead_letters(queue) == []
        clock.advance(LEASE * 3)
        assert b.reserve(queue, LEASE, 10) == []
        assert b.status(queue, "t3") is None

    # -- concurrency -------------------------------------------------------

    def test_threads_never_share_a_task(self, b: Backend, queue: str) -> None:
        total = 200
        b.push_many(queue, [(f"t{n}", "x", 0.0) for n in range(total)])
        seen: list[str] = []
        lock = threading.Lock()

        def consume() -> None:
            while True:
                got = b.reserve(queue, LEASE, 3)
                if not got:
                    return
                with lock:
                    seen.extend(r.task_id for r in got)
                b.ack_many(queue, [(r.task_id, r.receipt) for r in got])

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

    # -- random operation sequences against a model -------------------------

    def test_matches_the_model(self, backend: Backend) -> None:
        run_backend_state_machine(backend)
