"""SQLite's pauses: schema version 4 (migrated in place from 3) and hand-written rows that are skipped."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_raw

from alligator_sqlite import SCHEMA_VERSION, SqliteBackend

GOOD = [("function", "mod.tasks:fn"), ("queue", "emails")]


def test_hostile_rows_are_skipped_never_read_whole(tmp_path: Path) -> None:
    backend = SqliteBackend(f"sqlite:///{tmp_path / 'tasks.db'}")
    with sqlite3.connect(tmp_path / "tasks.db") as conn:
        conn.executemany(
            "INSERT INTO alligator_paused (kind, name) VALUES (?, ?)",
            [
                ("topic", "x"),
                ("queue", b"\xff\xfe"),
                ("queue", "x" * 300),
                ("queue", b"y" * 10_000_000),
                ("function", "nocolon"),
                ("queue", ""),
                (b"queue", "blob-kind"),
            ],
        )
    try:
        for kind, name in GOOD:
            assert backend.set_paused(kind, name, True) is True
        assert backend.paused() == GOOD, "each hostile row is skipped, the others listed"
    finally:
        backend.close()


def test_a_version_3_file_is_migrated_with_nothing_paused(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    SqliteBackend(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        # Version 3 is version 4 without the paused table.
        sqlite_raw.downgrade_to_version_4(conn)
        conn.execute("DROP TABLE alligator_paused")
        conn.execute("UPDATE alligator_meta SET value = 3 WHERE key = 'schema_version'")
        conn.execute(
            "INSERT INTO alligator_tasks (queue, task_id, payload, due, seq) VALUES ('q', 't', 'p', 0, 1)"
        )
    backend = SqliteBackend(f"sqlite:///{path}")
    try:
        assert backend.paused() == []
        assert backend.set_paused("queue", "q", True) is True
        assert backend.len("q") == 1, "the rows of version 3 are kept"
        with sqlite3.connect(path) as conn:
            (version,) = conn.execute(
                "SELECT value FROM alligator_meta WHERE key = 'schema_version'"
            ).fetchone()
        assert version == SCHEMA_VERSION == 5
    finally:
        backend.close()
    reopened = SqliteBackend(f"sqlite:///{path}")
    try:
        assert reopened.paused() == [("queue", "q")], "opening a migrated file changes nothing"
    finally:
        reopened.close()
