"""The store capability of enqueueing inside the caller's own transaction.

``with gator.options(connection=conn) as opts: opts.task(func, *args)``
writes the task through ``conn``, a database connection the application
holds, inside the transaction it has open. The task then exists exactly
when that transaction commits: rolled back, or the process killed before
the commit, it never existed. An order and the email about it are written
together or not at all, without a second system to keep in step.

A store claims :class:`TransactionalEnqueue` by writing
:meth:`TransactionalEnqueue.push_in`, and may claim two more capabilities
on top of it: :class:`TransactionalUnique` (a unique task, its key claimed
in the caller's transaction) and :class:`TransactionalPriority` (tasks with
a priority). Without them, a unique or prioritized task through a
connection is refused, naming the store, before anything is written.
PostgreSQL takes any DB-API connection of psycopg (3, or 2) to the queue's
database; SQLite a :class:`sqlite3.Connection` to the queue's file; both
take Django's ``django.db.connection`` (see :func:`raw_connection`).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Protocol, cast, runtime_checkable

__all__ = [
    "TransactionalEnqueue",
    "TransactionalPriority",
    "TransactionalUnique",
    "raw_connection",
    "transactional_priority",
    "transactional_unique",
]


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


@runtime_checkable
class TransactionalUnique(Protocol):
    """Takes a unique task's key through the caller's connection, inside its open transaction.

    The key's claim is written with the task, in the caller's transaction:
    committed, both exist; rolled back (or the process dead first), neither
    does, and the key is free. Needs :class:`TransactionalEnqueue` and
    :class:`~alligator.unique_store.UniqueKeys`. Kit mixin:
    :class:`~alligator.testing.transactional.TransactionalUniqueContract`.
    """

    @abc.abstractmethod
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
        """Does what :meth:`~alligator.unique_store.UniqueKeys.push_unique` does, through ``connection``.

        Every statement runs on ``connection``, inside the transaction it has
        open (one of its own, committed here, when the connection is in
        autocommit mode: the key's read and the push stay one atomic step).
        Until the caller commits, another push of the same key waits for
        that commit (or fails, to be retried, under a stricter isolation
        level) rather than queue a second task; a debounced holder replaced
        here stays queued for everyone else, and again for good if the
        caller rolls back.

        Returns:
            As :meth:`~alligator.unique_store.UniqueKeys.push_unique`, as seen
            inside the caller's transaction.

        Raises:
            TypeError: ``connection`` is not one this store can write through.
            ValueError: ``delay`` is not finite, or ``connection`` does not
                reach this store's database; nothing is written.
            BackendError: The database refused the write: roll the caller's
                transaction back.
        """


@runtime_checkable
class TransactionalPriority(Protocol):
    """Writes tasks with their priorities through the caller's connection, inside its open transaction.

    Needs :class:`TransactionalEnqueue` and
    :class:`~alligator.priority_store.TaskPriority`. Kit mixin:
    :class:`~alligator.testing.transactional.TransactionalPriorityContract`.
    """

    @abc.abstractmethod
    def push_prioritized_in(
        self, connection: object, queue: str, items: Sequence[tuple[str, str, float, int]]
    ) -> int:
        """Adds tasks as :meth:`~.priority_store.TaskPriority.push_prioritized` does, through ``connection``.

        The rules of :meth:`TransactionalEnqueue.push_in` hold (the caller's
        transaction; every item checked, by
        :func:`~alligator.priority_store.check_items`, before anything is
        written).

        Returns:
            How many were added (as seen inside the caller's transaction).

        Raises:
            TypeError: ``connection`` is not one this store can write
                through, or a priority is not an int.
            ValueError: A delay is not finite, a priority out of range, or
                ``connection`` does not reach this store's database.
            BackendError: The database refused the write.
        """


def transactional_unique(backend: object) -> TransactionalUnique:
    """``backend`` as :class:`TransactionalUnique`, or an error naming the store that lacks it.

    Raises:
        Unsupported: The store cannot take a unique key in the caller's transaction.
    """
    from alligator import capabilities

    return cast(TransactionalUnique, capabilities.require(backend, TransactionalUnique))


def transactional_priority(backend: object) -> TransactionalPriority:
    """``backend`` as :class:`TransactionalPriority`, or an error naming the store that lacks it.

    Raises:
        Unsupported: The store cannot write a priority in the caller's transaction.
    """
    from alligator import capabilities

    return cast(TransactionalPriority, capabilities.require(backend, TransactionalPriority))


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
