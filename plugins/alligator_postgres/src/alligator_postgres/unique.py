"""PostgreSQL's unique keys: the table ``alligator_unique_keys``, read and written in the push's transaction.

The queries are in ``sql/unique.sql``. A push of a unique task is one
transaction: an advisory lock on the key (so pushes of one key take turns,
even while it has no record to lock), the key's record with its holder's
state, then the push and the new record. Whether the record still holds is
the core's rule (:func:`alligator.unique_store.holds`), judged between those
statements on the time the first one read from the server's clock, so two
producers racing on one key queue one task, on any number of machines.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from alligator.backend import check_window
from alligator.unique_store import MAX_LISTED_KEYS, HeldKey, holds, replaces
from alligator_postgres import queries
from alligator_postgres.inspecting import Inspecting, live_status

__all__ = ["Run", "UniquePostgres"]

#: ``run(query, params)``: runs one statement in the transaction at hand and
#: returns its cursor (``fetchone()``, ``rowcount``): psycopg 3's
#: ``Connection.execute``, or a DB-API cursor's ``execute`` (see transactional.py).
Run = Callable[[str, dict[str, Any]], Any]

_QUERIES = queries.load("unique.sql")
UNIQUE_LOCK = _QUERIES["unique_lock"]
UNIQUE_RECORD = _QUERIES["unique_record"]
WRITE_UNIQUE = _QUERIES["write_unique"]
UNIQUE_PAGE = _QUERIES["unique_page"]

# A planted key, holder or mode longer than this is never read (a real one is at most 200 characters).
_MAX_FIELD_BYTES = 800
# Records read per look while listing.
_PAGE = 500


def _status(live: bool, later: bool, held: bool) -> int | None:
    """The holder's state as status() says it, from its row; None when it has no live row."""
    return live_status(later, held) if live else None


class UniquePostgres(Inspecting):
    """Takes a unique key with the push; see :class:`~alligator.unique_store.UniqueKeys`."""

    def push_unique(
        self, queue: str, task_id: str, payload: str, delay: float, key: str, mode: str, window: float
    ) -> tuple[bool, str]:
        """Pushes unless ``key`` is held, in one transaction; see :meth:`.UniqueKeys.push_unique`.

        Raises:
            ValueError: ``delay`` is NaN or infinite, or a string cannot be
                encoded as UTF-8; nothing is added.
        """
        params = self.push_params(queue, [(task_id, payload, delay)])
        assert params is not None

        def body(conn: psycopg.Connection[Any]) -> tuple[bool, str]:
            return self._push_unique_on(conn.execute, params, key, mode, window)

        return self._transaction(body)

    def _push_unique_on(
        self, run: Run, params: dict[str, Any], key: str, mode: str, window: float
    ) -> tuple[bool, str]:
        """push_unique's statements, in an open transaction: ours, or the caller's (push_unique_in).

        ``params``: :meth:`push_params` of the one task.
        """
        queue, task_id, delay = params["queue"], params["task_ids"][0], params["delays"][0]
        ids = {"queue": queue, "key": key}
        run(UNIQUE_LOCK, ids)
        row = run(UNIQUE_RECORD, {**ids, "now": params["now"], "max_bytes": _MAX_FIELD_BYTES}).fetchone()
        assert row is not None  # one row, whatever the tables hold
        now, holder, held_mode, until, live, later, held = row
        replaced = ""
        # A record with a part over the limit (planted) holds nothing: the push replaces it.
        if holder is not None and held_mode is not None and until is not None:
            if holds(held_mode, _status(live, later, held), now, until):
                if not replaces(mode, held_mode):
                    return False, holder
                # Debounce: the waiting holder gives way, as cancel() removes it.
                cancel = {"queue": queue, "task_id": holder, "now": now}
                if run(queries.CANCEL_TASK, cancel).rowcount == 1:
                    replaced = holder
        # Every later statement reads the time the record was judged by.
        (added,) = run(queries.PUSH_TASKS, {**params, "now": now}).fetchone() or (0,)
        if not added:
            return False, ""
        record = {**ids, "holder": task_id, "mode": mode, "until": now + max(delay, 0.0) + window}
        run(WRITE_UNIQUE, record)
        return True, replaced

    def unique_keys(self, queue: str, limit: int = 100) -> list[HeldKey]:
        """Lists the held keys, sorted, in one transaction; see :meth:`.UniqueKeys.unique_keys`."""
        check_window(0, limit)
        wanted = min(limit, MAX_LISTED_KEYS)

        def body(conn: psycopg.Connection[Any]) -> list[HeldKey]:
            now = self._now_in(conn)
            held: list[HeldKey] = []
            offset = 0
            while len(held) < wanted:
                page = {"queue": queue, "at": now, "max_bytes": _MAX_FIELD_BYTES, "limit": _PAGE}
                rows = conn.execute(UNIQUE_PAGE, {**page, "offset": offset}).fetchall()
                for key, holder, mode, until, live, later, running in rows:
                    if holds(mode, _status(live, later, running), now, until):
                        held.append(HeldKey(key, holder, mode, float(until)))
                if len(rows) < _PAGE:
                    break
                offset += _PAGE
            return held[:wanted]

        return self._transaction(body)
