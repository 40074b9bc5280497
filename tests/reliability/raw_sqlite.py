"""Raw reads and writes of an alligator SQLite file, as anyone who can open the file can make them.

The tests use this module to plant records the way a hostile (or buggy)
writer would: plain SQL, past ``push()`` and every check the backend makes.
Everything here follows the schema of ``alligator_sqlite`` (version 1; see
its module docstring): if the backend's tables change, change them here, in
this one place. :func:`check_layout` tells when the two disagree.

* ``alligator_meta(key, value)``: ``seq`` is the FIFO counter.
* ``alligator_tasks(queue, task_id, payload, due, seq, attempts, receipt)``:
  waiting tasks have ``receipt`` NULL and ``due`` <= now; a reserved one has
  ``receipt`` set and ``due`` = the end of its lease.
* ``alligator_finished(queue, task_id, status, finished_at)`` and
  ``alligator_results(queue, task_id, finished_at, expires_at, result)``: a
  task acked with a result (status 1, SUCCESS), kept until ``expires_at``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass

#: How a payload's bytes are stored: ``text`` puts the exact bytes in a TEXT
#: value (``CAST(? AS TEXT)``: SQLite does not check that they are UTF-8),
#: ``blob`` stores them as a BLOB in the TEXT column (type affinity does not
#: convert a BLOB), ``str`` binds a Python str (what ``push()`` does).
STORAGES = ("text", "blob", "str")


@dataclass(frozen=True)
class RawRecord:
    """One task record to write: its id, its payload bytes and how to store them."""

    task_id: str
    data: bytes
    storage: str = "text"


def path_of(dsn: str) -> str:
    """The file of an ``sqlite:////abs/path`` DSN (the tests' form)."""
    assert dsn.startswith("sqlite:///"), dsn
    return dsn[len("sqlite:///") :].split("?", 1)[0]


def _connect(dsn: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path_of(dsn), timeout=60, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 60000")
    return conn


def plant(dsn: str, queue: str, records: Sequence[RawRecord]) -> None:
    """Writes waiting, due-now task records with exactly these payload bytes, in this order.

    The tables must exist (build the backend once first: it creates them).
    """
    now = time.time()
    with closing(_connect(dsn)) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            (last,) = conn.execute(
                "UPDATE alligator_meta SET value = value + ? WHERE key = 'seq' RETURNING value",
                (len(records),),
            ).fetchone()
            first = int(last) - len(records) + 1
            for n, record in enumerate(records):
                if record.storage == "text":
                    value: object = record.data
                    expr = "CAST(? AS TEXT)"
                elif record.storage == "blob":
                    value, expr = record.data, "?"
                elif record.storage == "str":
                    value, expr = record.data.decode("utf-8"), "?"
                else:
                    raise ValueError(f"unknown storage {record.storage!r}; one of {STORAGES}")
                conn.execute(
                    "INSERT INTO alligator_tasks (queue, task_id, payload, due, seq) "
                    f"VALUES (?, ?, {expr}, ?, ?)",
                    (queue, record.task_id, value, now, first + n),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def plant_result(dsn: str, queue: str, task_id: str, result: str) -> None:
    """Writes a succeeded task with this stored result text, as if a worker had acked it.

    The tables must exist (build the backend once first: it creates them).
    """
    now = time.time()
    with closing(_connect(dsn)) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("DELETE FROM alligator_tasks WHERE queue = ? AND task_id = ?", (queue, task_id))
            conn.execute(
                "INSERT OR REPLACE INTO alligator_finished (queue, task_id, status, finished_at) "
                "VALUES (?, ?, 1, ?)",
                (queue, task_id, now),
            )
            conn.execute(
                "INSERT OR REPLACE INTO alligator_results (queue, task_id, finished_at, expires_at, result) "
                "VALUES (?, ?, ?, ?, ?)",
                (queue, task_id, now, now + 3600, result),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


class Leases:
    """The store's view of every lease of a queue, read again on each call.

    Calling it returns ``(task id, receipt) -> lease end`` (Unix time, as the
    workers' clock wrote it). A lease that ran out stays listed with its end
    until another reserve takes the task (then its receipt changes).
    """

    def __init__(self, dsn: str, queue: str) -> None:
        self.dsn = dsn
        self.queue = queue
        self.conn: sqlite3.Connection | None = None

    def __call__(self) -> dict[tuple[str, str], float]:
        if self.conn is None:
            # Opened by the thread that reads (sqlite3 connections stay in
            # their thread). A plain read in WAL mode never blocks a worker's write.
            self.conn = _connect(self.dsn)
        rows = self.conn.execute(
            "SELECT task_id, receipt, due FROM alligator_tasks WHERE queue = ? AND receipt IS NOT NULL",
            (self.queue,),
        ).fetchall()
        return {(task_id, str(receipt)): float(due) for task_id, receipt, due in rows}

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def drop(dsn: str, queue: str) -> None:
    """Deletes every row of the queue (the file itself goes with the test's tmp_path)."""
    with closing(_connect(dsn)) as conn:
        for table in ("alligator_tasks", "alligator_dead", "alligator_finished", "alligator_results"):
            conn.execute(f"DELETE FROM {table} WHERE queue = ?", (queue,))
