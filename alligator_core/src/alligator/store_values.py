"""The values that cross the seam between the core and a store: deliveries, dead letters, counts.

Only ``str``, ``int`` and ``float`` cross it, in these frozen dataclasses, so
a backend for any store can build them (see :mod:`alligator.backend`).
"""

from __future__ import annotations

from dataclasses import dataclass

from alligator import constants


@dataclass(frozen=True)
class Reservation:
    """One delivery of a task to a worker.

    Attributes:
        task_id: The id the task was pushed with.
        payload: The string that was pushed, unchanged.
        receipt: Opaque token of this delivery; ``ack``, ``release``,
            ``extend`` and ``dead_letter`` must present it.
        attempts: Deliveries so far, this one included (1 on the first).
        failures: How many earlier deliveries ran and failed: those released
            with ``attempted=True``. ``attempts - 1 - failures`` earlier
            deliveries never finished (their worker died, or stalled past
            its lease); the core caps those with ``max_deliveries``.
    """

    task_id: str
    payload: str
    receipt: str
    attempts: int
    failures: int = 0


@dataclass(frozen=True)
class DeadLetter:
    """A task that failed for good, kept with the reason until requeued.

    Attributes:
        task_id: The id the task was pushed with.
        payload: The payload as it was pushed (possibly unreadable: that may
            be why it is here).
        reason: Why it was dead-lettered, for a human.
        attempts: Deliveries it had.
        failed_at: When it was dead-lettered, on the backend's clock.
    """

    task_id: str
    payload: str
    reason: str
    attempts: int
    failed_at: float


#: The states :meth:`~alligator.capabilities.Inspection.tasks` lists (defined with the statuses in
#: :mod:`alligator.constants`).
TASK_STATES = constants.TASK_STATES


@dataclass(frozen=True)
class QueueCounts:
    """How many tasks a queue holds in each state, counted in one atomic step.

    Attributes:
        waiting: Due now (pushed, a delay ended, or a lease ran out).
        delayed: Not due yet.
        running: Reserved by a worker whose lease has not ended.
        dead: Dead letters.
    """

    waiting: int = 0
    delayed: int = 0
    running: int = 0
    dead: int = 0

    @property
    def total(self) -> int:
        """Every task the queue holds, dead letters included."""
        return self.waiting + self.delayed + self.running + self.dead


@dataclass(frozen=True)
class TaskInfo:
    """One task as :meth:`~alligator.capabilities.Inspection.tasks` lists it; a snapshot, changing nothing.

    Attributes:
        task_id: The id the task was pushed with.
        state: ``"waiting"``, ``"delayed"``, ``"running"`` or ``"dead"``.
        payload: The payload as stored, cut to
            :attr:`~alligator.backend.Backend.max_payload_bytes` and with bytes that are not
            UTF-8 shown as U+FFFD, as :meth:`~alligator.capabilities.Administration.dead_letters` lists it
            (a character the cut splits is one U+FFFD).
        attempts: Deliveries so far.
        failures: Deliveries that ran and failed (0 for a dead letter: the
            count is not kept there).
        due: When a waiting or delayed task is (or became) due; for a
            running task, when its lease ends; None for a dead letter.
        reason: Why a dead letter failed; None for the other states.
        failed_at: When a dead letter was dead-lettered; None otherwise.
        priority: The task's priority within its queue (see
            :class:`~alligator.priority_store.TaskPriority`); 0 from a store
            without that capability.
    """

    task_id: str
    state: str
    payload: str
    attempts: int
    failures: int = 0
    due: float | None = None
    reason: str | None = None
    failed_at: float | None = None
    priority: int = 0


@dataclass(frozen=True)
class Ack:
    """One finished task to acknowledge, with the return value to keep.

    Attributes:
        task_id: The reserved task.
        receipt: The receipt of the delivery being acked.
        result: The task's return value as JSON text, to keep for
            ``result_ttl`` seconds in the same atomic step as the ack; None
            keeps nothing (results are off for this task).
        result_ttl: Seconds to keep ``result``, on the backend's clock.
    """

    task_id: str
    receipt: str
    result: str | None = None
    result_ttl: float = 3600.0


@dataclass(frozen=True)
class Finished:
    """What the store remembers of a task that finished, as :meth:`~.capabilities.Results.finished` reads it.

    Attributes:
        task_id: The task's id.
        status: ``SUCCESS`` (acked) or ``FAILED`` (a dead letter).
        result: For SUCCESS, the JSON text stored with the ack, or None when
            none was kept (results off, past its TTL, or unreadable: see
            ``reason``). Always None for FAILED.
        reason: For FAILED, the dead letter's reason. For SUCCESS, None, or
            why a stored result cannot be handed out (too large, or not
            valid UTF-8: the texts of :mod:`alligator.reasons`).
        finished_at: When it was acked or dead-lettered, on the backend's
            clock; None when the store did not keep it.
    """

    task_id: str
    status: int
    result: str | None = None
    reason: str | None = None
    finished_at: float | None = None


def check_page(state: str, offset: int, limit: int) -> None:
    """Refuses a state :meth:`~alligator.capabilities.Inspection.tasks` does not know, or a negative page.

    Raises:
        ValueError: ``state`` is not one of :data:`TASK_STATES`, or
            ``offset`` or ``limit`` is negative.
    """
    if state not in TASK_STATES:
        raise ValueError(f"state must be one of {', '.join(TASK_STATES)}, not {state!r}")
    check_window(offset, limit)


def check_window(offset: int, limit: int) -> None:
    """Refuses a negative page of a listing.

    For :meth:`~.capabilities.Inspection.tasks` and
    :meth:`~.capabilities.ResultListing.succeeded`.

    Raises:
        ValueError: ``offset`` or ``limit`` is negative.
    """
    if offset < 0 or limit < 0:
        raise ValueError(f"offset and limit must be >= 0, not {offset!r} and {limit!r}")
