"""Queuing a unique task: the key, the store's atomic push, and what the caller is told.

:meth:`Gator.push <alligator.gator.Gator.push>` comes here for a task with
``unique_for``; the rules are in :mod:`alligator.unique_store`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alligator import capabilities
from alligator.task_payload import _encode_call
from alligator.transactional_store import raw_connection, transactional_unique
from alligator.unique_store import DEBOUNCE, default_key

if TYPE_CHECKING:  # pragma: no cover
    from alligator.backend import Backend
    from alligator.tasks import Task


def key_of(task: Task) -> str:
    """The task's unique key: the one it was given, or its function and arguments."""
    if task.unique_key is not None:
        return task.unique_key
    assert task.module is not None and task.callable is not None  # to_call ran
    args, kwargs = _encode_call(task.func_args, task.func_kwargs, task.callable)
    return default_key(task.module, task.callable, args, kwargs)


def push(
    backend: Backend, queue: str, task: Task, payload: str, delay: float, connection: object = None
) -> None:
    """Pushes ``task`` unless its key is held, and sets ``queued``, ``held_by`` and ``replaced``.

    A debounced task with no delay of its own waits ``unique_for`` seconds.
    With a ``connection`` (the caller's, see
    :class:`~alligator.transactional_store.TransactionalUnique`), the key is
    claimed and the task written in the caller's open transaction.

    Raises:
        Unsupported: The store cannot keep unique keys (or not through a
            connection); nothing is queued.
    """
    store = capabilities.unique_keys(backend)
    assert task.unique_for is not None
    if task.unique_mode == DEBOUNCE and not delay:
        delay = task.unique_for
    args = (task.task_id, payload, delay, key_of(task), task.unique_mode, task.unique_for)
    if connection is None:
        pushed, other = store.push_unique(queue, *args)
    else:
        pushed, other = transactional_unique(backend).push_unique_in(raw_connection(connection), queue, *args)
    task.queued = pushed
    task.held_by = None if pushed or not other else other
    task.replaced = other if pushed and other else None
