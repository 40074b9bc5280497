"""Enqueue inside the application's own transaction: :meth:`Transactional.push_in` and its kin.

The application holds a :class:`sqlite3.Connection` to the queue's file
(or Django's ``django.db.connection`` on it) and writes its own rows; the
task rows are written through that same connection, by the statements
:meth:`~alligator_sqlite.SqliteBackend.push_many` (or
:meth:`~alligator_sqlite.SqliteBackend.push_prioritized`, or
:meth:`~alligator_sqlite.SqliteBackend.push_unique`, key and all) runs, so
they commit or roll back with the application's rows. Python's ``sqlite3``
opens the transaction itself before the first write unless the connection
is in autocommit mode; in that mode, outside a transaction, the push is
wrapped in a transaction of its own (never half-written). Nothing else here
commits, rolls back or closes the caller's connection. While that
transaction is open it holds the file's write lock: workers, and any other
push of the same unique key, wait for it (up to the DSN's ``timeout``), so
keep it short.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Sequence
from typing import TypeVar

from alligator.priority_store import check_items
from alligator_sqlite import queries
from alligator_sqlite.consuming import _check_delay, task_rows
from alligator_sqlite.unique import UniqueSqlite

__all__ = ["Transactional"]

_T = TypeVar("_T")


class Transactional(UniqueSqlite):
    """Pushes through a connection the caller holds.

    See :class:`~alligator.transactional_store.TransactionalEnqueue`,
    :class:`~alligator.transactional_store.TransactionalUnique` and
    :class:`~alligator.transactional_store.TransactionalPriority`.
    """

    def push_in(self, connection: object, queue: str, items: Sequence[tuple[str, str, float]]) -> int:
        """Adds tasks through the caller's ``sqlite3`` connection, inside its transaction.

        See :meth:`~alligator.transactional_store.TransactionalEnqueue.push_in`.

        Raises:
            TypeError: ``connection`` is not a :class:`sqlite3.Connection`.
            ValueError: It is open on another file than the queue's, or a
                delay is not finite; nothing is written.
            BackendError: SQLite refused the write.
        """
        conn = self._caller(connection)
        for _, _, delay in items:
            _check_delay(delay)
        if not items:
            return 0
        rows = task_rows(queue, items)
        delays = [delay for _, _, delay in items]
        return self._in_callers_transaction(
            conn, lambda: self._insert_rows(conn, queue, rows, delays, queries.PUSH_TASK)
        )

    def push_prioritized_in(
        self, connection: object, queue: str, items: Sequence[tuple[str, str, float, int]]
    ) -> int:
        """Adds tasks with their priorities through the caller's connection, inside its transaction.

        See :meth:`~alligator.transactional_store.TransactionalPriority.push_prioritized_in`.

        Raises:
            TypeError: ``connection`` is not a :class:`sqlite3.Connection`,
                or a priority is not an int.
            ValueError: It is open on another file, a delay is not finite, or
                a priority out of range; nothing is written.
            BackendError: SQLite refused the write.
        """
        conn = self._caller(connection)
        check_items(items)
        if not items:
            return 0
        rows: list[dict[str, object]] = [
            {"queue": queue, "task_id": task_id, "payload": payload.encode("utf-8"), "priority": priority}
            for task_id, payload, _, priority in items
        ]
        delays = [delay for _, _, delay, _ in items]
        return self._in_callers_transaction(
            conn, lambda: self._insert_rows(conn, queue, rows, delays, queries.PUSH_PRIORITIZED_TASK)
        )

    def push_unique_in(
        self,
        connection: object,
        queue: str,
        task_id: str,
        payload: str,
        delay: float,
        key: str,
        mode: str,
        window: float,
    ) -> tuple[bool, str]:
        """Pushes unless ``key`` is held, through the caller's connection, key and task in its transaction.

        See :meth:`~alligator.transactional_store.TransactionalUnique.push_unique_in`:
        the statements of :meth:`push_unique`, on ``connection``.

        Raises:
            TypeError: ``connection`` is not a :class:`sqlite3.Connection`.
            ValueError: It is open on another file, or ``delay`` is not
                finite; nothing is written.
            BackendError: SQLite refused the write.
        """
        conn = self._caller(connection)
        _check_delay(delay)
        data = payload.encode("utf-8")
        key.encode("utf-8")
        return self._in_callers_transaction(
            conn, lambda: self._push_unique_on(conn, queue, task_id, data, delay, key, mode, window)
        )

    def _caller(self, connection: object) -> sqlite3.Connection:
        """The caller's connection, once it is known to be an ``sqlite3`` one open on the queue's file."""
        if not isinstance(connection, sqlite3.Connection):
            raise TypeError(
                "options(connection=...) takes the application's sqlite3.Connection to the queue's file "
                f"({self.path}), not {type(connection).__name__}"
            )
        self._check_same_file(connection)
        return connection

    def _in_callers_transaction(self, connection: sqlite3.Connection, work: Callable[[], _T]) -> _T:
        """Runs ``work`` in the caller's open transaction, or in one of its own in autocommit mode."""
        autocommit = connection.isolation_level is None or getattr(connection, "autocommit", None) is True
        own = autocommit and not connection.in_transaction
        try:
            if own:
                connection.execute(queries.BEGIN_WRITE)
            done = work()
            if own:
                connection.execute(queries.COMMIT)
            return done
        except sqlite3.Error as err:
            if own and connection.in_transaction:
                connection.rollback()
            raise self._error(err) from err

    def _check_same_file(self, connection: sqlite3.Connection) -> None:
        files = [str(row[2] or "") for row in connection.execute(queries.DATABASE_LIST) if row[1] == "main"]
        theirs = files[0] if files else ""
        if not theirs or not os.path.exists(theirs) or not os.path.samefile(theirs, self.path):
            raise ValueError(
                f"options(connection=...): the connection is open on {theirs or 'an in-memory database'}, "
                f"not on the queue's file {self.path}: connect to that file (the tasks must be written "
                "in the database whose transaction holds them)"
            )
