"""Schema version 2: a version-1 database is migrated in place and keeps all; reserve reads the new index."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping

import psycopg
import pytest

from alligator.constants import DELAYED, FAILED, RUNNING, SUCCESS, WAITING
from alligator.exceptions import BackendError
from alligator_postgres import SCHEMA_VERSION, PostgresBackend, queries
from alligator_postgres.schema import FIRST_VERSION

LEASE = 30.0


def make_version_1(dsn: str) -> None:
    """Creates the tables exactly as alligator-postgres 1.0.0 did (schema.sql, version 1), empty."""
    with psycopg.connect(dsn, autocommit=True) as conn, conn.transaction():
        for statement in queries.statements("schema.sql"):
            conn.execute(statement)
        conn.execute(queries.INSERT_META, {"version": FIRST_VERSION})


def fill_version_1(dsn: str) -> None:
    """Writes what a version-1 store holds, through version 1's columns only."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        now = conn.execute("SELECT extract(epoch FROM now())::double precision").fetchone()[0]  # type: ignore[index]
        for n in range(3):
            conn.execute(
                "INSERT INTO alligator_tasks (queue, task_id, payload, due) VALUES ('q', %s, %s, %s)",
                (f"old{n}", f"payload {n}".encode(), now - 10 + n),
            )
        conn.execute(
            "INSERT INTO alligator_tasks (queue, task_id, payload, due) VALUES ('q', 'later', 'l', %s)",
            (now + 3600,),
        )
        conn.execute(
            "INSERT INTO alligator_tasks (queue, task_id, payload, due, attempts, receipt) "
            "VALUES ('q', 'held', 'h', %s, 1, 'r-1')",
            (now + 3600,),
        )
        conn.execute(
            "INSERT INTO alligator_dead (queue, task_id, reason, attempts, failed_at, payload) "
            "VALUES ('q', 'dead', 'broke', 2, %s, 'd')",
            (now,),
        )
        conn.execute(
            "INSERT INTO alligator_finished (queue, task_id, status, finished_at) "
            "VALUES ('q', 'dead', %s, %s), "
            "('q', 'done', %s, %s)",
            (FAILED, now, SUCCESS, now),
        )
        conn.execute(
            "INSERT INTO alligator_results (queue, task_id, finished_at, expires_at, result) "
            "VALUES ('q', 'done', %s, %s, '42')",
            (now, now + 3600),
        )


def stored_version(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT value FROM alligator_meta WHERE key = 'schema_version'").fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def version_1(schema_dsn: str) -> str:
    make_version_1(schema_dsn)
    fill_version_1(schema_dsn)
    return schema_dsn


@pytest.fixture
def opened(version_1: str) -> Iterator[PostgresBackend]:
    backend = PostgresBackend(version_1)
    yield backend
    backend.close()


def test_a_version_1_database_is_migrated_and_keeps_its_tasks(
    version_1: str, opened: PostgresBackend
) -> None:
    assert stored_version(version_1) == SCHEMA_VERSION == 2
    assert opened.created is False, "migrated, not created"
    assert [opened.status("q", t) for t in ("old0", "later", "held", "dead", "done")] == [
        WAITING,
        DELAYED,
        RUNNING,
        FAILED,
        SUCCESS,
    ]
    assert opened.len("q") == 4
    assert [(t.task_id, t.priority) for t in opened.tasks("q", "waiting")] == [
        ("old0", 0),
        ("old1", 0),
        ("old2", 0),
    ]
    finished = opened.finished("q", "done")
    assert finished is not None and finished.result == "42"
    assert opened.extend("q", "held", "r-1", LEASE), "a lease of version 1 is still held by its receipt"
    # Every task keeps its place: a task pushed now comes after them, one with a priority before.
    assert opened.push("q", "new", "n")
    assert opened.push_prioritized("q", [("urgent", "u", 0.0, 5)]) == 1
    taken = [r.task_id for r in opened.reserve("q", LEASE, 10)]
    assert taken == ["urgent", "old0", "old1", "old2", "new"]
    assert [r.payload for r in opened.reserve("q", LEASE, 10)] == []
    assert opened.requeue("q", "dead") is True, "a letter of version 1 requeues, at priority 0"
    [again] = opened.reserve("q", LEASE)
    assert (again.task_id, again.payload) == ("dead", "d")


def test_the_new_capabilities_work_on_a_migrated_database(opened: PostgresBackend) -> None:
    assert opened.unique_keys("q") == [], "no key is held after the upgrade"
    assert opened.schedule_records() == []
    assert opened.limit_states() == []
    assert opened.push_unique("q", "u1", "x", 0.0, "k", "until_finished", 60.0) == (True, "")
    assert opened.push_unique("q", "u2", "x", 0.0, "k", "until_finished", 60.0) == (False, "u1")
    assert opened.push_tick("q", "nightly", 100.0, "schedule:nightly:100", "{}", "{}") is True
    assert opened.take_rate("key", "h", 1, 3600.0) == 0.0
    assert opened.acquire_slot("slots", "h", 1, 60.0) == 0.0


def test_backends_opening_a_version_1_database_at_once_migrate_it_once(version_1: str) -> None:
    backends: list[PostgresBackend] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def open_it() -> None:
        try:
            start.wait(60)
            backends.append(PostgresBackend(version_1))
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    try:
        assert not errors, errors
        assert len(backends) == 6
        assert stored_version(version_1) == SCHEMA_VERSION
        assert backends[0].len("q") == 4, "no task lost or doubled by six migrators"
    finally:
        for backend in backends:
            backend.close()


def test_a_migration_that_fails_changes_nothing_and_says_why(version_1: str) -> None:
    # A table of the application's own under a name version 2 uses: the
    # migration's index on it fails, and its whole transaction rolls back.
    with psycopg.connect(version_1, autocommit=True) as conn:
        conn.execute("CREATE TABLE alligator_unique_keys (queue text, note text)")
    with pytest.raises(BackendError, match="until"):
        PostgresBackend(version_1)
    assert stored_version(version_1) == FIRST_VERSION
    with psycopg.connect(version_1, autocommit=True) as conn:
        columns = [
            name
            for (name,) in conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = 'alligator_tasks'"
            ).fetchall()
        ]
        assert "priority" not in columns, "the first statements of the migration were rolled back too"
        assert conn.execute("SELECT count(*) FROM alligator_tasks").fetchone() == (5,)
        conn.execute("DROP TABLE alligator_unique_keys")
    backend = PostgresBackend(version_1)
    try:
        assert stored_version(version_1) == SCHEMA_VERSION, "once the clash is gone, the next start migrates"
        assert backend.len("q") == 4
    finally:
        backend.close()


def test_a_new_database_gets_version_2_through_the_same_migration(schema_dsn: str) -> None:
    backend = PostgresBackend(schema_dsn)
    try:
        assert backend.created is True
        assert stored_version(schema_dsn) == SCHEMA_VERSION
        with psycopg.connect(schema_dsn, autocommit=True) as conn:
            (definition,) = conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                "AND indexname = 'alligator_tasks_due'"
            ).fetchone() or ("",)
        assert "(queue, priority DESC, due, seq)" in definition
    finally:
        backend.close()


def _plan(dsn: str, query: str, params: Mapping[str, object]) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(f"EXPLAIN {query}", params).fetchall()
    return "\n".join(str(row[0]) for row in rows)


@pytest.fixture
def crowded(schema_dsn: str) -> Iterator[PostgresBackend]:
    """A queue of 20,000 delayed tasks at three priorities, one due task, analyzed: big enough to plan for."""
    backend = PostgresBackend(schema_dsn)
    for priority in (-3, 0, 4):
        items = [(f"later-{priority}-{n}", "x", 3600.0, priority) for n in range(20_000 // 3)]
        backend.push_prioritized("q", items)
    backend.push_prioritized("q", [("due", "x", 0.0, -3)])
    with psycopg.connect(schema_dsn, autocommit=True) as conn:
        conn.execute("ANALYZE alligator_tasks")
    yield backend
    backend.close()


def test_reserve_reads_the_priority_index_one_range_per_priority(
    crowded: PostgresBackend, schema_dsn: str
) -> None:
    params = {"queue": "q", "now": None, "lease": LEASE, "limit": 10, "max_id": 1024, "max_bytes": 1024}
    plan = _plan(schema_dsn, queries.RESERVE_DUE, params)
    assert "Seq Scan" not in plan and "Sort" not in plan, plan
    assert "LockRows" in plan, plan
    # The due tasks of each priority are one range of the index, bounded by the time.
    assert "Index Scan using alligator_tasks_due" in plan, plan
    assert re.search(r"Index Cond: .*\(priority = levels\w*\.priority\) AND \(due <= ", plan), plan
    [taken] = crowded.reserve("q", LEASE, 10)
    assert taken.task_id == "due", "the only due task, under 20,000 delayed ones of higher priorities"


def test_waking_reads_the_priority_index_too(crowded: PostgresBackend, schema_dsn: str) -> None:
    plan = _plan(schema_dsn, queries.NEXT_DUE, {"queues": ["q", "empty"], "now": None})
    assert "Seq Scan" not in plan and "Sort" not in plan, plan
    assert "alligator_tasks_due" in plan, plan
    assert crowded.wait_for_work(["q"], 0.01) is True, "a task is due now"
