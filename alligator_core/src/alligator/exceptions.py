"""Every error Alligator raises, under one root: :class:`AlligatorException`."""

from __future__ import annotations


class AlligatorException(Exception):
    """A base exception for all Alligator errors."""


class TaskFailed(AlligatorException):
    """Raised when a task failed for good: ``Gator.result`` and ``Task.wait`` of a dead letter.

    Its message is the dead letter's reason (for a task that raised, the
    traceback of its last attempt).

    Attributes:
        reason: The dead letter's reason, as the store keeps it.
        task_id: The failed task's id, when known.
    """

    def __init__(self, reason: str = "", task_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.task_id = task_id


class UnknownCallableError(AlligatorException):
    """Raised when a task names an attribute its module does not have."""


class UnknownModuleError(AlligatorException):
    """Raised when a task names a module that cannot be imported."""


class UnknownBackendError(AlligatorException):
    """Raised when no installed backend handles a DSN's scheme."""


class InvalidDSNError(AlligatorException):
    """Raised when a DSN cannot be parsed or lacks a part its backend needs."""


class NotSerializableError(AlligatorException, TypeError):
    """Raised when a task's arguments cannot be carried as JSON."""


class InvalidPayloadError(AlligatorException):
    """Raised when a payload read from a queue is not a task Alligator can run."""


class ResultSignatureError(InvalidPayloadError):
    """Raised when a stored result or failure reason fails its signature check while signing is on."""


class BackendError(AlligatorException):
    """Raised when a backend cannot do what was asked (connection lost, disk full...)."""


class PermanentBackendError(BackendError):
    """Raised when the store refuses for a reason retrying cannot fix (no such database, bad credentials)."""


class TaskNotFound(AlligatorException):
    """Raised when a task id is not in the queue (never queued there, cancelled, or forgotten)."""


class TaskRefused(AlligatorException):
    """Raised when a payload breaks the worker's policy (module not allowed, bad signature, too big)."""


class PayloadTooLargeError(AlligatorException, ValueError):
    """Raised when a task's payload is over the size limit; nothing is enqueued."""


class ConfigurationError(AlligatorException, ValueError):
    """Raised when a worker is set up so that it could not run any task (no modules allowed...)."""


class NotImportableError(AlligatorException, ValueError):
    """Raised when a worker could not import a task's function or hook back by name; nothing is enqueued."""


class TaskArgumentsError(AlligatorException, TypeError):
    """Raised when a task's arguments do not fit its function's signature; nothing is enqueued."""


class ResultTimeout(AlligatorException, TimeoutError):
    """Raised by ``Gator.result`` and ``Task.wait`` when the task has not finished in time.

    It is a ``TimeoutError`` too. The task is still waiting, delayed or
    running; asking again later may find it finished.
    """


class TimeLimitExceeded(AlligatorException):
    """Raised inside a task that ran past its time limit, so its ``finally`` blocks run."""


class WorkerLost(AlligatorException):
    """What a task's ``on_killed`` hook is given when its deliveries kept ending with their worker process.

    The task was dead-lettered unrun after ``--max-deliveries`` deliveries
    that never finished (killed from outside, out of memory, a crash in C).
    """


class EvictingStoreError(AlligatorException):
    """Raised when a gator not built with ``allow_eviction`` would enqueue on a store that evicts tasks."""


class TaskLossWarning(UserWarning):
    """Warned once per store and process when its settings may lose accepted tasks (eviction allowed)."""


class NoPersistenceWarning(TaskLossWarning):
    """Warned once per store and process when a restart of it loses every queued task (no persistence)."""
