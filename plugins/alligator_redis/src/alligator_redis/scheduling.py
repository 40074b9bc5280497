"""Schedule records on Redis: a tick's push and its record in one script, in the queue's hash slot.

Key layout: :mod:`alligator_redis.keys` (a queue's ``schedules`` hash, and the
``{%schedules}`` index of the queues that have one). The index is written
before the script, as a separate command: on Redis Cluster it lives in
another slot, and an index that names a queue with no records only costs
the listing one empty look.
"""

from __future__ import annotations

from typing import Any

from alligator.scheduling_store import (
    MAX_ABOUT_BYTES,
    MAX_QUEUE_BYTES,
    MAX_SCHEDULE_NAME_BYTES,
    MAX_SCHEDULES,
    ScheduleRecord,
    check_tick_args,
    listed,
    readable,
)
from alligator_redis.base import _RAW, RedisBase, _Script
from alligator_redis.keys import (
    SCHEDULE_KEY_NAMES,
    SCHEDULE_QUEUES_KEY,
    queue_keys,
    schedules_key,
)
from alligator_redis.scripts import Script

#: ARGV: now, id, payload, name, tick, about. Returns 1 if pushed and recorded, 0 if refused.
PUSH_TICK = Script("push_tick", SCHEDULE_KEY_NAMES)
#: ARGV: the longest name, the longest about, the most records. Returns (name, tick, about) flattened.
SCHEDULE_TICKS = Script("schedule_ticks", SCHEDULE_KEY_NAMES)


def _keys(script_keys: tuple[str, ...], queue: str) -> tuple[str, ...]:
    names = {**queue_keys(queue), "schedules": schedules_key(queue)}
    return tuple(names[key] for key in script_keys)


class Scheduling(RedisBase):
    """The :class:`~alligator.scheduling_store.Scheduling` capability of Redis (and Redis Cluster)."""

    def _script(self, script: Any) -> _Script:
        loaded: dict[str, _Script] = self.__dict__.setdefault("_schedule_scripts", {})
        found = loaded.get(script.name)
        if found is None:
            found = loaded[script.name] = _Script(self.client, script)
        return found

    def push_tick(
        self, queue: str, schedule: str, tick: float, task_id: str, payload: str, about: str
    ) -> bool:
        """Adds the queue to the index, then pushes and records the tick in one script.

        See :meth:`~alligator.scheduling_store.Scheduling.push_tick`.

        Raises:
            ValueError: A refused argument; nothing is written.
            BackendError: Redis cannot be reached.
        """
        value = check_tick_args(schedule, tick, about)
        args = (self._now_arg(), task_id, payload, schedule, repr(value), about)
        with self._translated("enqueue tick {} of schedule {!r} on {!r}", value, schedule, queue):
            self._execute("SADD", SCHEDULE_QUEUES_KEY, queue)
            keys = _keys(PUSH_TICK.keys, queue)
            return bool(self._eval(self._script(PUSH_TICK), keys, *args))

    def schedule_records(self) -> list[ScheduleRecord]:
        """Reads the index, then each queue's records in one script each.

        See :meth:`~alligator.scheduling_store.Scheduling.schedule_records`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        found: list[ScheduleRecord | None] = []
        with self._translated("list the schedules"):
            members = self._execute("SRANDMEMBER", SCHEDULE_QUEUES_KEY, MAX_SCHEDULES, **_RAW)
            for member in members:
                queue = _text(member, MAX_QUEUE_BYTES)
                if queue is None:
                    continue
                reply = self._eval(
                    self._script(SCHEDULE_TICKS),
                    _keys(SCHEDULE_TICKS.keys, queue),
                    MAX_SCHEDULE_NAME_BYTES,
                    MAX_ABOUT_BYTES,
                    MAX_SCHEDULES,
                    raw=True,
                )
                for at in range(0, len(reply) - 2, 3):
                    name, tick, about = (_text(part, MAX_ABOUT_BYTES) for part in reply[at : at + 3])
                    found.append(readable(name, queue, tick, about))
        return listed(found)


def _text(raw: object, longest: int) -> str | None:
    """A reply's bytes as text, or None when they are not UTF-8 or too long."""
    if not isinstance(raw, bytes) or len(raw) > longest:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
