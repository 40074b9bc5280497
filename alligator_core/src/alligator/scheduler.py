"""The scheduler: a thread that enqueues each schedule's ticks as they come.

Any number of schedulers may run on one store at once, in one process or in
many, on one machine or several: none is elected. Each computes the same
ticks (:mod:`alligator.schedules`), and pushes each through
:meth:`~alligator.scheduling_store.Scheduling.push_tick`, which enqueues a
tick and records it in one atomic step, refusing a tick at or before the
schedule's recorded one; the tick's derived task id is refused too while it
is live. So every tick is enqueued once, whichever scheduler comes first,
and the others' pushes are refused without harm. More schedulers only add
refused pushes (one round trip each per tick), never duplicates.

Which ticks a scheduler pushes, at each wake-up, for each schedule:

- ticks that fell since it started (or since the last recorded tick, if
  later), all of them in order: a scheduler that wakes late (a busy
  machine, a stall) still enqueues every tick it was running for;
- ticks that fell *before* it started and after the recorded last tick:
  when none of them fell more than :data:`LATE_GRACE` seconds before its
  start, all of them in order, as if it had been running (another
  scheduler may be running and a little late for them, and pushing a later
  tick first would shut that one's pushes out); otherwise no scheduler
  ran, as far as it can tell, and the schedule's ``missed`` policy
  decides: none, the latest one, or all (capped);
- nothing for a schedule the store has no record of, before it started:
  a new schedule starts with its first tick after the scheduler starts.

It reads the records once as it starts, sleeps until the next tick of any
schedule (an :class:`threading.Event` wait, woken by :meth:`Scheduler.stop`),
and takes the time from its machine's clock: ticks are wall-clock instants,
so a scheduler whose clock runs ahead enqueues a little early (never twice).
A store that cannot be reached is retried every few seconds; ticks that fell
meanwhile are pushed when it answers again, as ticks of a late scheduler.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from alligator import capabilities
from alligator.gator import Gator

if TYPE_CHECKING:
    # Only for types: a worker without schedules never imports croniter.
    from alligator.schedules import Schedule

log = logging.getLogger("alligator.scheduler")

#: The most ticks of one schedule a scheduler pushes in one wake-up for the
#: time it was running (a process stopped for hours catches up this many).
MAX_LATE_TICKS = 1000
#: Seconds before a scheduler's start within which the ticks after the recorded one count as late, not
#: missed, if none fell earlier. The scheduler then pushes them all, in order, whatever the ``missed``
#: policy: another scheduler up to this late (a stalled or busy machine) may still be pushing them, and
#: a later tick pushed first would shut its pushes out.
LATE_GRACE = 10.0
#: Seconds between tries while the store cannot be reached.
RETRY_SECONDS = 2.0
#: The longest sleep, so a wall clock set back or forward is noticed this soon.
MAX_SLEEP = 30.0


class Scheduler:
    """Enqueues the ticks of ``schedules`` through ``gator``'s store; see the module docstring.

    Args:
        gator: Builds each tick's payload (its signing secret and allow list
            apply) and holds the store, which must have the
            :class:`~alligator.scheduling_store.Scheduling` capability.
        schedules: The schedules.
        clock: Seconds since the epoch (tests pass their own).

    Raises:
        Unsupported: The store cannot keep schedules.
    """

    def __init__(
        self, gator: Gator, schedules: Sequence[Schedule], clock: Callable[[], float] = time.time
    ) -> None:
        self.store = capabilities.scheduling(gator.backend)
        self.gator = gator
        self.schedules = list(schedules)
        self.clock = clock
        self.started = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # (queue, name) -> the last tick known to be enqueued; None until read.
        self._last: dict[tuple[str, str], float] | None = None
        #: Ticks this scheduler enqueued (the others' pushes were refused).
        self.pushed = 0

    def _read_records(self) -> dict[tuple[str, str], float]:
        return {(record.queue, record.name): record.last_tick for record in self.store.schedule_records()}

    def due(self, schedule: Schedule, now: float) -> list[float]:
        """The ticks of ``schedule`` to push at ``now``, oldest first (see the module docstring)."""
        assert self._last is not None
        last = self._last.get((schedule.queue, schedule.name))
        missed: list[float] = []
        if last is None:
            floor = self.started
        elif not schedule.ticks(last, self.started - LATE_GRACE, 1):
            floor = last  # a scheduler may be running late for the ticks since: push them all, in order
        else:
            floor = self.started
            if schedule.missed != "none":
                limit = 1 if schedule.missed == "last" else schedule.max_missed
                missed = schedule.ticks(last, self.started, limit)
        return missed + schedule.ticks(floor, now, MAX_LATE_TICKS)

    def run_once(self, now: float) -> float:
        """Pushes every tick due at ``now``; returns when the next one falls.

        Raises:
            BackendError: The store cannot be reached (nothing is lost: the
                ticks are pushed at the next try).
        """
        if self._last is None:
            self._last = self._read_records()
        for schedule in self.schedules:
            key = (schedule.queue, schedule.name)
            for tick in self.due(schedule, now):
                self._push(schedule, tick)
                # Pushed, or refused because the store has it or a later one.
                self._last[key] = max(self._last.get(key, tick), tick)
            # Ticks before its start were settled in this pass (pushed as late, or by the policy).
            self._last[key] = max(self._last.get(key, self.started), self.started)
        return min(schedule.next_tick(now) for schedule in self.schedules)

    def _push(self, schedule: Schedule, tick: float) -> None:
        try:
            task = schedule.task(tick)
            payload = self.gator._seal(task)
        except Exception as err:
            # A refusal of this one tick (a payload over the limit) must not
            # stop the others.
            log.error(
                "schedule %r: tick %s not enqueued: %s: %s", schedule.name, tick, type(err).__name__, err
            )
            return
        if self.store.push_tick(
            schedule.queue, schedule.name, tick, schedule.task_id(tick), payload, schedule.about()
        ):
            self.pushed += 1
            log.debug("schedule %r: enqueued tick %s", schedule.name, tick)
            task.queued = True
            try:
                schedule.enqueued(task)
            except Exception:
                # The tick is enqueued: what its target does next (a framework's
                # signal receivers) must not stop the ticks after it.
                log.exception("schedule %r: tick %s enqueued; its target's hook raised", schedule.name, tick)

    def run(self) -> None:
        """Runs until :meth:`stop`: pushes due ticks, then sleeps until the next one."""
        while not self._stop.is_set():
            now = self.clock()
            try:
                wake = self.run_once(now)
            except Exception as err:  # an outage, a refused write: retried, never fatal
                log.warning("scheduler: %s: %s; trying again in %gs", type(err).__name__, err, RETRY_SECONDS)
                wake = now + RETRY_SECONDS
            # A hair past the tick, so the clock read on waking is at or after it.
            self._stop.wait(min(max(wake - self.clock(), 0.0) + 0.002, MAX_SLEEP))

    def start(self) -> None:
        """Runs :meth:`run` in a daemon thread of its own."""
        if not self.schedules:
            return
        self._thread = threading.Thread(target=self.run, name="alligator-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stops the thread (waking it) and waits up to ``timeout`` seconds for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
