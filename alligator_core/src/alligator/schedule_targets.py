"""How a schedule turns its target into each tick's task.

A :class:`~alligator.schedules.Schedule` enqueues a *target*. By default
that is a plain importable function, and each tick's task is a call of it
(:class:`ScheduleTarget`). A framework whose tasks are objects of its own,
which travel through Alligator as something else than a call of the object
(Django's ``django.tasks.Task`` travels as one runner function plus the
task's description), registers a subclass for its type with
:func:`register_target`; a :class:`~alligator.schedules.Schedule` of such an
object then asks that subclass for the tick's queue, task id and task, and
tells it when a tick was enqueued. The core knows no framework: the plugin
registers its target when it is loaded.

Example::

    class RecipeTarget(ScheduleTarget):
        def task(self, task_id, queue, args, kwargs):
            task = Task(task_id=task_id)
            task.to_call(run_recipe, self.target.name, list(args))
            return task

    register_target(Recipe, RecipeTarget)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from alligator.constants import ALL
from alligator.tasks import Task

__all__ = ["ScheduleTarget", "register_target", "schedule_target", "tick_task_id"]


def tick_task_id(name: str, tick: float) -> str:
    """``schedule:<name>:<tick>``, the tick in whole seconds (or as Python writes it when not whole)."""
    text = str(int(tick)) if float(tick).is_integer() else repr(float(tick))
    return f"schedule:{name}:{text}"


class ScheduleTarget:
    """What a schedule enqueues: a plain function here; subclasses for other kinds of target.

    Args:
        target: What the schedule was given (here an importable function).
    """

    def __init__(self, target: Any) -> None:
        self.target = target

    def default_queue(self) -> str:
        """The queue the ticks go to when the schedule names none (``"all"``, as ``Gator(DSN)``'s)."""
        return ALL

    def check(self, queue: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        """Raises what enqueueing the target with these arguments would raise, at start.

        Raises:
            Exception: Any refusal; the schedule names itself in front of it.
        """
        self.task(tick_task_id("check", 0.0), queue, args, kwargs)

    def task_id(self, name: str, tick: float, queue: str) -> str:
        """The task id of one tick, from the schedule and the tick alone: the same in every scheduler."""
        return tick_task_id(name, tick)

    def task(self, task_id: str, queue: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Task:
        """The task of one tick, ready to be sealed and pushed to ``queue``."""
        task = Task(task_id=task_id)
        task.to_call(self.target, *args, **kwargs)
        return task

    def enqueued(self, task: Task, queue: str) -> None:
        """Called in the scheduler's process once a tick's task was enqueued (not when refused).

        Nothing here; a framework sends its "enqueued" signal from it.
        """


@functools.singledispatch
def schedule_target(target: Any) -> ScheduleTarget:
    """The :class:`ScheduleTarget` of what a schedule was given: by its type, as registered."""
    return ScheduleTarget(target)


def register_target(kind: type, factory: Callable[[Any], ScheduleTarget]) -> None:
    """Makes a schedule of any object of ``kind`` (or a subclass) go through ``factory(target)``.

    A plugin calls it when it is loaded (Django's: when its app is ready);
    registering the same type again replaces the earlier factory.
    """
    schedule_target.register(kind, factory)
