"""Reading a finished task's return value: :meth:`Gator.result <alligator.gator.Gator.result>`.

A worker stores what a task's function returned, as JSON, in the same step
as it acknowledges the task (see :mod:`alligator.settling`); this module
reads it back, waiting for an unfinished task when asked to, and turns a
failed task into :class:`~alligator.exceptions.TaskFailed`. With a secret, a
value or a failure reason is handed out only when it is signed for its task
and queue.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from alligator import payload as _payload
from alligator import store_defaults
from alligator.constants import FAILED, SUCCESS, status_name
from alligator.exceptions import InvalidPayloadError, ResultTimeout, TaskFailed, TaskNotFound
from alligator.tasks import check_task_id
from alligator.text import printable

if TYPE_CHECKING:  # pragma: no cover
    from alligator.backend import Backend, Finished
    from alligator.security import TaskPolicy


class Results:
    """The results part of :class:`~alligator.gator.Gator` (a mixin: the state is the gator's)."""

    backend: Backend
    queue_name: str
    policy: TaskPolicy

    def result(self, task_id: str, timeout: float | None = None) -> Any:
        """Returns a finished task's stored return value, waiting for it if asked to.

        A worker stores what the function returned, as JSON (a tuple, a
        datetime or a Decimal tagged as in arguments: see
        :mod:`alligator.values`), in the same step as it acknowledges the
        task, and the store keeps it for the task's ``result_ttl`` (this
        gator's by default: an hour).

        Example:
            >>> from alligator import Gator
            >>> gator = Gator("locmem://example-result", allow=["builtins"])
            >>> task = gator.task(divmod, 17, 5)
            >>> done = gator.pop()  # a worker would do this, in another process
            >>> gator.result(task.task_id)
            (3, 2)

        Args:
            task_id: The task's id (``task.task_id``).
            timeout: Seconds to wait for a task still waiting, delayed or
                running. None or 0 looks once, without waiting. Stores that
                can (Redis, locmem) wake the caller as the task finishes;
                others look again every quarter of a second at most.

        Returns:
            The return value decoded from JSON: tuples come back as lists,
            and dict keys as strings. None when the task succeeded but no
            value was kept: it was queued with ``store_result=False``, its
            result outlived its ``result_ttl``, or the store keeps no results
            (it lacks :class:`~alligator.capabilities.Results`).

        Raises:
            TaskFailed: The task failed for good (it is a dead letter); the
                message and ``.reason`` are the dead letter's reason.
            ResultTimeout: It is still waiting, delayed or running after
                ``timeout`` (at once without one). Also a ``TimeoutError``.
            TaskNotFound: The store does not know the id in this gator's
                queue: never queued there, cancelled, or finished so long ago
                that neither its result nor its status is remembered.
            InvalidPayloadError: A result is stored but cannot be read (not
                JSON, too large, not UTF-8: written by something else).
            ResultSignatureError: This gator signs (it has a secret), and the
                stored result or failure reason is unsigned or not signed
                for this task and queue by one of its keys: forged by a
                writer to the store, or left by a worker without the secret.
                Nothing stored is handed out. Also an ``InvalidPayloadError``.
            ValueError: ``task_id`` cannot be a task's id, or ``timeout`` is
                negative or not finite.
        """
        check_task_id(task_id)
        wait = _check_timeout(timeout)
        queue = self.queue_name
        found = store_defaults.finished(self.backend, queue, task_id)
        if found is None:
            status = self.backend.status(queue, task_id)
            if status not in (SUCCESS, FAILED, None) and wait > 0:
                found = store_defaults.wait_finished(self.backend, queue, task_id, wait)
                if found is None:
                    status = self.backend.status(queue, task_id)
            if found is None and status in (SUCCESS, FAILED):
                # It finished between two looks: read what it left.
                found = store_defaults.finished(self.backend, queue, task_id)
            if found is None:
                if status is None:
                    raise TaskNotFound(_not_found(task_id, queue))
                if status == SUCCESS:
                    return None  # no result kept (any more)
                if status == FAILED:
                    raise TaskFailed(
                        "it failed; its dead letter, and its reason, are no longer kept", task_id
                    )
                state = status_name(status)
                waited = f" after {wait:g}s" if wait > 0 else ""
                raise ResultTimeout(
                    f"task {printable(task_id)} has not finished{waited}: it is {state}; "
                    "wait longer (timeout=...) or ask again later"
                )
        return _finished_value(found, self.policy, queue)


def _check_timeout(timeout: float | None) -> float:
    """A result's timeout as seconds to wait (0: look once), refusing nonsense."""
    if timeout is None:
        return 0.0
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, not {printable(repr(timeout), 60)}")
    if not math.isfinite(timeout) or timeout < 0:
        raise ValueError(f"timeout must be a finite number of seconds >= 0, or None; not {timeout!r}")
    return float(timeout)


def _not_found(task_id: str, queue: str) -> str:
    return (
        f"task {printable(task_id)} is unknown on queue {printable(queue)!r}: never queued there, "
        "cancelled, or finished too long ago for its result or status to be kept"
    )


def _finished_value(found: Finished, policy: TaskPolicy, queue: str) -> Any:
    """The value a finished task hands out; raises TaskFailed for a failed one.

    With a secret, a return value or a failure reason is handed out only
    when a worker holding one of its keys signed it for this task and queue.
    """
    task_id = found.task_id
    if found.status == FAILED:
        reason = policy.open_reason(queue, task_id, found.reason or "")
        raise TaskFailed(reason or "it failed (no reason was kept)", task_id)
    if found.reason is not None:
        raise InvalidPayloadError(
            f"the stored result of task {printable(task_id)} cannot be read: {printable(found.reason)}"
        )
    if found.result is None:
        return None
    text = policy.open_result(queue, task_id, found.result)
    try:
        return _payload.decode_result(text)
    except InvalidPayloadError as err:
        raise InvalidPayloadError(f"the stored result of task {printable(task_id)} {printable(err)}") from err
