"""The store capability of enqueueing inside the caller's own transaction.

``with gator.options(connection=conn) as opts: opts.task(func, *args)``
writes the task through ``conn``, a database connection the application
holds, inside the transaction it has open. The task then exists exactly
when that transaction commits: rolled back, or the process killed before
the commit, it never existed. An order and the email about it are written
together or not at all, without a second system to keep in step.

A store claims :class:`TransactionalEnqueue` by writing
:meth:`TransactionalEnqueue.push_in`.
PostgreSQL takes any DB-API connection of psycopg (3, or 2) to the queue's
database; SQLite a :class:`sqlite3.Connection` to the queue's file; both
take Django's ``django.db.connection`` (see :func:`raw_connection`).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

__all__ = ["TransactionalEnqueue", "raw_connection"]


@runtime_checkable
class TransactionalEnqueue(Protocol):
    """Writes tasks through a connection the caller holds, inside its open transaction.

    Without it ``gator.options(connection=...)`` is refused, naming the
    store, before anything is written. Kit mixin:
    :class:`~alligator.testing.transactional.TransactionalEnqueueContract`.
    """

    @abc.abstractmethod
    def push_in(self, connection: object, queue: str, items: Sequence[tuple[str, str, float]]) -> int:
        """Adds tasks as :meth:`~alligator.backend.Backend.push_many` does, through ``connection``.

        Every statement runs on ``connection``, inside whatever transaction
        it has open; nothing is committed or rolled back here (in autocommit
        mode each statement commits on its own). Until the caller commits,
        no other client sees the tasks and no worker is woken; if the caller
        rolls back (or dies first), they never existed. The rules of
        :meth:`~alligator.backend.Backend.push_many` hold otherwise: ids
        unique, delays on the store's clock, NaN or infinite delays refused
        before anything is written.

        Args:
            connection: The caller's connection (see :func:`raw_connection`).
            queue: The queue's name.
            items: ``(task_id, payload, delay)`` tuples.

        Returns:
            How many were added (as seen inside the caller's transaction).

        Raises:
            TypeError: ``connection`` is not one this store can write through.
            ValueError: A delay is not finite, or ``connection`` does not
                reach this store's database; nothing is written.
            BackendError: The database refused the write (the caller's
                transaction may then be aborted: roll it back).
        """


def raw_connection(connection: object) -> object:
    """The DB-API connection behind ``connection``: itself, or the one a Django connection wraps.

    Django's ``django.db.connection`` (a ``DatabaseWrapper``) is opened if
    need be (``ensure_connection()``), and its driver connection returned;
    inside ``transaction.atomic()`` that connection is in the block's
    transaction.
    """
    ensure = getattr(connection, "ensure_connection", None)
    if callable(ensure) and hasattr(connection, "connection"):
        ensure()
        return getattr(connection, "connection")  # noqa: B009 - a Django wrapper's attribute
    return connection
