"""Redis's unique keys: one script takes a key with the push (``lua/unique_push.lua``), another lists them.

A queue's records are a hash and a sorted set under its hash tag (see
:mod:`alligator_redis.keys`), so the push, the holder's state and the record
are read and written by one script on one node, Redis Cluster included.
"""

from __future__ import annotations

from alligator.backend import check_window
from alligator.unique_store import MAX_LISTED_KEYS, HeldKey
from alligator_redis import scripts
from alligator_redis.base import Client, RedisBase, _check_seconds, _Script
from alligator_redis.keys import queue_keys

#: ARGV: now, id, payload, delay, key, mode, window. Returns (1, "") when
#: pushed, (1, replaced id) for a debounced replacement, (0, holder id) when
#: the key is held, (0, "") when the id is taken.
UNIQUE_PUSH = scripts.Script("unique_push")
#: ARGV: now, scan, max_bytes. Returns (key, holder, mode, until) flattened.
HELD_KEYS = scripts.Script("held_keys")

# Records looked at per listing, by end time; a planted key or holder longer
# than _MAX_FIELD_BYTES (a real one is at most 200 characters) is skipped.
_SCAN = 5000
_MAX_FIELD_BYTES = 800


class Unique(RedisBase):
    """Takes a unique key with the push; see :class:`~alligator.unique_store.UniqueKeys`."""

    def __init__(
        self, conn_string: str = "redis://localhost:6379/0", *, client: Client | None = None
    ) -> None:
        super().__init__(conn_string, client=client)
        self._unique_push = _Script(self.client, UNIQUE_PUSH)
        self._held_keys = _Script(self.client, HELD_KEYS)

    def _unique_run(self, script: _Script, keys: tuple[str, ...], queue: str, *args: object) -> list[object]:
        names = queue_keys(queue)
        reply = self._eval(script, tuple(names[key] for key in keys), *args, raw=True)
        assert isinstance(reply, list)
        return reply

    def push_unique(
        self, queue: str, task_id: str, payload: str, delay: float, key: str, mode: str, window: float
    ) -> tuple[bool, str]:
        """Pushes unless ``key`` is held, in one script; see :meth:`.UniqueKeys.push_unique`.

        Raises:
            ValueError: ``delay`` or ``window`` is NaN or infinite.
            BackendError: Redis cannot be reached, or refused the script;
                nothing was queued.
        """
        _check_seconds(delay, "delay")
        _check_seconds(window, "window")
        args = (self._now_arg(), task_id, payload, repr(float(delay)), key, mode, repr(float(window)))
        with self._translated("queue task {} on {!r} (it was not queued)", task_id, queue):
            reply = self._unique_run(self._unique_push, UNIQUE_PUSH.keys, queue, *args)
        pushed, other = reply
        return bool(pushed), _text(other) or ""

    def unique_keys(self, queue: str, limit: int = 100) -> list[HeldKey]:
        """Lists the held keys, sorted, in one script; see :meth:`.UniqueKeys.unique_keys`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        check_window(0, limit)
        with self._translated("list the unique keys of {!r}", queue):
            reply = self._unique_run(
                self._held_keys, HELD_KEYS.keys, queue, self._now_arg(), _SCAN, _MAX_FIELD_BYTES
            )
        held = []
        for i in range(0, len(reply) - 3, 4):
            key, holder, mode = _text(reply[i]), _text(reply[i + 1]), _text(reply[i + 2])
            if key is not None and holder is not None and mode is not None:
                held.append(HeldKey(key, holder, mode, float(_text(reply[i + 3]) or "nan")))
        return sorted(held)[: min(limit, MAX_LISTED_KEYS)]


def _text(value: object) -> str | None:
    """A reply's bytes as text; None when they are not UTF-8 (a planted record)."""
    if isinstance(value, str):
        return value
    if not isinstance(value, bytes):
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None
