"""Enqueue inside the application's own transaction: :meth:`Transactional.push_in` and its kin.

The push is the very statement :meth:`~alligator_postgres.PostgresBackend.push_many`
runs (with priorities for :meth:`~Transactional.push_prioritized_in`; and
for :meth:`~Transactional.push_unique_in` the statements of
:meth:`~alligator_postgres.PostgresBackend.push_unique`: the key's advisory
lock, its record, the push and the new record), sent through the caller's
connection (any DB-API connection of psycopg 3 or psycopg2, or Django's
``django.db.connection``) instead of one of the pool's, so it joins whatever
transaction that connection has open: the task rows, and a unique key's
claim, commit or roll back with the application's own rows. The key's lock
is the transaction's: another push of that key waits until the caller
commits or rolls back. The notification that wakes workers is sent by
PostgreSQL at that commit, and never for a rollback. Nothing here commits,
rolls back or closes the caller's connection, except the transaction of its
own a unique push takes on a connection in autocommit mode.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from alligator.exceptions import BackendError
from alligator.priority_store import check_items
from alligator_postgres import queries
from alligator_postgres.unique import Run, UniquePostgres

__all__ = ["Transactional"]

_T = TypeVar("_T")


class Transactional(UniquePostgres):
    """Pushes through a connection the caller holds.

    See :class:`~alligator.transactional_store.TransactionalEnqueue`,
    :class:`~alligator.transactional_store.TransactionalUnique` and
    :class:`~alligator.transactional_store.TransactionalPriority`.
    """

    def push_in(self, connection: object, queue: str, items: Sequence[tuple[str, str, float]]) -> int:
        """Adds tasks through ``connection``, inside its open transaction.

        See :meth:`~alligator.transactional_store.TransactionalEnqueue.push_in`.

        Raises:
            TypeError: ``connection`` has no ``cursor()`` (not a DB-API connection).
            ValueError: A delay is not finite; nothing is written.
            BackendError: The database refused the statement (no alligator
                tables there, say): roll the caller's transaction back.
        """
        self._cursor_of(connection)
        params = self.push_params(queue, items)
        if params is None:
            return 0
        return self._through(connection, lambda run: int(run(queries.PUSH_TASKS, params).fetchone()[0]))

    def push_prioritized_in(
        self, connection: object, queue: str, items: Sequence[tuple[str, str, float, int]]
    ) -> int:
        """Adds tasks with their priorities through ``connection``, inside its open transaction.

        See :meth:`~alligator.transactional_store.TransactionalPriority.push_prioritized_in`.

        Raises:
            TypeError: ``connection`` is not a DB-API connection, or a priority is not an int.
            ValueError: A delay is not finite, or a priority out of range; nothing is written.
            BackendError: The database refused the statement: roll the caller's transaction back.
        """
        self._cursor_of(connection)
        check_items(items)
        plain = [(task_id, payload, delay) for task_id, payload, delay, _ in items]
        params = self.push_params(queue, plain, [priority for _, _, _, priority in items])
        if params is None:
            return 0
        return self._through(connection, lambda run: int(run(queries.PUSH_TASKS, params).fetchone()[0]))

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
        """Pushes unless ``key`` is held, through ``connection``: the key's claim is in its transaction.

        See :meth:`~alligator.transactional_store.TransactionalUnique.push_unique_in`.
        Under ``REPEATABLE READ`` or ``SERIALIZABLE``, a push racing another
        of the same key fails with a serialization error (a
        :class:`~alligator.exceptions.BackendError`): roll back and retry.

        Raises:
            TypeError: ``connection`` is not a DB-API connection.
            ValueError: ``delay`` is not finite; nothing is written.
            BackendError: The database refused a statement: roll the caller's transaction back.
        """
        self._cursor_of(connection)
        params = self.push_params(queue, [(task_id, payload, delay)])
        assert params is not None
        return self._through(
            connection, lambda run: self._push_unique_on(run, params, key, mode, window), atomic=True
        )

    def _cursor_of(self, connection: object) -> Callable[[], Any]:
        cursor_of = getattr(connection, "cursor", None)
        if not callable(cursor_of):
            raise TypeError(
                f"options(connection=...) takes a psycopg (or Django) connection to the queue's "
                f"PostgreSQL database, not {type(connection).__name__}"
            )
        return cursor_of  # type: ignore[no-any-return]

    def _through(self, connection: object, work: Callable[[Run], _T], atomic: bool = False) -> _T:
        """Runs ``work`` on a cursor of the caller's connection, in its transaction.

        ``atomic``: the statements must be one transaction; on a connection
        in autocommit mode (each statement its own), they get one of their own.
        """
        cursor: Any = self._cursor_of(connection)()
        own = atomic and getattr(connection, "autocommit", False) is True

        def run(query: str, params: dict[str, Any]) -> Any:
            cursor.execute(query, params)
            return cursor

        try:
            if own:
                cursor.execute(queries.BEGIN_OWN)
            try:
                done = work(run)
            except BaseException:
                if own:
                    # The error that ended the work is the one to report, not a failed rollback's.
                    with contextlib.suppress(Exception):
                        cursor.execute(queries.ROLLBACK_OWN)
                raise
            if own:
                cursor.execute(queries.COMMIT_OWN)
            return done
        except Exception as err:
            if type(err).__module__.split(".")[0] not in ("psycopg", "psycopg2"):
                raise
            raise BackendError(
                f"PostgreSQL refused the task through the caller's connection ({str(err).strip()}): "
                "roll the transaction back; does the connection reach the queue's database "
                f"({self._where}) and schema?"
            ) from err
        finally:
            cursor.close()
