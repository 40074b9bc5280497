"""What a worker tells its listeners as it runs tasks (metrics, a supervisor).

A listener is any callable taking one :class:`TaskEvent`; add it with
``Worker.add_listener``. Listeners run in the task's thread, must be quick,
and an exception in one is logged and ignored: watching never breaks a task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: A task was taken off the queue and its function is about to be called.
STARTED = "started"
#: A delivery ended; ``outcome`` says how (an ``Outcome`` value).
FINISHED = "finished"
#: A delivery was handed back unstarted by a rate or concurrency limit (see
#: :mod:`alligator.limiting`); not followed by FINISHED.
LIMITED = "limited"


@dataclass(frozen=True)
class TaskEvent:
    """One step of one delivery.

    Attributes:
        kind: :data:`STARTED`, :data:`FINISHED` or :data:`LIMITED`.
        queue: The queue it came from.
        task_id: The task's id.
        function: ``module:callable``, or "" when the payload was unreadable.
        attempt: Which delivery this is (1 on the first).
        receipt: The delivery's receipt (a supervisor settles with it).
        time_limit: The task's time limit in seconds, or None.
        outcome: For FINISHED, the ``Outcome`` value (``"succeeded"``,
            ``"retrying"``, ``"dead-lettered"``, ``"waiting"``,
            ``"unsettled"``); None for STARTED.
        duration: For FINISHED, seconds the function ran; None otherwise.
    """

    kind: str
    queue: str
    task_id: str
    function: str
    attempt: int
    receipt: str = ""
    time_limit: float | None = None
    outcome: str | None = None
    duration: float | None = None


Listener = Callable[[TaskEvent], None]
