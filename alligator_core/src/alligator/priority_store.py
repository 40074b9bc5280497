"""The :class:`TaskPriority` capability: a store that orders the due tasks of a queue by their priority.

``gator.options(priority=N)`` gives a task a priority from -100 to 100
(0 by default). A task whose priority is 0 goes through the required
:meth:`~alligator.backend.Backend.push` and
:meth:`~alligator.backend.Backend.push_many`, as it always did, on every
store. One whose priority is not 0 needs a store that claims this
capability; the core pushes it with :meth:`TaskPriority.push_prioritized`,
and a store without it refuses the enqueue with
:class:`~alligator.capabilities.Unsupported`, naming the store, before
anything is queued.

Why a method of its own rather than a new argument of ``push``: the
required part stays as it is, so a third-party backend written against it
keeps working unchanged (a keyword it does not know would fail, or worse,
be swallowed by ``**kwargs`` and silently ignored); the hot path of the
usual task (priority 0) is untouched on every store; and one method
carries both the single push and the batch, so the capability is one
method to write. Kit mixin:
:class:`~alligator.testing.task_priority.TaskPriorityContract`.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Protocol, cast, runtime_checkable

from alligator.limits import MAX_PRIORITY, MIN_PRIORITY

__all__ = ["MAX_PRIORITY", "MIN_PRIORITY", "TaskPriority", "check_items", "task_priority"]


@runtime_checkable
class TaskPriority(Protocol):
    """Reserves the due tasks of a queue highest priority first; equal priorities stay FIFO.

    The rules a store keeps (the kit checks each one):

    * **Among due tasks, a higher priority goes first.** :meth:`~alligator.backend.Backend.reserve`
      (and :meth:`~alligator.backend.Backend.reserve_first`, queue by queue)
      takes the due task of the highest priority; among tasks of equal
      priority the required rule holds: the one that became due first
      (FIFO by due time, as :class:`~alligator.backend.Backend` words it).
      A task pushed with the required ``push`` has priority 0.
    * **A delayed task competes only once it is due.** Until its delay ends
      it is not ahead of anything, however high its priority; once due it
      goes before every due task of a lower priority, older ones included.
    * **The priority stays with the task.** A task released for a retry, or
      handed back unstarted, keeps it; so does a task whose lease ended (it
      is due again, at its priority), and its next delivery. A dead letter
      requeued by :meth:`~alligator.capabilities.Administration.requeue`
      keeps it too.
    * **Inspection lists waiting tasks in reservation order.**
      :meth:`~alligator.capabilities.Inspection.tasks` of ``"waiting"``
      lists them as :meth:`~alligator.backend.Backend.reserve` would take
      them (priority, then due time), and each
      :class:`~alligator.store_values.TaskInfo` carries its ``priority``
      (in every state but ``"dead"``, where it is 0 unless kept).
    * **A stored priority that is no valid one is dead-lettered.** Anyone
      who can write to the store can plant a priority that is not a whole
      number from -100 to 100; no method raises for it: reserve and get
      dead-letter the record with
      ``reasons.corrupt("priority", shown)``, as for the other stored
      numbers (see :class:`~alligator.backend.Backend`).
    """

    @abc.abstractmethod
    def push_prioritized(self, queue: str, items: Sequence[tuple[str, str, float, int]]) -> int:
        """Adds tasks, each with its priority, in order, as :meth:`~.backend.Backend.push_many` would.

        Every rule of ``push_many`` holds (ids unique within the queue, dead
        letters included; atomic item by item; every argument checked
        before the first item is added); an item whose priority is 0 is
        pushed exactly as ``push`` pushes it. The core calls it for one task
        or a batch whenever a priority is not 0; call :func:`check_items`
        first.

        Args:
            queue: The queue's name.
            items: ``(task_id, payload, delay, priority)`` tuples; priority
                a whole number from -100 to 100.

        Raises:
            ValueError: A delay is NaN or infinite, or a priority is out of
                range (nothing is added).
            TypeError: A priority is not an int (nothing is added).

        Returns:
            How many were added.
        """


def check_items(items: Sequence[tuple[str, str, float, int]]) -> None:
    """Checks every item of :meth:`TaskPriority.push_prioritized` before the first one is added.

    Raises:
        ValueError: A delay is NaN or infinite, or a priority is out of range.
        TypeError: A priority is not an int.
    """
    from alligator.task_checks import check_priority

    for _, _, delay, priority in items:
        if delay != delay or delay in (float("inf"), float("-inf")):
            raise ValueError(f"a delay must be a finite number of seconds, not {delay!r}")
        check_priority(priority)


def task_priority(backend: object) -> TaskPriority:
    """``backend`` as :class:`TaskPriority`, or an error naming the store that lacks it.

    Raises:
        Unsupported: The store cannot order tasks by priority; the message
            names it, and says that priority 0 works everywhere.
    """
    from alligator import capabilities

    if not capabilities.supports(backend, TaskPriority):
        describe = getattr(backend, "describe", None)
        store = describe() if callable(describe) else type(backend).__name__
        raise capabilities.Unsupported(
            f"cannot queue a task with a priority other than 0 on {store}: "
            f"{capabilities.lacking(backend, TaskPriority)}. Leave priority at 0, or use a store "
            "that has it (locmem, SQLite, Redis, PostgreSQL)"
        )
    return cast(TaskPriority, backend)
