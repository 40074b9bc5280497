"""The PostgreSQL backend's class, made of the store and the operations by concern.

:class:`PostgresBackend` is :class:`~alligator_postgres.store.Store` (the
connections, transactions, errors) with the operations mixed in: waking,
consuming, inspecting, the registry and pauses, transactional enqueue,
unique keys, schedules, limits (and per-task priority, in consuming).
Import it from the package: ``from alligator_postgres import PostgresBackend``.
"""

from __future__ import annotations

import psycopg

from alligator_postgres import diagnosis, queries
from alligator_postgres.limiting import Limiting
from alligator_postgres.registry import Registry
from alligator_postgres.scheduling import Scheduling
from alligator_postgres.transactional import Transactional
from alligator_postgres.unique import UniquePostgres

__all__ = ["PostgresBackend"]


class PostgresBackend(Transactional, UniquePostgres, Scheduling, Registry, Limiting):
    """Queues in PostgreSQL tables, shared by every worker that reaches the server.

    See :mod:`alligator_postgres` for the DSN, the schema and how time is kept.

    Example:
        >>> from alligator import Gator
        >>> gator = Gator("postgresql://app@db/app")  # doctest: +SKIP

    Args:
        conn_string: ``postgresql://user:password@host:port/database`` (or
            ``postgres://``), with any libpq option in the query string.

    Raises:
        InvalidDSNError: libpq cannot read the DSN.
        BackendError: The server cannot be reached, or its tables were
            written by a newer release.
    """

    # -- deployment checks -----------------------------------------------

    def task_loss_risks(self) -> list[tuple[str, str]]:
        """``fsync`` or ``synchronous_commit`` off: committed tasks may be lost in a crash."""
        try:
            with self._connection() as conn:
                return diagnosis.loss_risks(conn, self._where)
        except psycopg.Error as err:
            raise self._error(err) from err

    def diagnose(self) -> list[tuple[str, str, str]]:
        """Checks writes, durability, indexes, connections and long transactions; see :mod:`.diagnosis`.

        Raises:
            BackendError: The server cannot be reached.
        """
        try:
            with self._connection() as conn:
                return diagnosis.diagnose(conn, self._where)
        except psycopg.Error as err:
            raise self._error(err) from err

    def drop_all(self, queue: str) -> None:
        """Deletes everything a queue holds, in one statement.

        See :meth:`~alligator.backend.Backend.drop_all`.
        """
        self._one(queries.DROP_QUEUE, {"queue": queue})
