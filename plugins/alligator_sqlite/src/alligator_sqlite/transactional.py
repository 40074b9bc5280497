"""Enqueue inside the application's own transaction: :meth:`Transactional.push_in`.

The application holds a :class:`sqlite3.Connection` to the queue's file
(or Django's ``django.db.connection`` on it) and writes its own rows; the
task rows are written through that same connection, by the statements
:meth:`~alligator_sqlite.SqliteBackend.push_many` runs, so they commit or
roll back with the application's rows. Python's ``sqlite3`` opens the
transaction itself before the first write unless the connection is in
autocommit mode; in that mode, outside a transaction, the push is wrapped in
a transaction of its own (never half-written). Nothing else here commits,
rolls back or closes the caller's connection. While that transaction is
open it holds the file's write lock: workers wait for it (up to the DSN's
``timeout``), so keep it short.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence

from alligator_sqlite import queries
from alligator_sqlite.consuming import Consuming, _check_delay, task_rows

__all__ = ["Transactional"]


class Transactional(Consuming):
    """Pushes through a connection the caller holds.

    See :class:`~alligator.transactional_store.TransactionalEnqueue`.
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
        if not isinstance(connection, sqlite3.Connection):
            raise TypeError(
                "options(connection=...) takes the application's sqlite3.Connection to the queue's file "
                f"({self.path}), not {type(connection).__name__}"
            )
        for _, _, delay in items:
            _check_delay(delay)
        if not items:
            return 0
        self._check_same_file(connection)
        autocommit = connection.isolation_level is None or getattr(connection, "autocommit", None) is True
        own = autocommit and not connection.in_transaction
        try:
            if own:
                connection.execute(queries.BEGIN_WRITE)
            rows = task_rows(queue, items)
            delays = [delay for _, _, delay in items]
            added = self._insert_rows(connection, queue, rows, delays, queries.PUSH_TASK)
            if own:
                connection.execute(queries.COMMIT)
            return added
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
