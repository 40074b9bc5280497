"""SQLite's unique keys: schema version 5 (migrated in place from 4), its queries, and planted records."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
import sqlite_raw

from alligator_sqlite import SCHEMA_VERSION, SqliteBackend, queries
from alligator_sqlite import unique as sqlite_unique


@pytest.fixture
def backend(tmp_path: Path) -> SqliteBackend:
    return SqliteBackend(f"sqlite:///{tmp_path}/tasks.db")


def test_a_version_4_file_is_migrated_with_no_key_held(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    SqliteBackend(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        sqlite_raw.downgrade_to_version_4(conn)
        conn.execute(
            "INSERT INTO alligator_tasks (queue, task_id, payload, due, seq) VALUES ('q', 't', 'p', 0, 1)"
        )
    backend = SqliteBackend(f"sqlite:///{path}")
    try:
        assert backend.unique_keys("q") == []
        assert backend.push_unique("q", "u", "p", 0.0, "k", "until_finished", 60.0) == (True, "")
        assert backend.len("q") == 2, "the rows of version 4 are kept"
        with sqlite3.connect(path) as conn:
            (version,) = conn.execute(
                "SELECT value FROM alligator_meta WHERE key = 'schema_version'"
            ).fetchone()
        assert version == SCHEMA_VERSION == 5
    finally:
        backend.close()


def test_every_unique_query_is_bound_used_and_compiles(tmp_path: Path) -> None:
    loaded = queries.load("unique.sql")
    code = Path(sqlite_unique.__file__).read_text("utf-8") + Path(sqlite_unique.__file__).with_name(
        "backend.py"
    ).read_text("utf-8")
    conn = sqlite3.connect(tmp_path / "tasks.db", isolation_level=None)
    try:
        for statement in queries.statements("schema.sql"):
            conn.execute(statement)
        for name, query in loaded.items():
            assert getattr(sqlite_unique, name.upper()) == query
            assert re.search(rf"\b{name.upper()}\b", code.replace(f"{name.upper()} = ", ""))
            conn.execute(f"EXPLAIN {query}", dict.fromkeys(re.findall(r":([a-z_]+)\b", query))).fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("holder", "mode", "until"),
    [
        (b"\xff\xfe", "until_finished", 1e18),  # a holder that is not UTF-8
        ("a", b"\xff", 1e18),  # a mode that is not UTF-8
        ("a", "until_finished", "soon"),  # an end that is no number
        ("a", "forever", 1e18),  # a mode nobody writes
        (7, "until_finished", 1e18),  # a holder that is a number
        ("a", "until_finished", None),  # no end at all
    ],
)
def test_a_planted_record_holds_nothing_and_crashes_nothing(
    backend: SqliteBackend, holder: object, mode: object, until: object
) -> None:
    assert backend.push("q", "a", "p")
    with sqlite3.connect(backend.path) as conn:
        conn.execute("PRAGMA ignore_check_constraints = 1")
        conn.execute("DROP TABLE alligator_unique_keys")
        conn.execute(
            "CREATE TABLE alligator_unique_keys (queue, key, holder, mode, until, PRIMARY KEY (queue, key))"
        )
        conn.execute("INSERT INTO alligator_unique_keys VALUES ('q', 'k', ?, ?, ?)", (holder, mode, until))
        conn.execute(
            "INSERT INTO alligator_unique_keys VALUES ('q', ?, 'a', 'until_finished', 1e18)", (b"\xff",)
        )
    assert backend.unique_keys("q") == []
    assert backend.push_unique("q", "b", "p", 0.0, "k", "until_finished", 60.0) == (True, "")
    assert [(k.key, k.holder) for k in backend.unique_keys("q")] == [("k", "b")]
    assert backend.push_unique("q", "c", "p", 0.0, "k", "until_finished", 60.0) == (False, "b")
