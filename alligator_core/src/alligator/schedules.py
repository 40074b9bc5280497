"""Periodic tasks: :class:`Schedule`, its ticks, and the ``SCHEDULES`` list of a module.

Example::

    # myapp/schedules.py
    from alligator import Schedule
    from myapp.tasks import send_digest, sweep

    SCHEDULES = [
        Schedule("digest", send_digest, cron="0 7 * * mon-fri", timezone="Europe/Paris"),
        Schedule("sweep", sweep, every=300, kwargs={"older_than": 3600}),
    ]

and ``latergator sqlite:///tasks.db --schedules myapp.schedules``.

A schedule's ticks are instants derived from its expression alone, the same
in every process: ``every=N`` ticks on the multiples of ``N`` seconds since
the Unix epoch (so ``every=60`` ticks at each whole minute, whoever
computes it), ``cron=`` at the instants ``croniter`` gives for the
expression in the schedule's timezone. A tick's task id is derived from the
schedule's name and the tick (:meth:`Schedule.task_id`), and the store
enqueues a tick once, however many schedulers run (see
:mod:`alligator.scheduling_store` and :mod:`alligator.scheduler`).
"""

from __future__ import annotations

import datetime
import importlib
import json
import math
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from croniter import croniter

from alligator.exceptions import ConfigurationError
from alligator.schedule_targets import schedule_target
from alligator.schedule_targets import tick_task_id as tick_task_id
from alligator.scheduling_store import ScheduleRecord, check_schedule_name
from alligator.tasks import Task

#: The policies for ticks that fell while no scheduler ran (see :class:`Schedule`).
MISSED_POLICIES = ("none", "last", "all")
#: The default cap of ``missed="all"``: the latest this many missed ticks are enqueued.
DEFAULT_MAX_MISSED = 100


class Schedule:
    """A function to enqueue periodically, on a cron expression or every so many seconds.

    Example:
        >>> Schedule("ping", print, every=60, args=("ping",)).next_tick(90.0)
        120.0

    Args:
        name: Unique among the schedules of a store's queue; part of each
            tick's task id, so renaming a schedule makes a new one.
        func: An importable function, as for ``gator.task``; or an object
            a plugin registered a :class:`~alligator.schedule_targets.ScheduleTarget`
            for (a Django task, with ``alligator-django``), which then says
            how each tick is enqueued.
        cron: A cron expression (five fields, or six with seconds last, as
            ``croniter`` reads them), in ``timezone``.
        every: Seconds between ticks (or a ``timedelta``), a whole number >= 1; ticks fall on the
            multiples of it since the Unix epoch.
        args: The function's positional arguments (JSON values).
        kwargs: Its keyword arguments (JSON values).
        queue: The queue the ticks' tasks go to (default: ``"all"``, where
            ``Gator(DSN)`` puts tasks; a registered target may say otherwise:
            a Django task's own queue).
        timezone: An IANA timezone name for ``cron`` (default ``"UTC"``).
        missed: What to do with ticks that fell while no scheduler ran:
            ``"last"`` (the default) enqueues the latest of them once,
            ``"none"`` drops them, ``"all"`` enqueues each (the latest
            ``max_missed``). Ticks that fell while a scheduler ran but was
            late (a busy machine) are always enqueued, and so are those
            after the last recorded tick when all of them fell in the 10
            seconds before a scheduler started
            (:data:`alligator.scheduler.LATE_GRACE`).
        max_missed: The cap of ``missed="all"``.

    Raises:
        ConfigurationError: A bad argument; the message names the schedule.
    """

    def __init__(
        self,
        name: str,
        func: Callable[..., Any] | Any,
        *,
        cron: str | None = None,
        every: float | datetime.timedelta | None = None,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        queue: str | None = None,
        timezone: str = "UTC",
        missed: str = "last",
        max_missed: int = DEFAULT_MAX_MISSED,
    ) -> None:
        try:
            self.name = check_schedule_name(name)
        except ValueError as err:
            raise ConfigurationError(str(err)) from None
        self.func = func
        #: How the ticks of ``func`` become tasks (see :mod:`alligator.schedule_targets`).
        self.target = schedule_target(func)
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})
        self.queue = self.target.default_queue() if queue is None else queue
        if not isinstance(self.queue, str) or not self.queue:
            self._refuse(f"queue must be a non-empty string, not {queue!r}")
        if (cron is None) == (every is None):
            self._refuse("give cron= or every=, exactly one of them")
        self.cron = cron
        self.every = None if every is None else self._check_every(every)
        self.timezone = timezone
        try:
            self.zone = zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
            self._refuse(f"unknown timezone {timezone!r} (an IANA name such as 'Europe/Paris' or 'UTC')")
        if cron is not None:
            if not isinstance(cron, str) or not croniter.is_valid(cron):
                self._refuse(f"cron={cron!r} is not a cron expression croniter can read (e.g. '*/5 * * * *')")
        if missed not in MISSED_POLICIES:
            self._refuse(f"missed must be one of {', '.join(map(repr, MISSED_POLICIES))}, not {missed!r}")
        self.missed = missed
        if not isinstance(max_missed, int) or isinstance(max_missed, bool) or max_missed < 1:
            self._refuse(f"max_missed must be a whole number >= 1, not {max_missed!r}")
        self.max_missed = max_missed
        try:
            # What gator.task would refuse (not importable, arguments JSON
            # cannot carry or that do not fit), refused now, at start.
            self.target.check(self.queue, self.args, self.kwargs)
        except Exception as err:
            self._refuse(f"{type(err).__name__}: {err}")

    def _refuse(self, problem: str) -> None:
        raise ConfigurationError(f"schedule {self.name!r}: {problem}")

    def _check_every(self, every: float | datetime.timedelta) -> int:
        if isinstance(every, datetime.timedelta):
            every = every.total_seconds()
        if isinstance(every, bool) or not isinstance(every, (int, float)) or not math.isfinite(every):
            self._refuse(f"every must be a whole number of seconds >= 1, not {every!r}")
        if every < 1 or every != int(every):
            self._refuse(f"every must be a whole number of seconds >= 1, not {every!r}")
        return int(every)

    def __repr__(self) -> str:
        when = f"cron={self.cron!r}, timezone={self.timezone!r}" if self.cron else f"every={self.every}"
        return f"<Schedule {self.name!r} {when} queue={self.queue!r}>"

    # -- ticks -------------------------------------------------------------

    def next_tick(self, after: float) -> float:
        """The first tick strictly after ``after`` (seconds since the epoch)."""
        return next_tick(self.every, self.cron, self.zone, after)

    def ticks(self, after: float, until: float, limit: int) -> list[float]:
        """The latest ``limit`` ticks in ``(after, until]``, oldest first."""
        if until <= after or limit < 1:
            return []
        if self.every is not None:
            last = math.floor(until / self.every)
            first = max(math.floor(after / self.every) + 1, last - limit + 1)
            return [float(k * self.every) for k in range(first, last + 1)]
        assert self.cron is not None
        # Backwards from `until`: only the ticks wanted are computed, however
        # long the gap (a cron of every minute over a month is 43,200 ticks).
        found: list[float] = []
        start = datetime.datetime.fromtimestamp(until, self.zone) + datetime.timedelta(microseconds=1)
        it = croniter(self.cron, start)
        while len(found) < limit:
            tick = float(it.get_prev(float))
            if tick <= after:
                break
            if tick <= until:
                found.append(tick)
        found.reverse()
        return found

    def task_id(self, tick: float) -> str:
        """The task id of one tick: the same in every scheduler, so the store's unique-id rule applies."""
        return self.target.task_id(self.name, tick, self.queue)

    def task(self, tick: float) -> Task:
        """The task of one tick, ready to be sealed and pushed."""
        return self.target.task(self.task_id(tick), self.queue, self.args, self.kwargs)

    def enqueued(self, task: Task) -> None:
        """Tells the target that a tick's ``task`` was enqueued (by this scheduler, not refused)."""
        self.target.enqueued(task, self.queue)

    def about(self) -> str:
        """What the store keeps about this schedule, so tools can say when it ticks next (JSON)."""
        fields: dict[str, Any] = {"missed": self.missed, "timezone": self.timezone}
        if self.cron is not None:
            fields["cron"] = self.cron
        else:
            fields["every"] = self.every
        return json.dumps(fields, sort_keys=True)


def next_tick(every: int | None, cron: str | None, zone: datetime.tzinfo, after: float) -> float:
    """The first tick strictly after ``after`` of ``every`` or ``cron`` (one of them) in ``zone``."""
    if every is not None:
        return float((math.floor(after / every) + 1) * every)
    assert cron is not None
    return float(croniter(cron, datetime.datetime.fromtimestamp(after, zone)).get_next(float))


def next_from_about(about: str, after: float) -> float | None:
    """The next tick that a stored ``about`` text describes, or None when it cannot say.

    For ``alligator schedules`` and the dashboard, which do not import the
    user's module. A text planted by hand (not JSON, an unknown timezone, a
    bad expression) gives None, never an error.
    """
    try:
        fields = json.loads(about)
        zone = zoneinfo.ZoneInfo(str(fields.get("timezone", "UTC")))
        every, cron = fields.get("every"), fields.get("cron")
        if isinstance(every, int) and not isinstance(every, bool) and every >= 1:
            return next_tick(every, None, zone, after)
        if isinstance(cron, str) and croniter.is_valid(cron):
            return next_tick(None, cron, zone, after)
    except Exception:  # anything a hostile text can make the parsers raise
        return None
    return None


def load_schedules(module_name: str) -> list[Schedule]:
    """Imports ``module_name`` and returns its ``SCHEDULES``, checked.

    Raises:
        ConfigurationError: The module does not import, has no
            ``SCHEDULES`` list, holds something that is not a
            :class:`Schedule`, or two schedules of one queue share a name
            (the message names the module and the schedule).
    """
    try:
        module = importlib.import_module(module_name)
    except ConfigurationError as err:
        raise ConfigurationError(f"schedule module {module_name!r}: {err}") from err
    except Exception as err:
        raise ConfigurationError(
            f"schedule module {module_name!r} does not import: {type(err).__name__}: {err}"
        ) from err
    found = getattr(module, "SCHEDULES", None)
    if not isinstance(found, (list, tuple)):
        raise ConfigurationError(
            f"schedule module {module_name!r} has no SCHEDULES list (found {type(found).__name__}); "
            "define SCHEDULES = [Schedule(...), ...]"
        )
    seen: set[tuple[str, str]] = set()
    for index, schedule in enumerate(found):
        if not isinstance(schedule, Schedule):
            raise ConfigurationError(
                f"schedule module {module_name!r}: SCHEDULES[{index}] is a {type(schedule).__name__}, "
                "not a Schedule"
            )
        key = (schedule.queue, schedule.name)
        if key in seen:
            raise ConfigurationError(
                f"schedule module {module_name!r}: two schedules named {schedule.name!r} "
                f"in queue {schedule.queue!r}; give each its own name"
            )
        seen.add(key)
    return list(found)


def describe_record(record: ScheduleRecord, now: float) -> dict[str, Any]:
    """One stored record as ``alligator schedules`` and the dashboard show it.

    Returns:
        ``name``, ``queue``, ``last_tick`` and ``next_tick`` (seconds since
        the epoch; ``next_tick`` None when the stored description cannot
        say), ``last`` and ``next`` as ISO 8601 UTC texts, and
        ``expression`` (``every 60s`` or the cron expression and its
        timezone; ``?`` for a description planted by hand).
    """
    upcoming = next_from_about(record.about, now)
    return {
        "name": record.name,
        "queue": record.queue,
        "last_tick": record.last_tick,
        "next_tick": upcoming,
        "last": _iso(record.last_tick),
        "next": "?" if upcoming is None else _iso(upcoming),
        "expression": _expression(record.about),
    }


def _iso(tick: float) -> str:
    try:
        return datetime.datetime.fromtimestamp(tick, datetime.timezone.utc).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        return "?"


def _expression(about: str) -> str:
    try:
        fields = json.loads(about)
        if isinstance(fields.get("every"), int):
            return f"every {fields['every']}s, missed={fields.get('missed')}"
        if isinstance(fields.get("cron"), str):
            return f"cron {fields['cron']!r} {fields.get('timezone')}, missed={fields.get('missed')}"
    except Exception:  # a description planted by hand
        return "?"
    return "?"
