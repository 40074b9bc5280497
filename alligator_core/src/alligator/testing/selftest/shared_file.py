"""A store that several processes share (one SQLite file), to prove the kit's tests with several clients.

:class:`SqliteFileBackend` keeps only what :class:`~alligator.testing.contract.SharedStoreContract`
uses (push, reserve, ack, release, len, drop_all), each step one
transaction of SQLite's, so clients in any number of threads and processes
see one queue. :class:`InProcessLockOnly` is the bug of issue 10, item 1: it
serializes its steps with a lock of its own process instead of the store's
transaction, which passes every test with one client and hands the same task
to two processes at once.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from alligator.backend import Backend, Reservation

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    payload TEXT NOT NULL,
    due REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    lease_end REAL,
    UNIQUE (queue, id)
)
"""

# Due tasks, and tasks whose lease ended (due at the lease's end), in due order.
_DUE = """
SELECT id FROM tasks
WHERE queue = ? AND ((lease_end IS NULL AND due <= ?) OR lease_end <= ?)
ORDER BY COALESCE(lease_end, due), rowid
LIMIT ?
"""


class SqliteFileBackend(Backend):
    """The part of the contract the tests with several clients use, over one SQLite file."""

    def __init__(self, path: str) -> None:
        super().__init__(f"selftest-sqlite:///{path}")
        self.path = path
        # One connection per instance, shared by its threads under the lock below.
        self._db = sqlite3.connect(path, timeout=120, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        # Readers never wait for a writer, so clients overlap as on a server.
        self._db.execute("PRAGMA journal_mode = WAL")
        with self._transaction():
            self._db.execute(_SCHEMA)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # BEGIN IMMEDIATE takes the file's write lock first: no other client
        # reads the due tasks between this one's read and its write.
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    def push(self, queue: str, task_id: str, payload: str, delay: float = 0.0) -> bool:
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO tasks (queue, id, payload, due) VALUES (?, ?, ?, ?)",
                (queue, task_id, payload, self.now() + max(delay, 0.0)),
            )
            return cursor.rowcount == 1

    def reserve(
        self, queue: str, lease_seconds: float, limit: int = 1, timeout: float = 0.0
    ) -> list[Reservation]:
        with self._transaction() as db:
            now = self.now()
            ids = [row[0] for row in db.execute(_DUE, (queue, now, now, limit))]
            return self._lease(db, queue, ids, now + lease_seconds)

    def _lease(
        self, db: sqlite3.Connection, queue: str, ids: list[str], lease_end: float
    ) -> list[Reservation]:
        taken = []
        for task_id in ids:
            receipt = uuid.uuid4().hex
            row = db.execute(
                "UPDATE tasks SET attempts = attempts + 1, receipt = ?, lease_end = ? "
                "WHERE queue = ? AND id = ? RETURNING payload, attempts",
                (receipt, lease_end, queue, task_id),
            ).fetchone()
            if row is not None:  # None only where the read was not protected (acked meanwhile)
                taken.append(Reservation(task_id, row[0], receipt, row[1]))
        return taken

    def ack(self, queue: str, task_id: str, receipt: str) -> bool:
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM tasks WHERE queue = ? AND id = ? AND receipt = ? AND lease_end > ?",
                (queue, task_id, receipt, self.now()),
            )
            return cursor.rowcount == 1

    def release(
        self, queue: str, task_id: str, receipt: str, delay: float = 0.0, attempted: bool = True
    ) -> bool:
        with self._transaction() as db:
            now = self.now()
            cursor = db.execute(
                "UPDATE tasks SET receipt = NULL, lease_end = NULL, due = ?, "
                "attempts = attempts - ? WHERE queue = ? AND id = ? AND receipt = ? AND lease_end > ?",
                (now + max(delay, 0.0), 0 if attempted else 1, queue, task_id, receipt, now),
            )
            return cursor.rowcount == 1

    def len(self, queue: str) -> int:
        with self._transaction() as db:
            row = db.execute("SELECT count(*) FROM tasks WHERE queue = ? AND lease_end IS NULL", (queue,))
            return int(row.fetchone()[0])

    def drop_all(self, queue: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM tasks WHERE queue = ?", (queue,))

    # The rest of the contract: not needed by the tests this backend is for.

    def extend(self, queue: str, task_id: str, receipt: str, lease_seconds: float) -> bool:
        raise NotImplementedError

    def dead_letter(self, queue: str, task_id: str, receipt: str, reason: str) -> bool:
        raise NotImplementedError

    def get(self, queue: str, task_id: str, lease_seconds: float) -> Reservation | None:
        raise NotImplementedError

    def peek(self, queue: str, task_id: str) -> str | None:
        raise NotImplementedError

    def cancel(self, queue: str, task_id: str) -> bool:
        raise NotImplementedError

    def status(self, queue: str, task_id: str) -> int | None:
        raise NotImplementedError


class InProcessLockOnly(SqliteFileBackend):
    """Serializes reserve with a lock of its own process, not the store's transaction (issue 10, item 1).

    Each statement commits on its own, so another process can read the same
    due tasks between this one's read and its write. The sleep stands for the
    round trip a networked store has there; without it the race is as real
    but shows only in some runs.
    """

    def reserve(
        self, queue: str, lease_seconds: float, limit: int = 1, timeout: float = 0.0
    ) -> list[Reservation]:
        with self._lock:
            now = self.now()
            ids = [row[0] for row in self._db.execute(_DUE, (queue, now, now, limit))]
            time.sleep(0.02)
            return self._lease(self._db, queue, ids, now + lease_seconds)
