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

import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alligator.backend import Backend, Reservation

# Every statement is in shared_file.sql beside this module, under a "-- name:" line.
_NAME_LINE = re.compile(r"^-- name: ([a-z_]+)\s*$", re.MULTILINE)


def _load_queries() -> dict[str, str]:
    text = Path(__file__).with_name("shared_file.sql").read_text(encoding="utf-8")
    parts = _NAME_LINE.split(text)[1:]  # name, body, name, body...
    return {
        name: "\n".join(line for line in body.splitlines() if line.strip() and not line.startswith("--"))
        for name, body in zip(parts[::2], parts[1::2], strict=True)
    }


_SQL = _load_queries()


class SqliteFileBackend(Backend):
    """The part of the contract the tests with several clients use, over one SQLite file."""

    def __init__(self, path: str) -> None:
        super().__init__(f"selftest-sqlite:///{path}")
        self.path = path
        # One connection per instance, shared by its threads under the lock below.
        self._db = sqlite3.connect(path, timeout=120, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute(_SQL["journal"])
        with self._transaction():
            self._db.execute(_SQL["schema"])

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # "begin" is BEGIN IMMEDIATE: it takes the file's write lock first, so
        # no other client reads the due tasks between this one's read and its write.
        with self._lock:
            self._db.execute(_SQL["begin"])
            try:
                yield self._db
            except BaseException:
                self._db.execute(_SQL["rollback"])
                raise
            self._db.execute(_SQL["commit"])

    def close(self) -> None:
        self._db.close()

    def push(self, queue: str, task_id: str, payload: str, delay: float = 0.0) -> bool:
        with self._transaction() as db:
            cursor = db.execute(_SQL["push"], (queue, task_id, payload, self.now() + max(delay, 0.0)))
            return cursor.rowcount == 1

    def reserve(
        self, queue: str, lease_seconds: float, limit: int = 1, timeout: float = 0.0
    ) -> list[Reservation]:
        with self._transaction() as db:
            now = self.now()
            ids = [row[0] for row in db.execute(_SQL["due"], (queue, now, now, limit))]
            return self._lease(db, queue, ids, now + lease_seconds)

    def _lease(
        self, db: sqlite3.Connection, queue: str, ids: list[str], lease_end: float
    ) -> list[Reservation]:
        taken = []
        for task_id in ids:
            receipt = uuid.uuid4().hex
            row = db.execute(_SQL["lease"], (receipt, lease_end, queue, task_id)).fetchone()
            if row is not None:  # None only where the read was not protected (acked meanwhile)
                taken.append(Reservation(task_id, row[0], receipt, row[1]))
        return taken

    def ack(self, queue: str, task_id: str, receipt: str) -> bool:
        with self._transaction() as db:
            cursor = db.execute(_SQL["ack"], (queue, task_id, receipt, self.now()))
            return cursor.rowcount == 1

    def release(
        self, queue: str, task_id: str, receipt: str, delay: float = 0.0, attempted: bool = True
    ) -> bool:
        with self._transaction() as db:
            now = self.now()
            cursor = db.execute(
                _SQL["release"], (now + max(delay, 0.0), 0 if attempted else 1, queue, task_id, receipt, now)
            )
            return cursor.rowcount == 1

    def len(self, queue: str) -> int:
        with self._transaction() as db:
            row = db.execute(_SQL["waiting"], (queue,))
            return int(row.fetchone()[0])

    def drop_all(self, queue: str) -> None:
        with self._transaction() as db:
            db.execute(_SQL["drop_all"], (queue,))

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
            ids = [row[0] for row in self._db.execute(_SQL["due"], (queue, now, now, limit))]
            time.sleep(0.02)
            return self._lease(self._db, queue, ids, now + lease_seconds)
