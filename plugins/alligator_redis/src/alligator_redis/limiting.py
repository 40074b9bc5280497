"""Rate limits and concurrency slots per key (keys and scripts: :mod:`alligator_redis.limits`)."""

from __future__ import annotations

import threading
from typing import Any

from alligator.limit_store import (
    MAX_LIMIT_KEY_BYTES,
    MAX_RATE_HORIZON,
    WAITER_SECONDS,
    LimitState,
    Rate,
    check_key,
    rate_held,
    stored_number,
)
from alligator_redis import limits
from alligator_redis.base import RedisBase, _Script
from alligator_redis.scripts import Script

#: The most keys :meth:`Limiting.limit_states` lists.
MAX_LISTED_KEYS = 1000
#: The longest index member read: the kind, a colon and the longest key.
_LONGEST_MEMBER = len("concurrency:") + MAX_LIMIT_KEY_BYTES


class Limiting(RedisBase):
    """The :class:`~alligator.limit_store.Limiting` capability of Redis, one script per step."""

    _limit_scripts: dict[str, _Script]
    _limit_lock = threading.Lock()

    def _limit_script(self, script: Script) -> _Script:
        scripts: dict[str, _Script] | None = self.__dict__.get("_limit_scripts")
        if scripts is None:
            with self._limit_lock:
                scripts = self.__dict__.setdefault(
                    "_limit_scripts", {s.name: _Script(self.client, s) for s in limits.LIMIT_SCRIPTS}
                )
        return scripts[script.name]

    def _limit_eval(self, script: Script, key: str, *args: object) -> Any:
        names = limits.keys_of(key)
        keys = tuple(names[name] for name in script.keys)
        return self._eval(self._limit_script(script), keys, *args)

    def take_rate(self, key: str, holder: str, count: int, per: float) -> float:
        """One take, or a booked slot, in one script; see :meth:`~.limit_store.Limiting.take_rate`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        with self._translated("take from the rate limit of {!r}", key):
            wait = self._limit_eval(limits.TAKE, key, self._now_arg(), holder, count, repr(float(per)), key)
        return float(wait)

    def acquire_slot(self, key: str, holder: str, limit: int, lease_seconds: float) -> float:
        """Takes a slot if one is free, in one script; see :meth:`~.limit_store.Limiting.acquire_slot`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        args = (self._now_arg(), holder, limit, repr(float(lease_seconds)), key, repr(WAITER_SECONDS))
        with self._translated("take a concurrency slot of {!r}", key):
            wait = self._limit_eval(limits.ACQUIRE, key, *args)
        return float(wait)

    def extend_slot(self, key: str, holder: str, lease_seconds: float) -> bool:
        """Extends a held slot's lease; see :meth:`~.limit_store.Limiting.extend_slot`."""
        args = (self._now_arg(), holder, repr(float(lease_seconds)), key)
        with self._translated("extend a concurrency slot of {!r}", key):
            return bool(self._limit_eval(limits.EXTEND, key, *args))

    def release_slot(self, key: str, holder: str) -> bool:
        """Gives a slot back; see :meth:`~.limit_store.Limiting.release_slot`."""
        with self._translated("give back a concurrency slot of {!r}", key):
            return bool(self._limit_eval(limits.RELEASE, key, holder))

    def limit_states(self) -> list[LimitState]:
        """Lists the keys with live state: the index, then one script per key (see :mod:`.limits`).

        A member of the index that is not ``rate:<key>`` or
        ``concurrency:<key>`` with a key :func:`~alligator.limit_store.check_key`
        accepts, or whose values are no numbers, is skipped.
        """
        now = self.now()
        with self._translated("list the limit keys"):
            members = self._eval(
                self._limit_script(limits.INDEX), (limits.INDEX_KEY,), self._now_arg(), MAX_LISTED_KEYS
            )
            found = []
            for member in members:
                state = self._state_of(member, now)
                if state is not None:
                    found.append(state)
        return sorted(found, key=lambda state: (state.kind, state.key))

    def _state_of(self, member: object, now: float) -> LimitState | None:
        if not isinstance(member, str) or len(member) > _LONGEST_MEMBER:
            return None
        kind, _, key = member.partition(":")
        try:
            check_key(key)
        except (TypeError, ValueError):
            return None
        if kind not in ("rate", "concurrency"):
            return None
        reply = self._limit_eval(limits.STATE, key, self._now_arg(), kind)
        if not isinstance(reply, list) or not reply:
            return None
        if kind == "rate":
            tat, count, per = (stored_number(value) for value in reply[:3])
            if tat is None or count is None or per is None or count < 1 or count != int(count) or per <= 0:
                return None
            if tat > now + MAX_RATE_HORIZON:
                return None  # planted: a take reads it as now
            rate = Rate(int(count), per)
            held = rate_held(tat, now, rate)
            if not held and not reply[3]:
                return None
            return LimitState("rate", key, str(rate), held, int(reply[3]))
        limit = stored_number(reply[0])
        if limit is None or limit != int(limit) or not (int(reply[1]) or int(reply[2])):
            return None
        return LimitState("concurrency", key, str(int(limit)), int(reply[1]), int(reply[2]))
