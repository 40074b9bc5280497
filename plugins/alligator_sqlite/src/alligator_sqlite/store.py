"""The SQLite backend's base: the file, its connections, transactions, and the steps every operation shares.

:class:`Store` opens one connection per thread of each process, runs each
operation as one short transaction (retrying while another process holds
the write lock) and holds the steps several operations share: drawing
sequence numbers, recording how tasks finished, and moving task rows to the
dead letters (:meth:`Store._bury`) with the retention that follows. The
operations themselves are in :mod:`alligator_sqlite.consuming`,
:mod:`alligator_sqlite.inspecting` and :mod:`alligator_sqlite.registry`,
mixed into :class:`~alligator_sqlite.SqliteBackend`.
"""

from __future__ import annotations

import os
import random
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from alligator.backend import Backend
from alligator.constants import FAILED
from alligator.exceptions import BackendError
from alligator_sqlite import queries, records
from alligator_sqlite.dsn import DEFAULT_TIMEOUT, parse_dsn, parse_synchronous, parse_timeout
from alligator_sqlite.schema import check_schema

__all__ = ["Store"]

#: SQLite's own busy wait per attempt; our loop retries around it, with jitter,
#: so that one process cannot be starved by SQLite's fixed sleep schedule.
_BUSY_TIMEOUT_MS = 2000

_T = TypeVar("_T")

# SQLite's primary result codes that mean "someone else holds a lock: try again".
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_HINTS = {
    8: "the file is read-only (check its permissions and those of its directory)",
    13: "the disk is full (or the database reached its size limit)",
    10: "a disk I/O error occurred",
    14: "the file or its directory cannot be opened (does the directory exist and is it writable?)",
    11: "the file is corrupt",
    26: "the file is not an SQLite database",
}
# The pragma for each value of the DSN's synchronous option.
_SET_SYNCHRONOUS = {"FULL": queries.SET_SYNCHRONOUS_FULL, "NORMAL": queries.SET_SYNCHRONOUS_NORMAL}
# Retention looks for expired dead letters among this many of the oldest.
_RETAIN_BATCH = 100
# Dead-lettered payloads are copied in pieces of this size.
_COPY_CHUNK = 1024 * 1024


class Store(Backend):
    """The file, its connections and transactions, and the shared steps; see the module docstring.

    Args:
        conn_string: ``sqlite:///relative.db`` or ``sqlite:////absolute.db``,
            optionally with ``?timeout=SECONDS&synchronous=full|normal``.

    Raises:
        InvalidDSNError: The DSN names no usable file, or has a bad option.
        BackendError: The file cannot be opened or created, or was written by
            a newer release.
    """

    def __init__(self, conn_string: str) -> None:
        super().__init__(conn_string)
        self.path, options = parse_dsn(conn_string)
        self.timeout = parse_timeout(conn_string, options.get("timeout", str(DEFAULT_TIMEOUT)))
        self.synchronous = parse_synchronous(conn_string, options.get("synchronous", "full"))
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._pid = os.getpid()
        self._last_purge: float | None = None
        # Connect now: a wrong path or a newer schema fails here, at Gator(...)
        # or at latergator's start, rather than at the first task.
        existed = os.path.exists(self.path)
        self._run(lambda conn: check_schema(conn, self.path), write=False)
        self.created = not existed

    def describe(self) -> str:
        """Names the database file, for a worker's start line and error messages.

        A relative DSN is resolved against the directory the backend was
        built in, so a worker started elsewhere would quietly open a new,
        empty file: the absolute path, and "(created now)" when this instance
        had to create the file, make that visible.

        Example:
            >>> SqliteBackend("sqlite:////tmp/new-queue.db").describe()  # doctest: +SKIP
            '/tmp/new-queue.db (created now)'

        Returns:
            The file's absolute path, with `` (created now)`` appended when
            the file did not exist before this instance opened it.
        """
        return f"{self.path} (created now)" if self.created else self.path

    # -- connections ------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if os.getpid() != self._pid:
            # A forked child must not touch connections opened by its parent
            # (SQLite forbids it); it opens its own. The parent's are left
            # alone, not closed, as closing them here could disturb its locks.
            self._pid = os.getpid()
            self._local = threading.local()
            with self._connections_lock:
                self._connections = []
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def _open(self) -> sqlite3.Connection:
        directory = os.path.dirname(self.path)
        if not os.path.isdir(directory):
            raise BackendError(
                f"cannot open SQLite database {self.path}: the directory {directory} does not exist"
            )
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so every
        # transaction is exactly as long as we mean it to be. A connection is
        # only used by the thread that opened it; check_same_thread=False lets
        # close() shut them all from one thread.
        busy_ms = max(1, int(min(_BUSY_TIMEOUT_MS, self.timeout * 1000)))
        conn = sqlite3.connect(
            self.path,
            timeout=busy_ms / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            conn.execute(queries.SET_BUSY_TIMEOUT.format(milliseconds=int(busy_ms)))
            conn.execute(queries.SET_WAL_MODE)
            conn.execute(_SET_SYNCHRONOUS[self.synchronous])
        except BaseException:
            conn.close()
            raise
        return conn

    def close(self) -> None:
        """Closes every connection this instance opened in this process.

        The instance stays usable: a later call opens a new connection.
        """
        with self._connections_lock:
            connections, self._connections = self._connections, []
        if os.getpid() == self._pid:
            for conn in connections:
                conn.close()
        self._local = threading.local()

    # -- transactions -----------------------------------------------------

    def _run(self, body: Callable[[sqlite3.Connection], _T], write: bool = True) -> _T:
        """Runs ``body`` in one transaction, retrying while the file is locked.

        ``body`` must only touch the database (it may run more than once):
        everything it did is rolled back before a retry or an error.
        """
        deadline = time.monotonic() + self.timeout
        delay = 0.005
        while True:
            conn: sqlite3.Connection | None = None
            try:
                conn = self._connection()
                # IMMEDIATE takes the write lock up front: a deferred
                # transaction that reads and then writes can fail with BUSY
                # mid-way in WAL mode, without SQLite's busy handler helping.
                conn.execute(queries.BEGIN_WRITE if write else queries.BEGIN_READ)
                result = body(conn)
                conn.execute(queries.COMMIT)
                return result
            except sqlite3.Error as err:
                if conn is not None and conn.in_transaction:
                    try:
                        conn.rollback()
                    except sqlite3.Error:
                        pass  # The original error is the one worth reporting.
                if _is_busy(err) and time.monotonic() < deadline:
                    # Jitter keeps processes that collided from colliding again.
                    time.sleep(delay * (0.5 + random.random()))
                    delay = min(delay * 2, 0.1)
                    continue
                raise self._error(err) from err
            except BaseException:
                # Anything else (a payload that cannot be encoded, a
                # KeyboardInterrupt) must not leave the write lock held.
                if conn is not None and conn.in_transaction:
                    try:
                        conn.rollback()
                    except sqlite3.Error:
                        pass
                raise

    def _error(self, err: sqlite3.Error) -> BackendError:
        code = _primary_code(err)
        if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
            cause = f"it stayed locked by other processes for more than {self.timeout:g}s"
        else:
            cause = _HINTS.get(code or 0, "SQLite failed")
        return BackendError(f"SQLite database {self.path}: {cause} ({err}); nothing was changed")

    # -- shared steps ------------------------------------------------------

    @staticmethod
    def _next_seqs(conn: sqlite3.Connection, count: int) -> int:
        """Draws ``count`` sequence numbers; returns the first."""
        row = conn.execute(queries.NEXT_SEQS, {"count": count}).fetchone()
        return int(row[0]) - count + 1

    def _finish(
        self, conn: sqlite3.Connection, rows: Sequence[tuple[str, str]], status: int, now: float
    ) -> None:
        conn.executemany(
            queries.RECORD_FINISHED,
            [{"queue": queue, "task_id": task_id, "status": status, "now": now} for queue, task_id in rows],
        )
        self._purge_finished(conn, now)

    def _purge_finished(self, conn: sqlite3.Connection, now: float) -> None:
        interval = min(self.status_ttl / 10, 60.0)
        if self._last_purge is None or abs(now - self._last_purge) >= interval:
            # One index range scan, done now and then rather than on every
            # ack: status() checks the age itself, so this only saves space.
            # abs(): an injected test clock may run behind the real one.
            conn.execute(queries.PURGE_FINISHED, {"horizon": now - self.status_ttl})
            self._last_purge = now

    def _bury(
        self,
        conn: sqlite3.Connection,
        queue: str,
        rows: Sequence[tuple[int, str]],
        now: float,
        delivered: bool,
    ) -> None:
        """Moves task rows to the dead letters, by ``rowid``, with a reason each.

        The payload is copied as stored, whatever it holds (it may be huge or
        not UTF-8), and the task id need not be readable either. With blob
        I/O the letter is inserted with ``zeroblob(size)`` as its payload and
        the bytes copied a piece at a time, so a huge payload never sits in
        memory whole; otherwise SQL copies it (and SQLite loads it).
        ``delivered`` counts one more delivery: the row was reserved in this
        very step and found unreadable.
        """
        if not rows:
            return
        first = self._next_seqs(conn, len(rows))
        finished: list[dict[str, object]] = []
        for n, (rowid, reason) in enumerate(rows):
            # raw_queue: the queue's name as stored (bytes); `queue` is kept for retention.
            raw_queue, task_id, attempts = records.letter_head(conn, rowid, delivered, self.max_task_id_bytes)
            finished.append({"queue": raw_queue, "task_id": task_id, "status": FAILED, "now": now})
            head = {
                "queue": raw_queue,
                "task_id": task_id,
                "reason": reason,
                "attempts": attempts,
                "now": now,
                "seq": first + n,
            }
            if sys.version_info >= (3, 11) and records._BLOB_IO:
                with conn.blobopen("alligator_tasks", "payload", rowid, readonly=True) as source:
                    size = len(source)
                    letter = conn.execute(queries.BURY_LETTER_ZEROBLOB, {**head, "size": size}).lastrowid
                    assert letter is not None
                    with conn.blobopen("alligator_dead", "payload", letter) as target:
                        for _ in range(0, size, _COPY_CHUNK):
                            target.write(source.read(_COPY_CHUNK))
            else:
                conn.execute(queries.BURY_LETTER_COPY, {**head, "rowid": rowid})
            # The letter keeps its task's priority, for requeue (none from an older letter).
            key = {"queue": raw_queue, "task_id": task_id}
            conn.execute(queries.FORGET_DEAD_PRIORITY, key)
            conn.execute(queries.KEEP_DEAD_PRIORITY, {**key, "rowid": rowid})
        conn.executemany(queries.BURY_FINISHED, finished)
        conn.executemany(queries.DELETE_TASK_ROW, [{"rowid": rowid} for rowid, _ in rows])
        self._purge_finished(conn, now)
        self._retain(conn, queue, now)

    def _retain(self, conn: sqlite3.Connection, queue: str, now: float) -> None:
        """Drops the queue's dead letters past :attr:`dead_letter_ttl`, then the oldest over the cap.

        Cheap enough for every dead letter written: only the oldest letter
        is read unless it expired; then the expired ones are looked for among
        the oldest ``_RETAIN_BATCH`` (a backlog goes a batch per letter
        written). Counting reads the ``(queue, seq)`` index.
        """
        horizon = now - self.dead_letter_ttl
        oldest = conn.execute(queries.OLDEST_LETTER_TIME, {"queue": queue}).fetchone()
        if oldest is not None and oldest[0] < horizon:
            expired = conn.execute(
                queries.EXPIRED_LETTERS, {"queue": queue, "batch": _RETAIN_BATCH, "horizon": horizon}
            ).fetchall()
            self._drop_dead(conn, [rowid for (rowid,) in expired])
        (count,) = conn.execute(queries.COUNT_LETTERS, {"queue": queue}).fetchone()
        if count > self.max_dead_letters:
            oldest = conn.execute(
                queries.OLDEST_LETTERS, {"queue": queue, "count": count - max(self.max_dead_letters, 0)}
            ).fetchall()
            self._drop_dead(conn, [rowid for (rowid,) in oldest])

    @staticmethod
    def _drop_dead(conn: sqlite3.Connection, rowids: Sequence[int]) -> int:
        """Deletes dead letters by ``rowid``, and their FAILED statuses; returns how many."""
        conn.executemany(
            queries.FORGET_LETTER_STATUS, [{"failed": FAILED, "rowid": rowid} for rowid in rowids]
        )
        conn.executemany(queries.FORGET_LETTER_PRIORITY, [{"rowid": rowid} for rowid in rowids])
        return conn.executemany(queries.DELETE_LETTER_ROW, [{"rowid": rowid} for rowid in rowids]).rowcount


def _primary_code(err: sqlite3.Error) -> int | None:
    code = getattr(err, "sqlite_errorcode", None)  # Python 3.11+
    if isinstance(code, int):
        return code & 0xFF
    message = str(err).lower()
    if "locked" in message:
        return _SQLITE_BUSY
    if "readonly" in message or "read-only" in message:
        return 8
    if "full" in message:
        return 13
    return None


def _is_busy(err: sqlite3.Error) -> bool:
    return _primary_code(err) in (_SQLITE_BUSY, _SQLITE_LOCKED)
