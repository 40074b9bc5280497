"""locmem passes the backend contract kit, adopted as any third-party backend would.

The tests below the kit's prove the rules added with ``failures``, ``peek``,
ids unique across dead letters and records that cannot be read, on a store
of ``str``: there "bytes" are UTF-8 bytes, and a string UTF-8 cannot encode
(a lone surrogate) is "not valid UTF-8".
"""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import Callable, Iterator

import pytest

from alligator.constants import DELAYED, FAILED, RUNNING, WAITING
from alligator.testing import BackendContract, FakeClock
from alligator_locmem import LocmemBackend, _Entry

LEASE = 30.0
Plant = Callable[[str, str, bytes], None]


def _plant_str(backend: LocmemBackend, queue: str, task_id: str, payload: str) -> None:
    """Puts a waiting, due-now task straight into the store, past push()'s checks."""
    with backend._cond:
        q = backend._queue(queue)
        backend._enqueue(q, task_id, _Entry(payload, 0.0, 0), backend.now())


class TestLocmemContract(BackendContract):
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

    # -- records push() would refuse (C1 on a store of str) -------------------

    def test_a_planted_payload_utf8_cannot_encode_is_dead_lettered_alone(
        self, b: LocmemBackend, queue: str, plant_raw_payload: Plant
    ) -> None:
        b.push(queue, "before", "a")
        plant_raw_payload(queue, "escaped", b'{"x": "\xff"}')
        _plant_str(b, queue, "lone", "x\ud800y")  # not from any bytes at all
        b.push(queue, "after", "b")
        got = b.reserve(queue, LEASE, 10)
        assert [r.task_id for r in got] == ["before", "after"]
        letters = b.dead_letters(queue)
        assert [(d.task_id, d.reason, d.attempts) for d in letters] == [
            ("escaped", "payload is not valid UTF-8", 1),
            ("lone", "payload is not valid UTF-8", 1),
        ]
        assert letters[0].payload == '{"x": "\ufffd"}'
        assert "\ufffd" in letters[1].payload and letters[1].payload.isprintable()
        assert b.status(queue, "escaped") == FAILED
        assert b.peek(queue, "lone") is None

    def test_get_dead_letters_an_unreadable_payload(self, b: LocmemBackend, queue: str) -> None:
        _plant_str(b, queue, "bad", "\udc80")
        assert b.get(queue, "bad", LEASE) is None
        [letter] = b.dead_letters(queue)
        assert (letter.reason, letter.attempts) == ("payload is not valid UTF-8", 1)

    def test_size_is_counted_in_utf8_bytes(self, b: LocmemBackend, queue: str) -> None:
        b.max_payload_bytes = 10
        b.push(queue, "fits", "é" * 5)  # 10 bytes
        b.push(queue, "over", "é" * 6)  # 6 characters, 12 bytes
        b.push(queue, "ascii", "x" * 11)
        assert [r.task_id for r in b.reserve(queue, LEASE, 10)] == ["fits"]
        letters = b.dead_letters(queue)
        assert [d.reason for d in letters] == [
            "payload is 12 bytes, over the limit of 10",
            "payload is 11 bytes, over the limit of 10",
        ]
        assert [d.payload for d in letters] == ["é" * 5, "x" * 10]
        assert b.status(queue, "over") == FAILED

    def test_push_refuses_a_payload_utf8_cannot_encode(self, b: LocmemBackend, queue: str) -> None:
        with pytest.raises(ValueError):
            b.push(queue, "bad", "x\udc80")
        with pytest.raises(ValueError):
            b.push_many(queue, [("ok", "fine", 0.0), ("bad", "\ud800", 0.0)])
        assert b.len(queue) == 0

    # -- strings and numbers (C3) ------------------------------------------

    def test_nul_in_payloads_and_reasons_round_trips(self, b: LocmemBackend, queue: str) -> None:
        payload = '{"a": "\x00"}\x00tail'
        b.push(queue, "t1", payload)
        assert b.peek(queue, "t1") == payload
        [got] = b.reserve(queue, LEASE)
        assert got.payload == payload
        assert b.dead_letter(queue, "t1", got.receipt, "why\x00not")
        [letter] = b.dead_letters(queue)
        assert (letter.payload, letter.reason) == (payload, "why\x00not")

    @pytest.mark.parametrize("delay", [math.nan, math.inf, -math.inf])
    def test_a_delay_that_is_not_finite_is_refused_before_any_change(
        self, b: LocmemBackend, queue: str, delay: float
    ) -> None:
        with pytest.raises(ValueError, match="finite"):
            b.push(queue, "t1", "x", delay)
        with pytest.raises(ValueError, match="finite"):
            b.push_many(queue, [("t2", "x", 0.0), ("t3", "x", delay)])
        assert b.len(queue) == 0
        assert b.push(queue, "t1", "x") is True
        [got] = b.reserve(queue, LEASE)
        with pytest.raises(ValueError, match="finite"):
            b.release(queue, "t1", got.receipt, delay)
        assert b.status(queue, "t1") == RUNNING

    # -- failures (C6), peek (C7) ------------------------------------------

    def test_failures_count_releases_of_attempted_deliveries(
        self, b: LocmemBackend, queue: str, clock: FakeClock
    ) -> None:
        b.push(queue, "t1", "x")
        [first] = b.reserve(queue, LEASE)
        assert (first.attempts, first.failures) == (1, 0)
        b.release(queue, "t1", first.receipt, attempted=True)
        [second] = b.reserve(queue, LEASE)
        assert (second.attempts, second.failures) == (2, 1)
        b.release(queue, "t1", second.receipt, attempted=False)
        third = b.get(queue, "t1", LEASE)
        assert third is not None and (third.attempts, third.failures) == (2, 1)
        clock.advance(LEASE + 1)  # that worker died
        [fourth] = b.reserve(queue, LEASE)
        assert (fourth.attempts, fourth.failures) == (3, 1)

    def test_peek_reads_without_changing_anything(self, b: LocmemBackend, queue: str) -> None:
        b.push(queue, "waiting", "w")
        b.push(queue, "delayed", "d", delay=60.0)
        b.push(queue, "reserved", "r")
        b.get(queue, "reserved", LEASE)
        assert [b.peek(queue, t) for t in ("waiting", "delayed", "reserved")] == ["w", "d", "r"]
        assert [b.status(queue, t) for t in ("waiting", "delayed", "reserved")] == [WAITING, DELAYED, RUNNING]
        assert b.peek(queue, "nope") is None
        [got] = b.reserve(queue, LEASE)
        assert got.attempts == 1, "peek is no delivery"
        b.ack(queue, "waiting", got.receipt)
        assert b.peek(queue, "waiting") is None
        b.max_payload_bytes = 0
        assert b.peek(queue, "delayed") is None

    # -- ids unique across dead letters (C4), requeue (C5), finding 6 --------

    def _dead(self, b: LocmemBackend, queue: str, task_id: str, payload: str) -> None:
        b.push(queue, task_id, payload)
        [got] = b.reserve(queue, LEASE)
        b.release(queue, task_id, got.receipt)
        [again] = b.reserve(queue, LEASE)
        assert b.dead_letter(queue, task_id, again.receipt, "broke")

    def test_push_of_a_dead_letters_id_is_refused(self, b: LocmemBackend, queue: str) -> None:
        self._dead(b, queue, "t1", "old")
        assert b.push(queue, "t1", "new") is False
        assert b.push_many(queue, [("t1", "new", 0.0), ("t2", "other", 0.0)]) == 1
        assert b.status(queue, "t1") == FAILED
        assert [(d.task_id, d.payload) for d in b.dead_letters(queue)] == [("t1", "old")]
        assert [r.task_id for r in b.reserve(queue, LEASE, 10)] == ["t2"]

    def test_requeue_resets_the_counts_and_keeps_the_payload(self, b: LocmemBackend, queue: str) -> None:
        self._dead(b, queue, "t1", "kept")
        assert b.requeue(queue, "t1") is True
        assert b.push(queue, "t1", "new") is False, "requeued: live again"
        [got] = b.reserve(queue, LEASE)
        assert (got.task_id, got.payload, got.attempts, got.failures) == ("t1", "kept", 1, 0)

    def test_requeue_never_overwrites_a_live_task(self, b: LocmemBackend, queue: str) -> None:
        # Only a hand-made store can hold an id live and dead at once now.
        self._dead(b, queue, "t1", "dead copy")
        _plant_str(b, queue, "t1", "live copy")
        assert b.requeue(queue, "t1") is False
        assert [(d.task_id, d.payload) for d in b.dead_letters(queue)] == [("t1", "dead copy")]
        [got] = b.reserve(queue, LEASE)
        assert (got.task_id, got.payload) == ("t1", "live copy")
