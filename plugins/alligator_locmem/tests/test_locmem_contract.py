"""locmem passes the backend contract kit, adopted as any third-party backend would.

The tests below the kit's prove the rules added with ``failures``, ``peek``,
ids unique across dead letters and records that cannot be read, on a store
of ``str``: there "bytes" are UTF-8 bytes, and a string UTF-8 cannot encode
(a lone surrogate) is "not valid UTF-8".
"""

from __future__ import annotations

import functools
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from alligator import capabilities
from alligator.backend import Ack, Finished
from alligator.constants import DELAYED, FAILED, RUNNING, SUCCESS, WAITING
from alligator.testing import BackendContract, FakeClock, PauseContract
from alligator_locmem import LocmemBackend, _Entry

LEASE = 30.0
Plant = Callable[[str, str, bytes], None]


def _plant_str(backend: LocmemBackend, queue: str, task_id: str, payload: str) -> None:
    """Puts a waiting, due-now task straight into the store, past push()'s checks."""
    with backend._cond:
        q = backend._queue(queue)
        backend._enqueue(q, task_id, _Entry(payload, 0.0, 0), backend.now())


class TestLocmemContract(BackendContract, PauseContract):
    # A locmem store lives in one process; its clients there share it by name.
    shares_store_across_processes = False

    @pytest.fixture
    def backend(self) -> Iterator[LocmemBackend]:
        backend = LocmemBackend(f"locmem://kit-{uuid.uuid4().hex}")
        yield backend
        backend.close()

    @pytest.fixture
    def backend_factory(self, backend: LocmemBackend) -> Callable[[], LocmemBackend]:
        return functools.partial(LocmemBackend, backend.conn_string)

    @pytest.fixture
    def plant_raw_payload(self, backend: LocmemBackend) -> Plant:
        """Plants ``data`` as the str locmem would hold for those bytes (bad ones surrogate-escaped)."""

        def plant(queue: str, task_id: str, data: bytes) -> None:
            _plant_str(backend, queue, task_id, data.decode("utf-8", "surrogateescape"))

        return plant

    @pytest.fixture
    def plant_raw_result(self, backend: LocmemBackend) -> Plant:
        """Replaces a kept result by the str locmem would hold for ``data``, keeping its TTL."""

        def plant(queue: str, task_id: str, data: bytes) -> None:
            with backend._cond:
                q = backend._queue(queue)
                _, until, at = q.results[task_id]
                q.results[task_id] = (data.decode("utf-8", "surrogateescape"), until, at)

        return plant

    # -- records push() would refuse (C1 on a store of str) -------------------

    def test_a_planted_payload_utf8_cannot_encode_is_dead_lettered_alone(
        self, clocked_backend: LocmemBackend, queue: str, plant_raw_payload: Plant
    ) -> None:
        clocked_backend.push(queue, "before", "a")
        plant_raw_payload(queue, "escaped", b'{"x": "\xff"}')
        _plant_str(clocked_backend, queue, "lone", "x\ud800y")  # not from any bytes at all
        clocked_backend.push(queue, "after", "b")
        got = clocked_backend.reserve(queue, LEASE, 10)
        assert [r.task_id for r in got] == ["before", "after"]
        letters = clocked_backend.dead_letters(queue)
        assert [(d.task_id, d.reason, d.attempts) for d in letters] == [
            ("escaped", "payload is not valid UTF-8", 1),
            ("lone", "payload is not valid UTF-8", 1),
        ]
        assert letters[0].payload == '{"x": "\ufffd"}'
        assert "\ufffd" in letters[1].payload and letters[1].payload.isprintable()
        assert clocked_backend.status(queue, "escaped") == FAILED
        assert clocked_backend.peek(queue, "lone") is None

    def test_get_dead_letters_an_unreadable_payload(self, clocked_backend: LocmemBackend, queue: str) -> None:
        _plant_str(clocked_backend, queue, "bad", "\udc80")
        assert clocked_backend.get(queue, "bad", LEASE) is None
        [letter] = clocked_backend.dead_letters(queue)
        assert (letter.reason, letter.attempts) == ("payload is not valid UTF-8", 1)

    def test_size_is_counted_in_utf8_bytes(self, clocked_backend: LocmemBackend, queue: str) -> None:
        clocked_backend.max_payload_bytes = 10
        clocked_backend.push(queue, "fits", "é" * 5)  # 10 bytes
        clocked_backend.push(queue, "over", "é" * 6)  # 6 characters, 12 bytes
        clocked_backend.push(queue, "ascii", "x" * 11)
        assert [r.task_id for r in clocked_backend.reserve(queue, LEASE, 10)] == ["fits"]
        letters = clocked_backend.dead_letters(queue)
        assert [d.reason for d in letters] == [
            "payload is 12 bytes, over the limit of 10",
            "payload is 11 bytes, over the limit of 10",
        ]
        assert [d.payload for d in letters] == ["é" * 5, "x" * 10]
        assert clocked_backend.status(queue, "over") == FAILED

    def test_push_refuses_a_payload_utf8_cannot_encode(
        self, clocked_backend: LocmemBackend, queue: str
    ) -> None:
        with pytest.raises(ValueError):
            clocked_backend.push(queue, "bad", "x\udc80")
        with pytest.raises(ValueError):
            clocked_backend.push_many(queue, [("ok", "fine", 0.0), ("bad", "\ud800", 0.0)])
        assert clocked_backend.len(queue) == 0

    # -- strings and numbers (C3) ------------------------------------------

    def test_nul_in_payloads_and_reasons_round_trips(
        self, clocked_backend: LocmemBackend, queue: str
    ) -> None:
        payload = '{"a": "\x00"}\x00tail'
        clocked_backend.push(queue, "t1", payload)
        assert clocked_backend.peek(queue, "t1") == payload
        [got] = clocked_backend.reserve(queue, LEASE)
        assert got.payload == payload
        assert clocked_backend.dead_letter(queue, "t1", got.receipt, "why\x00not")
        [letter] = clocked_backend.dead_letters(queue)
        assert (letter.payload, letter.reason) == (payload, "why\x00not")

    @pytest.mark.parametrize("delay", [math.nan, math.inf, -math.inf])
    def test_a_delay_that_is_not_finite_is_refused_before_any_change(
        self, clocked_backend: LocmemBackend, queue: str, delay: float
    ) -> None:
        with pytest.raises(ValueError, match="finite"):
            clocked_backend.push(queue, "t1", "x", delay)
        with pytest.raises(ValueError, match="finite"):
            clocked_backend.push_many(queue, [("t2", "x", 0.0), ("t3", "x", delay)])
        assert clocked_backend.len(queue) == 0
        assert clocked_backend.push(queue, "t1", "x") is True
        [got] = clocked_backend.reserve(queue, LEASE)
        with pytest.raises(ValueError, match="finite"):
            clocked_backend.release(queue, "t1", got.receipt, delay)
        assert clocked_backend.status(queue, "t1") == RUNNING

    # -- failures (C6), peek (C7) ------------------------------------------

    def test_failures_count_releases_of_attempted_deliveries(
        self, clocked_backend: LocmemBackend, queue: str, clock: FakeClock
    ) -> None:
        clocked_backend.push(queue, "t1", "x")
        [first] = clocked_backend.reserve(queue, LEASE)
        assert (first.attempts, first.failures) == (1, 0)
        clocked_backend.release(queue, "t1", first.receipt, attempted=True)
        [second] = clocked_backend.reserve(queue, LEASE)
        assert (second.attempts, second.failures) == (2, 1)
        clocked_backend.release(queue, "t1", second.receipt, attempted=False)
        third = clocked_backend.get(queue, "t1", LEASE)
        assert third is not None and (third.attempts, third.failures) == (2, 1)
        clock.advance(LEASE + 1)  # that worker died
        [fourth] = clocked_backend.reserve(queue, LEASE)
        assert (fourth.attempts, fourth.failures) == (3, 1)

    def test_peek_reads_without_changing_anything(self, clocked_backend: LocmemBackend, queue: str) -> None:
        clocked_backend.push(queue, "waiting", "w")
        clocked_backend.push(queue, "delayed", "d", delay=60.0)
        clocked_backend.push(queue, "reserved", "r")
        clocked_backend.get(queue, "reserved", LEASE)
        assert [clocked_backend.peek(queue, t) for t in ("waiting", "delayed", "reserved")] == ["w", "d", "r"]
        assert [clocked_backend.status(queue, t) for t in ("waiting", "delayed", "reserved")] == [
            WAITING,
            DELAYED,
            RUNNING,
        ]
        assert clocked_backend.peek(queue, "nope") is None
        [got] = clocked_backend.reserve(queue, LEASE)
        assert got.attempts == 1, "peek is no delivery"
        clocked_backend.ack(queue, "waiting", got.receipt)
        assert clocked_backend.peek(queue, "waiting") is None
        clocked_backend.max_payload_bytes = 0
        assert clocked_backend.peek(queue, "delayed") is None

    # -- ids unique across dead letters (C4), requeue (C5), finding 6 --------

    def _dead(self, clocked_backend: LocmemBackend, queue: str, task_id: str, payload: str) -> None:
        clocked_backend.push(queue, task_id, payload)
        [got] = clocked_backend.reserve(queue, LEASE)
        clocked_backend.release(queue, task_id, got.receipt)
        [again] = clocked_backend.reserve(queue, LEASE)
        assert clocked_backend.dead_letter(queue, task_id, again.receipt, "broke")

    def test_push_of_a_dead_letters_id_is_refused(self, clocked_backend: LocmemBackend, queue: str) -> None:
        self._dead(clocked_backend, queue, "t1", "old")
        assert clocked_backend.push(queue, "t1", "new") is False
        assert clocked_backend.push_many(queue, [("t1", "new", 0.0), ("t2", "other", 0.0)]) == 1
        assert clocked_backend.status(queue, "t1") == FAILED
        assert [(d.task_id, d.payload) for d in clocked_backend.dead_letters(queue)] == [("t1", "old")]
        assert [r.task_id for r in clocked_backend.reserve(queue, LEASE, 10)] == ["t2"]

    def test_requeue_resets_the_counts_and_keeps_the_payload(
        self, clocked_backend: LocmemBackend, queue: str
    ) -> None:
        self._dead(clocked_backend, queue, "t1", "kept")
        assert clocked_backend.requeue(queue, "t1") is True
        assert clocked_backend.push(queue, "t1", "new") is False, "requeued: live again"
        [got] = clocked_backend.reserve(queue, LEASE)
        assert (got.task_id, got.payload, got.attempts, got.failures) == ("t1", "kept", 1, 0)

    def test_requeue_never_overwrites_a_planted_live_task(
        self, clocked_backend: LocmemBackend, queue: str
    ) -> None:
        # Only a hand-made store can hold an id live and dead at once now.
        self._dead(clocked_backend, queue, "t1", "dead copy")
        _plant_str(clocked_backend, queue, "t1", "live copy")
        assert clocked_backend.requeue(queue, "t1") is False
        assert [(d.task_id, d.payload) for d in clocked_backend.dead_letters(queue)] == [("t1", "dead copy")]
        [got] = clocked_backend.reserve(queue, LEASE)
        assert (got.task_id, got.payload) == ("t1", "live copy")

    # -- C8: task ids over the limit (round 2) ---------------------------------

    def test_a_task_id_over_the_limit_is_dead_lettered_under_its_cut_id(
        self, clocked_backend: LocmemBackend, queue: str
    ) -> None:
        clocked_backend.max_task_id_bytes = 8
        clocked_backend.push(queue, "before", "{}")
        _plant_str(clocked_backend, queue, "a" + "\u00e9" * 5, "{}")  # 11 bytes of UTF-8, 6 chars
        _plant_str(clocked_backend, queue, "12345678", "{}")  # exactly the limit
        clocked_backend.push(queue, "after", "{}")
        got = clocked_backend.reserve(queue, LEASE, 10)
        assert [r.task_id for r in got] == ["before", "12345678", "after"]
        letters = clocked_backend.dead_letters(queue)
        assert [(d.task_id, d.reason, d.attempts) for d in letters] == [
            ("a\u00e9\u00e9\u00e9\ufffd", "task id is 11 bytes, over the limit of 8", 1),
        ]
        assert clocked_backend.status(queue, "a\u00e9\u00e9\u00e9\ufffd") == FAILED

    def test_get_dead_letters_a_task_id_over_the_limit(
        self, clocked_backend: LocmemBackend, queue: str
    ) -> None:
        huge = "i" * (4 * 1024 * 1024)
        _plant_str(clocked_backend, queue, huge, "{}")
        assert clocked_backend.get(queue, huge, LEASE) is None
        [letter] = clocked_backend.dead_letters(queue)
        assert (letter.task_id, letter.reason) == (
            "i" * 1024,
            f"task id is {len(huge)} bytes, over the limit of 1024",
        )
        assert clocked_backend.len(queue) == 0

    def test_dead_letters_never_list_an_id_over_the_limit(
        self, clocked_backend: LocmemBackend, queue: str
    ) -> None:
        clocked_backend.push(queue, "a-long-id", "{}")
        [got] = clocked_backend.reserve(queue, LEASE)
        assert clocked_backend.dead_letter(queue, got.task_id, got.receipt, "gave up") is True
        clocked_backend.max_task_id_bytes = 4
        assert [d.task_id for d in clocked_backend.dead_letters(queue)] == ["a-lo"]

    # -- results, waits and workers (issues 11 and 12) -------------------------

    def test_says_it_keeps_results_and_waits_for_finishes(self, backend: LocmemBackend) -> None:
        assert backend.blocking_reserve
        # Every capability but those of enqueueing in the caller's transaction: locmem has no database.
        in_transaction = (
            capabilities.TransactionalEnqueue,
            capabilities.TransactionalUnique,
            capabilities.TransactionalPriority,
        )
        assert capabilities.claimed(backend) == [
            capability.__name__
            for capability in capabilities.CAPABILITIES
            if capability not in in_transaction
        ]

    def test_old_results_do_not_pile_up(
        self, clocked_backend: LocmemBackend, queue: str, clock: FakeClock
    ) -> None:
        clocked_backend.push_many(queue, [(f"t{n}", "x", 0.0) for n in range(50)])
        held = clocked_backend.reserve(queue, LEASE, 50)
        acks = [Ack(r.task_id, r.receipt, '"v"', result_ttl=10.0) for r in held]
        assert clocked_backend.ack_results(queue, acks) == 50
        clock.advance(11.0)
        clocked_backend.push(queue, "last", "x")
        [last] = clocked_backend.reserve(queue, LEASE)
        assert clocked_backend.ack_results(queue, [Ack("last", last.receipt, '"v"')]) == 1
        q = clocked_backend._queue(queue)
        assert list(q.results) == ["last"], "results past their TTL are dropped by the next ack"
        assert len(q.result_ends) == 1

    def test_a_newer_result_outlives_the_end_of_an_older_one(
        self, clocked_backend: LocmemBackend, queue: str, clock: FakeClock
    ) -> None:
        for ttl in (10.0, 1000.0):
            clocked_backend.push(queue, "t1", "x")
            [held] = clocked_backend.reserve(queue, LEASE)
            assert clocked_backend.ack_results(queue, [Ack("t1", held.receipt, f'"{ttl}"', ttl)]) == 1
        clock.advance(11.0)
        clocked_backend.push(queue, "t2", "x")
        [other] = clocked_backend.reserve(queue, LEASE)
        clocked_backend.ack_results(queue, [Ack("t2", other.receipt, None)])
        found = clocked_backend.finished(queue, "t1")
        assert found is not None and found.result == '"1000.0"'

    def test_a_planted_result_utf8_cannot_encode_is_never_handed_out(
        self, clocked_backend: LocmemBackend, queue: str
    ) -> None:
        clocked_backend.push(queue, "t1", "x")
        [held] = clocked_backend.reserve(queue, LEASE)
        assert clocked_backend.ack_results(queue, [Ack("t1", held.receipt, '"v"')]) == 1
        q = clocked_backend._queue(queue)
        _, until, at = q.results["t1"]
        q.results["t1"] = (b'"\xff"'.decode("utf-8", "surrogateescape"), until, at)
        found = clocked_backend.finished(queue, "t1")
        assert found is not None
        assert (found.status, found.result, found.reason) == (SUCCESS, None, "result is not valid UTF-8")

    def test_wait_finished_is_woken_by_a_client_of_the_same_store(
        self, backend: LocmemBackend, queue: str
    ) -> None:
        other = LocmemBackend(backend.conn_string)
        backend.push(queue, "t1", "x")
        [held] = backend.reserve(queue, LEASE)
        acker = threading.Timer(0.2, other.ack_results, (queue, [Ack("t1", held.receipt, "42")]))
        acker.start()
        found = backend.wait_finished(queue, "t1", 30.0)
        acker.join()
        assert found is not None and found.result == "42"
        assert LocmemBackend("locmem://another-store").wait_finished(queue, "t1", 0.1) is None

    def test_wait_for_work_wakes_when_a_delay_ends(self, backend: LocmemBackend, queue: str) -> None:
        # Beyond the contract: locmem also wakes for a delay ending during the wait.
        backend.push(queue, "soon", "x", delay=0.3)
        started = time.monotonic()
        assert backend.wait_for_work([f"{queue}-empty", queue], 30.0) is True
        assert time.monotonic() - started < 20.0
        got_queue, got = backend.reserve_first([f"{queue}-empty", queue], LEASE, timeout=30.0)
        assert (got_queue, [r.task_id for r in got]) == (queue, ["soon"])

    def test_the_registry_is_one_per_store(self, backend: LocmemBackend) -> None:
        backend.heartbeat("w1", "record", 30.0)
        assert LocmemBackend(backend.conn_string).worker_records() == [("w1", "record")]
        assert LocmemBackend(f"{backend.conn_string}-other").worker_records() == []
        assert backend.forget_worker("w1") is True

    def test_diagnose_warns_that_tasks_live_in_this_process_only(self, backend: LocmemBackend) -> None:
        [(level, problem, what_to_do)] = backend.diagnose()
        assert level == "warning"
        assert "lost when it exits" in problem
        assert "sqlite://" in what_to_do and "redis://" in what_to_do

    def test_wait_finished_reads_a_subclass_s_finished(self, backend: LocmemBackend, queue: str) -> None:
        class Marked(LocmemBackend):
            def finished(self, queue: str, task_id: str) -> Finished | None:
                found = super().finished(queue, task_id)
                return None if found is None else Finished(task_id, found.status, '"marked"')

        marked = Marked(backend.conn_string)
        backend.push(queue, "t1", "x")
        [held] = backend.reserve(queue, LEASE)
        acker = threading.Timer(0.2, backend.ack, (queue, "t1", held.receipt))
        acker.start()
        found = marked.wait_finished(queue, "t1", 30.0)
        acker.join()
        assert found is not None and found.result == '"marked"'
