"""Reading a Django ``TaskResult`` back from the store, in any process.

What each Alligator status becomes: waiting, delayed (``run_after``, or a
retry's backoff) and reserved-but-not-started are READY; reserved with an
attempt under way is RUNNING; acknowledged is SUCCESSFUL; a dead letter is
FAILED. The call (task, arguments) comes from the payload while the task is
live or dead, and from the envelope once it succeeded.
"""

from __future__ import annotations

import dataclasses
import datetime
import sys
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.tasks.base import Task, TaskError, TaskResult, TaskResultStatus
from django.tasks.exceptions import TaskResultDoesNotExist
from django.utils.module_loading import import_string

from alligator.constants import DELAYED, FAILED, RUNNING, SUCCESS, WAITING
from alligator.exceptions import AlligatorException
from alligator_django import allowing, records

if TYPE_CHECKING:  # pragma: no cover
    from alligator.gator import Gator
    from alligator_django.backend import AlligatorBackend


def as_datetime(when: float | None) -> datetime.datetime | None:
    """A Unix time as Django's ``timezone.now()`` would give it (aware in UTC under ``USE_TZ``)."""
    if when is None:
        return None
    if settings.USE_TZ:
        return datetime.datetime.fromtimestamp(when, tz=datetime.UTC)
    return datetime.datetime.fromtimestamp(when)


def task_meta(task: Task, alias: str) -> dict[str, Any]:
    """What the payload says of the Django task beside its arguments (its path and per-call settings)."""
    run_after = task.run_after
    return {
        "task": task.module_path,
        "backend": alias,
        "queue": task.queue_name,
        "priority": task.priority,
        "run_after": run_after.isoformat() if isinstance(run_after, datetime.datetime) else None,
    }


def rebuild_task(meta: object) -> Task:
    """The Django task a payload names, with the queue, priority and ``run_after`` it was enqueued with.

    A module is imported only when it is one a worker runs tasks of
    (:mod:`alligator_django.allowing`) or is imported already (the task's
    own process): a payload planted in the store cannot make a web process
    import what it names.

    Raises:
        ValueError: The meta is not this backend's, or names no Django task
            this process may import.
    """
    if not isinstance(meta, dict) or not isinstance(meta.get("task"), str):
        raise ValueError("the payload names no Django task")
    path = meta["task"]
    if allowing.refusal(path) is not None and path.rpartition(".")[0] not in sys.modules:
        raise ValueError(f"{path[:300]} is not a task module this process runs or has imported")
    try:
        task = import_string(meta["task"])
    except ImportError as err:
        raise ValueError(f"{meta['task']} cannot be imported: {err}") from err
    if not isinstance(task, Task):
        raise ValueError(f"{meta['task']} is not a Django task (decorate it with @task)")
    changes: dict[str, Any] = {}
    if isinstance(meta.get("queue"), str):
        changes["queue_name"] = meta["queue"]
    if isinstance(meta.get("priority"), int) and not isinstance(meta["priority"], bool):
        changes["priority"] = meta["priority"]
    if isinstance(meta.get("backend"), str):
        changes["backend"] = meta["backend"]
    if isinstance(meta.get("run_after"), str):
        changes["run_after"] = datetime.datetime.fromisoformat(meta["run_after"])
    return dataclasses.replace(task, **changes) if changes else task


def build_result(
    task: Task,
    result_id: str,
    status: TaskResultStatus,
    args: object,
    kwargs: object,
    run: records.RunRecord,
    finished_at: float | None = None,
    return_value: Any = None,
) -> TaskResult:
    """A ``TaskResult`` from what the store keeps."""
    split = records.split_result_id(result_id)
    result = TaskResult(
        task=task,
        id=result_id,
        status=status,
        enqueued_at=as_datetime(split[0] if split else None),
        started_at=as_datetime(run.attempts[0][1] if run.attempts else None),
        last_attempted_at=as_datetime(run.attempts[-1][1] if run.attempts else None),
        finished_at=as_datetime(finished_at),
        args=list(args) if isinstance(args, list) else [],
        kwargs=dict(kwargs) if isinstance(kwargs, dict) else {},
        backend=task.backend,
        errors=[TaskError(exception_class_path=path, traceback=text) for path, text in run.errors],
        worker_ids=[worker for worker, _ in run.attempts],
    )
    if status == TaskResultStatus.SUCCESSFUL:
        object.__setattr__(result, "_return_value", return_value)
    return result


def read_run(gator: Gator, task_id: str) -> records.RunRecord:
    """The task's run record, or an empty one when it has none.

    Raises:
        ResultSignatureError: Signing is on and the record fails its check
            (see :func:`alligator_django.records.open_run`).
    """
    text = gator.backend.peek(records.runs_queue(gator.queue_name), task_id)
    if text is None:
        return records.RunRecord()
    return records.open_run(gator.policy, gator.queue_name, task_id, text)


def write_run(gator: Gator, task_id: str, run: records.RunRecord) -> None:
    """Writes the task's run record (signed when a secret is set) in place of the last one.

    One thread runs a task at a time, so nothing else writes it meanwhile.
    """
    queue = records.runs_queue(gator.queue_name)
    gator.backend.cancel(queue, task_id)
    gator.backend.push(
        queue,
        task_id,
        records.seal_run(gator.policy, gator.queue_name, task_id, run),
        records.RUN_RECORD_SECONDS,
    )


def _call_of(gator: Gator, payload: str) -> tuple[Any, Any, Any]:
    task = gator.task_class.deserialize(gator.policy.open(payload))
    if len(task.func_args) != 3:
        raise ValueError("not a Django task's payload")
    meta, args, kwargs = task.func_args
    return meta, args, kwargs


def load_result(backend: AlligatorBackend, result_id: str) -> TaskResult:
    """The ``TaskResult`` of ``result_id`` as the store has it now.

    Raises:
        TaskResultDoesNotExist: The id is not one of this backend's, or the
            store does not know it (never sent, rolled back, expired).
    """
    split = records.split_result_id(result_id)
    if split is None:
        raise TaskResultDoesNotExist(f"{result_id!r} is not the id of an Alligator task result")
    gator = backend.gator(split[1])
    # A task may move on between two reads (its payload gone as it finishes):
    # read again from its new status.
    for _ in range(5):
        status = gator.backend.status(gator.queue_name, result_id)
        try:
            found = _read(gator, result_id, status)
        except (AlligatorException, ValueError, TypeError) as err:
            raise TaskResultDoesNotExist(f"task result {result_id!r} cannot be read: {err}") from err
        if found is not None:
            return found
    raise TaskResultDoesNotExist(f"task result {result_id!r} is unknown")


def _read(gator: Gator, result_id: str, status: int | None) -> TaskResult | None:
    if status is None:
        raise TaskResultDoesNotExist(
            f"task result {result_id!r} is unknown: never sent (or its transaction rolled back), "
            "or finished longer ago than its result is kept"
        )
    queue = gator.queue_name
    if status in (WAITING, DELAYED, RUNNING):
        payload = gator.backend.peek(queue, result_id)
        if payload is None:
            return None
        meta, args, kwargs = _call_of(gator, payload)
        run = read_run(gator, result_id)
        running = status == RUNNING and run.running
        state = TaskResultStatus.RUNNING if running else TaskResultStatus.READY
        return build_result(rebuild_task(meta), result_id, state, args, kwargs, run)
    found = gator.admin.finished(queue, result_id)
    if status == SUCCESS:
        if found is None or found.result is None:
            raise TaskResultDoesNotExist(
                f"task result {result_id!r} succeeded but its result is no longer kept"
            )
        from alligator import payload as _payload

        envelope = records.parse_envelope(_payload.decode_result(found.result))
        if envelope is None:
            raise ValueError("its stored result is not a Django task's")
        value, run, call = envelope
        return build_result(
            rebuild_task(call.get("meta")),
            result_id,
            TaskResultStatus.SUCCESSFUL,
            call.get("args"),
            call.get("kwargs"),
            run,
            found.finished_at,
            value,
        )
    if status == FAILED:
        _, info, payload = gator.admin.task(queue, result_id)
        if payload is None:
            raise TaskResultDoesNotExist(f"task result {result_id!r} failed and its dead letter is gone")
        meta, args, kwargs = _call_of(gator, payload)
        run = read_run(gator, result_id)
        if not run.errors and found is not None and found.reason:
            # Its run record expired or was never written (its payload could
            # not be read): the dead letter's reason stands for the error.
            run.fail("alligator.exceptions.TaskFailed", found.reason)
        finished_at = found.finished_at if found is not None else (info.failed_at if info else None)
        return build_result(
            rebuild_task(meta), result_id, TaskResultStatus.FAILED, args, kwargs, run, finished_at
        )
    return None
