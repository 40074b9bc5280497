"""Running a Django task in an Alligator worker: the one function the worker calls for Django.

Every Django task travels as ``run(meta, args, kwargs)``, with
``started`` as its ``on_start`` hook (Alligator calls it, in the task's
thread, with the delivery's attempt number) and ``killed`` as its
``on_killed`` hook (called where a task is settled whose own process died:
killed for its time limit, or dead-lettered after its workers died on it
too often). ``run`` checks that the task is
one the worker may run, closes stale database connections as Django's
request cycle does, keeps the attempt and any error in the task's run record
(:mod:`alligator_django.records`), sends Django's ``task_started`` and
``task_finished`` signals, and calls the task.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any

from django.db import close_old_connections, connections
from django.tasks import task_backends
from django.tasks.base import TaskContext, TaskError, TaskResult, TaskResultStatus
from django.tasks.signals import task_finished, task_started
from django.utils.json import normalize_json

from alligator import capabilities
from alligator.exceptions import ResultSignatureError, WorkerLost
from alligator_django import allowing, reading, records

if TYPE_CHECKING:  # pragma: no cover
    from alligator.tasks import Task as AlligatorTaskRun
    from alligator_django.backend import AlligatorBackend

_current = threading.local()

#: Seconds between two sweeps of one queue's expired run records by one worker process.
SWEEP_SECONDS = 600.0
_last_sweep: dict[str, float] = {}
_sweep_lock = threading.Lock()
log = logging.getLogger("alligator_django")


class TaskNotAllowed(Exception):
    """The payload names a function this worker may not run as a Django task."""


def started(task: AlligatorTaskRun) -> None:
    """The ``on_start`` hook: remembers, for :func:`run` in this thread, which delivery this is."""
    _current.task = task


def _delivery() -> tuple[str, bool]:
    """``(task id, final)`` of this thread's delivery; final: a failure now is the task's last."""
    task = getattr(_current, "task", None)
    _current.task = None
    if task is None:
        raise TaskNotAllowed("a Django task runs only in an Alligator worker (no delivery in this thread)")
    return task.task_id, task.retry_after(task.attempts) is None


def _fresh_connections() -> None:
    # As Django does at the start and end of each request: drop connections
    # that are broken or past CONN_MAX_AGE. Inside a transaction (a test
    # running the task in-process) there is nothing to do.
    if not any(conn.in_atomic_block for conn in connections.all(initialized_only=True)):
        close_old_connections()


def _error(exc: BaseException) -> tuple[str, str]:
    kind = type(exc)
    return f"{kind.__module__}.{kind.__qualname__}", "".join(traceback.format_exception(exc))


def run(meta: dict[str, Any], args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Runs one attempt of the Django task ``meta`` names; what the worker calls.

    Returns:
        The envelope stored as the Alligator result: the task's return
        value (as Django normalizes it), its run record and its call.

    Raises:
        TaskNotAllowed: The task's module is not one this worker runs, or
            the name is not a Django task.
        BaseException: Whatever the task raised (Alligator then retries it
            or dead-letters it).
    """
    result_id, final = _delivery()
    path = meta.get("task") if isinstance(meta, dict) else None
    problem = allowing.refusal(path)
    if problem is not None:
        raise TaskNotAllowed(problem)
    try:
        task = reading.rebuild_task(meta)
    except ValueError as err:
        raise TaskNotAllowed(str(err)) from None
    backend = task_backends[task.backend]
    if not hasattr(backend, "gator"):
        raise TaskNotAllowed(f"TASKS[{task.backend!r}] is not an Alligator backend")
    gator = backend.gator(task.queue_name)
    run_record = _trusted_run(gator, result_id)
    run_record.start(records.worker_id(), time.time())
    reading.write_run(gator, result_id, run_record)
    result = reading.build_result(task, result_id, TaskResultStatus.RUNNING, args, kwargs, run_record)
    _fresh_connections()
    try:
        task_started.send(type(backend), task_result=result)
        value = _call(task, result)
    except BaseException as exc:
        run_record.fail(*_error(exc))
        reading.write_run(gator, result_id, run_record)
        if final:
            _finish(backend, result, TaskResultStatus.FAILED, run_record)
        raise
    finally:
        _fresh_connections()
        _sweep(gator)
    run_record.running = False
    _finish(backend, result, TaskResultStatus.SUCCESSFUL, run_record, value)
    gator.backend.cancel(records.runs_queue(gator.queue_name), result_id)
    return records.success_envelope(value, run_record, meta, args, kwargs)


def _call(task: Any, result: TaskResult) -> Any:
    if task.takes_context:
        raw = task.call(TaskContext(task_result=result), *result.args, **result.kwargs)
    else:
        raw = task.call(*result.args, **result.kwargs)
    return normalize_json(raw)


def _finish(
    backend: AlligatorBackend,
    result: TaskResult,
    status: TaskResultStatus,
    run_record: records.RunRecord,
    value: Any = None,
) -> None:
    object.__setattr__(result, "status", status)
    object.__setattr__(result, "finished_at", reading.as_datetime(time.time()))
    object.__setattr__(
        result, "errors", [TaskError(exception_class_path=p, traceback=t) for p, t in run_record.errors]
    )
    if status == TaskResultStatus.SUCCESSFUL:
        object.__setattr__(result, "_return_value", value)
    task_finished.send(type(backend), task_result=result)


def _sweep(gator: Any) -> None:
    """Removes the run records nobody wrote for :data:`~alligator_django.records.RUN_RECORD_SECONDS`.

    A record is kept as an entry of the side queue due that long after its
    last write; once due it has expired (a task that failed long ago, or
    whose worker died for good). Each worker process looks now and then,
    on stores that can list their tasks. A failure here never fails a task.
    """
    queue = records.runs_queue(gator.queue_name)
    now = time.monotonic()
    with _sweep_lock:
        last = _last_sweep.get(queue)
        if last is not None and now - last < SWEEP_SECONDS:
            return
        _last_sweep[queue] = now
    try:
        if not capabilities.supports(gator.backend, capabilities.Inspection):
            return
        for info in capabilities.inspection(gator.backend).tasks(queue, "waiting", 0, 100):
            gator.backend.cancel(queue, info.task_id)
    except Exception:
        log.warning("could not sweep the expired run records of %s", queue, exc_info=True)


def _trusted_run(gator: Any, result_id: str) -> records.RunRecord:
    """The task's run record as a worker goes on from it: a forged one is dropped, not believed."""
    try:
        return reading.read_run(gator, result_id)
    except ResultSignatureError as err:
        log.warning("%s; starting the task's run record afresh", err)
        return records.RunRecord()


def killed(task: AlligatorTaskRun, exc: BaseException) -> None:
    """The ``on_killed`` hook: a task whose own process died, being settled as failed.

    Runs in the process that records the failure, Django set up by the
    worker's ``--setup``: the supervisor's settling process for a task
    killed for its time limit (``exc`` a ``TimeLimitExceeded``, retried while
    it has retries left), the worker that dead-letters a task its workers
    died on too often (a ``WorkerLost``, for good). Keeps the error in the
    run record, and sends ``task_finished`` when the failure is the task's
    last, as :func:`run` does for a task that raised.
    """
    meta, args, kwargs = task.func_args
    path = meta.get("task") if isinstance(meta, dict) else None
    problem = allowing.refusal(path)
    if problem is not None:
        raise TaskNotAllowed(problem)
    django_task = reading.rebuild_task(meta)
    backend = task_backends[django_task.backend]
    gator = backend.gator(django_task.queue_name)
    run_record = _trusted_run(gator, task.task_id)
    run_record.fail(*_error(exc))
    reading.write_run(gator, task.task_id, run_record)
    if isinstance(exc, WorkerLost) or task.retry_after(task.attempts) is None:
        result = reading.build_result(
            django_task, task.task_id, TaskResultStatus.FAILED, args, kwargs, run_record
        )
        _finish(backend, result, TaskResultStatus.FAILED, run_record)


def run_in_process(backend: AlligatorBackend, result: TaskResult) -> TaskResult:
    """Runs a task at once in this process, as Django's ``ImmediateBackend`` does (``IS_ASYNC`` False)."""
    run_record = records.RunRecord()
    run_record.start(records.worker_id(), time.time())
    running = reading.build_result(
        result.task, result.id, TaskResultStatus.RUNNING, result.args, result.kwargs, run_record
    )
    task_started.send(type(backend), task_result=running)
    try:
        value = _call(result.task, running)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        run_record.fail(*_error(exc))
        _finish(backend, running, TaskResultStatus.FAILED, run_record)
    else:
        _finish(backend, running, TaskResultStatus.SUCCESSFUL, run_record, value)
    return running
