"""locmem's rate limits and concurrency slots: plain dicts of the store, under its one lock.

The rules are :mod:`alligator.limit_store`'s, written the plainest way: a
rate is the key's GCRA time (:func:`~alligator.limit_store.next_take`) and
its bookings (holder -> slot); concurrency is the key's holders (holder ->
end of lease), its last limit, and the holders refused lately. Everything
past its time is dropped when the key is next touched.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from alligator.backend import Backend
from alligator.limit_store import (
    WAITER_SECONDS,
    LimitState,
    Rate,
    next_take,
    rate_held,
)


@dataclass
class LimitTables:
    """The limits of one store: one per DSN, shared by its clients in this process."""

    # key -> (GCRA time, count, per)
    rates: dict[str, tuple[float, int, float]] = field(default_factory=dict)
    # key -> holder -> booked slot
    bookings: dict[str, dict[str, float]] = field(default_factory=dict)
    # key -> holder -> end of lease
    slots: dict[str, dict[str, float]] = field(default_factory=dict)
    # key -> the concurrency limit last asked for
    slot_limits: dict[str, int] = field(default_factory=dict)
    # key -> holder -> listed as waiting until
    waiters: dict[str, dict[str, float]] = field(default_factory=dict)


class LocmemLimiting(Backend):
    """The :class:`~alligator.limit_store.Limiting` capability of locmem (a mixin of its backend)."""

    _cond: threading.Condition
    _limits: LimitTables

    def take_rate(self, key: str, holder: str, count: int, per: float) -> float:
        """See :meth:`~alligator.limit_store.Limiting.take_rate`."""
        with self._cond:
            tables, now = self._limits, self.now()
            booked = tables.bookings.setdefault(key, {})
            for old in [h for h, slot in booked.items() if slot < now - per]:
                del booked[old]
            mine = booked.get(holder)
            if mine is not None:
                if mine <= now:
                    del booked[holder]
                    return 0.0
                return mine - now
            stored = tables.rates.get(key)
            new, wait = next_take(None if stored is None else stored[0], now, count, per)
            tables.rates[key] = (new, count, per)
            if wait > 0:
                booked[holder] = now + wait
            return wait

    def acquire_slot(self, key: str, holder: str, limit: int, lease_seconds: float) -> float:
        """See :meth:`~alligator.limit_store.Limiting.acquire_slot`."""
        with self._cond:
            tables, now = self._limits, self.now()
            held = self._live_slots(key, now)
            waiting = tables.waiters.setdefault(key, {})
            tables.slot_limits[key] = limit
            if holder in held or len(held) < limit:
                held[holder] = now + lease_seconds
                waiting.pop(holder, None)
                return 0.0
            waiting[holder] = now + WAITER_SECONDS
            return max(min(held.values()) - now, 1e-6)

    def _live_slots(self, key: str, now: float) -> dict[str, float]:
        held = self._limits.slots.setdefault(key, {})
        for old in [h for h, end in held.items() if end <= now]:
            del held[old]
        return held

    def extend_slot(self, key: str, holder: str, lease_seconds: float) -> bool:
        """See :meth:`~alligator.limit_store.Limiting.extend_slot`."""
        with self._cond:
            now = self.now()
            held = self._live_slots(key, now)
            if holder not in held:
                return False
            held[holder] = now + lease_seconds
            return True

    def release_slot(self, key: str, holder: str) -> bool:
        """See :meth:`~alligator.limit_store.Limiting.release_slot`."""
        with self._cond:
            return self._limits.slots.get(key, {}).pop(holder, None) is not None

    def limit_states(self) -> list[LimitState]:
        """See :meth:`~alligator.limit_store.Limiting.limit_states`."""
        with self._cond:
            tables, now = self._limits, self.now()
            found = []
            for key, (tat, count, per) in tables.rates.items():
                held = rate_held(tat, now, Rate(count, per))
                waiting = sum(1 for slot in tables.bookings.get(key, {}).values() if slot > now)
                if held or waiting:
                    found.append(LimitState("rate", key, str(Rate(count, per)), held, waiting))
            for key, limit in tables.slot_limits.items():
                held = sum(1 for end in tables.slots.get(key, {}).values() if end > now)
                waiting = sum(1 for until in tables.waiters.get(key, {}).values() if until > now)
                if held or waiting:
                    found.append(LimitState("concurrency", key, str(limit), held, waiting))
        return sorted(found, key=lambda state: (state.kind, state.key))
