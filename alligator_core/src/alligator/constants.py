"""Constants shared by tasks, queues and workers, and the one vocabulary of task states.

A task's *status* is one of the integers below (what
:meth:`~alligator.backend.Backend.status` and ``Gator.status`` return, and
what stores keep). Each has one readable name (:data:`STATUS_NAMES`). The
states a queue *lists* its tasks under (:data:`TASK_STATES`, for
:meth:`~alligator.capabilities.Inspection.tasks`, ``alligator tasks`` and the
dashboard) are named after the statuses, except a FAILED task, listed as a
dead letter (``"dead"``). The outcome of one delivery
(:class:`alligator.settling.Outcome`) names the status a task is left in where
it is one of these. Everything else derives from the table here.
"""

from __future__ import annotations

#: The task is in the queue, ready to be handed to a worker.
WAITING = 0
#: The task ran and its function returned.
SUCCESS = 1
#: The task failed for good (its retries are spent, or it could not be run).
FAILED = 2
#: The task is in the queue but will not be handed out before its time.
DELAYED = 3
#: The task raised and is going back on the queue for another try.
RETRYING = 4
#: A worker holds the task under a lease and is running it.
RUNNING = 5

#: The default queue name.
ALL = "all"

#: Readable names of the task states, for logs and error messages.
STATUS_NAMES = {
    WAITING: "waiting",
    SUCCESS: "success",
    FAILED: "failed",
    DELAYED: "delayed",
    RETRYING: "retrying",
    RUNNING: "running",
}

#: The name shown for a status no store knows (None, for a task never pushed, or forgotten).
UNKNOWN = "unknown"

#: The state a queue lists a task of each status under, in the order a task passes them.
LISTED_STATES = {
    WAITING: STATUS_NAMES[WAITING],
    DELAYED: STATUS_NAMES[DELAYED],
    RUNNING: STATUS_NAMES[RUNNING],
    FAILED: "dead",
}

#: The states :meth:`~alligator.capabilities.Inspection.tasks` lists, in the order a task passes them.
TASK_STATES = tuple(LISTED_STATES.values())

#: Other names the tools take for a listed state (``alligator tasks --state failed``).
STATE_ALIASES = {STATUS_NAMES[FAILED]: LISTED_STATES[FAILED]}


def status_name(status: int | None) -> str:
    """The readable name of a status; :data:`UNKNOWN` for None, the number itself for one not in the table.

    Example:
        >>> status_name(FAILED), status_name(None)
        ('failed', 'unknown')
    """
    if status is None:
        return UNKNOWN
    return STATUS_NAMES.get(status, str(status))


def listed_state(status: int | None) -> str | None:
    """The state a task of this status is listed under; None for one no listing holds (finished, unknown).

    Example:
        >>> listed_state(FAILED), listed_state(SUCCESS)
        ('dead', None)
    """
    return None if status is None else LISTED_STATES.get(status)
