"""The SQLite backend passes the backend contract kit, adopted as any third-party backend would.

The tests below the kit's prove the contract's rules on records only a
hostile writer makes (rows planted through a connection of our own), and
the rules added with ``failures``, ``peek`` and ids unique across dead
letters.
"""

from __future__ import annotations

import functools
import json
import math
import os
import sqlite3
import subprocess
import sys
import textwrap
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlite_raw

from alligator import capabilities
from alligator.backend import Backend
from alligator.constants import DELAYED, FAILED, RUNNING, WAITING
from alligator.testing import (
    AdministrationContract,
    DiagnoseContract,
    FakeClock,
    InspectionContract,
    LimitContract,
    PauseContract,
    RequiredContract,
    ResultListingContract,
    ResultsContract,
    ResultWaitingContract,
    SchedulingContract,
    TaskPriorityContract,
    TransactionalEnqueueContract,
    TransactionalPriorityContract,
    TransactionalUniqueContract,
    UniqueKeysContract,
    WorkerRegistryContract,
)
from alligator_sqlite import SqliteBackend
from alligator_sqlite import records as alligator_sqlite

LEASE = 30.0
Plant = Callable[[str, str, bytes], None]


class TestSqliteContract(
    RequiredContract,
    ResultsContract,
    ResultListingContract,
    ResultWaitingContract,
    InspectionContract,
    AdministrationContract,
    WorkerRegistryContract,
    PauseContract,
    UniqueKeysContract,
    DiagnoseContract,
    SchedulingContract,
    LimitContract,
    TaskPriorityContract,
    TransactionalEnqueueContract,
    TransactionalUniqueContract,
    TransactionalPriorityContract,
):
    # Every capability but Waking: a SQLite file cannot wake a waiter in
    # another process, so a worker on several queues naps between looks.

    @pytest.fixture(params=["blob-io", "sql"])
    def backend(
        self, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
    ) -> Iterator[SqliteBackend]:
        # Python 3.11+ reads payloads through SQLite's blob I/O; 3.10 measures
        # them in SQL. Both ways pass everything, here on any Python.
        monkeypatch.setattr(
            alligator_sqlite, "_BLOB_IO", request.param == "blob-io" and sys.version_info >= (3, 11)
        )
        backend = SqliteBackend(f"sqlite:///{tmp_path}/kit.db")
        yield backend
        backend.close()

    @pytest.fixture
    def backend_factory(self, backend: SqliteBackend) -> Callable[[], SqliteBackend]:
        return functools.partial(SqliteBackend, backend.conn_string)

    @pytest.fixture
    def caller_connection(self, backend: SqliteBackend) -> Callable[[], sqlite3.Connection]:
        """The application's own connection to the queue's file, as Python's sqlite3 opens it."""
        return functools.partial(sqlite3.connect, backend.path)

    def test_claims_every_capability_but_waking(self, backend: SqliteBackend) -> None:
        assert capabilities.claimed(backend) == [
            capability.__name__
            for capability in capabilities.CAPABILITIES
            if capability is not capabilities.Waking
        ]

    @pytest.fixture
    def plant_raw_payload(self, backend: SqliteBackend) -> Plant:
        """Writes a due-now waiting task with exactly these payload bytes, stored as TEXT."""

        def plant(queue: str, task_id: str, data: bytes) -> None:
            sqlite_raw.plant_task(backend.path, queue, task_id, data, due=backend.now())

        return plant

    @pytest.fixture
    def plant_raw_result(self, backend: SqliteBackend) -> Plant:
        """Replaces a kept result's stored bytes with exactly ``data`` (as TEXT), its expiry untouched."""

        def plant(queue: str, task_id: str, data: bytes) -> None:
            conn = sqlite_raw.connect(backend.path)
            try:
                changed = conn.execute(
                    "UPDATE alligator_results SET result = CAST(? AS TEXT) WHERE queue = ? AND task_id = ?",
                    (data, queue, task_id),
                ).rowcount
            finally:
                conn.close()
            assert changed == 1, f"no result kept for {task_id!r} in {queue!r}"

        return plant

    # -- records only a hostile writer makes (finding 1, finding 11) ---------

    @pytest.mark.parametrize("as_text", [True, False], ids=["text", "blob"])
    def test_a_record_that_is_not_utf8_is_dead_lettered_alone(
        self, clocked_backend: SqliteBackend, queue: str, as_text: bool
    ) -> None:
        clocked_backend.push_many(queue, [(f"before{n}", f"p{n}", 0.0) for n in range(3)])
        sqlite_raw.plant_task(
            clocked_backend.path,
            queue,
            "bad",
            b'{"x": "\xff\xfe"}',
            due=clocked_backend.now(),
            as_text=as_text,
        )
        clocked_backend.push_many(queue, [(f"after{n}", f"q{n}", 0.0) for n in range(20)])

        got = clocked_backend.reserve(queue, LEASE, 30)

        assert [r.task_id for r in got] == [f"before{n}" for n in range(3)] + [f"after{n}" for n in range(20)]
        [letter] = clocked_backend.dead_letters(queue)
        assert (letter.task_id, letter.reason, letter.attempts) == ("bad", "payload is not valid UTF-8", 1)
        assert letter.payload == '{"x": "\ufffd\ufffd"}'
        assert clocked_backend.status(queue, "bad") == FAILED
        assert clocked_backend.peek(queue, "bad") is None

    def test_reserve_fills_its_limit_past_bad_records(
        self, clocked_backend: SqliteBackend, queue: str
    ) -> None:
        for n in range(3):
            sqlite_raw.plant_task(clocked_backend.path, queue, f"bad{n}", b"\x80", due=clocked_backend.now())
        clocked_backend.push_many(queue, [(f"t{n}", "x", 0.0) for n in range(5)])
        assert [r.task_id for r in clocked_backend.reserve(queue, LEASE, 2)] == ["t0", "t1"]
        assert len(clocked_backend.dead_letters(queue)) == 3

    def test_get_dead_letters_a_record_that_is_not_utf8(
        self, clocked_backend: SqliteBackend, queue: str
    ) -> None:
        sqlite_raw.plant_task(clocked_backend.path, queue, "bad", b"\xc3\x28", due=clocked_backend.now())
        assert clocked_backend.get(queue, "bad", LEASE) is None
        [letter] = clocked_backend.dead_letters(queue)
        assert (letter.task_id, letter.reason, letter.attempts) == ("bad", "payload is not valid UTF-8", 1)

    def test_a_task_id_that_is_not_utf8_is_dead_lettered(
        self, clocked_backend: SqliteBackend, queue: str
    ) -> None:
        sqlite_raw.plant_task(clocked_backend.path, queue, b"id\xff", b"{}", due=clocked_backend.now())
        clocked_backend.push(queue, "good", "{}")
        assert [r.task_id for r in clocked_backend.reserve(queue, LEASE, 10)] == ["good"]
        [letter] = clocked_backend.dead_letters(queue)
        assert (letter.task_id, letter.reason) == ("id\ufffd", "task id is not valid UTF-8")

    def test_counts_a_hand_written_row_garbled_do_not_stop_the_queue(
        self, clocked_backend: SqliteBackend, queue: str
    ) -> None:
        # Huge but valid counts are clamped; a count that is no number is C9's
        # (see test_a_record_whose_numbers_are_not_numbers_is_dead_lettered_alone).
        sqlite_raw.plant_task(clocked_backend.path, queue, "odd", b"{}", due=clocked_backend.now())
        conn = sqlite_raw.connect(clocked_backend.path)
        conn.execute("UPDATE alligator_tasks SET attempts = -5, failures = 9223372036854775807")
        conn.close()
        clocked_backend.push(queue, "next", "{}")
        got = clocked_backend.reserve(queue, LEASE, 10)
        assert [(r.task_id, r.attempts, r.failures) for r in got] == [("odd", 1, 1000000000), ("next", 1, 0)]
        assert clocked_backend.release(queue, "odd", got[0].receipt) is True
        again = clocked_backend.get(queue, "odd", LEASE)
        assert again is not None and (again.attempts, again.failures) == (2, 1000000000)

    # -- C9: stored numbers that are not numbers (round 2) --------------------

    @pytest.mark.parametrize(
        ("field", "sql_value", "shown"),
        [
            ("due", "'abc'", "'abc'"),
            ("due", "X'00'", "b'\\x00'"),
            ("due", "9e999", "inf"),
            ("due", "-9e999", "-inf"),
            ("due", "'" + "z" * 100 + "'", "'" + "z" * 40 + "'..."),
            ("attempts", "'many'", "'many'"),
            ("attempts", "1.5", "1.5"),
            ("failures", "X'0102'", "b'\\x01\\x02'"),
            ("seq", "'first'", "'first'"),
        ],
    )
    def test_a_record_whose_numbers_are_not_numbers_is_dead_lettered_alone(
        self, clocked_backend: SqliteBackend, queue: str, field: str, sql_value: str, shown: str
    ) -> None:
        # Round 2, C9: due='abc' was never reserved nor dead-lettered, len()
        # counted it for ever and status() raised a raw TypeError.
        clocked_backend.push_many(queue, [(f"before{n}", "{}", 0.0) for n in range(3)])
        sqlite_raw.plant_task(clocked_backend.path, queue, "corrupt", b"{}", due=clocked_backend.now())
        clocked_backend.push_many(queue, [(f"after{n}", "{}", 0.0) for n in range(3)])
        clocked_backend.push(queue, "later", "{}", delay=3600.0)
        conn = sqlite_raw.connect(clocked_backend.path)
        conn.execute(f"UPDATE alligator_tasks SET {field} = {sql_value} WHERE task_id = 'corrupt'")
        conn.close()

        # Until a reserve buries it, reading about it never raises.
        assert clocked_backend.status(queue, "corrupt") in (WAITING, DELAYED)
        assert clocked_backend.len(queue) == 8
        assert clocked_backend.peek(queue, "corrupt") == "{}"

        got = clocked_backend.reserve(queue, LEASE, 10)

        assert [r.task_id for r in got] == [f"before{n}" for n in range(3)] + [f"after{n}" for n in range(3)]
        assert all((r.attempts, r.failures) == (1, 0) for r in got)
        [letter] = clocked_backend.dead_letters(queue)
        assert (letter.task_id, letter.reason) == ("corrupt", f"record is corrupt: {field} is {shown}")
        assert letter.attempts == 1, "this delivery; a count that is no number taken as 0"
        assert clocked_backend.status(queue, "corrupt") == FAILED
        assert clocked_backend.status(queue, "later") == DELAYED
        assert clocked_backend.len(queue) == 1
        assert clocked_backend.requeue(queue, "corrupt") is True, "requeued with fresh, valid numbers"
        assert [r.task_id for r in clocked_backend.reserve(queue, LEASE, 10)] == ["corrupt"]

    def test_get_dead_letters_a_record_whose_due_is_not_a_number(
        self, clocked_backend: SqliteBackend, queue: str
    ) -> None:
        sqlite_raw.plant_task(clocked_backend.path, queue, "corrupt", b"{}", due=clocked_backend.now())
        conn = sqlite_raw.connect(clocked_backend.path)
        conn.execute("UPDATE alligator_tasks SET due = 'abc'")
        conn.close()
        assert clocked_backend.get(queue, "corrupt", LEASE) is None
        [letter] = clocked_backend.dead_letters(queue)
        assert (letter.task_id, letter.reason) == ("corrupt", "record is corrupt: due is 'abc'")

    def test_corrupt_dues_are_found_through_the_index(
        self, clocked_backend: SqliteBackend, queue: str
    ) -> None:
        # Text and blobs sort after every number, +inf after every time: one
        # index seek at the end of the queue's range finds them all.
        plan = clocked_backend._connection().execute(
            f"EXPLAIN QUERY PLAN {alligator_sqlite.CORRUPT_DUE_SQL}",
            {"queue": queue, "priority": 0, "infinity": math.inf, "limit": 8},
        )
        details = " ".join(str(row[-1]) for row in plan)
        assert "alligator_tasks_due" in details and "due>" in details, details

    # -- C8: task ids over the limit (round 2) ---------------------------------

    def test_a_huge_task_id_is_dead_lettered_under_its_cut_id_without_being_read(
        self, clocked_backend: SqliteBackend, queue: str
    ) -> None:
        # Round 2, C8: a 64 MiB id was read whole into the worker, many times over.
        huge = "a" + "\u00e9" * (8 * 1024 * 1024)  # 16 MiB + 1 byte of UTF-8
        clocked_backend.push(queue, "small", "x")
        sqlite_raw.plant_task(clocked_backend.path, queue, huge, b"{}", due=clocked_backend.now())
        clocked_backend.push(queue, "after", "z")
        del huge
        tracemalloc.start()
        try:
            got = clocked_backend.reserve(queue, LEASE, 10)
            letters = clocked_backend.dead_letters(queue)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 4 * 1024 * 1024, f"{peak} bytes allocated in Python"
        assert [r.task_id for r in got] == ["small", "after"]
        [letter] = letters
        # The first 1024 bytes end in half an "\u00e9": decoded leniently.
        cut = "a" + "\u00e9" * 511 + "\ufffd"
        assert (letter.task_id, letter.attempts) == (cut, 1)
        assert letter.reason == f"task id is {1 + 16 * 1024 * 1024} bytes, over the limit of 1024"
        assert clocked_backend.status(queue, cut) == FAILED
        assert clocked_backend.len(queue) == 0

    def test_max_task_id_bytes_counts_bytes_and_get_keeps_it(
        self, clocked_backend: SqliteBackend, queue: str
    ) -> None:
        clocked_backend.max_task_id_bytes = 8
        clocked_backend.push_many(
            queue, [("12345678", "{}", 0.0), ("\u00e9" * 5, "{}", 0.0), ("abcdefghi", "{}", 3600.0)]
        )
        assert [r.task_id for r in clocked_backend.reserve(queue, LEASE, 10)] == ["12345678"]
        assert clocked_backend.get(queue, "abcdefghi", LEASE) is None
        assert [(d.task_id, d.reason) for d in clocked_backend.dead_letters(queue)] == [
            ("\u00e9" * 4, "task id is 10 bytes, over the limit of 8"),
            ("abcdefgh", "task id is 9 bytes, over the limit of 8"),
        ]
        assert clocked_backend.len(queue) == 0

    def test_dead_letters_never_list_an_id_over_the_limit(
        self, clocked_backend: SqliteBackend, queue: str
    ) -> None:
        conn = sqlite_raw.connect(clocked_backend.path)
        conn.execute(
            "INSERT INTO alligator_dead (queue, task_id, reason, attempts, failed_at, seq, payload) "
            "VALUES (?, ?, 'planted', 1, ?, 1, '{}')",
            # Failed now: one failed in 1970 would be past dead_letter_ttl, dropped when listed.
            (queue, "i" * (4 * 1024 * 1024), clocked_backend.now()),
        )
        conn.close()
        tracemalloc.start()
        try:
            [letter] = clocked_backend.dead_letters(queue)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert letter.task_id == "i" * 1024
        assert peak < 1024 * 1024, f"{peak} bytes allocated in Python"

    def test_an_oversized_payload_is_dead_lettered_without_being_read(
        self, clocked_backend: SqliteBackend, queue: str
    ) -> None:
        clocked_backend.max_payload_bytes = 1024 * 1024
        size = 24 * 1024 * 1024
        clocked_backend.push(queue, "small", "x")
        sqlite_raw.plant_task(clocked_backend.path, queue, "huge", b"y" * size, due=clocked_backend.now())
        clocked_backend.push(queue, "after", "z")
        tracemalloc.start()
        try:
            got = clocked_backend.reserve(queue, LEASE, 10)
            letters = clocked_backend.dead_letters(queue)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        # tracemalloc sees Python's allocations only: the payload never became
        # a Python object (SQLite's own buffers are not counted here).
        assert peak < 4 * 1024 * 1024, f"{peak} bytes allocated in Python"
        assert [r.task_id for r in got] == ["small", "after"]
        [letter] = letters
        assert letter.reason == f"payload is {size} bytes, over the limit of {1024 * 1024}"
        assert (letter.task_id, letter.attempts, letter.payload) == ("huge", 1, "y" * 1024 * 1024)
        assert clocked_backend.status(queue, "huge") == FAILED

    def test_size_is_counted_in_bytes_not_characters(
        self, clocked_backend: SqliteBackend, queue: str
    ) -> None:
        clocked_backend.max_payload_bytes = 10
        clocked_backend.push(queue, "fits", "é" * 5)  # 10 bytes
        clocked_backend.push(queue, "over", "é" * 6)  # 6 characters, 12 bytes
        clocked_backend.push(
            queue, "nul", "a\x00" * 6
        )  # 12 bytes, though SQLite's length() of the text says 1
        assert [r.task_id for r in clocked_backend.reserve(queue, LEASE, 10)] == ["fits"]
        assert [d.reason for d in clocked_backend.dead_letters(queue)] == [
            "payload is 12 bytes, over the limit of 10",
            "payload is 12 bytes, over the limit of 10",
        ]
        assert [d.payload for d in clocked_backend.dead_letters(queue)] == ["é" * 5, "a\x00" * 5]

    # -- strings and numbers (C3) ------------------------------------------

    @pytest.mark.parametrize("as_text", [True, False], ids=["text", "blob"])
    def test_an_empty_payload_crosses_every_way(
        self, clocked_backend: SqliteBackend, queue: str, as_text: bool
    ) -> None:
        sqlite_raw.plant_task(
            clocked_backend.path, queue, "empty", b"", due=clocked_backend.now(), as_text=as_text
        )
        assert clocked_backend.peek(queue, "empty") == ""
        [got] = clocked_backend.reserve(queue, LEASE)
        assert got.payload == ""
        assert clocked_backend.dead_letter(queue, "empty", got.receipt, "")
        [letter] = clocked_backend.dead_letters(queue)
        assert (letter.payload, letter.reason) == ("", "")

    def test_an_ended_lease_refuses_its_receipt_before_anyone_reserves_it(
        self, clocked_backend: SqliteBackend, queue: str, clock: FakeClock
    ) -> None:
        clocked_backend.push(queue, "t1", "x")
        [got] = clocked_backend.reserve(queue, 10.0)
        clock.advance(11.0)
        assert clocked_backend.ack(queue, "t1", got.receipt) is False
        assert clocked_backend.release(queue, "t1", got.receipt) is False
        assert clocked_backend.dead_letter(queue, "t1", got.receipt, "late") is False
        assert clocked_backend.extend(queue, "t1", got.receipt, 10.0) is False
        assert clocked_backend.status(queue, "t1") == WAITING
        [again] = clocked_backend.reserve(queue, 10.0)
        assert (again.attempts, again.failures) == (2, 0)

    def test_nul_in_payloads_and_reasons_round_trips(
        self, clocked_backend: SqliteBackend, queue: str
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
        self, clocked_backend: SqliteBackend, queue: str, delay: float
    ) -> None:
        with pytest.raises(ValueError, match="finite"):
            clocked_backend.push(queue, "t1", "x", delay)
        with pytest.raises(ValueError, match="finite"):
            clocked_backend.push_many(queue, [("t2", "x", 0.0), ("t3", "x", delay)])
        assert clocked_backend.len(queue) == 0
        assert clocked_backend.push(queue, "t1", "x") is True, "the refused push did not take the id"
        [got] = clocked_backend.reserve(queue, LEASE)
        with pytest.raises(ValueError, match="finite"):
            clocked_backend.release(queue, "t1", got.receipt, delay)
        assert clocked_backend.status(queue, "t1") == RUNNING
        assert clocked_backend.release(queue, "t1", got.receipt) is True

    def test_a_payload_with_a_lone_surrogate_is_refused_changing_nothing(
        self, clocked_backend: SqliteBackend, queue: str
    ) -> None:
        with pytest.raises(ValueError):
            clocked_backend.push_many(queue, [("ok", "fine", 0.0), ("bad", "x\udc80", 0.0)])
        assert clocked_backend.len(queue) == 0
        assert clocked_backend.status(queue, "ok") is None

    # -- failures (C6), peek (C7) ------------------------------------------

    def test_failures_count_releases_of_attempted_deliveries(
        self, clocked_backend: SqliteBackend, queue: str
    ) -> None:
        clocked_backend.push(queue, "t1", "x")
        [first] = clocked_backend.reserve(queue, LEASE)
        assert (first.attempts, first.failures) == (1, 0)
        assert clocked_backend.release(queue, "t1", first.receipt, attempted=True)
        [second] = clocked_backend.reserve(queue, LEASE)
        assert (second.attempts, second.failures) == (2, 1)
        assert clocked_backend.release(queue, "t1", second.receipt, attempted=False)
        third = clocked_backend.get(queue, "t1", LEASE)
        assert third is not None and (third.attempts, third.failures) == (2, 1)

    def test_failures_survive_a_lapsed_lease(
        self, clocked_backend: SqliteBackend, queue: str, clock: FakeClock
    ) -> None:
        clocked_backend.push(queue, "t1", "x")
        [first] = clocked_backend.reserve(queue, LEASE)
        clocked_backend.release(queue, "t1", first.receipt)
        clocked_backend.reserve(queue, LEASE)
        clock.advance(LEASE + 1)  # that worker died
        [third] = clocked_backend.reserve(queue, LEASE)
        assert (third.attempts, third.failures) == (3, 1)

    def test_peek_reads_without_changing_anything(self, clocked_backend: SqliteBackend, queue: str) -> None:
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

    def _dead(self, clocked_backend: Backend, queue: str, task_id: str, payload: str) -> None:
        clocked_backend.push(queue, task_id, payload)
        got = clocked_backend.get(queue, task_id, LEASE)
        assert got is not None
        clocked_backend.release(queue, task_id, got.receipt)
        [again] = clocked_backend.reserve(queue, LEASE)
        assert clocked_backend.dead_letter(queue, task_id, again.receipt, "broke")

    def test_push_of_a_dead_letters_id_is_refused(self, clocked_backend: SqliteBackend, queue: str) -> None:
        self._dead(clocked_backend, queue, "t1", "old")
        assert clocked_backend.push(queue, "t1", "new") is False
        assert clocked_backend.push_many(queue, [("t1", "new", 0.0), ("t2", "other", 0.0)]) == 1
        assert clocked_backend.status(queue, "t1") == FAILED
        assert [(d.task_id, d.payload) for d in clocked_backend.dead_letters(queue)] == [("t1", "old")]
        assert [r.task_id for r in clocked_backend.reserve(queue, LEASE, 10)] == ["t2"]

    def test_requeue_resets_the_counts_and_keeps_the_payload(
        self, clocked_backend: SqliteBackend, queue: str, clock: FakeClock
    ) -> None:
        self._dead(clocked_backend, queue, "t1", "kept")
        clocked_backend.push(queue, "t0", "earlier")
        clock.advance(5.0)
        assert clocked_backend.requeue(queue, "t1") is True
        assert clocked_backend.push(queue, "t1", "new") is False, "requeued: live again"
        got = clocked_backend.reserve(queue, LEASE, 10)
        assert [(r.task_id, r.payload, r.attempts, r.failures) for r in got] == [
            ("t0", "earlier", 1, 0),
            ("t1", "kept", 1, 0),
        ]

    def test_requeue_never_overwrites_a_planted_live_task(
        self, clocked_backend: SqliteBackend, queue: str
    ) -> None:
        # Only a hand-written row can make an id live and dead at once now.
        self._dead(clocked_backend, queue, "t1", "dead copy")
        sqlite_raw.plant_task(clocked_backend.path, queue, "t1", b"live copy", due=clocked_backend.now())
        assert clocked_backend.requeue(queue, "t1") is False
        assert [(d.task_id, d.payload) for d in clocked_backend.dead_letters(queue)] == [("t1", "dead copy")]
        [got] = clocked_backend.reserve(queue, LEASE)
        assert (got.task_id, got.payload) == ("t1", "live copy")

    def test_requeue_of_an_unreadable_letter_keeps_its_bytes(
        self, clocked_backend: SqliteBackend, queue: str
    ) -> None:
        sqlite_raw.plant_task(
            clocked_backend.path, queue, "bad", b"\xff", due=clocked_backend.now(), as_text=False
        )
        assert clocked_backend.reserve(queue, LEASE) == []
        assert clocked_backend.requeue(queue, "bad") is True
        assert clocked_backend.reserve(queue, LEASE) == []
        [letter] = clocked_backend.dead_letters(queue)
        assert (letter.reason, letter.attempts) == ("payload is not valid UTF-8", 1)


# The worker's own memory, SQLite's included: only blob I/O keeps an oversized
# row out of it entirely (the SQL way loads it inside SQLite while measuring
# and moving it), so this runs where blob I/O exists.
MEASURE_RSS = textwrap.dedent(
    """
    import json, sys
    from alligator_sqlite import SqliteBackend

    def peak_mib():
        # VmHWM, not ru_maxrss: the latter carries the parent's peak over exec.
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024

    backend = SqliteBackend(sys.argv[1])
    backend.status("q", "warm-up")
    before = peak_mib()
    got = backend.reserve("q", 30.0, 10)
    letters = backend.dead_letters("q")
    grew = peak_mib() - before
    print(json.dumps([[r.task_id for r in got], [[d.task_id, len(d.payload)] for d in letters], grew]))
    """
)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="needs SQLite blob I/O (Python 3.11+)")
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the peak RSS from /proc")
@pytest.mark.timeout(120)
def test_oversized_rows_never_enter_the_workers_memory(tmp_path: Path) -> None:
    # Issue 8, finding 11: a 128 MiB payload took a worker from 31 to 415 MiB.
    db = tmp_path / "tasks.db"
    SqliteBackend(f"sqlite:///{db}").close()
    for n in range(3):
        sqlite_raw.plant_task(db, "q", f"huge{n}", b"y" * (48 * 1024 * 1024), due=0.0, as_text=n != 1)
    sqlite_raw.plant_task(db, "q", "small", b"{}", due=0.0)
    done = subprocess.run(
        [sys.executable, "-c", MEASURE_RSS, f"sqlite:///{db}"],
        capture_output=True,
        text=True,
        timeout=100,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert done.returncode == 0, done.stderr
    taken, letters, grew = json.loads(done.stdout)
    assert taken == ["small"]
    assert letters == [[f"huge{n}", 262144] for n in range(3)], "listed cut to the limit"
    # Three 48 MiB rows dead-lettered and listed: the peak grew by a few MiB at most.
    assert grew < 24, f"the peak RSS grew by {grew:.1f} MiB"
