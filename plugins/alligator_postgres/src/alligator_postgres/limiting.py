"""The PostgreSQL backend's rate limits and concurrency slots per key: four tables, one transaction per step.

The rules are :mod:`alligator.limit_store`'s (:func:`~alligator.limit_store.take_step`,
:func:`~alligator.limit_store.slot_wait`), the queries ``sql/limiting.sql``'s.
:meth:`~alligator.limit_store.Limiting.take_rate` and
:meth:`~alligator.limit_store.Limiting.acquire_slot` are each one
transaction that first takes an advisory lock on the key (a key has no row
to lock before its first take), reads the key's state with the time from
the server's clock, and writes what the rule decided: atomic for every
worker on every machine. Extending and releasing a slot are one statement
each. Keys are stored as bytea (their UTF-8), so any key, NUL included,
round-trips; the CHECK constraints of the tables keep every stored time
finite, and a time further ahead than any step could write (planted by hand)
is not believed.
"""

from __future__ import annotations

from typing import Any

import psycopg

from alligator.limit_store import (
    MAX_LIMIT_KEY_BYTES,
    MAX_RATE_HORIZON,
    WAITER_SECONDS,
    LimitState,
    Rate,
    rate_held,
    slot_wait,
    take_step,
)
from alligator_postgres import queries
from alligator_postgres.store import Store

__all__ = ["Limiting"]

_QUERIES = queries.load("limiting.sql")
LIMIT_LOCK = _QUERIES["limit_lock"]
RATE_STATE = _QUERIES["rate_state"]
APPLY_TAKE = _QUERIES["apply_take"]
SLOT_STATE = _QUERIES["slot_state"]
GRANT_SLOT = _QUERIES["grant_slot"]
ADD_WAITER = _QUERIES["add_waiter"]
EXTEND_SLOT = _QUERIES["extend_slot"]
RELEASE_SLOT = _QUERIES["release_slot"]
RATE_STATES = _QUERIES["rate_states"]
SLOT_STATES = _QUERIES["slot_states"]

#: The most keys of each kind :meth:`Limiting.limit_states` lists.
MAX_LISTED_KEYS = 1000


class Limiting(Store):
    """The :class:`~alligator.limit_store.Limiting` capability, mixed into :class:`~.PostgresBackend`."""

    def take_rate(self, key: str, holder: str, count: int, per: float) -> float:
        """Takes one of ``count`` per ``per``, or books a slot: see :meth:`~.Limiting.take_rate`."""
        mine = {"key": key.encode("utf-8"), "holder": holder}

        def body(conn: psycopg.Connection[Any]) -> float:
            conn.execute(LIMIT_LOCK, mine)
            state = {**mine, "now": self._now_arg(), "per": float(per)}
            row = conn.execute(RATE_STATE, state).fetchone()
            assert row is not None  # one row, whatever the tables hold
            now, booking, tat = row
            step = take_step(booking, tat, now, count, per)
            if step.use_booking or step.tat is not None or step.booking is not None:
                conn.execute(
                    APPLY_TAKE,
                    {
                        **mine,
                        "use_booking": step.use_booking,
                        "tat": step.tat,
                        "count": count,
                        "per": float(per),
                        "slot": step.booking,
                    },
                )
            return step.wait

        return self._transaction(body)

    def acquire_slot(self, key: str, holder: str, limit: int, lease_seconds: float) -> float:
        """Takes a slot of ``key`` if one is free; see :meth:`~.limit_store.Limiting.acquire_slot`."""
        mine = {"key": key.encode("utf-8"), "holder": holder}

        def body(conn: psycopg.Connection[Any]) -> float:
            conn.execute(LIMIT_LOCK, mine)
            state = {**mine, "now": self._now_arg(), "horizon": MAX_RATE_HORIZON}
            rows = conn.execute(SLOT_STATE, state).fetchall()
            now = rows[0][0]
            ends = {other: end for _, other, end in rows if other is not None}
            wait = slot_wait(holder, ends, limit, now)
            if not wait:
                conn.execute(GRANT_SLOT, {**mine, "lease_end": now + lease_seconds, "lim": limit})
                return 0.0
            conn.execute(ADD_WAITER, {**mine, "until": now + WAITER_SECONDS, "lim": limit})
            return wait

        return self._transaction(body)

    def extend_slot(self, key: str, holder: str, lease_seconds: float) -> bool:
        """Extends a held slot's lease; see :meth:`~.limit_store.Limiting.extend_slot`."""
        params = {
            "key": key.encode("utf-8"),
            "holder": holder,
            "now": self._now_arg(),
            "lease": lease_seconds,
        }
        return self._retrying(lambda conn: conn.execute(EXTEND_SLOT, params).rowcount) > 0

    def release_slot(self, key: str, holder: str) -> bool:
        """Gives a slot back; see :meth:`~.limit_store.Limiting.release_slot`."""
        params = {"key": key.encode("utf-8"), "holder": holder}
        return self._retrying(lambda conn: conn.execute(RELEASE_SLOT, params).rowcount) > 0

    def limit_states(self) -> list[LimitState]:
        """Lists the keys with live state; see :meth:`~.limit_store.Limiting.limit_states`.

        A key over :data:`~alligator.limit_store.MAX_LIMIT_KEY_BYTES` or not
        UTF-8 is skipped.
        """

        def body(conn: psycopg.Connection[Any]) -> list[LimitState]:
            now = self._now_in(conn)
            params = {
                "at": now,
                "horizon": MAX_RATE_HORIZON,
                "max_key": MAX_LIMIT_KEY_BYTES,
                "limit": MAX_LISTED_KEYS,
            }
            found = []
            for raw, tat, count, per, waiting in conn.execute(RATE_STATES, params).fetchall():
                key = _text(raw)
                if key is not None:
                    rate = Rate(count, per)
                    found.append(LimitState("rate", key, str(rate), rate_held(tat, now, rate), waiting))
            for raw, held, waiting, lim in conn.execute(SLOT_STATES, params).fetchall():
                key = _text(raw)
                if key is not None:
                    found.append(LimitState("concurrency", key, str(lim), held, waiting))
            return sorted(found, key=lambda state: (state.kind, state.key))

        return self._transaction(body)


def _text(raw: bytes | None) -> str | None:
    """A key read back as bytes, or None when it was over the limit (NULL) or not UTF-8."""
    if raw is None:
        return None
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return None
