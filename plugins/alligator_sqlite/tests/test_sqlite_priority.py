"""SQLite's priorities: schema version 5 (migrated from 4), and stored priorities that are no priority."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_raw

from alligator.testing import FakeClock
from alligator_sqlite import SCHEMA_VERSION, SqliteBackend

LEASE = 30.0


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[SqliteBackend]:
    backend = SqliteBackend(f"sqlite:///{tmp_path / 'tasks.db'}")
    backend.clock = FakeClock()
    yield backend
    backend.close()


def _set_priority(path: str, task_id: str, value: object) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alligator_tasks SET priority = ? WHERE task_id = ?", (value, task_id))


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("high", "'high'"),
        (b"\xff", "b'\\xff'"),
        (101, "101"),
        (-1000, "-1000"),
        (2**62, str(2**62)),
        (1.5, "1.5"),
        (1e300, "1e+300"),
    ],
)
def test_a_priority_that_is_none_is_dead_lettered_by_reserve(
    backend: SqliteBackend, value: object, shown: str
) -> None:
    backend.push_prioritized("q", [("before", "b", 0.0, 5), ("planted", "p", 0.0, 3), ("after", "a", 0.0, 0)])
    _set_priority(backend.path, "planted", value)
    got = backend.reserve("q", LEASE, 10)
    assert [r.task_id for r in got] == ["before", "after"]
    [letter] = backend.dead_letters("q")
    assert (letter.task_id, letter.reason) == ("planted", f"record is corrupt: priority is {shown}")
    assert backend.len("q") == 0


def test_a_held_task_whose_priority_turns_bad_is_dead_lettered_too(backend: SqliteBackend) -> None:
    backend.push_prioritized("q", [("held", "h", 0.0, 5)])
    [held] = backend.reserve("q", LEASE)
    _set_priority(backend.path, "held", "bad")
    assert backend.reserve("q", LEASE) == []
    assert [d.task_id for d in backend.dead_letters("q")] == ["held"]
    assert backend.ack("q", "held", held.receipt) is False


def test_get_dead_letters_a_task_whose_priority_is_no_number(backend: SqliteBackend) -> None:
    backend.push_prioritized("q", [("t", "x", 0.0, 5)])
    _set_priority(backend.path, "t", 2.5)
    assert backend.get("q", "t", LEASE) is None
    [letter] = backend.dead_letters("q")
    assert letter.reason == "record is corrupt: priority is 2.5"


def test_a_bad_priority_kept_for_a_dead_letter_comes_back_to_be_buried_again(backend: SqliteBackend) -> None:
    backend.push_prioritized("q", [("t", "x", 0.0, 5)])
    [held] = backend.reserve("q", LEASE)
    assert backend.dead_letter("q", "t", held.receipt, "broke")
    with sqlite3.connect(backend.path) as conn:
        conn.execute("UPDATE alligator_priority_dead SET priority = 'x'")
    assert backend.requeue("q", "t") is True
    assert backend.reserve("q", LEASE) == []
    [letter] = backend.dead_letters("q")
    assert letter.reason == "record is corrupt: priority is 'x'"


def test_dropping_letters_forgets_their_priorities(backend: SqliteBackend) -> None:
    for task_id in ("a", "b", "c"):
        backend.push_prioritized("q", [(task_id, "x", 0.0, 9)])
        [held] = backend.reserve("q", LEASE)
        assert backend.dead_letter("q", task_id, held.receipt, "broke")
    assert backend.delete_dead("q", "a")
    assert backend.purge_dead("q") == 2
    with sqlite3.connect(backend.path) as conn:
        assert conn.execute("SELECT count(*) FROM alligator_priority_dead").fetchone() == (0,)
    backend.push_prioritized("q", [("d", "x", 0.0, 9)])
    [held] = backend.reserve("q", LEASE)
    assert backend.dead_letter("q", "d", held.receipt, "broke")
    backend.drop_all("q")
    with sqlite3.connect(backend.path) as conn:
        assert conn.execute("SELECT count(*) FROM alligator_priority_dead").fetchone() == (0,)


def test_a_version_4_file_is_migrated_with_every_task_at_priority_0(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    SqliteBackend(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        sqlite_raw.downgrade_to_version_4(conn)
        conn.execute(
            "INSERT INTO alligator_tasks (queue, task_id, payload, due, seq) VALUES ('q', 'old', 'p', 0, 1)"
        )
    backend = SqliteBackend(f"sqlite:///{path}")
    try:
        assert [(t.task_id, t.priority) for t in backend.tasks("q", "waiting")] == [("old", 0)]
        assert backend.push_prioritized("q", [("new", "n", 0.0, 1)]) == 1
        assert [r.task_id for r in backend.reserve("q", LEASE, 10)] == ["new", "old"]
        with sqlite3.connect(path) as conn:
            (version,) = conn.execute(
                "SELECT value FROM alligator_meta WHERE key = 'schema_version'"
            ).fetchone()
            columns = [row[2] for row in conn.execute("PRAGMA index_info(alligator_tasks_due)")]
        assert version == SCHEMA_VERSION == 5
        assert columns == ["queue", "priority", "due", "seq"]
    finally:
        backend.close()
