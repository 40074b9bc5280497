"""Queuing tasks with options: :class:`Options` and :class:`Batch`.

Made by :meth:`Gator.options <alligator.gator.Gator.options>` and
:meth:`Gator.batch <alligator.gator.Gator.batch>`; importable from
:mod:`alligator.gator` and :mod:`alligator` as well, where they are
documented.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from alligator import capabilities, loss_risks
from alligator.priority_store import task_priority
from alligator.tasks import Task
from alligator.text import unknown_names
from alligator.transactional_store import TransactionalEnqueue, raw_connection, transactional_priority

if TYPE_CHECKING:  # pragma: no cover
    from alligator.gator import Gator


def _unknown_options(task_class: type[Task], given: dict[str, Any]) -> str | None:
    """Names the options ``task_class`` does not take, each with the nearest one it does."""
    try:
        parameters = inspect.signature(task_class).parameters
    except (TypeError, ValueError):
        return None  # the caller keeps Python's own message
    known = [name for name, p in parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return unknown_names("task option", given, known)


class Options:
    """Queues tasks with a set of options; made by :meth:`Gator.options`.

    Args:
        gator: The gator to queue on.
        connection: A database connection the caller holds: tasks are
            written through it, inside its open transaction (the store must
            claim :class:`~alligator.transactional_store.TransactionalEnqueue`).
        **kwargs: Arguments of :class:`~alligator.tasks.Task`, checked now.

    Raises:
        Unsupported: ``connection`` is given and the store cannot write
            through it.
    """

    def __init__(self, gator: Gator, connection: object = None, **kwargs: Any) -> None:
        self.gator = gator
        self.connection = connection
        if connection is not None:
            capabilities.require(gator.backend, TransactionalEnqueue)
        self.task_kwargs = kwargs
        # Build one now so a misspelt option fails here, not at the first task.
        try:
            gator.task_class(**kwargs)
        except TypeError as err:
            if "unexpected keyword argument" not in str(err):
                raise  # a known option with a wrong value says so itself
            raise TypeError(
                _unknown_options(gator.task_class, kwargs) or f"unknown task option: {err}"
            ) from err

    def __enter__(self) -> Options:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def task(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Task:
        """Queues a call of ``func`` with these options; see :meth:`Gator.task`."""
        return self.gator._push(
            self.gator.task_class(**self.task_kwargs), self.connection, func, *args, **kwargs
        )


class Batch(Options):
    """Collects tasks and queues them all in one backend call at the end of the block.

    Nothing is queued if the block raises. Tasks with ``is_async=False`` run
    at once, as everywhere.
    """

    def __init__(self, gator: Gator, **kwargs: Any) -> None:
        super().__init__(gator, **kwargs)
        self.tasks: list[Task] = []

    def task(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Task:
        """Adds a call of ``func`` to the batch; see :meth:`Gator.task`."""
        task = self.gator.task_class(**self.task_kwargs)
        if not task.is_async:
            return self.gator._push(task, self.connection, func, *args, **kwargs)
        if task.unique_for is not None:
            # One call cannot say which tasks of a batch were refused by their keys.
            raise ValueError(
                "a batch cannot queue unique tasks: queue them with gator.options(unique_for=...)"
            )
        task.to_call(func, *args, **kwargs)
        task._gator = self.gator
        self.tasks.append(task)
        return task

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.flush()

    def flush(self) -> int:
        """Queues the tasks collected so far.

        Each task's ``queued`` becomes True when all of them were added,
        False when none was (their ids were all in the queue already), and
        None when only some were: one call cannot tell which.

        Returns:
            How many were added; fewer than collected when some ids were
            already in the queue.
        """
        if not self.tasks:
            return 0
        loss_risks.check_enqueue(self.gator.backend, self.gator.allow_eviction)
        now = None
        if any(t.delay_until is not None for t in self.tasks):
            now = self.gator.backend.now()
        tasks = self.tasks
        backend = self.gator.backend
        if self.connection is not None and any(t.priority for t in tasks):
            # Refused before anything is written when the store cannot rank through a connection.
            through = transactional_priority(backend)
            prioritized = [
                (t.task_id, self.gator._seal(t), self.gator._delay_of(t, now), t.priority) for t in tasks
            ]
            self.tasks = []
            added = through.push_prioritized_in(
                raw_connection(self.connection), self.gator.queue_name, prioritized
            )
        elif self.connection is not None:
            items = [(t.task_id, self.gator._seal(t), self.gator._delay_of(t, now)) for t in tasks]
            self.tasks = []
            store = capabilities.transactional(backend)
            added = store.push_in(raw_connection(self.connection), self.gator.queue_name, items)
        elif any(t.priority for t in tasks):
            # Refused before anything is queued when the store has no priorities.
            store_p = task_priority(backend)
            prioritized = [
                (t.task_id, self.gator._seal(t), self.gator._delay_of(t, now), t.priority) for t in tasks
            ]
            self.tasks = []
            added = store_p.push_prioritized(self.gator.queue_name, prioritized)
        else:
            items = [(t.task_id, self.gator._seal(t), self.gator._delay_of(t, now)) for t in tasks]
            self.tasks = []
            added = backend.push_many(self.gator.queue_name, items)
        queued = True if added == len(tasks) else False if added == 0 else None
        for task in tasks:
            task.queued = queued
        return added
