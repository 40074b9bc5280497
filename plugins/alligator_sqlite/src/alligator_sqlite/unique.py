"""SQLite's unique keys: the table ``alligator_unique_keys``, read and written in the push's transaction.

The queries are in ``sql/unique.sql``. The rule of whether a record holds is
the core's (:func:`alligator.unique_store.holds`), judged inside the write
transaction that pushes, so two processes racing on one key queue one task:
``BEGIN IMMEDIATE`` lets one writer in at a time.
"""

from __future__ import annotations

import sqlite3

from alligator.backend import check_window
from alligator.unique_store import MAX_LISTED_KEYS, HeldKey, holds, replaces
from alligator_sqlite import queries
from alligator_sqlite.consuming import Consuming, _check_delay
from alligator_sqlite.inspecting import Inspecting

_QUERIES = queries.load("unique.sql")
UNIQUE_RECORD = _QUERIES["unique_record"]
WRITE_UNIQUE = _QUERIES["write_unique"]
DROP_ENDED_UNIQUE = _QUERIES["drop_ended_unique"]
UNIQUE_PAGE = _QUERIES["unique_page"]
DROP_QUEUE_UNIQUE = _QUERIES["drop_queue_unique"]

# A planted key or holder longer than this is never read (a real one is at most 200 characters).
_MAX_FIELD_BYTES = 800
# Records read per look while listing.
_PAGE = 500


def _text(value: object) -> str | None:
    """A stored text column read as bytes: its text, or None when it is not UTF-8 (planted)."""
    if not isinstance(value, bytes):
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None


class UniqueSqlite(Consuming, Inspecting):
    """Takes a unique key with the push; see :class:`~alligator.unique_store.UniqueKeys`."""

    def push_unique(
        self, queue: str, task_id: str, payload: str, delay: float, key: str, mode: str, window: float
    ) -> tuple[bool, str]:
        """Pushes unless ``key`` is held, in one write transaction; see :meth:`.UniqueKeys.push_unique`.

        Raises:
            ValueError: ``delay`` is NaN or infinite, or a string cannot be
                encoded as UTF-8; nothing is added.
        """
        _check_delay(delay)
        data = payload.encode("utf-8")
        key.encode("utf-8")
        return self._run(
            lambda conn: self._push_unique_on(conn, queue, task_id, data, delay, key, mode, window)
        )

    def _push_unique_on(
        self,
        conn: sqlite3.Connection,
        queue: str,
        task_id: str,
        data: bytes,
        delay: float,
        key: str,
        mode: str,
        window: float,
    ) -> tuple[bool, str]:
        """push_unique's statements, inside a write transaction: ours, or the caller's (push_unique_in)."""
        now = self.now()
        conn.execute(DROP_ENDED_UNIQUE, {"queue": queue, "now": now})
        replaced = ""
        holder = self._holder(conn, queue, key, now)
        if holder is not None:
            held_by, held_mode = holder
            if not replaces(mode, held_mode):
                return False, held_by
            # Debounce: the waiting holder gives way, as cancel() removes it.
            cancel = {"queue": queue, "task_id": held_by, "now": now}
            if conn.execute(queries.CANCEL_TASK, cancel).rowcount == 1:
                replaced = held_by
        due = now + max(delay, 0.0)
        if not self._push_in(conn, queue, task_id, data, due):
            return False, ""
        record = {"queue": queue, "key": key, "holder": task_id, "mode": mode, "until": due + window}
        conn.execute(WRITE_UNIQUE, record)
        return True, replaced

    def _holder(self, conn: sqlite3.Connection, queue: str, key: str, now: float) -> tuple[str, str] | None:
        """The key's holder and its mode while its record holds the key; None when it is free."""
        row = conn.execute(UNIQUE_RECORD, {"queue": queue, "key": key}).fetchone()
        if row is None:
            return None
        holder, mode, until = _text(row[0]), _text(row[1]), row[2]
        if holder is None or mode is None or until is None:
            return None  # a planted record holds nothing; the push replaces it
        if not holds(mode, self._live_status(conn, queue, holder, now), now, float(until)):
            return None
        return holder, mode

    def unique_keys(self, queue: str, limit: int = 100) -> list[HeldKey]:
        """Lists the held keys, sorted, in one read transaction; see :meth:`.UniqueKeys.unique_keys`."""
        check_window(0, limit)
        wanted = min(limit, MAX_LISTED_KEYS)

        def body(conn: sqlite3.Connection) -> list[HeldKey]:
            now = self.now()
            held: list[HeldKey] = []
            offset = 0
            while len(held) < wanted:
                page = {"queue": queue, "now": now, "max_bytes": _MAX_FIELD_BYTES, "limit": _PAGE}
                rows = conn.execute(UNIQUE_PAGE, {**page, "offset": offset}).fetchall()
                for raw_key, raw_holder, raw_mode, until in rows:
                    key, holder, mode = _text(raw_key), _text(raw_holder), _text(raw_mode)
                    if key is None or holder is None or mode is None:
                        continue
                    if holds(mode, self._live_status(conn, queue, holder, now), now, float(until)):
                        held.append(HeldKey(key, holder, mode, float(until)))
                if len(rows) < _PAGE:
                    break
                offset += _PAGE
            return held[:wanted]

        return self._run(body, write=False)
