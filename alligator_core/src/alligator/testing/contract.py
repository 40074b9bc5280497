"""The contract tests, as mixins every backend's test class inherits.

:class:`BackendContract` is the whole kit. It is made of mixins, one per group
of rules of :class:`alligator.backend.Backend`, which an adopting class gets
all at once; each mixin can also be adopted on its own, with
:class:`~alligator.testing.fixtures.ContractFixtures`' fixtures overridden the same way.

``ContractFixtures``, ``LEASE`` and ``assert_reason`` live in
:mod:`alligator.testing.fixtures` and are re-exported here, where they were
first, so the mixins of the other modules build on them without importing
this one.
"""

from __future__ import annotations

import itertools
import json
import math
import multiprocessing
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

from alligator import capabilities, reasons
from alligator.backend import Backend, DeadLetter
from alligator.constants import DELAYED, FAILED, RUNNING, SUCCESS, WAITING
from alligator.testing.clock import FakeClock

# Re-exported (``X as X``): these were first defined here, and adopters import them from here.
from alligator.testing.fixtures import LEASE as LEASE
from alligator.testing.fixtures import BackendFactory as BackendFactory
from alligator.testing.fixtures import ContractFixtures as ContractFixtures
from alligator.testing.fixtures import PlantRawPayload as PlantRawPayload
from alligator.testing.fixtures import assert_reason as assert_reason
from alligator.testing.inspection import InspectionContract
from alligator.testing.priority import PriorityContract
from alligator.testing.registry import DiagnoseContract, WorkerRegistryContract
from alligator.testing.results import (
    FinishedContract,
    ResultLifetimeContract,
    ResultsContract,
    SucceededListingContract,
    WaitFinishedContract,
)
from alligator.testing.stateful import run_backend_state_machine

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

#: The reason a backend gives a stored payload that is not valid UTF-8
#: (the texts are :mod:`alligator.reasons`).
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


def _letters(backend: Backend, queue: str) -> dict[str, DeadLetter]:
    letters = capabilities.administration(backend).dead_letters(queue, limit=1000)
    by_id = {letter.task_id: letter for letter in letters}
    assert len(by_id) == len(letters), f"two dead letters share an id: {[d.task_id for d in letters]}"
    return by_id


class FailureCountContract(ContractFixtures):
    """``Reservation.failures``: deliveries that ran and failed, counted by ``release(attempted=True)``."""

    def test_first_delivery_has_no_failures(self, backend: Backend, clock: FakeClock, queue: str) -> None:
        backend.push(queue, "t1", "x")
        backend.push(queue, "t2", "x")
        [got] = backend.reserve(queue, LEASE)
        assert (got.attempts, got.failures) == (1, 0)
        by_id = backend.get(queue, "t2", LEASE)
        assert by_id is not None and (by_id.attempts, by_id.failures) == (1, 0)

    def test_release_attempted_counts_a_failure(self, backend: Backend, clock: FakeClock, queue: str) -> None:
        backend.push(queue, "t1", "x")
        [first] = backend.reserve(queue, LEASE)
        assert backend.release(queue, "t1", first.receipt, attempted=True)
        [second] = backend.reserve(queue, LEASE)
        assert (second.attempts, second.failures) == (2, 1)
        assert backend.release(queue, "t1", second.receipt, delay=5.0, attempted=True)
        clock.advance(6.0)
        [third] = backend.reserve(queue, LEASE)
        assert (third.attempts, third.failures) == (3, 2), "a delayed release counts a failure too"

    def test_release_unattempted_leaves_failures_alone(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "t1", "x")
        [first] = backend.reserve(queue, LEASE)
        backend.release(queue, "t1", first.receipt, attempted=True)
        [second] = backend.reserve(queue, LEASE)
        assert backend.release(queue, "t1", second.receipt, attempted=False)
        [third] = backend.reserve(queue, LEASE)
        assert (third.attempts, third.failures) == (2, 1)

    def test_expired_lease_is_not_a_failure(self, backend: Backend, clock: FakeClock, queue: str) -> None:
        backend.push(queue, "t1", "x")
        [first] = backend.reserve(queue, 10.0)
        backend.release(queue, "t1", first.receipt, attempted=True)
        backend.reserve(queue, 10.0)
        clock.advance(11.0)
        [third] = backend.reserve(queue, 10.0)
        assert (third.attempts, third.failures) == (3, 1)

    def test_get_returns_failures(self, backend: Backend, clock: FakeClock, queue: str) -> None:
        backend.push(queue, "t1", "x")
        [first] = backend.reserve(queue, LEASE)
        backend.release(queue, "t1", first.receipt, delay=60.0, attempted=True)
        got = backend.get(queue, "t1", LEASE)
        assert got is not None and (got.attempts, got.failures) == (2, 1)

    def test_requeue_resets_failures_and_attempts(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "t1", "x")
        for _ in range(2):
            [got] = backend.reserve(queue, LEASE)
            backend.release(queue, "t1", got.receipt, attempted=True)
        [last] = backend.reserve(queue, LEASE)
        assert (last.attempts, last.failures) == (3, 2)
        backend.dead_letter(queue, "t1", last.receipt, "spent")
        assert _letters(backend, queue)["t1"].attempts == 3
        assert capabilities.administration(backend).requeue(queue, "t1") is True
        [again] = backend.reserve(queue, LEASE)
        assert (again.attempts, again.failures) == (1, 0)


class IdReuseContract(ContractFixtures):
    """Ids are unique across waiting, delayed, reserved and dead; an acked id may come back."""

    def test_push_over_a_dead_letter_is_refused(self, backend: Backend, clock: FakeClock, queue: str) -> None:
        backend.push(queue, "t1", "first")
        [got] = backend.reserve(queue, LEASE)
        backend.dead_letter(queue, "t1", got.receipt, "it broke")
        assert backend.push(queue, "t1", "second") is False
        assert backend.push(queue, "t1", "delayed", delay=30.0) is False
        assert backend.push_many(queue, [("t1", "third", 0.0), ("t2", "other", 0.0)]) == 1
        assert backend.status(queue, "t1") == FAILED
        assert backend.len(queue) == 1
        letters = _letters(backend, queue)
        assert (letters["t1"].payload, letters["t1"].reason) == ("first", "it broke")
        clock.advance(60.0)
        assert [r.task_id for r in backend.reserve(queue, LEASE, 10)] == ["t2"]

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

    def test_an_id_is_dead_only_once(self, backend: Backend, clock: FakeClock, queue: str) -> None:
        backend.push(queue, "t1", "x")
        [first] = backend.reserve(queue, LEASE)
        backend.dead_letter(queue, "t1", first.receipt, "first time")
        assert capabilities.administration(backend).requeue(queue, "t1")
        [second] = backend.reserve(queue, LEASE)
        backend.dead_letter(queue, "t1", second.receipt, "second time")
        letters = capabilities.administration(backend).dead_letters(queue)
        assert [(d.task_id, d.reason) for d in letters] == [("t1", "second time")]


class RequeueContract(ContractFixtures):
    """``requeue``: a dead letter goes to the end of its queue, due now; never over a live task."""

    def test_requeue_goes_to_the_end_due_now(self, backend: Backend, clock: FakeClock, queue: str) -> None:
        backend.push(queue, "dead", "kept", delay=600.0)
        got = backend.get(queue, "dead", LEASE)
        assert got is not None
        backend.dead_letter(queue, "dead", got.receipt, "broke")
        backend.push(queue, "a", "x")
        backend.push(queue, "b", "x")
        assert capabilities.administration(backend).requeue(queue, "dead") is True
        assert backend.status(queue, "dead") == WAITING, "a requeued task is due now, whatever its delay was"
        assert backend.len(queue) == 3
        assert capabilities.administration(backend).dead_letters(queue) == []
        got_all = backend.reserve(queue, LEASE, 10)
        assert [r.task_id for r in got_all] == ["a", "b", "dead"]
        assert got_all[2].payload == "kept"

    def test_requeue_refuses_an_id_that_is_not_dead(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "reserved", "x")
        backend.push(queue, "acked", "x")
        held = {r.task_id: r for r in backend.reserve(queue, LEASE, 10)}
        backend.ack(queue, "acked", held["acked"].receipt)
        backend.push(queue, "waiting", "x")
        backend.push(queue, "delayed", "x", delay=60.0)
        ids = ("waiting", "delayed", "reserved", "acked", "never-pushed")
        before = {task_id: backend.status(queue, task_id) for task_id in ids}
        for task_id in ids:
            assert capabilities.administration(backend).requeue(queue, task_id) is False, (
                f"requeue({task_id!r}) must be refused"
            )
        assert {task_id: backend.status(queue, task_id) for task_id in ids} == before
        assert backend.len(queue) == 2
        assert backend.ack(queue, "reserved", held["reserved"].receipt), "the reserved task is still held"

    def test_requeue_twice_is_refused_the_second_time(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "t1", "x")
        [got] = backend.reserve(queue, LEASE)
        backend.dead_letter(queue, "t1", got.receipt, "broke")
        assert capabilities.administration(backend).requeue(queue, "t1") is True
        assert capabilities.administration(backend).requeue(queue, "t1") is False
        assert backend.len(queue) == 1

    def test_requeue_never_overwrites_a_live_task(
        self, backend: Backend, clock: FakeClock, queue: str, plant_raw_payload: PlantRawPayload
    ) -> None:
        backend.push(queue, "t1", "dead one")
        [got] = backend.reserve(queue, LEASE)
        backend.dead_letter(queue, "t1", got.receipt, "broke")
        # Only a hand-written record can make a dead id live again.
        plant_raw_payload(queue, "t1", b"live one")
        if "t1" not in _letters(backend, queue):
            pytest.skip("this store keeps one record per id: a live task cannot meet its own dead letter")
        assert capabilities.administration(backend).requeue(queue, "t1") is False
        assert _letters(backend, queue)["t1"].payload == "dead one"
        [live] = backend.reserve(queue, LEASE)
        assert (live.task_id, live.payload) == ("t1", "live one")


BAD_DELAYS = pytest.mark.parametrize("delay", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])


class StringContract(ContractFixtures):
    """Payloads and reasons cross unchanged, NUL included; NaN and infinite delays are refused."""

    def test_hard_strings_cross_unchanged(self, backend: Backend, clock: FakeClock, queue: str) -> None:
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
        letters = _letters(backend, queue)
        for index, text in enumerate(HARD_STRINGS):
            letter = letters[f"s{index}"]
            assert letter.payload == text, f"dead_letters changed payload HARD_STRINGS[{index}]"
            assert letter.reason == HARD_STRINGS[-1 - index], f"dead_letters changed reason {-1 - index}"

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

    def test_payload_with_a_lone_surrogate_is_refused_or_harmless(
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
            assert_reason(_letters(backend, queue)["lone"].reason, NOT_UTF8_REASON)

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

    def test_unreadable_records_are_dead_lettered_alone(
        self, backend: Backend, clock: FakeClock, queue: str, plant_raw_payload: PlantRawPayload
    ) -> None:
        limit = backend.max_payload_bytes
        undecodable = b'{"a": "\xff\xfe"}\x80 tail'
        oversized = b"x" * (limit + 1)
        backend.push(queue, "v0", "valid 0")
        plant_raw_payload(queue, "undecodable", undecodable)
        backend.push(queue, "v1", "valid 1")
        plant_raw_payload(queue, "oversized", oversized)
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
        letters = _letters(backend, queue)
        assert set(letters) == {"undecodable", "oversized"}
        assert_reason(letters["undecodable"].reason, NOT_UTF8_REASON)
        assert_reason(letters["oversized"].reason, oversized_reason(limit + 1, limit))
        assert letters["undecodable"].payload == undecodable.decode("utf-8", "replace")
        assert letters["oversized"].payload == "x" * limit, "a listed payload is cut to the limit"
        for letter in letters.values():
            assert letter.attempts == 1, "the refused delivery is counted"
            assert abs(letter.failed_at - clock()) < 1.0
        assert all(backend.ack(queue, r.task_id, r.receipt) for r in got)
        clock.advance(LEASE * 2)
        assert backend.reserve(queue, LEASE, 10) == []

    def test_unreadable_records_never_halt_the_queue(
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
        assert set(_letters(backend, queue)) == {f"bad{n}" for n in range(5)}

    def test_get_dead_letters_an_unreadable_record(
        self, backend: Backend, clock: FakeClock, queue: str, plant_raw_payload: PlantRawPayload
    ) -> None:
        limit = backend.max_payload_bytes
        plant_raw_payload(queue, "undecodable", b"\xff")
        plant_raw_payload(queue, "oversized", b"y" * (limit + 2))
        backend.push(queue, "valid", "fine")
        assert backend.get(queue, "undecodable", LEASE) is None
        assert backend.get(queue, "oversized", LEASE) is None
        letters = _letters(backend, queue)
        assert_reason(letters["undecodable"].reason, NOT_UTF8_REASON)
        assert_reason(letters["oversized"].reason, oversized_reason(limit + 2, limit))
        assert letters["undecodable"].payload == "\ufffd"
        assert backend.status(queue, "oversized") == FAILED
        got = backend.get(queue, "valid", LEASE)
        assert got is not None and got.payload == "fine"

    def test_peek_leaves_an_unreadable_record_alone(
        self, backend: Backend, clock: FakeClock, queue: str, plant_raw_payload: PlantRawPayload
    ) -> None:
        plant_raw_payload(queue, "undecodable", b"\x80\x80")
        plant_raw_payload(queue, "oversized", b"z" * (backend.max_payload_bytes + 1))
        for task_id in ("undecodable", "oversized"):
            assert backend.peek(queue, task_id) is None
            assert backend.status(queue, task_id) == WAITING, "peek changes nothing"
        assert backend.len(queue) == 2
        assert capabilities.administration(backend).dead_letters(queue) == []


class PayloadLimitContract(ContractFixtures):
    """``max_payload_bytes`` set on the instance is honoured, counted in UTF-8 bytes."""

    def test_instance_payload_limit_is_honoured(
        self, backend: Backend, clock: FakeClock, queue: str, payload_limit: Callable[[int], None]
    ) -> None:
        payload_limit(64)
        backend.push(queue, "fits", "x" * 64)
        backend.push(queue, "over", "x" * 65)
        backend.push(queue, "wide", "é" * 40)  # 40 characters, 80 bytes
        assert backend.peek(queue, "fits") == "x" * 64
        assert backend.peek(queue, "over") is None
        assert backend.peek(queue, "wide") is None
        got = backend.reserve(queue, LEASE, 10)
        assert [(r.task_id, r.payload) for r in got] == [("fits", "x" * 64)]
        letters = _letters(backend, queue)
        assert_reason(letters["over"].reason, oversized_reason(65, 64))
        assert_reason(letters["wide"].reason, oversized_reason(80, 64))
        assert letters["over"].payload == "x" * 64
        assert letters["wide"].payload == "é" * 32, "cut to 64 bytes"
        assert backend.status(queue, "wide") == FAILED

    def test_get_honours_the_instance_payload_limit(
        self, backend: Backend, clock: FakeClock, queue: str, payload_limit: Callable[[int], None]
    ) -> None:
        payload_limit(10)
        backend.push(queue, "over", "0123456789A")
        assert backend.get(queue, "over", LEASE) is None
        assert_reason(_letters(backend, queue)["over"].reason, oversized_reason(11, 10))

    def test_dead_letters_cuts_a_long_payload_to_the_limit(
        self, backend: Backend, clock: FakeClock, queue: str, payload_limit: Callable[[int], None]
    ) -> None:
        backend.push(queue, "t1", "a" * 100)
        [got] = backend.reserve(queue, LEASE)
        backend.dead_letter(queue, "t1", got.receipt, "broke")
        payload_limit(40)
        [letter] = capabilities.administration(backend).dead_letters(queue)
        assert letter.payload == "a" * 40
        assert letter.reason == "broke"
        assert capabilities.administration(backend).requeue(queue, "t1")
        assert capabilities.administration(backend).dead_letters(queue) == [] and backend.len(queue) == 1

    @pytest.mark.parametrize("char", ["\u00e9", "\u20ac", "\U0001f40a"])  # 2, 3 and 4 bytes of UTF-8
    def test_a_character_the_cut_splits_is_listed_as_one_replacement_character(
        self,
        backend: Backend,
        clock: FakeClock,
        queue: str,
        payload_limit: Callable[[int], None],
        char: str,
    ) -> None:
        # Cut to 10 bytes, the last character's first byte is the 10th: the
        # bytes before it whole, the part of it as one U+FFFD, nothing after.
        backend.push(queue, "t1", "a" * 9 + char + "b")
        [got] = backend.reserve(queue, LEASE)
        backend.dead_letter(queue, "t1", got.receipt, "broke")
        payload_limit(10)
        [letter] = capabilities.administration(backend).dead_letters(queue)
        assert letter.payload == "a" * 9 + "\ufffd", "the split character is one U+FFFD"


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


class DueOrderContract(ContractFixtures):
    """FIFO among due tasks, in the order they became due: pushed, delay ended, released, lease ended."""

    def test_released_task_goes_behind_tasks_due_before_it(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        for task_id in ("first", "second", "third"):
            backend.push(queue, task_id, "x")
            clock.advance(1.0)
        [got] = backend.reserve(queue, LEASE)
        assert got.task_id == "first"
        clock.advance(1.0)
        backend.push(queue, "fourth", "x")  # due after the others, before the release
        clock.advance(1.0)
        assert backend.release(queue, "first", got.receipt)
        order = [r.task_id for r in backend.reserve(queue, LEASE, 10)]
        assert order == ["second", "third", "fourth", "first"], (
            "a released task is due from its release, behind every task due before it"
        )

    def test_a_release_at_the_instant_others_are_due_goes_behind_them(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        # Equal due times: the tie is broken by when each became due, and a
        # released task became due at its release, after the tasks pushed
        # (or released) before it at the same instant.
        backend.push(queue, "first", "x")
        [got] = backend.reserve(queue, LEASE)
        backend.push(queue, "second", "x")
        backend.push(queue, "third", "x")
        assert backend.release(queue, "first", got.receipt)
        backend.push(queue, "fourth", "x")
        assert [r.task_id for r in backend.reserve(queue, LEASE, 10)] == [
            "second",
            "third",
            "first",
            "fourth",
        ], "a task released at the instant others are due goes behind them, ahead of later pushes"

    def test_a_delayed_release_due_with_others_goes_behind_them(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "first", "x")
        [got] = backend.reserve(queue, LEASE)
        backend.push(queue, "second", "x", delay=5.0)
        assert backend.release(queue, "first", got.receipt, delay=5.0)
        backend.push(queue, "third", "x", delay=5.0)
        clock.advance(5.0)
        assert [r.task_id for r in backend.reserve(queue, LEASE, 10)] == ["second", "first", "third"]

    def test_unattempted_release_goes_behind_too(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "first", "x")
        clock.advance(1.0)
        backend.push(queue, "second", "x")
        clock.advance(1.0)
        [got] = backend.reserve(queue, LEASE)
        assert backend.release(queue, "first", got.receipt, attempted=False)
        assert [r.task_id for r in backend.reserve(queue, LEASE, 10)] == ["second", "first"]

    def test_expired_lease_is_due_at_the_lease_end(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "leased", "x")
        [got] = backend.reserve(queue, 10.0)
        clock.advance(5.0)
        backend.push(queue, "due-before-the-lease-end", "x")
        clock.advance(10.0)
        backend.push(queue, "due-after-the-lease-end", "x")
        order = [r.task_id for r in backend.reserve(queue, LEASE, 10)]
        assert order == ["due-before-the-lease-end", "leased", "due-after-the-lease-end"], (
            "a task whose lease ended is due at the lease's end, not at its push time"
        )
        assert got.receipt not in {r.receipt for r in backend.reserve(queue, LEASE, 10)}

    def test_expired_lease_comes_back_without_anyone_touching_it(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "t1", "x")
        backend.reserve(queue, 10.0)
        clock.advance(11.0)
        assert backend.len(queue) == 1
        assert backend.status(queue, "t1") == WAITING
        [again] = backend.reserve(queue, 10.0)
        assert (again.task_id, again.attempts) == ("t1", 2)
        clock.advance(11.0)
        [third] = backend.reserve(queue, 10.0)
        assert (third.task_id, third.attempts) == ("t1", 3), (
            "every ended lease comes back, not only the first"
        )

    def test_order_is_by_due_time_not_push_time(self, backend: Backend, clock: FakeClock, queue: str) -> None:
        backend.push(queue, "pushed-first-due-last", "x", delay=30.0)
        clock.advance(1.0)
        backend.push(queue, "pushed-second-due-second", "x", delay=10.0)
        clock.advance(1.0)
        backend.push(queue, "pushed-last-due-first", "x")
        clock.advance(60.0)
        assert [r.task_id for r in backend.reserve(queue, LEASE, 10)] == [
            "pushed-last-due-first",
            "pushed-second-due-second",
            "pushed-first-due-last",
        ]


class LeaseBoundaryContract(ContractFixtures):
    """A lease is ended once ``now >=`` its end, a delay once ``now >=`` its due time: the instant counts."""

    @pytest.fixture
    def whole_clock(self, backend: Backend, clock: FakeClock) -> FakeClock:
        """A fake clock on a whole second, so ``now + seconds`` is exact in any store."""
        fake = FakeClock(float(int(clock())))
        backend.clock = fake
        return fake

    def test_a_lease_is_held_until_just_before_its_end(
        self, backend: Backend, whole_clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "t1", "x")
        [got] = backend.reserve(queue, 10.0)
        whole_clock.advance(9.5)
        assert backend.reserve(queue, 10.0) == []
        assert backend.status(queue, "t1") == RUNNING
        assert backend.extend(queue, "t1", got.receipt, 10.0), "the lease is still held half a second before"

    def test_a_lease_is_ended_at_its_end_exactly(
        self, backend: Backend, whole_clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "t1", "x")
        backend.push(queue, "t2", "x")
        [first, second] = backend.reserve(queue, 10.0, 2)
        whole_clock.advance(10.0)  # now == the lease's end
        assert backend.status(queue, "t1") == WAITING, "a lease is ended once now >= its end"
        assert backend.len(queue) == 2
        assert backend.ack(queue, "t1", first.receipt) is False
        assert backend.extend(queue, "t2", second.receipt, 10.0) is False
        [again] = backend.reserve(queue, 10.0)
        assert (again.task_id, again.attempts) == ("t1", 2)

    def test_a_delay_ends_at_its_end_exactly(
        self, backend: Backend, whole_clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "t1", "x", delay=10.0)
        whole_clock.advance(9.5)
        assert backend.reserve(queue, LEASE) == []
        whole_clock.advance(0.5)
        assert backend.status(queue, "t1") == WAITING
        assert [r.task_id for r in backend.reserve(queue, LEASE)] == ["t1"]


#: The lease of the tests with several clients, long enough that no lease
#: ends during a test on a busy machine. So every second delivery of a task
#: before its ack or release is one made while its lease was held.
SHARED_LEASE = 600.0

#: How long the tests with several clients wait for their threads or processes.
SHARED_DEADLINE = 300.0

#: One delivery as the clients of those tests log it. Task id, attempts,
#: what the client did ("ack" or "release") and whether the backend agreed.
Delivery = tuple[str, int, str, bool]


#: How many times the clients of those tests reserve together.
SHARED_ROUNDS = 30


def _consume(backend: Backend, queue: str, together: threading.Barrier | None = None) -> list[Delivery]:
    """Reserves and settles tasks, logging each delivery.

    A task whose id starts with ``r`` is released (due now, attempted) on its
    first delivery and acked on its second; every other task is acked. With
    ``together``, a barrier all clients share, every client reserves at the
    same moment, and settles only once every client has reserved,
    :data:`SHARED_ROUNDS` times: a store that lets two clients read the same
    due tasks before either leases them shows it in every round. Without
    it, the client reserves until the queue is empty.
    """
    log: list[Delivery] = []
    limits = itertools.cycle((1, 3, 2))
    for round_ in itertools.count():
        if together is not None:
            if round_ == SHARED_ROUNDS:
                return log
            together.wait(SHARED_DEADLINE)
        got = backend.reserve(queue, SHARED_LEASE, next(limits))
        if together is not None:
            # Nobody settles before every client has reserved: a task two
            # clients were handed is then held by both, and seen.
            together.wait(SHARED_DEADLINE)
        elif not got:
            return log
        for reservation in got:
            task_id, attempts = reservation.task_id, reservation.attempts
            if task_id.startswith("r") and attempts == 1:
                log.append(
                    (task_id, attempts, "release", backend.release(queue, task_id, reservation.receipt))
                )
            else:
                log.append((task_id, attempts, "ack", backend.ack(queue, task_id, reservation.receipt)))
    raise AssertionError("unreachable")


def _consume_in_a_process(factory: BackendFactory, queue: str, together: threading.Barrier, out: str) -> None:
    """A process's share of the test with several processes: its log goes to the file ``out``.

    If it raises, it frees the other processes from the barrier at once and
    leaves its traceback in ``out + ".error"`` for the test to show.
    """
    try:
        backend = factory()
        try:
            log = _consume(backend, queue, together)
        finally:
            backend.close()
    except BaseException:
        together.abort()
        Path(out + ".error").write_text(traceback.format_exc(), encoding="utf-8")
        raise
    Path(out).write_text(json.dumps(log), encoding="utf-8")


def _raise_the_first_error(errors: list[tuple[int, BaseException]]) -> None:
    """Re-raises what a client raised first; the others' broken barrier only follows from it."""
    if not errors:
        return
    causes = [(n, e) for n, e in errors if not isinstance(e, threading.BrokenBarrierError)] or errors
    index, error = causes[0]
    raise AssertionError(f"client {index} raised {type(error).__name__}: {error}") from error


def _shared_work(prefix: str, total: int) -> list[tuple[str, str, float]]:
    """``total`` tasks, one in four to be released once (ids starting with ``r``)."""
    return [(f"{'r' if n % 4 == 0 else 'a'}{prefix}-{n}", "x", 0.0) for n in range(total)]


def _assert_each_delivered_once_at_a_time(
    backend: Backend, queue: str, work: list[tuple[str, str, float]], log: list[Delivery]
) -> None:
    """Every task acked once, released tasks released once before, nothing more, nothing left."""
    seen: dict[str, list[tuple[int, str, bool]]] = {}
    for task_id, attempts, action, agreed in log:
        seen.setdefault(task_id, []).append((attempts, action, bool(agreed)))
    twice = {}
    lost = []
    for task_id, _, _ in work:
        expected = [(1, "release", True), (2, "ack", True)] if task_id.startswith("r") else [(1, "ack", True)]
        got = sorted(seen.pop(task_id, []))
        if not got:
            lost.append(task_id)
        elif got != expected:
            twice[task_id] = got
    assert not twice, (
        f"{len(twice)} tasks were delivered again while a lease on them was held "
        f"(deliveries as (attempts, action, accepted)), e.g. {dict(itertools.islice(twice.items(), 5))}"
    )
    assert not lost, f"{len(lost)} tasks were never delivered, e.g. {lost[:5]}"
    assert not seen, f"tasks delivered that were never pushed: {sorted(seen)[:5]}"
    assert backend.len(queue) == 0


class SharedStoreContract(ContractFixtures):
    """Several clients of one store, in threads and in processes: no task is handed out twice at once.

    Needs the ``backend_factory`` fixture. A backend whose steps are
    serialized by a lock inside one process rather than by the store (a row
    lock, a transaction, a server-side script) fails these tests.
    """

    def test_a_second_client_sees_the_same_store(
        self, backend: Backend, other_backend: Backend, queue: str
    ) -> None:
        assert backend.push(queue, "t1", "x")
        assert other_backend.push(queue, "t1", "y") is False, "the second client must see the first's task"
        [got] = other_backend.reserve(queue, SHARED_LEASE)
        assert (got.task_id, got.payload) == ("t1", "x")
        assert backend.reserve(queue, SHARED_LEASE) == []
        assert backend.ack(queue, "t1", got.receipt), "a receipt is good with any client of the store"

    def test_clients_in_threads_never_hold_a_task_at_once(
        self, backend: Backend, other_backend: Backend, queue: str
    ) -> None:
        work = _shared_work("thread", 400)
        assert backend.push_many(queue, work) == len(work)
        clients = [backend, other_backend, backend, other_backend]
        logs: list[list[Delivery]] = [[] for _ in clients]
        errors: list[tuple[int, BaseException]] = []
        together = threading.Barrier(len(clients))

        def run(index: int) -> None:
            try:
                logs[index] = _consume(clients[index], queue, together)
            except BaseException as error:
                errors.append((index, error))
                # The others wait on the barrier for this client: free them now,
                # so the test fails at once with this error, not at the deadline.
                together.abort()

        threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(len(clients))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(SHARED_DEADLINE)
            assert not thread.is_alive(), f"a client thread did not finish in {SHARED_DEADLINE:g}s"
        _raise_the_first_error(errors)
        # What the rounds left, taken by one client.
        rest = _consume(backend, queue)
        _assert_each_delivered_once_at_a_time(backend, queue, work, [d for log in [*logs, rest] for d in log])

    def test_clients_in_processes_never_hold_a_task_at_once(
        self, backend: Backend, backend_factory: BackendFactory, queue: str, tmp_path: Path
    ) -> None:
        work = _shared_work("process", 300)
        assert backend.push_many(queue, work) == len(work)
        context = multiprocessing.get_context("spawn")
        processes = 3
        together = context.Barrier(processes)
        outs = [str(tmp_path / f"client-{n}.json") for n in range(processes)]
        children = [
            context.Process(target=_consume_in_a_process, args=(backend_factory, queue, together, out))
            for out in outs
        ]
        for child in children:
            child.start()
        for child in children:
            child.join(SHARED_DEADLINE)
            if child.is_alive():
                child.kill()
        raised = [Path(f"{out}.error").read_text("utf-8") for out in outs if Path(f"{out}.error").exists()]
        # The first cause, not the broken barrier it left the other clients.
        causes = [
            text for text in raised if "BrokenBarrierError" not in text.strip().splitlines()[-1]
        ] or raised
        assert not causes, f"a client process raised:\n{causes[0]}"
        for child in children:
            assert child.exitcode == 0, f"a client process ended with {child.exitcode}"
        # What the rounds left, taken by one client.
        log: list[Delivery] = [
            (str(task_id), int(attempts), str(action), bool(agreed))
            for out in outs
            for task_id, attempts, action, agreed in json.loads(Path(out).read_text(encoding="utf-8"))
        ]
        log += _consume(backend, queue)
        _assert_each_delivered_once_at_a_time(backend, queue, work, log)


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
    """Dead letters: kept with their reason, listed oldest first, and requeued."""

    def test_dead_letter_keeps_reason_and_can_be_requeued(
        self, clocked_backend: Backend, queue: str, clock: FakeClock
    ) -> None:
        clocked_backend.push(queue, "t1", "payload")
        [got] = clocked_backend.reserve(queue, LEASE)
        assert clocked_backend.dead_letter(queue, "t1", got.receipt, "it broke") is True
        assert clocked_backend.status(queue, "t1") == FAILED
        assert clocked_backend.len(queue) == 0
        clock.advance(LEASE * 2)
        assert clocked_backend.reserve(queue, LEASE) == []
        [letter] = capabilities.administration(clocked_backend).dead_letters(queue)
        assert (letter.task_id, letter.payload, letter.reason, letter.attempts) == (
            "t1",
            "payload",
            "it broke",
            1,
        )
        assert abs(letter.failed_at - (clock() - LEASE * 2)) < 1.0
        assert capabilities.administration(clocked_backend).requeue(queue, "t1") is True
        assert capabilities.administration(clocked_backend).dead_letters(queue) == []
        assert clocked_backend.status(queue, "t1") == WAITING
        [again] = clocked_backend.reserve(queue, LEASE)
        assert (again.task_id, again.payload, again.attempts) == ("t1", "payload", 1)

    def test_dead_letters_are_listed_oldest_first_up_to_limit(
        self, clocked_backend: Backend, queue: str, clock: FakeClock
    ) -> None:
        for n in range(5):
            clocked_backend.push(queue, f"t{n}", "x")
        for r in clocked_backend.reserve(queue, LEASE, 5):
            clock.advance(1.0)
            clocked_backend.dead_letter(queue, r.task_id, r.receipt, f"reason {r.task_id}")
        assert [d.task_id for d in capabilities.administration(clocked_backend).dead_letters(queue)] == [
            f"t{n}" for n in range(5)
        ]
        assert [
            d.task_id for d in capabilities.administration(clocked_backend).dead_letters(queue, limit=2)
        ] == ["t0", "t1"]

    def test_requeue_unknown_is_false(self, clocked_backend: Backend, queue: str) -> None:
        assert capabilities.administration(clocked_backend).requeue(queue, "nope") is False


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

    def test_drop_all_removes_everything(
        self, clocked_backend: Backend, queue: str, clock: FakeClock
    ) -> None:
        for n in range(4):
            clocked_backend.push(queue, f"t{n}", "x")
        clocked_backend.push(queue, "later", "x", delay=60.0)
        held = clocked_backend.reserve(queue, LEASE, 2)
        clocked_backend.dead_letter(queue, held[0].task_id, held[0].receipt, "dead")
        clocked_backend.drop_all(queue)
        assert clocked_backend.len(queue) == 0
        assert capabilities.administration(clocked_backend).dead_letters(queue) == []
        clock.advance(LEASE * 3)
        assert clocked_backend.reserve(queue, LEASE, 10) == []
        assert clocked_backend.status(queue, "t3") is None


class ConcurrencyContract(ContractFixtures):
    """One client used from several threads, and a blocking reserve that wakes up for new work.

    (Several clients of one store: :class:`SharedStoreContract`.)
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


class BackendContract(
    DeliveryContract,
    LeaseContract,
    DelayContract,
    DeadLetterContract,
    GetAndCancelContract,
    QueueIsolationContract,
    ConcurrencyContract,
    ModelContract,
    InspectionContract,
    SharedStoreContract,
    DueOrderContract,
    LeaseBoundaryContract,
    FailureCountContract,
    IdReuseContract,
    RequeueContract,
    StringContract,
    UnreadableRecordContract,
    PayloadLimitContract,
    PeekContract,
    ResultsContract,
    ResultLifetimeContract,
    FinishedContract,
    SucceededListingContract,
    WaitFinishedContract,
    PriorityContract,
    WorkerRegistryContract,
    DiagnoseContract,
):
    """Tests every rule of :class:`alligator.backend.Backend`.

    Subclasses provide the ``backend``, ``plant_raw_payload`` and
    ``backend_factory`` fixtures (see :class:`~alligator.testing.fixtures.ContractFixtures` and
    :mod:`alligator.testing`).
    """
