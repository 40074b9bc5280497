"""What only the SQLite backend proves about results, several queues, live workers and diagnose.

Schema version 3 (the migration from 2), results written in the ack's own
transaction, records a hostile hand planted in the new tables, the worker
registry's bounds, ``reserve_first`` in one transaction, and the deployment
checks ``alligator doctor`` reads.
"""

from __future__ import annotations

import math
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_raw

from alligator.backend import Ack
from alligator.constants import FAILED, RUNNING, SUCCESS
from alligator.exceptions import BackendError
from alligator.testing import FakeClock
from alligator_sqlite import SCHEMA_VERSION, SqliteBackend
from alligator_sqlite import consuming as alligator_sqlite

LEASE = 30.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_000_000.0)


@pytest.fixture
def backend(tmp_path: Path, clock: FakeClock) -> Iterator[SqliteBackend]:
    backend = SqliteBackend(f"sqlite:///{tmp_path}/tasks.db")
    backend.clock = clock
    yield backend
    backend.close()


def _reserved(backend: SqliteBackend, queue: str, *ids: str) -> list[tuple[str, str]]:
    """Pushes tasks and reserves them all; returns their ``(task_id, receipt)``."""
    backend.push_many(queue, [(task_id, f"payload of {task_id}", 0.0) for task_id in ids])
    return [(r.task_id, r.receipt) for r in backend.reserve(queue, LEASE, len(ids))]


def _transactions(backend: SqliteBackend) -> list[str]:
    """Starts recording the BEGIN and COMMIT statements of this thread's connection; returns the record."""
    seen: list[str] = []

    def trace(statement: str) -> None:
        word = statement.split(None, 1)[0].upper() if statement.strip() else ""
        if word in ("BEGIN", "COMMIT", "ROLLBACK"):
            seen.append(statement.strip().upper())

    backend._connection().set_trace_callback(trace)
    return seen


def _rows(backend: SqliteBackend, table: str) -> int:
    (count,) = backend._connection().execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(count)


# -- schema version 3 -------------------------------------------------------


def test_a_version_2_file_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    sqlite_raw.make_version_2_file(path)
    old = sqlite_raw.connect(path)
    old.executescript(
        """
        INSERT INTO alligator_tasks (queue, task_id, payload, due, seq, attempts, receipt, failures)
            VALUES ('q', 'waiting', 'w', 0, 1, 0, NULL, 0), ('q', 'held', 'h', 9e99, 2, 1, 'r1', 1);
        INSERT INTO alligator_dead (queue, task_id, reason, attempts, failed_at, seq, payload)
            VALUES ('q', 'dead', 'broke', 3, 5.0, 3, 'd');
        INSERT INTO alligator_finished (queue, task_id, status, finished_at) VALUES ('q', 'done', 1, 9e15);
        UPDATE alligator_meta SET value = 3 WHERE key = 'seq';
        """
    )
    old.close()

    backend = SqliteBackend(f"sqlite:///{path}")
    try:
        conn = sqlite_raw.connect(path)
        assert conn.execute("SELECT value FROM alligator_meta WHERE key = 'schema_version'").fetchone() == (
            SCHEMA_VERSION,
        )
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert {
            "alligator_results",
            "alligator_results_expires",
            "alligator_workers",
            "alligator_workers_expires",
        } <= names
        conn.close()
        assert SCHEMA_VERSION == 5
        # Every row of version 2 reads as before.
        assert backend.status("q", "done") == SUCCESS
        assert backend.finished("q", "done") is not None
        backend.dead_letter_ttl = math.inf  # the letter failed at 5.0, in 1970: keep it
        dead = backend.finished("q", "dead")
        assert dead is not None and (dead.status, dead.reason, dead.finished_at) == (FAILED, "broke", 5.0)
        [got] = backend.reserve("q", LEASE, 10)
        assert (got.task_id, got.payload, got.attempts) == ("waiting", "w", 1)
        # The new tables work at once.
        assert backend.ack_results("q", [Ack("held", "r1", '"kept"', 60.0)]) == 1
        held = backend.finished("q", "held")
        assert held is not None and (held.status, held.result) == (SUCCESS, '"kept"')
        backend.heartbeat("w1", "{}", 30.0)
        assert backend.worker_records() == [("w1", "{}")]
    finally:
        backend.close()
    SqliteBackend(f"sqlite:///{path}").close()  # opening a migrated file changes nothing


def test_a_version_1_file_is_migrated_through_2_to_3(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    sqlite_raw.make_version_1_file(path)
    backend = SqliteBackend(f"sqlite:///{path}")
    try:
        [(task_id, receipt)] = _reserved(backend, "q", "t")
        assert backend.ack_results("q", [Ack(task_id, receipt, "1")]) == 1
        found = backend.finished("q", "t")
        assert found is not None and found.result == "1"
        columns = [row[1] for row in backend._connection().execute("PRAGMA table_info(alligator_tasks)")]
        assert "failures" in columns
    finally:
        backend.close()


def test_a_file_of_the_next_version_is_refused_and_left_alone(tmp_path: Path) -> None:
    dsn = f"sqlite:///{tmp_path}/tasks.db"
    SqliteBackend(dsn).close()
    conn = sqlite_raw.connect(tmp_path / "tasks.db")
    conn.execute("UPDATE alligator_meta SET value = ? WHERE key = 'schema_version'", (SCHEMA_VERSION + 1,))
    with pytest.raises(BackendError, match=rf"schema version {SCHEMA_VERSION + 1}.*upgrade alligator-sqlite"):
        SqliteBackend(dsn)
    version = conn.execute("SELECT value FROM alligator_meta WHERE key = 'schema_version'").fetchone()
    assert version == (SCHEMA_VERSION + 1,)
    conn.close()


# -- results ride the ack ---------------------------------------------------


def test_ack_results_adds_no_transaction_to_ack_many(backend: SqliteBackend) -> None:
    plain = _reserved(backend, "q", *(f"a{n}" for n in range(5)))
    seen = _transactions(backend)
    assert backend.ack_many("q", plain) == 5
    plain_transactions = list(seen)
    with_results = _reserved(backend, "q", *(f"b{n}" for n in range(5)))
    seen.clear()
    acks = [Ack(task_id, receipt, f'{{"n": {n}}}', 60.0) for n, (task_id, receipt) in enumerate(with_results)]
    assert backend.ack_results("q", acks) == 5
    assert plain_transactions == ["BEGIN IMMEDIATE", "COMMIT"]
    assert seen == plain_transactions, "five acks with results: the one transaction of ack_many"
    assert [backend.finished("q", f"b{n}").result for n in range(5)] == [  # type: ignore[union-attr]
        f'{{"n": {n}}}' for n in range(5)
    ]


def test_a_result_that_cannot_be_written_undoes_its_ack(backend: SqliteBackend) -> None:
    # The ack and the result are one transaction: when writing the result
    # fails, the task is still held and can be acked again.
    [(task_id, receipt)] = _reserved(backend, "q", "t")
    conn = sqlite_raw.connect(backend.path)
    conn.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON alligator_results BEGIN SELECT RAISE(ABORT, 'no room'); END"
    )
    with pytest.raises(BackendError, match="no room"):
        backend.ack_results("q", [Ack(task_id, receipt, '"value"')])
    assert backend.status("q", "t") == RUNNING
    assert backend.finished("q", "t") is None
    conn.execute("DROP TRIGGER refuse")
    conn.close()
    assert backend.ack_results("q", [Ack(task_id, receipt, '"value"')]) == 1
    found = backend.finished("q", "t")
    assert found is not None and found.result == '"value"'


def test_results_expire_on_the_backend_clock_and_are_trimmed_later(
    backend: SqliteBackend, clock: FakeClock
) -> None:
    backend.status_ttl = 10.0
    [(task_id, receipt)] = _reserved(backend, "q", "t")
    acked_at = clock()
    assert backend.ack_results("q", [Ack(task_id, receipt, "42", 100.0)]) == 1
    clock.advance(99.0)
    found = backend.finished("q", "t")
    assert found is not None
    assert (found.status, found.result, found.finished_at) == (SUCCESS, "42", acked_at)
    clock.advance(1.0)
    assert backend.finished("q", "t") is None, "past its ttl and the status' too"
    assert _rows(backend, "alligator_results") == 1, "trimmed lazily, not by reading"
    [(other, other_receipt)] = _reserved(backend, "q", "other")
    backend.ack_results("q", [Ack(other, other_receipt, "1", 100.0)])
    keys = backend._connection().execute("SELECT task_id FROM alligator_results").fetchall()
    assert keys == [("other",)]


def test_plain_acks_trim_expired_results_a_batch_at_a_time(
    backend: SqliteBackend, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alligator_sqlite, "_TRIM_BATCH", 2)
    for n in range(5):
        _plant_result(backend, f"old{n}", '"x"', clock(), clock() + 1.0)
    clock.advance(2.0)
    for expected_left in (3, 1, 0):
        [(task_id, receipt)] = _reserved(backend, "q", f"t{expected_left}")
        assert backend.ack_many("q", [(task_id, receipt)]) == 1, "results off: an ack without one"
        assert _rows(backend, "alligator_results") == expected_left


def test_a_result_is_replaced_when_its_id_runs_again(backend: SqliteBackend) -> None:
    [(task_id, receipt)] = _reserved(backend, "q", "t")
    backend.ack_results("q", [Ack(task_id, receipt, '"first"')])
    assert backend.push("q", "t", "again") is True
    assert backend.finished("q", "t") is None, "pushed again: last run's result is not this one's"
    [again] = backend.reserve("q", LEASE)
    backend.ack_results("q", [Ack("t", again.receipt, '"second"')])
    found = backend.finished("q", "t")
    assert found is not None and found.result == '"second"'
    assert _rows(backend, "alligator_results") == 1


def test_a_stale_receipt_keeps_no_result(backend: SqliteBackend, clock: FakeClock) -> None:
    [(task_id, receipt)] = _reserved(backend, "q", "t")
    clock.advance(LEASE)
    assert backend.ack_results("q", [Ack(task_id, receipt, '"late"')]) == 0
    assert _rows(backend, "alligator_results") == 0
    assert backend.finished("q", "t") is None


def test_results_off_or_with_no_time_keep_nothing(backend: SqliteBackend) -> None:
    items = _reserved(backend, "q", "off", "zero")
    acks = [Ack(items[0][0], items[0][1], None), Ack(items[1][0], items[1][1], "1", 0.0)]
    assert backend.ack_results("q", acks) == 2
    assert _rows(backend, "alligator_results") == 0
    for task_id in ("off", "zero"):
        found = backend.finished("q", task_id)
        assert found is not None and (found.status, found.result, found.reason) == (SUCCESS, None, None)


def test_a_result_ttl_that_is_nan_is_refused_before_any_ack(backend: SqliteBackend) -> None:
    [(task_id, receipt)] = _reserved(backend, "q", "t")
    with pytest.raises(ValueError, match="result_ttl"):
        backend.ack_results("q", [Ack(task_id, receipt, "1", math.nan)])
    assert backend.status("q", "t") == RUNNING


def test_finished_says_failed_with_the_dead_letters_reason(backend: SqliteBackend, clock: FakeClock) -> None:
    [(task_id, receipt)] = _reserved(backend, "q", "t")
    backend.dead_letter("q", task_id, receipt, "it broke")
    found = backend.finished("q", "t")
    assert found is not None
    assert (found.status, found.result, found.reason, found.finished_at) == (
        FAILED,
        None,
        "it broke",
        clock(),
    )


def test_finished_is_none_for_a_task_not_finished(backend: SqliteBackend) -> None:
    _reserved(backend, "q", "running")
    backend.push("q", "waiting", "x")
    backend.push("q", "delayed", "x", delay=60.0)
    assert [backend.finished("q", t) for t in ("running", "waiting", "delayed", "unknown")] == [None] * 4


def test_wait_finished_reads_only_after_a_commit(
    backend: SqliteBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [(task_id, receipt)] = _reserved(backend, "q", "t")
    reads: list[str] = []
    finished = backend.finished

    def counted(queue: str, task_id: str) -> object:
        reads.append(task_id)
        return finished(queue, task_id)

    monkeypatch.setattr(backend, "finished", counted)
    assert backend.wait_finished("q", "t", 0.5) is None
    assert reads == ["t"], "no commit during the wait: one read, not one per poll"

    other = SqliteBackend(backend.conn_string)
    other.clock = backend.clock
    acker = threading.Timer(0.2, lambda: other.ack_results("q", [Ack(task_id, receipt, '"done"')]))
    acker.start()
    try:
        found = backend.wait_finished("q", "t", 60.0)
    finally:
        acker.join()
        other.close()
    assert found is not None and (found.status, found.result) == (SUCCESS, '"done"')


def test_finished_reads_a_hand_written_dead_letter_without_raising(backend: SqliteBackend) -> None:
    backend.max_payload_bytes = 64
    conn = sqlite_raw.connect(backend.path)
    conn.execute(
        "INSERT INTO alligator_dead (queue, task_id, reason, attempts, failed_at, seq, payload) "
        "VALUES ('q', 'd', CAST(? AS TEXT), 1, 'last tuesday', 1, 'x')",
        (b"\xff" + b"r" * 500,),
    )
    conn.close()
    found = backend.finished("q", "d")
    assert found is not None
    assert (found.status, found.result, found.finished_at) == (FAILED, None, None)
    assert found.reason == "\ufffd" + "r" * 63, "cut to the limit, decoded leniently"


# -- results a hostile hand wrote -------------------------------------------


def _plant_result(
    backend: SqliteBackend, task_id: str, result: object, finished_at: object, expires_at: object
) -> None:
    conn = sqlite_raw.connect(backend.path)
    conn.execute(
        "INSERT OR REPLACE INTO alligator_results (queue, task_id, finished_at, expires_at, result) "
        "VALUES ('q', ?, ?, ?, ?)",
        (task_id, finished_at, expires_at, result),
    )
    conn.close()


def test_an_oversized_result_is_withheld_without_being_read(backend: SqliteBackend, clock: FakeClock) -> None:
    backend.max_payload_bytes = 1024
    size = 8 * 1024 * 1024
    _plant_result(backend, "blob", b"7" * size, clock(), clock() + 60)
    _plant_result(backend, "text", "7" * 2000, clock(), clock() + 60)
    tracemalloc.start()
    try:
        found = backend.finished("q", "blob")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert found is not None
    assert (found.status, found.result) == (SUCCESS, None)
    assert found.reason == f"result is {size} bytes, over the limit of 1024"
    assert peak < size / 8, f"{peak} bytes allocated to withhold {size}"
    text = backend.finished("q", "text")
    assert text is not None and (text.result, text.reason) == (
        None,
        "result is 2000 bytes, over the limit of 1024",
    )


def test_a_result_that_is_not_utf8_is_withheld(backend: SqliteBackend, clock: FakeClock) -> None:
    _plant_result(backend, "blob", b"\xff\xfe", clock(), clock() + 60)
    conn = sqlite_raw.connect(backend.path)
    conn.execute(
        "INSERT INTO alligator_results VALUES ('q', 'text', ?, ?, CAST(? AS TEXT))",
        (clock(), clock() + 60, b"\xc3"),
    )
    conn.close()
    for task_id in ("blob", "text"):
        found = backend.finished("q", task_id)
        assert found is not None
        assert (found.status, found.result, found.reason) == (SUCCESS, None, "result is not valid UTF-8")


@pytest.mark.parametrize(
    ("result", "finished_at", "expires_at", "expected"),
    [
        ('"ok"', "yesterday", 9e15, ("ok-no-time",)),
        ('"ok"', b"\x00", 9e999, ("ok-no-time",)),
        ('"ok"', 1.0, "never", None),
        ('"ok"', 1.0, b"\xff", None),
        ('"ok"', 1.0, -9e999, None),
        ('"ok"', 1.0, "+1", None),  # REAL affinity makes it 1.0: long past
        (12, 1.0, 9e15, ("twelve",)),
        (b"", 1.0, 9e15, ("empty",)),
    ],
)
def test_hostile_result_rows_never_make_finished_raise(
    backend: SqliteBackend,
    result: object,
    finished_at: object,
    expires_at: object,
    expected: tuple[str] | None,
) -> None:
    _plant_result(backend, "t", result, finished_at, expires_at)
    found = backend.finished("q", "t")
    if expected is None:
        assert found is None, "an expiry that is no number is past"
    elif expected == ("ok-no-time",):
        assert found is not None and (found.result, found.finished_at) == ('"ok"', None)
    elif expected == ("twelve",):
        assert found is not None and found.result == "12"  # a TEXT column turns it into text
    else:
        assert found is not None and (found.result, found.reason) == ("", None)


def test_hostile_expiries_are_trimmed_too(backend: SqliteBackend) -> None:
    for n in range(3):
        _plant_result(backend, f"bad{n}", '"x"', 1.0, "never")
    [(task_id, receipt)] = _reserved(backend, "q", "t")
    backend.ack_results("q", [Ack(task_id, receipt, "1")])
    keys = backend._connection().execute("SELECT task_id FROM alligator_results").fetchall()
    assert keys == [("t",)]


# -- several queues ---------------------------------------------------------


def test_reserve_first_takes_the_first_queue_with_due_work_in_one_transaction(backend: SqliteBackend) -> None:
    backend.push("low", "l1", "x")
    backend.push("high", "h1", "x", delay=60.0)  # not due: does not count
    backend.push("mid", "m1", "x")
    backend.push("mid", "m2", "x")
    seen = _transactions(backend)
    queue, got = backend.reserve_first(["high", "mid", "low"], LEASE, 5)
    assert (queue, [r.task_id for r in got]) == ("mid", ["m1", "m2"])
    assert seen == ["BEGIN IMMEDIATE", "COMMIT"], "three queues, one write transaction"
    assert backend.reserve_first(["high", "mid", "low"], LEASE, 5)[0] == "low"
    assert backend.reserve_first(["high", "mid", "low"], LEASE, 5) == ("", [])


def test_reserve_first_dead_letters_a_queues_bad_records_and_goes_on(backend: SqliteBackend) -> None:
    sqlite_raw.plant_task(backend.path, "high", "bad", b"\xff", due=backend.now())
    backend.push("low", "good", "x")
    queue, got = backend.reserve_first(["high", "low"], LEASE)
    assert (queue, [r.task_id for r in got]) == ("low", ["good"])
    found = backend.finished("high", "bad")
    assert found is not None and (found.status, found.reason) == (FAILED, "payload is not valid UTF-8")


def test_reserve_first_with_a_timeout_naps_once_and_looks_again(backend: SqliteBackend) -> None:
    started = time.monotonic()
    assert backend.reserve_first(["a", "b"], LEASE, 1, timeout=5.0) == ("", [])
    assert time.monotonic() - started < 4.0, "naps, does not wait out the whole timeout"


# -- live workers -----------------------------------------------------------


def test_worker_records_are_listed_oldest_heartbeat_first_until_they_expire(
    backend: SqliteBackend, clock: FakeClock
) -> None:
    backend.heartbeat("w1", '{"n": 1}', 30.0)
    clock.advance(1.0)
    backend.heartbeat("w2", '{"n": 2}', 30.0)
    clock.advance(1.0)
    backend.heartbeat("w1", '{"n": 1, "again": true}', 30.0)
    assert backend.worker_records() == [("w2", '{"n": 2}'), ("w1", '{"n": 1, "again": true}')]
    clock.advance(29.0)
    assert backend.worker_records() == [("w1", '{"n": 1, "again": true}')], "w2 expired on the backend clock"
    assert backend.forget_worker("w2") is False, "an expired record was no live worker"
    assert backend.forget_worker("w1") is True
    assert backend.forget_worker("w1") is False
    assert backend.worker_records() == []


def test_the_registry_is_bounded_by_max_workers_and_ttl(backend: SqliteBackend, clock: FakeClock) -> None:
    backend.max_workers = 3
    for n in range(6):
        backend.heartbeat(f"w{n}", "{}", 30.0)
        clock.advance(1.0)
    assert [w for w, _ in backend.worker_records()] == ["w3", "w4", "w5"]
    assert _rows(backend, "alligator_workers") == 3, "the oldest heartbeats are dropped from the file"
    clock.advance(40.0)
    backend.heartbeat("late", "{}", 30.0)
    assert _rows(backend, "alligator_workers") == 1, "expired records are deleted by the next heartbeat"
    backend.max_workers = 1
    conn = sqlite_raw.connect(backend.path)
    conn.execute("INSERT INTO alligator_workers VALUES ('planted', ?, ?, 0, '{}')", (clock(), clock() + 30))
    conn.close()
    assert len(backend.worker_records()) == 1, "listing is bounded too, whatever the file holds"


def test_a_heartbeat_ttl_that_is_nan_is_refused(backend: SqliteBackend) -> None:
    with pytest.raises(ValueError, match="ttl"):
        backend.heartbeat("w", "{}", math.nan)
    assert backend.worker_records() == []


def test_hostile_worker_rows_are_skipped_and_never_raise(backend: SqliteBackend, clock: FakeClock) -> None:
    backend.max_payload_bytes = 1024
    now = clock()
    rows: list[tuple[object, object, object, object, object]] = [
        (b"\xff", now, now + 30, 1, "{}"),  # an id that is not UTF-8
        ("x" * 5000, now, now + 30, 2, "{}"),  # an id over max_task_id_bytes
        ("bad-record", now, now + 30, 3, b"\xff\xfe"),  # a record that is not UTF-8
        ("big-record", now, now + 30, 4, "r" * 5000),  # a record over max_payload_bytes
        ("text-expiry", now, "soon", 5, "{}"),  # an expiry that is no number
        ("blob-heartbeat", b"\x01", now + 30, 6, "{}"),  # a heartbeat that is no number
        ("nan-ish", now, -9e999, 7, "{}"),  # expired long ago
        ("text-seq", now, now + 30, "eight", "{}"),  # a sequence number that is no number: harmless
    ]
    conn = sqlite_raw.connect(backend.path)
    for row in rows:
        worker_id = row[0]
        cast = "CAST(? AS TEXT)" if isinstance(worker_id, bytes) else "?"
        conn.execute(f"INSERT INTO alligator_workers VALUES ({cast}, ?, ?, ?, ?)", row)
    conn.close()
    backend.heartbeat("good", '{"ok": true}', 30.0)
    listed = backend.worker_records()
    assert sorted(listed) == [("good", '{"ok": true}'), ("text-seq", "{}")]
    left = {
        row[0]
        for row in backend._connection().execute("SELECT CAST(worker_id AS BLOB) FROM alligator_workers")
    }
    assert b"text-expiry" not in left, "the heartbeat deleted the record whose expiry is no number"


def test_an_infinite_ttl_keeps_a_result_and_a_worker_until_replaced(
    backend: SqliteBackend, clock: FakeClock
) -> None:
    [(task_id, receipt)] = _reserved(backend, "q", "t")
    backend.ack_results("q", [Ack(task_id, receipt, '"forever"', math.inf)])
    backend.heartbeat("w", "{}", math.inf)
    clock.advance(1e9)
    found = backend.finished("q", "t")
    assert found is not None and found.result == '"forever"'
    assert backend.worker_records() == [("w", "{}")]
