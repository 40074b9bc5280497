"""Schedules of Django tasks: ``Schedule("digest", send_digest, every=300)`` with ``send_digest`` a ``@task``.

A plain Alligator schedule enqueues a call of its function; a Django task
must travel as every Django task does, as a call of the runner
(:func:`alligator_django.running.run`) with the task's description, so the
worker runs it, keeps its run record and sends Django's signals. The app
registers :class:`DjangoScheduleTarget` for ``django.tasks.Task`` with the
core's :func:`~alligator.schedule_targets.register_target`, so a
:class:`~alligator.schedules.Schedule` of a Django task builds each tick as
``.enqueue()`` builds a task:

- the tick's queue is the task's ``queue_name`` unless the schedule names
  one (checked against ``QUEUES`` as Django checks it);
- its id is a Django result id (``get_result`` reads it in any process),
  derived from the schedule's name and the tick, the same in every
  scheduler: the enqueue time in it is the tick's;
- the backend's defaults and the task's own ``@task`` options apply;
- ``task_enqueued`` is sent in the scheduler's process once the tick is
  enqueued (a tick another scheduler enqueued first sends nothing here).

A tick is pushed with the schedule's record in one step, which keeps no
priority, unique key or delay: a task with a priority, ``unique_for`` or a
``run_after`` is refused when the schedule is made.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.tasks import task_backends
from django.tasks.base import Task as DjangoTask
from django.tasks.base import TaskResultStatus
from django.tasks.signals import task_enqueued

from alligator.schedule_targets import ScheduleTarget, register_target
from alligator_django import reading, records

if TYPE_CHECKING:  # pragma: no cover
    from alligator.tasks import Task
    from alligator_django.backend import AlligatorBackend

#: ``@task`` options a tick cannot keep (its push step keeps no unique key).
NOT_FOR_TICKS = ("unique_for", "unique_key", "unique_mode")


def tick_result_id(name: str, tick: float, queue: str) -> str:
    """The Django result id of one tick of schedule ``name`` in ``queue``.

    Laid out as :func:`~alligator_django.records.new_result_id` lays ids
    out (the tick in milliseconds, 20 hex digits, ``@`` and the queue), the
    20 digits a hash of the name and the tick instead of random ones.
    """
    digest = hashlib.blake2b(f"{name}\n{float(tick)!r}".encode(), digest_size=10).hexdigest()
    return f"{int(tick * 1000):012x}{digest}@{queue}"


class DjangoScheduleTarget(ScheduleTarget):
    """The ticks of a Django task, enqueued as ``.enqueue()`` enqueues it (see the module docstring)."""

    target: DjangoTask

    def _backend(self) -> AlligatorBackend:
        from alligator_django.backend import AlligatorBackend

        backend = task_backends[self.target.backend]
        if not isinstance(backend, AlligatorBackend):
            raise ValueError(
                f"{self.target.module_path} uses TASKS[{self.target.backend!r}], "
                f"{type(backend).__module__}.{type(backend).__name__}: a schedule enqueues into "
                "an alligator_django.AlligatorBackend (give the task backend=... of one)"
            )
        return backend

    def _task_in(self, queue: str) -> DjangoTask:
        return self.target if queue == self.target.queue_name else self.target.using(queue_name=queue)

    def default_queue(self) -> str:
        """The task's own queue (``queue_name``, ``"default"`` unless the task says)."""
        return str(self.target.queue_name)

    def check(self, queue: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        """Refuses what ``.enqueue()`` would refuse, and what a tick cannot keep.

        Raises:
            ValueError: Not an Alligator backend's task, a priority, a
                ``run_after`` or a unique key, or arguments that do not fit
                the function.
            InvalidTask: A queue Django's ``QUEUES`` does not list.
        """
        backend = self._backend()
        task = self._task_in(queue)
        backend.validate_task(task)
        given: dict[str, Any] = getattr(task, "alligator_options", dict)()
        kept_out = [name for name in NOT_FOR_TICKS if name in given]
        if task.priority or task.run_after is not None or kept_out:
            what = ", ".join(
                [
                    *(["a priority"] if task.priority else []),
                    *(["run_after"] if task.run_after else []),
                    *kept_out,
                ]
            )
            raise ValueError(
                f"{task.module_path} has {what}, which a schedule's tick cannot keep (a tick is enqueued "
                "once and at its instant, at priority 0): schedule a task without them"
            )
        signature = inspect.signature(task.func)
        try:
            if task.takes_context:
                signature.bind(None, *args, **kwargs)
            else:
                signature.bind(*args, **kwargs)
        except TypeError as err:
            raise ValueError(f"the arguments do not fit {task.module_path}: {err}") from None
        super().check(queue, args, kwargs)

    def task_id(self, name: str, tick: float, queue: str) -> str:
        """A Django result id, derived from the schedule and the tick (:func:`tick_result_id`)."""
        return tick_result_id(name, tick, queue)

    def task(self, task_id: str, queue: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Task:
        """The runner's call for this tick, with the options ``.enqueue()`` would give it."""
        from alligator_django.running import run

        backend = self._backend()
        task = self._task_in(queue)
        options = backend.task_options(task, task_id, list(args), dict(kwargs))
        built = backend.gator(queue).task_class(**options)
        built.to_call(run, *backend.call_of(task, list(args), dict(kwargs)))
        return built

    def enqueued(self, task: Task, queue: str) -> None:
        """Sends Django's ``task_enqueued`` for the tick, as ``.enqueue()`` does for a task."""
        backend = self._backend()
        _meta, args, kwargs = task.func_args
        result = reading.build_result(
            self._task_in(queue), task.task_id, TaskResultStatus.READY, args, kwargs, records.RunRecord()
        )
        task_enqueued.send(type(backend), task_result=result)


def register() -> None:
    """Makes every ``Schedule`` of a ``django.tasks.Task`` go through :class:`DjangoScheduleTarget`."""
    register_target(DjangoTask, DjangoScheduleTarget)
