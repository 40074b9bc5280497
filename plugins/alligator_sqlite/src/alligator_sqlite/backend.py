"""The SQLite backend's class, made of the store and the operations by concern.

:class:`SqliteBackend` is :class:`~alligator_sqlite.store.Store` (the file,
connections, transactions, shared steps) with the operations mixed in:
:class:`~alligator_sqlite.consuming.Consuming`,
:class:`~alligator_sqlite.inspecting.Inspecting` (both through
:class:`~alligator_sqlite.unique.UniqueSqlite`),
:class:`~alligator_sqlite.scheduling.Scheduling` (over ``Consuming``),
:class:`~alligator_sqlite.transactional.Transactional`,
:class:`~alligator_sqlite.registry.Registry` and
:class:`~alligator_sqlite.limiting.Limiting`. Import it from the package:
``from alligator_sqlite import SqliteBackend``.
"""

from __future__ import annotations

import sqlite3

from alligator_sqlite import diagnosis, queries
from alligator_sqlite.limiting import Limiting
from alligator_sqlite.registry import Registry
from alligator_sqlite.scheduling import Scheduling
from alligator_sqlite.transactional import Transactional
from alligator_sqlite.unique import DROP_QUEUE_UNIQUE, UniqueSqlite

__all__ = ["SqliteBackend"]

# drop_all() empties these, one table each.
_DROP_QUEUE = (
    queries.DROP_QUEUE_TASKS,
    queries.DROP_QUEUE_DEAD,
    queries.DROP_QUEUE_FINISHED,
    queries.DROP_QUEUE_RESULTS,
    DROP_QUEUE_UNIQUE,
    queries.DROP_QUEUE_SCHEDULES,
    queries.FORGET_QUEUE_DEAD_PRIORITIES,
)


class SqliteBackend(Transactional, UniqueSqlite, Scheduling, Registry, Limiting):
    """Queues in one SQLite file shared by the processes of one machine.

    See :mod:`alligator_sqlite` for the DSN, the schema and how time is kept.

    Example:
        >>> from alligator import Gator
        >>> gator = Gator("sqlite:///tasks.db")  # doctest: +SKIP

    Args:
        conn_string: ``sqlite:///relative.db`` or ``sqlite:////absolute.db``,
            optionally with ``?timeout=SECONDS&synchronous=full|normal``.

    Raises:
        InvalidDSNError: The DSN names no usable file, or has a bad option.
        BackendError: The file cannot be opened or created, or was written by
            a newer release.
    """

    #: Results ride the ack, in its transaction (see :meth:`ack_results`).

    # -- deployment checks -----------------------------------------------

    def task_loss_risks(self) -> list[tuple[str, str]]:
        """None: a committed task is on disk (synchronous writes are checked by :meth:`diagnose`)."""
        return []

    def diagnose(self) -> list[tuple[str, str, str]]:
        """Checks the file's journal mode, writes, file system and disk space; see :mod:`.diagnosis`.

        Returns:
            ``(level, problem, what_to_do)`` findings; ``what_to_do`` is empty
            for an ``"ok"`` one.

        Raises:
            BackendError: The file cannot be read.
        """
        try:
            return diagnosis.diagnose(self.path, min(self.timeout, 5.0))
        except sqlite3.Error as err:
            raise self._error(err) from err

    def drop_all(self, queue: str) -> None:
        """Deletes everything a queue holds; see :meth:`~alligator.backend.Backend.drop_all`."""

        def body(conn: sqlite3.Connection) -> None:
            for query in _DROP_QUEUE:
                conn.execute(query, {"queue": queue})

        self._run(body)
