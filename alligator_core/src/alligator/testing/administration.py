"""The kit's tests of the Administration capability: listing, requeueing and deleting dead letters.

A backend that claims :class:`~alligator.capabilities.Administration`
adopts :class:`AdministrationContract`. Its first test checks the claim; the
others check what the store lists of its dead letters (payload, reason,
attempts, the cut to the size limit), ``requeue`` (to the end of the queue,
due now, never over a live task), ``delete_dead``, ``purge_dead``,
``requeue_all`` and dead-letter retention. What the required part says of
a dead letter (its FAILED status, that it is never handed out) is checked
by :class:`~alligator.testing.contract.RequiredContract`.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from alligator import capabilities
from alligator.backend import Backend, DeadLetter, QueueCounts
from alligator.constants import FAILED, WAITING
from alligator.testing.capable import CapableBackend
from alligator.testing.clock import FakeClock
from alligator.testing.fixtures import (
    LEASE,
    ContractFixtures,
    InspectionFixtures,
    PlantRawPayload,
    assert_claims,
    assert_reason,
    bury,
)
from alligator.testing.required_records import HARD_STRINGS, NOT_UTF8_REASON, oversized_reason

_bury = bury


def _letters(backend: Backend, queue: str) -> dict[str, DeadLetter]:
    letters = capabilities.administration(backend).dead_letters(queue, limit=1000)
    by_id = {letter.task_id: letter for letter in letters}
    assert len(by_id) == len(letters), f"two dead letters share an id: {[d.task_id for d in letters]}"
    return by_id


class DeadLetterListingContract(ContractFixtures):
    """``dead_letters`` lists what ``dead_letter`` and refused records left, oldest first."""

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

    def test_an_id_is_dead_only_once(self, backend: Backend, clock: FakeClock, queue: str) -> None:
        backend.push(queue, "t1", "x")
        [first] = backend.reserve(queue, LEASE)
        backend.dead_letter(queue, "t1", first.receipt, "first time")
        assert capabilities.administration(backend).requeue(queue, "t1")
        [second] = backend.reserve(queue, LEASE)
        backend.dead_letter(queue, "t1", second.receipt, "second time")
        letters = capabilities.administration(backend).dead_letters(queue)
        assert [(d.task_id, d.reason) for d in letters] == [("t1", "second time")]

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


class AdministrationContract(
    DeadLetterListingContract,
    RequeueContract,
    DeadLetterManagementContract,
    DeadLetterRetentionContract,
):
    """Every rule of :class:`~alligator.capabilities.Administration`, for a backend that claims it."""

    def test_the_backend_claims_administration(self, backend: Backend) -> None:
        assert_claims(backend, capabilities.Administration, "AdministrationContract")
