"""Writing rows straight into an Alligator SQLite file, as anyone with write access could.

Tests use it to plant records push() would never write (bytes that are not
UTF-8, huge payloads, an id both live and dead) through a connection of
their own, bypassing the backend.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

#: The tables as alligator-sqlite 1.0.0 created them (schema version 1),
#: kept verbatim to make the files a migration must handle.
SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS alligator_meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alligator_tasks (
    queue TEXT NOT NULL,
    task_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    due REAL NOT NULL,
    seq INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    PRIMARY KEY (queue, task_id)
);
CREATE INDEX IF NOT EXISTS alligator_tasks_due ON alligator_tasks (queue, due, seq);
CREATE TABLE IF NOT EXISTS alligator_dead (
    queue TEXT NOT NULL,
    task_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    reason TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    failed_at REAL NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (queue, task_id)
);
CREATE INDEX IF NOT EXISTS alligator_dead_seq ON alligator_dead (queue, seq);
CREATE TABLE IF NOT EXISTS alligator_finished (
    queue TEXT NOT NULL,
    task_id TEXT NOT NULL,
    status INTEGER NOT NULL,
    finished_at REAL NOT NULL,
    PRIMARY KEY (queue, task_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS alligator_finished_at ON alligator_finished (finished_at);
"""


#: The tables as alligator-sqlite created them at schema version 2 (before
#: results and the worker registry), kept verbatim for the migration to 3.
SCHEMA_V2 = """
CREATE TABLE IF NOT EXISTS alligator_meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alligator_tasks (
    queue TEXT NOT NULL,
    task_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    due REAL NOT NULL,
    seq INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    failures INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, task_id)
);
CREATE INDEX IF NOT EXISTS alligator_tasks_due ON alligator_tasks (queue, due, seq);
CREATE TABLE IF NOT EXISTS alligator_dead (
    queue TEXT NOT NULL,
    task_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    failed_at REAL NOT NULL,
    seq INTEGER NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (queue, task_id)
);
CREATE INDEX IF NOT EXISTS alligator_dead_seq ON alligator_dead (queue, seq);
CREATE TABLE IF NOT EXISTS alligator_finished (
    queue TEXT NOT NULL,
    task_id TEXT NOT NULL,
    status INTEGER NOT NULL,
    finished_at REAL NOT NULL,
    PRIMARY KEY (queue, task_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS alligator_finished_at ON alligator_finished (finished_at);
"""


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection of our own, committing each statement, waiting for the backend's locks."""
    return sqlite3.connect(path, isolation_level=None, timeout=60)


def plant_task(
    path: str | Path,
    queue: str,
    task_id: str | bytes,
    data: bytes,
    due: float,
    as_text: bool = True,
) -> None:
    """Writes a waiting task whose payload is exactly ``data``, behind the backend's back.

    Args:
        path: The database file.
        queue: The queue.
        task_id: Its id; bytes are stored as they are (they may not be UTF-8).
        data: The payload's bytes.
        due: When it is due (the backend's clock).
        as_text: Store the payload as TEXT (the column's type, bad bytes and
            all, as a C program could) rather than as a BLOB.
    """
    value = "CAST(? AS TEXT)" if as_text else "?"
    task_key = "CAST(? AS TEXT)" if isinstance(task_id, bytes) else "?"
    conn = connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        seq = conn.execute(
            "UPDATE alligator_meta SET value = value + 1 WHERE key = 'seq' RETURNING value"
        ).fetchone()
        conn.execute(
            "INSERT INTO alligator_tasks (queue, task_id, payload, due, seq) "
            f"VALUES (?, {task_key}, {value}, ?, ?)",
            (queue, task_id, data, due, seq[0]),
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


def make_version_1_file(path: str | Path) -> None:
    """Creates a database file exactly as schema version 1 laid it out, with no rows."""
    conn = connect(path)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(SCHEMA_V1)
        conn.execute("INSERT INTO alligator_meta (key, value) VALUES ('schema_version', 1), ('seq', 0)")
    finally:
        conn.close()


def make_version_2_file(path: str | Path) -> None:
    """Creates a database file exactly as schema version 2 laid it out, with no rows."""
    conn = connect(path)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(SCHEMA_V2)
        conn.execute("INSERT INTO alligator_meta (key, value) VALUES ('schema_version', 2), ('seq', 0)")
    finally:
        conn.close()


#: The tables schema version 5 added (unique keys, schedules, limits, dead letters' priorities).
VERSION_5_TABLES = (
    "alligator_unique_keys",
    "alligator_schedule_ticks",
    "alligator_limit_rates",
    "alligator_limit_bookings",
    "alligator_limit_slots",
    "alligator_limit_waiters",
    "alligator_priority_dead",
)


def downgrade_to_version_4(conn: sqlite3.Connection) -> None:
    """Turns a new file's tables back into schema version 4's: none of version 5's tables,
    no priorities, the index by due time."""
    conn.execute("DROP INDEX alligator_tasks_due")
    conn.execute("ALTER TABLE alligator_tasks DROP COLUMN priority")
    conn.execute("CREATE INDEX alligator_tasks_due ON alligator_tasks (queue, due, seq)")
    for table in VERSION_5_TABLES:
        conn.execute(f"DROP TABLE {table}")
    conn.execute("UPDATE alligator_meta SET value = 4 WHERE key = 'schema_version'")
