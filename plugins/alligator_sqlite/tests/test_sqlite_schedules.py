"""SQLite's schedule records: the migration that adds them, and records planted by hand."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_raw

from alligator_sqlite import SCHEMA_VERSION, SqliteBackend


def test_a_version_4_file_is_migrated_with_no_schedule_records(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    SqliteBackend(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        sqlite_raw.downgrade_to_version_4(conn)
    backend = SqliteBackend(f"sqlite:///{path}")
    try:
        assert backend.schedule_records() == []
        assert backend.push_tick("q", "s", 10.0, "schedule:s:10", "{}", "{}") is True
        with sqlite3.connect(path) as conn:
            (version,) = conn.execute(
                "SELECT value FROM alligator_meta WHERE key = 'schema_version'"
            ).fetchone()
        assert version == SCHEMA_VERSION == 5
    finally:
        backend.close()


def test_planted_records_are_skipped_and_a_bad_tick_counts_as_none(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    backend = SqliteBackend(f"sqlite:///{path}")
    try:
        with sqlite3.connect(path) as conn:
            conn.executemany(
                "INSERT INTO alligator_schedule_ticks (queue, name, last_tick, about) VALUES (?, ?, ?, ?)",
                [
                    ("q", "text-tick", "soon", "{}"),
                    ("q", "blob-name", 1.0, "{}"),
                    ("q", b"\xff\xfe", 1.0, "{}"),
                    ("q", "long-about", 1.0, "x" * 100_000),
                    ("q", "fine", 5.0, "{}"),
                ],
            )
        assert [record.name for record in backend.schedule_records()] == ["blob-name", "fine"]
        assert backend.push_tick("q", "text-tick", 1.0, "schedule:text-tick:1", "{}", "{}") is True, (
            "a recorded tick that is no number counts as no record"
        )
        assert backend.push_tick("q", "fine", 5.0, "schedule:fine:5", "{}", "{}") is False
    finally:
        backend.close()
