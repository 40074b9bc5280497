"""What only the SQLite backend has to prove: DSNs, the file, locks, full and read-only disks."""

from __future__ import annotations

import math
import os
import re
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import sqlite_raw

from alligator import Gator
from alligator.constants import SUCCESS, WAITING
from alligator.exceptions import BackendError, InvalidDSNError
from alligator_sqlite import RESERVE_SQL, SCHEMA_VERSION, SqliteBackend, parse_dsn, queries

# -- DSNs -------------------------------------------------------------------


def test_three_slashes_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    backend = SqliteBackend("sqlite:///sub.db")
    try:
        assert backend.path == str(tmp_path / "sub.db")
        assert (tmp_path / "sub.db").exists()
    finally:
        backend.close()


def test_four_slashes_is_absolute() -> None:
    assert parse_dsn("sqlite:////var/lib/app/tasks.db") == ("/var/lib/app/tasks.db", {})


@pytest.mark.parametrize(
    ("dsn", "says"),
    [
        ("sqlite://", "no database path"),
        ("sqlite:///", "no database path"),
        ("sqlite://host/tasks.db", "names a host"),
        ("sqlite:///:memory:", "in-memory"),
        ("sqlite:///tasks.db?colour=green", "unknown option 'colour'; known options: timeout, synchronous"),
        ("sqlite:///tasks.db?timeout=soon", "timeout='soon' is not a number of seconds"),
        ("sqlite:///tasks.db?synchronous=sometimes", "synchronous='sometimes'; use 'full' or 'normal'"),
    ],
)
def test_unusable_dsns_are_refused(dsn: str, says: str) -> None:
    with pytest.raises(InvalidDSNError, match=re.escape(says)):
        SqliteBackend(dsn)


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("timout=5", "unknown option 'timout' (did you mean 'timeout'?)"),
        ("TIMEOUT=5", "unknown option 'TIMEOUT' (did you mean 'timeout'?)"),
        ("synchronus=full", "unknown option 'synchronus' (did you mean 'synchronous'?)"),
        ("synchronous=ful", "synchronous='ful' (did you mean 'full'?)"),
        ("synchronous=norml", "synchronous='norml' (did you mean 'normal'?)"),
        ("timeout=nan", "timeout='nan' is not a number of seconds"),
        ("timeout=inf", "timeout='inf' is not a number of seconds"),
        ("timeout=-1", "timeout='-1' is not a number of seconds"),
        ("timeout=", "timeout='' is not a number of seconds"),
        ("timeout=1&timeout=2", "option 'timeout' is given more than once"),
    ],
)
def test_a_misspelt_option_or_a_bad_value_is_named(tmp_path: Path, query: str, says: str) -> None:
    dsn = f"sqlite:///{tmp_path}/tasks.db?{query}"
    with pytest.raises(InvalidDSNError, match=re.escape(says)) as info:
        SqliteBackend(dsn)
    assert dsn in str(info.value)
    assert not (tmp_path / "tasks.db").exists(), "refused before the file is touched"


def test_gator_refuses_a_misspelt_option_when_it_is_built(tmp_path: Path) -> None:
    with pytest.raises(InvalidDSNError, match=re.escape("(did you mean 'timeout'?)")):
        Gator(f"sqlite:///{tmp_path}/tasks.db?timout=5")


def test_describe_names_the_absolute_path_and_a_file_created_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    first = SqliteBackend("sqlite:///tasks.db")
    second = SqliteBackend("sqlite:///tasks.db")
    try:
        assert first.describe() == f"{elsewhere}/tasks.db (created now)"
        assert second.describe() == f"{elsewhere}/tasks.db"
    finally:
        first.close()
        second.close()


def test_gator_finds_the_backend_by_its_scheme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLIGATOR_ALLOW", "builtins")
    gator = Gator(f"sqlite:///{tmp_path}/tasks.db")
    try:
        assert isinstance(gator.backend, SqliteBackend)
        task = gator.task(pow, 2, 10)
        assert gator.pop().result == 1024  # type: ignore[union-attr]
        assert gator.status(task.task_id) == SUCCESS
    finally:
        gator.backend.close()


def test_missing_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="does not exist") as info:
        SqliteBackend(f"sqlite:///{tmp_path}/nowhere/tasks.db")
    assert str(tmp_path / "nowhere") in str(info.value)


# -- the file and its schema ------------------------------------------------


def test_file_is_created_in_wal_mode_with_a_schema_version(tmp_path: Path) -> None:
    SqliteBackend(f"sqlite:///{tmp_path}/tasks.db").close()
    conn = sqlite3.connect(tmp_path / "tasks.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        version = conn.execute("SELECT value FROM alligator_meta WHERE key = 'schema_version'").fetchone()
        assert version == (SCHEMA_VERSION,)
    finally:
        conn.close()


def test_tasks_survive_reopening(tmp_path: Path) -> None:
    dsn = f"sqlite:///{tmp_path}/tasks.db"
    first = SqliteBackend(dsn)
    first.push("q", "t1", "payload", delay=0)
    first.close()
    second = SqliteBackend(dsn)
    try:
        [got] = second.reserve("q", 30.0)
        assert (got.task_id, got.payload) == ("t1", "payload")
    finally:
        second.close()


def test_a_version_1_file_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    sqlite_raw.make_version_1_file(path)
    old = sqlite_raw.connect(path)
    old.executescript(
        """
        INSERT INTO alligator_tasks (queue, task_id, payload, due, seq, attempts, receipt)
            VALUES ('q', 'waiting', 'w', 0, 1, 2, NULL), ('q', 'held', 'h', 9e99, 2, 1, 'r1');
        INSERT INTO alligator_dead (queue, task_id, payload, reason, attempts, failed_at, seq)
            VALUES ('q', 'dead', 'd', 'broke', 3, 5.0, 3);
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
        assert conn.execute("SELECT task_id, failures FROM alligator_tasks ORDER BY seq").fetchall() == [
            ("waiting", 0),
            ("held", 0),
        ]
        columns = [row[1] for row in conn.execute("PRAGMA table_info(alligator_dead)")]
        assert columns[-1] == "payload", "rebuilt with the payload last"
        assert conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'alligator_dead_seq'"
        ).fetchone()
        conn.close()
        assert SCHEMA_VERSION == 5
        assert not backend.created
        [got] = backend.reserve("q", 30.0, 10)
        assert (got.task_id, got.payload, got.attempts, got.failures) == ("waiting", "w", 3, 0)
        assert backend.release("q", "held", "r1") is True, "a lease taken before the migration still holds"
        [held] = backend.reserve("q", 30.0, 10)
        assert (held.task_id, held.attempts, held.failures) == ("held", 2, 1)
        backend.dead_letter_ttl = math.inf  # the letter failed at 5.0, in 1970: keep it
        letters = backend.dead_letters("q")
        assert [(d.task_id, d.payload, d.reason, d.attempts, d.failed_at) for d in letters] == [
            ("dead", "d", "broke", 3, 5.0)
        ]
        assert backend.push("q", "dead", "again") is False
        assert backend.requeue("q", "dead") is True
    finally:
        backend.close()
    SqliteBackend(f"sqlite:///{path}").close()  # opening a migrated file changes nothing


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    dsn = f"sqlite:///{tmp_path}/tasks.db"
    SqliteBackend(dsn).close()
    with sqlite3.connect(tmp_path / "tasks.db") as conn:
        conn.execute("UPDATE alligator_meta SET value = 99 WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(BackendError, match=r"schema version 99.*upgrade alligator-sqlite"):
        SqliteBackend(dsn)


def test_a_file_that_is_not_a_database_is_named(tmp_path: Path) -> None:
    (tmp_path / "tasks.db").write_bytes(b"these are not the pages you are looking for" * 100)
    with pytest.raises(BackendError, match="not an SQLite database") as info:
        SqliteBackend(f"sqlite:///{tmp_path}/tasks.db")
    assert str(tmp_path / "tasks.db") in str(info.value)


def test_reserve_reads_the_due_index(tmp_path: Path) -> None:
    backend = SqliteBackend(f"sqlite:///{tmp_path}/tasks.db")
    try:
        plan = backend._connection().execute(
            f"EXPLAIN QUERY PLAN {RESERVE_SQL}",
            {"max_id": 1024, "max_bytes": 1000, "queue": "q", "priority": 0, "now": 0.0, "limit": 10},
        )
        details = " ".join(str(row[-1]) for row in plan)
        assert "alligator_tasks_due" in details and "TEMP B-TREE" not in details, details
        assert "priority=? AND due<?" in details, details
    finally:
        backend.close()


@pytest.mark.parametrize(
    ("query", "params"),
    [
        (queries.TOP_PRIORITY, {"queue": "q"}),
        (queries.NEXT_PRIORITY, {"queue": "q", "below": 101}),
        (queries.CORRUPT_PRIORITY_ROWS, {"queue": "q", "limit": 8}),
        (queries.CORRUPT_DUE_ROWS, {"queue": "q", "priority": 0, "infinity": math.inf, "limit": 8}),
    ],
)
def test_the_steps_of_reserve_by_priority_are_index_seeks(
    tmp_path: Path, query: str, params: dict[str, object]
) -> None:
    backend = SqliteBackend(f"sqlite:///{tmp_path}/tasks.db")
    try:
        plan = backend._connection().execute(f"EXPLAIN QUERY PLAN {query}", params)
        details = " ".join(str(row[-1]) for row in plan)
        assert "SEARCH" in details and "alligator_tasks_due" in details, details
        assert "SCAN" not in details and "TEMP B-TREE" not in details, details
    finally:
        backend.close()


def _time_reserve_with(tmp_path: Path, rows: int) -> float:
    backend = SqliteBackend(f"sqlite:///{tmp_path}/tasks.db?synchronous=normal")
    try:
        backend.push_many("q", [(f"t{n}", "x" * 100, 0.0 if n % 2 else 3600.0) for n in range(rows)])
        started = time.perf_counter()
        for _ in range(20):
            got = backend.reserve("q", 30.0, 32)
            assert len(got) == 32
            backend.ack_many("q", [(r.task_id, r.receipt) for r in got])
        return (time.perf_counter() - started) / 20
    finally:
        backend.close()


@pytest.mark.soak
def test_reserve_stays_fast_with_a_hundred_thousand_rows(tmp_path: Path) -> None:
    assert _time_reserve_with(tmp_path, 100_000) < 0.05


# -- threads and locks ------------------------------------------------------


def test_each_thread_has_its_own_connection(tmp_path: Path) -> None:
    backend = SqliteBackend(f"sqlite:///{tmp_path}/tasks.db")
    try:
        seen: list[sqlite3.Connection] = []
        thread = threading.Thread(target=lambda: seen.append(backend._connection()))
        thread.start()
        thread.join()
        assert seen[0] is not backend._connection()
    finally:
        backend.close()


def _hold_write_lock(path: Path, seconds: float, locked: threading.Event) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    locked.set()
    time.sleep(seconds)
    conn.execute("COMMIT")
    conn.close()


def test_a_locked_file_is_waited_for(tmp_path: Path) -> None:
    backend = SqliteBackend(f"sqlite:///{tmp_path}/tasks.db")
    locked = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(tmp_path / "tasks.db", 0.5, locked))
    holder.start()
    try:
        locked.wait(5)
        assert backend.push("q", "t1", "x") is True
        assert backend.status("q", "t1") == WAITING
    finally:
        holder.join()
        backend.close()


def test_a_file_locked_too_long_says_so_and_changes_nothing(tmp_path: Path) -> None:
    backend = SqliteBackend(f"sqlite:///{tmp_path}/tasks.db?timeout=0.3")
    locked = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(tmp_path / "tasks.db", 1.5, locked))
    holder.start()
    try:
        locked.wait(5)
        started = time.monotonic()
        with pytest.raises(BackendError, match=r"locked by other processes for more than 0\.3s") as info:
            backend.push("q", "t1", "x")
        assert time.monotonic() - started < 1.4
        assert str(tmp_path / "tasks.db") in str(info.value)
        assert isinstance(info.value.__cause__, sqlite3.OperationalError)
    finally:
        holder.join()
    try:
        assert backend.len("q") == 0
    finally:
        backend.close()


# -- full and read-only disks -----------------------------------------------


def test_a_full_disk_is_reported_and_loses_nothing(tmp_path: Path) -> None:
    backend = SqliteBackend(f"sqlite:///{tmp_path}/tasks.db")
    try:
        backend.push("q", "kept", "x")
        [held] = backend.reserve("q", 30.0)
        backend.push("q", "waiting", "x")
        # No tiny filesystem to fill here: cap this connection's file size instead,
        # which fails writes with the very error a full disk gives (SQLITE_FULL).
        conn = backend._connection()
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 1}")
        with pytest.raises(BackendError, match="disk is full") as info:
            backend.push_many("q", [(f"big{n}", "x" * 5000, 0.0) for n in range(20)])
        assert str(tmp_path / "tasks.db") in str(info.value)
        assert "nothing was changed" in str(info.value)
        assert backend.len("q") == 1, "the whole batch rolled back"
        conn.execute("PRAGMA max_page_count = 1073741823")
        assert backend.ack("q", "kept", held.receipt)
        assert [r.task_id for r in backend.reserve("q", 30.0, 10)] == ["waiting"]
        assert backend.push_many("q", [(f"big{n}", "x" * 5000, 0.0) for n in range(20)]) == 20
    finally:
        backend.close()
    with sqlite3.connect(tmp_path / "tasks.db") as check:
        assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    check.close()


def test_a_read_only_file_is_reported_and_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    dsn = f"sqlite:///{path}"
    backend = SqliteBackend(dsn)
    backend.push("q", "kept", "x")
    backend.close()
    as_root = os.geteuid() == 0
    if as_root:
        # Permissions do not stop root: make the connection read-only instead,
        # which fails writes with the same error (SQLITE_READONLY).
        backend = SqliteBackend(dsn)
        backend._connection().execute("PRAGMA query_only = ON")
    else:
        os.chmod(path, 0o444)
    try:
        with pytest.raises(BackendError) as info:
            if not as_root:
                backend = SqliteBackend(dsn)
            backend.push("q", "new", "x")
        message = str(info.value)
        assert str(path) in message
        assert "read-only" in message or "cannot be opened" in message, message
    finally:
        backend.close()
        os.chmod(path, 0o644)
    backend = SqliteBackend(dsn)
    try:
        assert backend.len("q") == 1
        assert [r.task_id for r in backend.reserve("q", 30.0, 10)] == ["kept"]
    finally:
        backend.close()


# -- time -------------------------------------------------------------------


def test_finished_statuses_are_purged_from_the_file(tmp_path: Path) -> None:
    backend = SqliteBackend(f"sqlite:///{tmp_path}/tasks.db")
    now = [1_000_000.0]
    backend.clock = lambda: now[0]
    backend.status_ttl = 100.0
    try:
        backend.push_many("q", [(f"t{n}", "x", 0.0) for n in range(10)])
        got = backend.reserve("q", 30.0, 10)
        backend.ack_many("q", [(r.task_id, r.receipt) for r in got])
        now[0] += 200.0
        backend.push("q", "later", "x")
        [late] = backend.reserve("q", 30.0)
        backend.ack("q", "later", late.receipt)
        rows = backend._connection().execute("SELECT task_id FROM alligator_finished").fetchall()
        assert rows == [("later",)]
    finally:
        backend.close()


def _push_from_child(backend: SqliteBackend) -> None:
    # Uses the instance inherited through fork: it must open its own connection.
    backend.push("q", "from-child", "x")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_opens_its_own_connection(tmp_path: Path) -> None:
    import multiprocessing

    backend = SqliteBackend(f"sqlite:///{tmp_path}/tasks.db")
    try:
        backend.push("q", "from-parent", "x")
        child = multiprocessing.get_context("fork").Process(target=_push_from_child, args=(backend,))
        child.start()
        child.join(30)
        assert child.exitcode == 0
        assert backend.len("q") == 2
        assert [r.task_id for r in backend.reserve("q", 30.0, 10)] == ["from-parent", "from-child"]
    finally:
        backend.close()
