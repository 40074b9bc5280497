"""The SQLite backend's rate limits and concurrency slots per key: four tables, one transaction per step.

The rules are :mod:`alligator.limit_store`'s; each step runs in one write
transaction (``BEGIN IMMEDIATE``), so it is atomic for every process using
the file. Tables (schema version 5): ``alligator_limit_rates(key, tat,
count, per)``, a key's GCRA time, with an index on ``tat`` so the keys past
their time are dropped at every take with one range scan;
``alligator_limit_bookings(key, holder, slot)``, the slots booked by
waiting holders; ``alligator_limit_slots(key, holder, lease_end, lim)``, the
slots held and the end of their lease; ``alligator_limit_waiters(key,
holder, until, lim)``, the holders refused lately, for the listing. A time
that is no number (planted by hand) counts as absent: the step's deletes
drop it before anything reads it.
"""

from __future__ import annotations

import sqlite3

from alligator.limit_store import (
    MAX_LIMIT_KEY_BYTES,
    MAX_RATE_HORIZON,
    WAITER_SECONDS,
    LimitState,
    Rate,
    rate_held,
    slot_wait,
    stored_number,
    take_step,
)
from alligator_sqlite import queries
from alligator_sqlite.store import Store

__all__ = ["Limiting"]

#: The most keys of each kind :meth:`Limiting.limit_states` lists.
MAX_LISTED_KEYS = 1000


class Limiting(Store):
    """The :class:`~alligator.limit_store.Limiting` capability, mixed into :class:`~.SqliteBackend`."""

    def take_rate(self, key: str, holder: str, count: int, per: float) -> float:
        """Takes one of ``count`` per ``per``, or books a slot: see :meth:`~.Limiting.take_rate`."""

        def body(conn: sqlite3.Connection) -> float:
            now = self.now()
            mine = {"key": key, "holder": holder}
            conn.execute(queries.DROP_STALE_BOOKINGS, {"key": key, "horizon": now - per})
            row = conn.execute(queries.BOOKING_OF, mine).fetchone()
            booking = None if row is None else stored_number(row[0])
            if booking is None:
                conn.execute(queries.DROP_PAST_RATES, {"now": now})
                row = conn.execute(queries.RATE_TIME, {"key": key}).fetchone()
                tat = None if row is None else stored_number(row[0])
            else:
                tat = None  # not read: a booking decides alone
            step = take_step(booking, tat, now, count, per)
            if step.use_booking:
                conn.execute(queries.DELETE_BOOKING, mine)
            if step.tat is not None:
                conn.execute(queries.SET_RATE_TIME, {"key": key, "tat": step.tat, "count": count, "per": per})
            if step.booking is not None:
                conn.execute(queries.ADD_BOOKING, {**mine, "slot": step.booking})
            return step.wait

        return self._run(body)

    def acquire_slot(self, key: str, holder: str, limit: int, lease_seconds: float) -> float:
        """Takes a slot of ``key`` if one is free; see :meth:`~.limit_store.Limiting.acquire_slot`."""

        def body(conn: sqlite3.Connection) -> float:
            now = self.now()
            horizon = now + MAX_RATE_HORIZON
            conn.execute(queries.DROP_ENDED_SLOTS, {"key": key, "now": now, "horizon": horizon})
            conn.execute(queries.DROP_OLD_WAITERS, {"key": key, "now": now})
            held = conn.execute(queries.SLOT_HOLDERS, {"key": key}).fetchall()
            mine = {"key": key, "holder": holder}
            wait = slot_wait(holder, {h: stored_number(end) for h, end in held}, limit, now)
            if not wait:
                conn.execute(queries.SET_SLOT, {**mine, "lease_end": now + lease_seconds, "lim": limit})
                conn.execute(queries.DELETE_WAITER, mine)
                return 0.0
            conn.execute(queries.ADD_WAITER, {**mine, "until": now + WAITER_SECONDS, "lim": limit})
            return wait

        return self._run(body)

    def extend_slot(self, key: str, holder: str, lease_seconds: float) -> bool:
        """Extends a held slot's lease; see :meth:`~.limit_store.Limiting.extend_slot`."""

        def body(conn: sqlite3.Connection) -> bool:
            now = self.now()
            params = {"key": key, "holder": holder, "now": now, "lease_end": now + lease_seconds}
            return conn.execute(queries.EXTEND_SLOT, params).rowcount > 0

        return self._run(body)

    def release_slot(self, key: str, holder: str) -> bool:
        """Gives a slot back; see :meth:`~.limit_store.Limiting.release_slot`."""

        def body(conn: sqlite3.Connection) -> bool:
            return conn.execute(queries.RELEASE_SLOT, {"key": key, "holder": holder}).rowcount > 0

        return self._run(body)

    def limit_states(self) -> list[LimitState]:
        """Lists the keys with live state in one read; see :meth:`~.limit_store.Limiting.limit_states`.

        A key over :data:`~alligator.limit_store.MAX_LIMIT_KEY_BYTES` or not
        UTF-8, or a count or period that is no number, is skipped.
        """

        def body(conn: sqlite3.Connection) -> list[LimitState]:
            now = self.now()
            params = {
                "now": now,
                "horizon": now + MAX_RATE_HORIZON,
                "max_key": MAX_LIMIT_KEY_BYTES,
                "limit": MAX_LISTED_KEYS,
            }
            found = []
            for raw, tat, count, per, waiting in conn.execute(queries.RATE_STATES, params).fetchall():
                key = _text(raw)
                if key is None or not isinstance(count, int) or count < 1 or stored_number(per) is None:
                    continue
                rate = Rate(count, float(per))
                found.append(LimitState("rate", key, str(rate), rate_held(float(tat), now, rate), waiting))
            for raw, held, waiting, lim in conn.execute(queries.SLOT_STATES, params).fetchall():
                key = _text(raw)
                if key is None or not isinstance(lim, int):
                    continue
                found.append(LimitState("concurrency", key, str(lim), held, waiting))
            return sorted(found, key=lambda state: (state.kind, state.key))

        return self._run(body, write=False)


def _text(raw: object) -> str | None:
    """A key read back as bytes, or None when it was over the limit (NULL) or not UTF-8."""
    if not isinstance(raw, bytes):
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
