"""PostgreSQL's schedule records: a tick's push and its record in one transaction.

The queries are in ``sql/scheduling.sql``. Schedulers pushing ticks of one
schedule take an advisory lock on it first, so the recorded tick each reads
is the one its push moves forward: any number of schedulers, on any number
of machines, enqueue each tick once.
"""

from __future__ import annotations

from typing import Any

import psycopg

from alligator.scheduling_store import (
    ScheduleRecord,
    check_tick_args,
    listed,
    listing_bounds,
    readable,
)
from alligator_postgres import queries
from alligator_postgres.consuming import Consuming

__all__ = ["Scheduling"]

_QUERIES = queries.load("scheduling.sql")
SCHEDULE_LOCK = _QUERIES["schedule_lock"]
SCHEDULE_LAST_TICK = _QUERIES["schedule_last_tick"]
RECORD_TICK = _QUERIES["record_tick"]
LIST_SCHEDULE_TICKS = _QUERIES["list_schedule_ticks"]


class Scheduling(Consuming):
    """The :class:`~alligator.scheduling_store.Scheduling` capability of PostgreSQL."""

    def push_tick(
        self, queue: str, schedule: str, tick: float, task_id: str, payload: str, about: str
    ) -> bool:
        """Reads the recorded tick, pushes and records, in one transaction under the schedule's lock.

        See :meth:`~alligator.scheduling_store.Scheduling.push_tick`.

        Raises:
            ValueError: A refused argument; nothing is written.
            BackendError: The server refused or could not be reached; nothing is written.
        """
        value = check_tick_args(schedule, tick, about)
        params = self.push_params(queue, [(task_id, payload, 0.0)])
        assert params is not None
        key = {"queue": queue, "name": schedule}

        def body(conn: psycopg.Connection[Any]) -> bool:
            conn.execute(SCHEDULE_LOCK, key)
            row = conn.execute(SCHEDULE_LAST_TICK, key).fetchone()
            if row is not None and row[0] >= value:
                return False
            (added,) = conn.execute(queries.PUSH_TASKS, params).fetchone() or (0,)
            if not added:
                return False
            conn.execute(RECORD_TICK, {**key, "tick": value, "about": about})
            return True

        return self._transaction(body)

    def schedule_records(self) -> list[ScheduleRecord]:
        """Lists the records in one statement; see :meth:`.Scheduling.schedule_records`.

        Raises:
            BackendError: The server cannot be reached.
        """
        limits = listing_bounds()
        rows = self._all(LIST_SCHEDULE_TICKS, limits)
        return listed([readable(name, queue, tick, about) for name, queue, tick, about in rows])
