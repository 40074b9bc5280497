"""locmem's schedule records: a tick's push and its record in one step, under the store's lock."""

from __future__ import annotations

from alligator.scheduling_store import ScheduleRecord, check_tick_args, listed, readable
from alligator_locmem.required import RequiredLocmem


class SchedulingLocmem(RequiredLocmem):
    """The :class:`~alligator.scheduling_store.Scheduling` capability of locmem."""

    def push_tick(
        self, queue: str, schedule: str, tick: float, task_id: str, payload: str, about: str
    ) -> bool:
        """See :meth:`~alligator.scheduling_store.Scheduling.push_tick`."""
        value = check_tick_args(schedule, tick, about)
        # The lock is reentrant: the check, push() and the record are one step.
        with self._cond:
            kept = self._schedules.get((queue, schedule))
            last = None if kept is None else _number(kept[0])
            if last is not None and last >= value:
                return False
            if not self.push(queue, task_id, payload):
                return False
            self._schedules[(queue, schedule)] = (value, about)
            return True

    def schedule_records(self) -> list[ScheduleRecord]:
        """See :meth:`~alligator.scheduling_store.Scheduling.schedule_records`."""
        with self._cond:
            kept = list(self._schedules.items())
        return listed([readable(name, queue, tick, about) for (queue, name), (tick, about) in kept])


def _number(value: object) -> float | None:
    """A recorded tick as a number, or None when a hand-planted record holds something else."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
