"""The store's part of schedules: enqueue a tick's task and record it in one atomic step.

A schedule's ticks are derived from its expression alone
(:mod:`alligator.schedules`), so every scheduler of a store agrees on them,
and each tick's task id is derived from the schedule's name and the tick.
The store's unique-id rule refuses a push of an id that is *live*, but an id
that finished may be pushed again: a scheduler that is late (restarted,
stalled, on a slow machine) could enqueue a tick that already ran. So a store
that keeps schedules also remembers, per schedule, the last tick it enqueued,
and :meth:`Scheduling.push_tick` pushes a tick's task *and* moves that record
forward in one atomic step, refusing any tick at or before it. With both
rules, any number of schedulers may run at once and each tick is enqueued
exactly once, without electing one.

Only ``str``, ``float`` and ``int`` cross the seam; what a record says about
its schedule (``about``) is the core's JSON, opaque to the store.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

#: The longest schedule name in UTF-8 bytes (it is part of each tick's task id).
MAX_SCHEDULE_NAME_BYTES = 120
#: The longest ``about`` text a store keeps or lists, in UTF-8 bytes.
MAX_ABOUT_BYTES = 2000
#: The most schedule records :meth:`Scheduling.schedule_records` lists.
MAX_SCHEDULES = 1000
#: The longest queue name a listed record may have, in UTF-8 bytes (a planted one may be huge).
MAX_QUEUE_BYTES = 1000


def listing_bounds() -> dict[str, int]:
    """The bounds a SQL store's query of the schedule records takes, as its named parameters."""
    return {
        "max_name": MAX_SCHEDULE_NAME_BYTES,
        "max_queue": MAX_QUEUE_BYTES,
        "max_about": MAX_ABOUT_BYTES,
        "limit": MAX_SCHEDULES,
    }


@dataclass(frozen=True)
class ScheduleRecord:
    """What the store remembers of one schedule in one queue.

    Attributes:
        name: The schedule's name.
        queue: The queue its ticks go to.
        last_tick: The last tick enqueued, in seconds since the epoch.
        about: What the scheduler that enqueued it wrote about the schedule
            (the core's JSON: its expression, timezone, missed-ticks policy),
            so tools can show the next tick without importing the user's module.
    """

    name: str
    queue: str
    last_tick: float
    about: str


def check_tick(tick: float) -> float:
    """Returns ``tick`` as a float; refuses one that is not a finite number.

    Raises:
        ValueError: NaN, an infinity, or not a number.
    """
    value = float(tick)
    if not math.isfinite(value):
        raise ValueError(f"a tick must be a finite number of seconds since the epoch, not {tick!r}")
    return value


def check_schedule_name(name: str) -> str:
    """Returns ``name``; refuses an empty one, one with a control character, or one too long.

    Raises:
        ValueError: What is wrong with it, and the limit.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a schedule's name must be a non-empty string, not {name!r}")
    if not name.isprintable():
        raise ValueError(f"a schedule's name must be printable text, not {name!r}")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError(f"a schedule's name must be encodable as UTF-8, not {name!r}") from None
    if size > MAX_SCHEDULE_NAME_BYTES:
        raise ValueError(
            f"the schedule name {name[:40]!r}... takes {size} bytes; at most "
            f"{MAX_SCHEDULE_NAME_BYTES} are allowed (it is part of each tick's task id)"
        )
    return name


def check_tick_args(schedule: str, tick: float, about: str) -> float:
    """Checks :meth:`Scheduling.push_tick`'s arguments before any write; returns the tick as a float.

    Raises:
        ValueError: What is wrong, as :func:`check_tick` and
            :func:`check_schedule_name` say it, or an ``about`` over
            :data:`MAX_ABOUT_BYTES`.
    """
    check_schedule_name(schedule)
    if len(about.encode("utf-8")) > MAX_ABOUT_BYTES:
        raise ValueError(f"a schedule's about text takes at most {MAX_ABOUT_BYTES} bytes")
    return check_tick(tick)


def readable(name: object, queue: object, last_tick: object, about: object) -> ScheduleRecord | None:
    """A record as read from the store, or None when any part of it is not what the core writes.

    Anyone who can write to the store can plant a record: a name that is no
    schedule name, a tick that is no number, an ``about`` too long. Listing
    skips such a record instead of failing.
    """
    if not isinstance(name, str) or not isinstance(queue, str) or not isinstance(about, str):
        return None
    try:
        check_schedule_name(name)
        tick = check_tick(float(last_tick))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    try:
        if len(about.encode("utf-8")) > MAX_ABOUT_BYTES:
            return None
    except UnicodeEncodeError:
        return None
    return ScheduleRecord(name, queue, tick, about)


def listed(records: list[ScheduleRecord | None]) -> list[ScheduleRecord]:
    """The readable records, sorted by name then queue, at most :data:`MAX_SCHEDULES`."""
    found = [record for record in records if record is not None]
    found.sort(key=lambda record: (record.name, record.queue))
    return found[:MAX_SCHEDULES]


@runtime_checkable
class Scheduling(Protocol):
    """Enqueues each schedule tick's task once, however many schedulers run.

    Without it ``latergator --schedules`` refuses to start, naming the store.
    Kit mixin: :class:`~alligator.testing.scheduling.SchedulingContract`.
    """

    @abc.abstractmethod
    def push_tick(
        self, queue: str, schedule: str, tick: float, task_id: str, payload: str, about: str
    ) -> bool:
        """Pushes a tick's task and records it as the schedule's last tick, in one atomic step.

        The record is kept per ``(queue, schedule)``. The step is refused,
        changing nothing, when the recorded last tick is at or after
        ``tick``, or when ``task_id`` is live in the queue (the unique-id rule
        of :meth:`~alligator.backend.Backend.push`). Otherwise the task is
        pushed, due now, exactly as :meth:`~alligator.backend.Backend.push`
        pushes it, and the record becomes ``(tick, about)``. A recorded tick
        that is not a number (planted by hand) counts as no record.
        Atomic for every client of the store: two schedulers pushing the
        same tick at once enqueue it once; one pushing an earlier tick after
        a later one was recorded enqueues nothing.

        Args:
            queue: The queue of the task.
            schedule: The schedule's name (:func:`check_schedule_name`).
            tick: The tick, seconds since the epoch (finite).
            task_id: The tick's task id (derived from the schedule and the tick).
            payload: The task's payload.
            about: The core's description of the schedule, at most
                :data:`MAX_ABOUT_BYTES` bytes.

        Raises:
            ValueError: A tick that is not finite, a name refused by
                :func:`check_schedule_name`, an ``about`` too long; nothing changes.

        Returns:
            True if the task was pushed and the tick recorded.
        """

    @abc.abstractmethod
    def schedule_records(self) -> list[ScheduleRecord]:
        """Lists every schedule record of the store, changing nothing.

        Each record is checked by :func:`readable` (one that is not is
        skipped, never handed out), and the list is sorted and capped by
        :func:`listed`.

        Returns:
            The records, sorted by name then queue.
        """
