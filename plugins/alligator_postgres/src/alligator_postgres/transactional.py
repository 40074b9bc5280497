"""Enqueue inside the application's own transaction: :meth:`Transactional.push_in`.

The push is the very statement :meth:`~alligator_postgres.PostgresBackend.push_many`
runs, sent through the caller's connection (any DB-API connection of
psycopg 3 or psycopg2, or Django's ``django.db.connection``) instead of one
of the pool's, so it joins whatever transaction that connection has open:
the task rows commit or roll back with the application's own rows. The
notification that wakes workers is sent by PostgreSQL at that commit, and
never for a rollback. Nothing here commits, rolls back or closes the
caller's connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alligator.exceptions import BackendError
from alligator_postgres import queries
from alligator_postgres.consuming import Consuming

__all__ = ["Transactional"]


class Transactional(Consuming):
    """Pushes through a connection the caller holds.

    See :class:`~alligator.transactional_store.TransactionalEnqueue`.
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
        cursor_of = getattr(connection, "cursor", None)
        if not callable(cursor_of):
            raise TypeError(
                f"options(connection=...) takes a psycopg (or Django) connection to the queue's "
                f"PostgreSQL database, not {type(connection).__name__}"
            )
        params = self.push_params(queue, items)
        if params is None:
            return 0
        if self.clock is None:
            params["now"] = None
        cursor: Any = cursor_of()
        try:
            cursor.execute(queries.PUSH_TASKS, params)
            row = cursor.fetchone()
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
        return int(row[0])
