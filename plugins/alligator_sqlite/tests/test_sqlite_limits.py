"""SQLite's limit tables: schema version 5 (migrated in place from 4); hand-written rows are survived."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_raw

from alligator.limit_store import LimitState
from alligator_sqlite import SCHEMA_VERSION, SqliteBackend


def test_a_version_4_file_is_migrated_with_nothing_limited(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    SqliteBackend(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        sqlite_raw.downgrade_to_version_4(conn)
        conn.execute(
            "INSERT INTO alligator_tasks (queue, task_id, payload, due, seq) VALUES ('q', 't', 'p', 0, 1)"
        )
    backend = SqliteBackend(f"sqlite:///{path}")
    try:
        assert backend.limit_states() == []
        assert backend.take_rate("k", "h", 1, 60.0) == 0.0
        assert backend.acquire_slot("c", "h", 1, 60.0) == 0.0
        assert backend.len("q") == 1, "the rows of version 4 are kept"
        with sqlite3.connect(path) as conn:
            (version,) = conn.execute(
                "SELECT value FROM alligator_meta WHERE key = 'schema_version'"
            ).fetchone()
        assert version == SCHEMA_VERSION == 5
    finally:
        backend.close()


def test_hand_written_limit_rows_are_survived(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    backend = SqliteBackend(f"sqlite:///{path}")
    try:
        with sqlite3.connect(path) as conn:
            conn.executemany(
                "INSERT INTO alligator_limit_rates (key, tat, count, per) VALUES (?, ?, ?, ?)",
                [
                    ("text", "soon", 1, 1.0),
                    ("far", 1e300, 1, 1.0),
                    (b"\xff", 9e18, 1, 1.0),
                    ("badcount", 9e18, "x", 1),
                ],
            )
            conn.executemany(
                "INSERT INTO alligator_limit_bookings (key, holder, slot) VALUES (?, ?, ?)",
                [("text", "h", "later"), ("far", "h", "x")],
            )
            conn.executemany(
                "INSERT INTO alligator_limit_slots (key, holder, lease_end, lim) VALUES (?, ?, ?, ?)",
                [
                    ("slots", "ghost", "forever", 1),
                    ("slots", "blob", b"\x00", 1),
                    ("slots", "eternal", 1e300, 1),
                    ("big", "x", 9e18, "many"),
                ],
            )
        assert backend.limit_states() == [], "no row is readable: each is skipped"
        assert backend.take_rate("text", "h", 1, 1.0) == 0.0, "a time that is no number counts as absent"
        assert backend.take_rate("far", "h", 1, 1.0) == 0.0, "a time a day or more ahead is not believed"
        assert backend.acquire_slot("slots", "me", 1, 30.0) == 0.0, "leases that are no number have ended"
        assert backend.extend_slot("slots", "ghost", 30.0) is False
        states = backend.limit_states()
        assert LimitState("concurrency", "slots", "1", 1, 0) in states
    finally:
        backend.close()
