"""SQLite's schedule records: a tick's push and its record in one write transaction."""

from __future__ import annotations

import sqlite3

from alligator.scheduling_store import (
    ScheduleRecord,
    check_tick_args,
    listed,
    listing_bounds,
    readable,
)
from alligator_sqlite import queries
from alligator_sqlite.consuming import Consuming


class Scheduling(Consuming):
    """The :class:`~alligator.scheduling_store.Scheduling` capability of SQLite."""

    def push_tick(
        self, queue: str, schedule: str, tick: float, task_id: str, payload: str, about: str
    ) -> bool:
        """Reads the recorded tick, pushes and records, in one ``BEGIN IMMEDIATE`` transaction.

        See :meth:`~alligator.scheduling_store.Scheduling.push_tick`.

        Raises:
            ValueError: A refused argument; nothing is written.
            BackendError: The file cannot be written.
        """
        value = check_tick_args(schedule, tick, about)
        data = payload.encode("utf-8")
        key = {"queue": queue, "name": schedule}

        def body(conn: sqlite3.Connection) -> bool:
            row = conn.execute(queries.SCHEDULE_LAST_TICK, key).fetchone()
            if row is not None and row[0] is not None and row[0] >= value:
                return False
            if not self._push_in(conn, queue, task_id, data, self.now()):
                return False
            conn.execute(queries.RECORD_TICK, {**key, "tick": value, "about": about})
            return True

        return self._run(body)

    def schedule_records(self) -> list[ScheduleRecord]:
        """Lists the records in one read; see :meth:`~alligator.scheduling_store.Scheduling.schedule_records`.

        Raises:
            BackendError: The file cannot be read.
        """
        limits = listing_bounds()

        def body(conn: sqlite3.Connection) -> list[tuple[object, ...]]:
            return conn.execute(queries.LIST_SCHEDULE_TICKS, limits).fetchall()

        return listed([_record(*row) for row in self._run(body, write=False)])


def _record(name: object, queue: object, tick: object, about: object) -> ScheduleRecord | None:
    """One listed row as a record, or None when a part is missing or not UTF-8."""
    texts = []
    for raw in (name, queue, about):
        if not isinstance(raw, bytes):
            return None
        try:
            texts.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            return None
    return readable(texts[0], texts[1], tick, texts[2])
