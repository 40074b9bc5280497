"""The required contract's rules for records: strings, unreadable and oversized records, ids, ``peek``.

Part of :class:`~alligator.testing.contract.RequiredContract`: every test
here uses only the required methods of :class:`alligator.backend.Backend`.
What a store lists of its dead letters is checked by
:class:`~alligator.testing.administration.AdministrationContract`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from alligator import reasons
from alligator.backend import Backend
from alligator.constants import DELAYED, FAILED, RUNNING, WAITING
from alligator.testing.clock import FakeClock
from alligator.testing.fixtures import LEASE, ContractFixtures, PlantRawPayload

#: Strings that must cross the seam unchanged, as payloads and as reasons:
#: NUL anywhere, line and record separators, control characters, the edges
#: of the Basic Multilingual Plane, astral characters, text that looks like
#: an escape (a store that escapes NUL must not unescape these), and long
#: text of multi-byte characters (about 120 kB in UTF-8).
HARD_STRINGS = [
    "",
    "\x00",
    "nul\x00inside\x00",
    "\x00\x00\x00leading",
    "line\nbreak\r\ncrlf\rreturn",
    "\t\x0b\x0c\x1b[31mescape\x7f\x01",
    "astral \U0001f40a \U00010000 \U0010ffff",
    "plane edges \ud7ff \ue000 \ufeff \ufffd \uffff",
    "separators \u2028 \u2029 \x85",
    "looks escaped: \\u0000 \\x00 \\0 %00 \\\\",
    "quotes ' \" ` $1 %s ; -- /* */ {}",
    "é" * 40_000 + "\U0001f40a" * 10_000,
]

#: The reason a backend gives a stored payload that is not valid UTF-8.
NOT_UTF8_REASON = reasons.not_utf8(reasons.PAYLOAD)


def oversized_reason(size: int, limit: int) -> str:
    """The reason a backend gives an oversized record.

    Args:
        size: The stored payload's length in bytes.
        limit: The backend's :attr:`~alligator.backend.Backend.max_payload_bytes`.

    Returns:
        :data:`alligator.reasons.TOO_LARGE` for the payload.
    """
    return reasons.too_large(reasons.PAYLOAD, size, limit)


class IdReuseContract(ContractFixtures):
    """Ids are unique across waiting, delayed, reserved and dead; an acked id may come back."""

    def test_push_over_a_dead_letter_is_refused_and_leaves_it_failed(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        # What the store lists of the dead letter: AdministrationContract.
        backend.push(queue, "t1", "first")
        [got] = backend.reserve(queue, LEASE)
        backend.dead_letter(queue, "t1", got.receipt, "it broke")
        assert backend.push(queue, "t1", "second") is False
        assert backend.push(queue, "t1", "delayed", delay=30.0) is False
        assert backend.push_many(queue, [("t1", "third", 0.0), ("t2", "other", 0.0)]) == 1
        assert backend.status(queue, "t1") == FAILED
        assert backend.len(queue) == 1
        assert backend.peek(queue, "t1") is None, "a dead letter is not live"
        assert backend.get(queue, "t1", LEASE) is None, "nor handed out by id"
        clock.advance(60.0)
        assert [r.task_id for r in backend.reserve(queue, LEASE, 10)] == ["t2"]
        assert backend.status(queue, "t1") == FAILED, "still dead after all that"

    def test_acked_id_may_be_pushed_again(self, backend: Backend, clock: FakeClock, queue: str) -> None:
        backend.push(queue, "t1", "old")
        [first] = backend.reserve(queue, LEASE)
        backend.release(queue, "t1", first.receipt, attempted=True)
        [second] = backend.reserve(queue, LEASE)
        assert backend.ack(queue, "t1", second.receipt)
        assert backend.push(queue, "t1", "new") is True
        assert backend.status(queue, "t1") == WAITING, "the old SUCCESS is forgotten"
        [again] = backend.reserve(queue, LEASE)
        assert (again.payload, again.attempts, again.failures) == ("new", 1, 0)
        assert again.receipt not in {first.receipt, second.receipt}


BAD_DELAYS = pytest.mark.parametrize("delay", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])


class StringContract(ContractFixtures):
    """Payloads and reasons cross unchanged, NUL included; NaN and infinite delays are refused."""

    def test_hard_strings_cross_as_payloads_and_reasons(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        # What dead_letters lists of each reason: AdministrationContract.
        for index, text in enumerate(HARD_STRINGS):
            assert backend.push(queue, f"s{index}", text)
        for index, text in enumerate(HARD_STRINGS):
            assert backend.peek(queue, f"s{index}") == text, f"peek changed HARD_STRINGS[{index}]"
        got = backend.reserve(queue, LEASE, len(HARD_STRINGS))
        assert [r.task_id for r in got] == [f"s{index}" for index in range(len(HARD_STRINGS))]
        for index, reservation in enumerate(got):
            assert reservation.payload == HARD_STRINGS[index], f"reserve changed HARD_STRINGS[{index}]"
            # The reason of each is another hard string, so every one is also tried as a reason.
            reason = HARD_STRINGS[-1 - index]
            assert backend.dead_letter(queue, reservation.task_id, reservation.receipt, reason) is True
        for index in range(len(HARD_STRINGS)):
            assert backend.status(queue, f"s{index}") == FAILED, (
                f"reason HARD_STRINGS[{-1 - index}] was refused"
            )
        assert backend.len(queue) == 0

    def test_hard_strings_cross_push_many_and_get(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        items = [(f"s{index}", text, 0.0) for index, text in enumerate(HARD_STRINGS)]
        assert backend.push_many(queue, items) == len(items)
        for task_id, text, _ in reversed(items):
            got = backend.get(queue, task_id, LEASE)
            assert got is not None and got.payload == text, f"get changed the payload of {task_id}"
            backend.release(queue, task_id, got.receipt, attempted=True)
        got_all = backend.reserve(queue, LEASE, len(items))
        assert sorted((r.task_id, r.payload) for r in got_all) == sorted((i, t) for i, t, _ in items)

    def test_payload_with_a_lone_surrogate_is_refused_or_failed(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        try:
            backend.push(queue, "lone", "bad \ud800 half")
        except ValueError:
            assert backend.len(queue) == 0, "a refused push changes nothing"
            assert backend.status(queue, "lone") is None
            assert backend.push(queue, "lone", "fixed") is True, "a refused push must not take the id"
            return
        # Accepted: it must not stop the queue. It comes back unchanged or is
        # dead-lettered as not UTF-8; the task behind it is delivered.
        backend.push(queue, "after", "fine")
        delivered = {r.task_id: r.payload for r in backend.reserve(queue, LEASE, 10)}
        delivered.update({r.task_id: r.payload for r in backend.reserve(queue, LEASE, 10)})
        assert delivered.get("after") == "fine"
        if "lone" in delivered:
            assert delivered["lone"] == "bad \ud800 half"
        else:
            assert backend.status(queue, "lone") == FAILED, "neither delivered nor failed"

    @BAD_DELAYS
    def test_push_refuses_a_nan_or_infinite_delay(
        self, backend: Backend, clock: FakeClock, queue: str, delay: float
    ) -> None:
        with pytest.raises(ValueError):
            backend.push(queue, "t1", "x", delay)
        assert backend.len(queue) == 0
        assert backend.status(queue, "t1") is None
        assert backend.push(queue, "t1", "x") is True, "a refused push must not take the id"
        assert [r.task_id for r in backend.reserve(queue, LEASE, 10)] == ["t1"]

    @BAD_DELAYS
    def test_push_many_refuses_a_nan_or_infinite_delay_before_any_change(
        self, backend: Backend, clock: FakeClock, queue: str, delay: float
    ) -> None:
        items = [("before", "x", 0.0), ("bad", "x", delay), ("after", "x", 0.0)]
        with pytest.raises(ValueError):
            backend.push_many(queue, items)
        assert backend.len(queue) == 0, "push_many must check every delay before it adds anything"
        assert [backend.status(queue, task_id) for task_id, _, _ in items] == [None, None, None]
        assert backend.push_many(queue, [("before", "x", 0.0), ("bad", "x", 0.0)]) == 2

    @BAD_DELAYS
    def test_release_refuses_a_nan_or_infinite_delay(
        self, backend: Backend, clock: FakeClock, queue: str, delay: float
    ) -> None:
        backend.push(queue, "t1", "x")
        [got] = backend.reserve(queue, LEASE)
        with pytest.raises(ValueError):
            backend.release(queue, "t1", got.receipt, delay=delay, attempted=True)
        assert backend.status(queue, "t1") == RUNNING, "a refused release leaves the task held"
        assert backend.release(queue, "t1", got.receipt, attempted=True) is True
        [again] = backend.reserve(queue, LEASE)
        assert (again.attempts, again.failures) == (2, 1), "the refused release counted nothing"


class UnreadableRecordContract(ContractFixtures):
    """Records that are not UTF-8 or over the size limit are dead-lettered alone, never handed out.

    Needs the ``plant_raw_payload`` fixture.
    """

    def test_planted_record_is_delivered(
        self, backend: Backend, clock: FakeClock, queue: str, plant_raw_payload: PlantRawPayload
    ) -> None:
        # Proves the fixture itself: a planted readable record is an ordinary task.
        plant_raw_payload(queue, "planted", "café \x00 \U0001f40a".encode())
        assert backend.status(queue, "planted") == WAITING
        assert backend.len(queue) == 1
        [got] = backend.reserve(queue, LEASE)
        assert (got.task_id, got.payload, got.attempts) == ("planted", "café \x00 \U0001f40a", 1)

    def test_unreadable_records_are_failed_alone(
        self, backend: Backend, clock: FakeClock, queue: str, plant_raw_payload: PlantRawPayload
    ) -> None:
        # Their reasons and listed payloads: AdministrationContract.
        limit = backend.max_payload_bytes
        backend.push(queue, "v0", "valid 0")
        plant_raw_payload(queue, "undecodable", b'{"a": "\xff\xfe"}\x80 tail')
        backend.push(queue, "v1", "valid 1")
        plant_raw_payload(queue, "oversized", b"x" * (limit + 1))
        backend.push(queue, "v2", "valid 2")
        got = backend.reserve(queue, LEASE, 10)
        assert [(r.task_id, r.payload) for r in got] == [
            ("v0", "valid 0"),
            ("v1", "valid 1"),
            ("v2", "valid 2"),
        ]
        assert backend.len(queue) == 0
        for task_id in ("undecodable", "oversized"):
            assert backend.status(queue, task_id) == FAILED
            assert backend.peek(queue, task_id) is None
            assert backend.get(queue, task_id, LEASE) is None
            assert backend.push(queue, task_id, "again") is False, "a dead letter's id stays taken"
        assert all(backend.ack(queue, r.task_id, r.receipt) for r in got)
        clock.advance(LEASE * 2)
        assert backend.reserve(queue, LEASE, 10) == []
        for task_id in ("undecodable", "oversized"):
            assert backend.status(queue, task_id) == FAILED, "dead, not back at the end of a lease"

    def test_unreadable_records_never_halt_the_queue_and_end_failed(
        self, backend: Backend, clock: FakeClock, queue: str, plant_raw_payload: PlantRawPayload
    ) -> None:
        plant_raw_payload(queue, "bad0", b"\xc3\x28")
        plant_raw_payload(queue, "bad1", b"x" * (backend.max_payload_bytes + 10))
        plant_raw_payload(queue, "bad2", b"\xed\xa0\x80 encoded surrogate")
        plant_raw_payload(queue, "bad3", b"overlong \xc0\xaf")
        plant_raw_payload(queue, "bad4", b"truncated \xe2\x82")
        backend.push(queue, "good0", "x")
        backend.push(queue, "good1", "y")
        delivered: list[str] = []
        # Filling a call's limit from further records is allowed, not required:
        # each call may dead-letter some and hand out nothing.
        for _ in range(15):
            delivered += [r.task_id for r in backend.reserve(queue, LEASE, 1)]
        assert delivered == ["good0", "good1"]
        assert [backend.status(queue, f"bad{n}") for n in range(5)] == [FAILED] * 5
        assert backend.len(queue) == 0

    def test_get_fails_an_unreadable_record(
        self, backend: Backend, clock: FakeClock, queue: str, plant_raw_payload: PlantRawPayload
    ) -> None:
        limit = backend.max_payload_bytes
        plant_raw_payload(queue, "undecodable", b"\xff")
        plant_raw_payload(queue, "oversized", b"y" * (limit + 2))
        backend.push(queue, "valid", "fine")
        assert backend.get(queue, "undecodable", LEASE) is None
        assert backend.get(queue, "oversized", LEASE) is None
        assert backend.status(queue, "undecodable") == FAILED
        assert backend.status(queue, "oversized") == FAILED
        assert backend.len(queue) == 1
        got = backend.get(queue, "valid", LEASE)
        assert got is not None and got.payload == "fine"

    def test_peek_leaves_an_unreadable_record_waiting(
        self, backend: Backend, clock: FakeClock, queue: str, plant_raw_payload: PlantRawPayload
    ) -> None:
        plant_raw_payload(queue, "undecodable", b"\x80\x80")
        plant_raw_payload(queue, "oversized", b"z" * (backend.max_payload_bytes + 1))
        for task_id in ("undecodable", "oversized"):
            assert backend.peek(queue, task_id) is None
            assert backend.status(queue, task_id) == WAITING, "peek changes nothing"
        assert backend.len(queue) == 2
        assert backend.reserve(queue, LEASE, 10) == [], "handed out later: refused then, not by peek"
        assert [backend.status(queue, t) for t in ("undecodable", "oversized")] == [FAILED, FAILED]


class PayloadLimitContract(ContractFixtures):
    """``max_payload_bytes`` set on the instance is honoured, counted in UTF-8 bytes."""

    def test_instance_payload_limit_is_honoured_in_utf8_bytes(
        self, backend: Backend, clock: FakeClock, queue: str, payload_limit: Callable[[int], None]
    ) -> None:
        # The reasons and the listed payloads cut to the limit: AdministrationContract.
        payload_limit(64)
        backend.push(queue, "fits", "x" * 64)
        backend.push(queue, "over", "x" * 65)
        backend.push(queue, "wide", "é" * 40)  # 40 characters, 80 bytes
        assert backend.peek(queue, "fits") == "x" * 64
        assert backend.peek(queue, "over") is None
        assert backend.peek(queue, "wide") is None
        got = backend.reserve(queue, LEASE, 10)
        assert [(r.task_id, r.payload) for r in got] == [("fits", "x" * 64)]
        assert backend.status(queue, "over") == FAILED
        assert backend.status(queue, "wide") == FAILED
        assert backend.len(queue) == 0

    def test_get_honours_the_instance_payload_limit_and_fails_the_task(
        self, backend: Backend, clock: FakeClock, queue: str, payload_limit: Callable[[int], None]
    ) -> None:
        payload_limit(10)
        backend.push(queue, "over", "0123456789A")
        backend.push(queue, "fits", "0123456789")
        assert backend.get(queue, "over", LEASE) is None
        assert backend.status(queue, "over") == FAILED
        got = backend.get(queue, "fits", LEASE)
        assert got is not None and got.payload == "0123456789"


class PeekContract(ContractFixtures):
    """``peek``: the payload of a waiting, delayed or reserved task, changing nothing."""

    def test_peek_reads_waiting_delayed_and_reserved_tasks(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "reserved", "r")
        [held] = backend.reserve(queue, LEASE)
        backend.push(queue, "waiting", "w")
        backend.push(queue, "delayed", "d", delay=60.0)
        assert backend.peek(queue, "reserved") == "r"
        assert backend.peek(queue, "waiting") == "w"
        assert backend.peek(queue, "delayed") == "d"
        statuses = {"reserved": RUNNING, "waiting": WAITING, "delayed": DELAYED}
        assert {task_id: backend.status(queue, task_id) for task_id in statuses} == statuses
        assert backend.len(queue) == 2
        [got] = backend.reserve(queue, LEASE, 10)
        assert (got.task_id, got.attempts) == ("waiting", 1), "peek takes no lease and counts no delivery"
        assert backend.ack(queue, "reserved", held.receipt)

    def test_peek_reads_a_task_whose_lease_ended(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "t1", "x")
        backend.reserve(queue, 10.0)
        clock.advance(11.0)
        assert backend.peek(queue, "t1") == "x"

    def test_peek_is_none_when_not_live(self, backend: Backend, clock: FakeClock, queue: str) -> None:
        for task_id in ("acked", "dead", "cancelled"):
            backend.push(queue, task_id, "x")
        held = {r.task_id: r for r in backend.reserve(queue, LEASE, 2)}
        backend.ack(queue, "acked", held["acked"].receipt)
        backend.dead_letter(queue, "dead", held["dead"].receipt, "broke")
        backend.cancel(queue, "cancelled")
        for task_id in ("acked", "dead", "cancelled", "never-pushed"):
            assert backend.peek(queue, task_id) is None, f"peek({task_id!r}) must be None"
