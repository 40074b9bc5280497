"""The :class:`Task`: a function call, its options, and how it travels as JSON.

The checks of its options are in :mod:`alligator.task_checks`, and its
payload format in :mod:`alligator.task_payload`; their public names are
importable from here too.
"""

from __future__ import annotations

import datetime
import inspect
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from alligator import payload as _payload
from alligator import task_payload
from alligator.constants import DELAYED, FAILED, RETRYING, RUNNING, SUCCESS, WAITING
from alligator.exceptions import (
    AlligatorException,
    InvalidPayloadError,
    NotSerializableError,
)
from alligator.ids import new_task_id
from alligator.limit_store import check_concurrency, check_key, parse_rate
from alligator.limits import MAX_DEPENDENCIES, MAX_RETRY_DELAY
from alligator.retries import (
    DEFAULT_RETRY_BACKOFF,
    DEFAULT_RETRY_DELAY,
    DEFAULT_RETRY_MAX_DELAY,
    backoff_delay,
)
from alligator.targets import queued_target

# The checks of a task's options and its payload format live in modules of
# their own; their public names stay importable from here, where they were
# first (``from alligator.tasks import check_task_id``).
from alligator.task_checks import Hook as Hook
from alligator.task_checks import HookSpec as HookSpec
from alligator.task_checks import _hook_path, _number, _show, _to_timestamp
from alligator.task_checks import check_priority as check_priority
from alligator.task_checks import check_result_ttl as check_result_ttl
from alligator.task_checks import check_retries as check_retries
from alligator.task_checks import check_task_id as check_task_id
from alligator.task_checks import check_time_limit as check_time_limit
from alligator.task_payload import PAYLOAD_VERSION as PAYLOAD_VERSION
from alligator.task_payload import _encode_call
from alligator.task_payload import check_arg as check_arg
from alligator.text import printable
from alligator.unique_store import UNTIL_FINISHED, check_unique_for, check_unique_key, check_unique_mode
from alligator.utils import _shape, callable_path, check_arguments_fit, import_attr

if TYPE_CHECKING:
    from alligator.gator import Gator

log = logging.getLogger("alligator.worker")

# The state of a task with every option at its default, by class (see
# Task._with_defaults); empty for a class that must be called instead.
_TEMPLATES: dict[type[Task], dict[str, Any]] = {}


def _template_of(cls: type[Task]) -> dict[str, Any]:
    if cls.__init__ is not Task.__init__ or cls.__setattr__ is not object.__setattr__:
        return {}
    state = dict(cls().__dict__)
    if any(hasattr(getattr(cls, name, None), "__set__") for name in state) or hasattr(cls, "__slots__"):
        return {}
    return state


class Task:
    """One call of an importable function, with the options that govern it.

    Build one through :meth:`Gator.task <alligator.gator.Gator.task>` or
    :meth:`Gator.options <alligator.gator.Gator.options>`; make one directly
    only to :meth:`Gator.push <alligator.gator.Gator.push>` it or run it
    yourself.

    Example:
        >>> task = Task(retries=3)
        >>> task.to_call(pow, 2, 10)
        >>> task.run()
        1024

    Args:
        task_id: The id; when omitted, 32 random hex digits (128 bits, as a UUID4).
        retries: How many times to try again after the function raises.
        is_async: False runs the task in-process at once instead of queueing
            it (for tests and development).
        on_start: Called as ``on_start(task)`` before the function.
        on_success: Called as ``on_success(task, result)`` after it returned.
        on_error: Called as ``on_error(task, exception)`` after it raised.
        on_killed: Called as ``on_killed(task, exception)`` when the task's
            own process died, in the process that records its failure, once
            that is decided and before it is applied: the supervisor's settling
            process for a task killed for its time limit (a
            :class:`~alligator.exceptions.TimeLimitExceeded`), the worker that
            dead-letters a task its workers died on too often (a
            :class:`~alligator.exceptions.WorkerLost`).
        depends_on: Ids (or Tasks) of tasks that must succeed first.
        delay_by: Seconds to wait before the task is due.
        delay_until: When the task is due: a Unix timestamp or a datetime.
        retry_delay: Seconds before the first retry.
        retry_backoff: Growth factor of the wait per retry.
        retry_max_delay: The longest wait between retries.
        retry_jitter: Randomize each wait within its upper half.
        time_limit: Seconds the function may run before it is stopped and
            counted as a failed try (above 0, at most a week); None for no
            limit of its own (a worker may set one for every task it runs:
            ``latergator --time-limit``).
        result_ttl: Seconds the store keeps the return value (0 to 30
            days); None for the gator's ``result_ttl`` (an hour by default).
        store_result: False keeps no return value (``Gator.result`` then
            returns None once the task succeeded), and does not require
            the value to be JSON.
        unique_for: Seconds (above 0, at most 30 days) a second task of the
            same key is refused (see :mod:`alligator.unique_store` and
            ``docs/unique.md``); None (the default) for no uniqueness.
        unique_key: The key, at most 200 printable characters; None for the
            function and its arguments. Needs ``unique_for``.
        unique_mode: ``"until_finished"`` (the default), ``"until_started"``,
            ``"throttle"`` or ``"debounce"``. Needs ``unique_for``.
        rate_limit: At most this many runs of the key per second, minute
            or hour, for every worker of the store: ``"10/s"``, ``"600/m"``,
            ``"5000/h"`` (see :mod:`alligator.limiting`).
        concurrency_limit: At most this many tasks of the key run at once,
            across every worker of the store.
        limit_key: The key both limits count against; None for the
            function (``module:name``).
        priority: Its rank among the due tasks of its queue, a whole number
            from -100 to 100 (0 by default): a higher one is reserved
            first, equal ones in the order they became due. A store
            without the :class:`~alligator.priority_store.TaskPriority`
            capability refuses a task whose priority is not 0.

    Hooks are importable functions (or ``"module:function"`` strings): they
    travel in the payload by name, like the task's function.
    """

    def __init__(
        self,
        task_id: str | None = None,
        retries: int = 0,
        is_async: bool = True,
        on_start: HookSpec = None,
        on_success: HookSpec = None,
        on_error: HookSpec = None,
        depends_on: Iterable[str | Task] | None = None,
        delay_by: float | None = None,
        delay_until: float | datetime.datetime | None = None,
        retry_delay: float = DEFAULT_RETRY_DELAY,
        retry_backoff: float = DEFAULT_RETRY_BACKOFF,
        retry_max_delay: float = DEFAULT_RETRY_MAX_DELAY,
        retry_jitter: bool = True,
        time_limit: float | None = None,
        result_ttl: float | None = None,
        store_result: bool = True,
        unique_for: float | None = None,
        unique_key: str | None = None,
        unique_mode: str = UNTIL_FINISHED,
        rate_limit: str | None = None,
        concurrency_limit: int | None = None,
        limit_key: str | None = None,
        priority: int = 0,
        on_killed: HookSpec = None,
    ) -> None:
        check_retries(retries)
        if delay_by is not None and delay_until is not None:
            raise ValueError("give delay_by or delay_until, not both")
        if task_id is None:
            self.task_id = new_task_id()
        else:
            self.task_id = check_task_id(task_id, "task_id")
        self.retries = retries
        self.is_async = bool(is_async)
        self.on_start = _hook_path(on_start, "on_start", self.is_async)
        self.on_success = _hook_path(on_success, "on_success", self.is_async)
        self.on_error = _hook_path(on_error, "on_error", self.is_async)
        self.on_killed = _hook_path(on_killed, "on_killed", self.is_async)
        self.depends_on = self._dependencies(depends_on)
        self.delay_by = None if delay_by is None else _number(delay_by, "delay_by", 0.0)
        self.delay_until = None if delay_until is None else _number(_to_timestamp(delay_until), "delay_until")
        self.retry_delay = _number(retry_delay, "retry_delay", 0.0, MAX_RETRY_DELAY)
        self.retry_backoff = _number(retry_backoff, "retry_backoff", 1.0)
        self.retry_max_delay = _number(retry_max_delay, "retry_max_delay", 0.0, MAX_RETRY_DELAY)
        self.retry_jitter = bool(retry_jitter)
        self.time_limit = check_time_limit(time_limit)
        self.result_ttl = check_result_ttl(result_ttl)
        if not isinstance(store_result, bool):
            raise TypeError(f"store_result must be True or False, not {_show(store_result)}")
        self.store_result = store_result
        self.unique_for = check_unique_for(unique_for)
        self.unique_key = check_unique_key(unique_key)
        self.unique_mode = check_unique_mode(unique_mode)
        if self.unique_for is None and (unique_key is not None or unique_mode != UNTIL_FINISHED):
            raise ValueError("unique_key and unique_mode need unique_for=SECONDS too")
        self.rate_limit = None if rate_limit is None else str(parse_rate(rate_limit))
        self.concurrency_limit = None if concurrency_limit is None else check_concurrency(concurrency_limit)
        if limit_key is not None and rate_limit is None and concurrency_limit is None:
            raise ValueError("limit_key needs a rate_limit or a concurrency_limit to count against it")
        self.limit_key = None if limit_key is None else check_key(limit_key)
        self.priority = check_priority(priority)
        if self.priority and self.unique_for is not None:
            # A unique push takes its key with a plain push; a ranked one is not written yet.
            raise ValueError("a task cannot have both unique_for and a priority yet: drop one of them")
        self.status = DELAYED if (self.delay_by or self.delay_until) else WAITING
        self.func: Callable[..., Any] | None = None
        self.module: str | None = None
        self.callable: str | None = None
        self.func_args: list[Any] = []
        self.func_kwargs: dict[str, Any] = {}
        # (func_args, func_kwargs) as to_call checked them, when no value
        # needed a tag: serialize writes those very objects without a second walk.
        self._plain_call: tuple[list[Any], dict[str, Any]] | None = None
        self.result: Any = None
        #: The exception of the last failed run, if any.
        self.exception: BaseException | None = None
        #: Deliveries so far, when a worker ran it (1 on the first); runs so
        #: far, when run in-process by Gator.execute.
        self.attempts = 0
        #: Whether the call that queued this task added it. True if it did;
        #: False if nothing was queued (the id was already in the queue,
        #: another task holds its unique key: see ``held_by``, or the task
        #: ran in-process); None before it was queued, or when a batch
        #: cannot tell (see Batch.flush).
        self.queued: bool | None = None
        #: When ``queued`` is False because another task holds this task's
        #: unique key: that task's id; else None.
        self.held_by: str | None = None
        #: When this task replaced a waiting one of the same unique key
        #: (``unique_mode="debounce"``): that task's id; else None.
        self.replaced: str | None = None
        # The gator that queued it, for wait(); never serialized.
        self._gator: Gator | None = None

    @classmethod
    def _with_defaults(cls, task_id: str | None = None) -> Task:
        """A task as ``cls()`` makes it, built without checking the defaults again.

        Its id is ``task_id`` (already checked: one read from a payload), else a new one.

        The options are copied from one task built the usual way, once per
        process and class; the lists and dicts are new for each task. A
        class whose ``__init__`` is not Task's, or that sets attributes in
        its own way (``__setattr__``, properties, slots), is simply called.
        """
        template = _TEMPLATES.get(cls)
        if template is None:
            template = _TEMPLATES.setdefault(cls, _template_of(cls))
        if not template:
            return cls() if task_id is None else cls(task_id=task_id)
        task = cls.__new__(cls)
        task.__dict__ = state = template.copy()
        state["task_id"] = new_task_id() if task_id is None else task_id
        state["depends_on"] = []
        state["func_args"] = []
        state["func_kwargs"] = {}
        return task

    def _dependencies(self, depends_on: Iterable[str | Task] | None) -> list[str]:
        if depends_on is None:
            return []
        if isinstance(depends_on, (str, Task)):
            # A lone id would be read as one dependency per character.
            raise TypeError("depends_on must be a list of task ids (or Tasks), not one")
        ids: list[str] = []
        for dependency in depends_on:
            if len(ids) >= MAX_DEPENDENCIES:
                raise ValueError(f"depends_on names more than {MAX_DEPENDENCIES} tasks")
            task_id = dependency.task_id if isinstance(dependency, Task) else dependency
            ids.append(check_task_id(task_id, f"depends_on[{len(ids)}]"))
            if task_id == self.task_id:
                # It could never run: it would wait for itself for ever.
                raise ValueError(f"task {printable(task_id)} depends on itself")
        return ids

    def __repr__(self) -> str:
        target = f"{self.module}:{self.callable}" if self.callable else "?"
        return f"<Task {self.task_id} {target} status={self.status}>"

    # -- the call --------------------------------------------------------

    def to_call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Sets the function and the arguments to call it with.

        The function must be importable by its module and name, and must
        be what that name leads to: no lambdas, no functions defined inside
        functions, no ``functools.partial``, no methods bound to an object,
        and, for a queued task (``is_async=True``), nothing defined in
        ``__main__``. The arguments must be JSON values and fit the
        function's signature. So a worker in another process can rebuild the
        call, and a mistake shows here rather than as a dead letter later.

        Example:
            >>> task = Task()
            >>> task.to_call(divmod, 17, 5)

        Args:
            func: The callable with the business logic.
            *args: Positional arguments for it.
            **kwargs: Keyword arguments for it.

        Raises:
            NotSerializableError: An argument JSON cannot carry; the message
                names it. Nothing is queued.
            TaskArgumentsError: The arguments do not fit the function's
                signature (a ``TypeError``). Nothing is queued.
            NotImportableError: The function cannot be imported back by name
                (a ``ValueError``); the message says what to do instead.
        """
        if self.is_async:
            module, name, shape = queued_target(func)
        else:
            module, name = callable_path(func, "a task's function", allow_main=True)
            shape = _shape(func)
        encoded_args, encoded_kwargs = _encode_call(args, kwargs, name) if args or kwargs else (args, kwargs)
        if shape is not None and not shape.fits(args, kwargs):
            check_arguments_fit(func, args, kwargs, name)  # says how they do not fit
        self.func = func
        self.module = module
        self.callable = name
        self.func_args = list(args)
        self.func_kwargs = dict(kwargs)
        plain = encoded_args is args and encoded_kwargs is kwargs
        self._plain_call = (self.func_args, self.func_kwargs) if plain else None

    def run(self) -> Any:
        """Runs the task once, with its hooks, and returns the function's result.

        ``on_start(task)`` first; then the function; then ``on_success(task,
        result)``. If the function raises, ``on_error(task, exc)`` is called
        and the exception re-raised. Retries are not handled here but by
        :meth:`Gator.execute <alligator.gator.Gator.execute>` and the worker.

        What counts as what, for every exception (``BaseException`` too):

        * the function raises anything (``SystemExit``, ``GeneratorExit``,
          ``asyncio.CancelledError``, ``KeyboardInterrupt`` included): the
          task failed. ``task.exception`` is set, the status is FAILED,
          ``on_error`` is called, and the exception is re-raised for the
          caller to settle (a worker retries or dead-letters it);
        * ``on_start`` raises anything: the task failed, without running;
          re-raised the same way (``on_error`` is not called);
        * ``on_success`` or ``on_error`` raises anything but
          ``KeyboardInterrupt``: logged, and the outcome stands. A hook that
          calls ``sys.exit`` after a success does not turn it into a
          failure that would run the task again.

        Returns:
            What the function returned (also kept in ``task.result``).
        """
        func = self.resolve()
        self.to_running()
        try:
            self._call_hook(self.on_start, self)
        except BaseException as exc:
            self.exception = exc
            self.to_failed()
            raise
        try:
            result = func(*self.func_args, **self.func_kwargs)
            if inspect.iscoroutine(result):
                # An async def function: await it here, on this thread's loop
                # (imported only now: asyncio is heavy to import).
                from alligator import aio

                result = aio.run(result)
            self.result = result
        except BaseException as exc:
            self.exception = exc
            self.to_failed()
            self._call_after_hook(self.on_error, exc)
            raise
        self.exception = None
        self.to_success()
        self._call_after_hook(self.on_success, self.result)
        return self.result

    def wait(self, timeout: float | None = None) -> Any:
        """Waits for this queued task to finish and returns its stored return value.

        The same as ``gator.result(task.task_id, timeout)`` on the gator
        that queued it (see :meth:`Gator.result
        <alligator.gator.Gator.result>`), so a caller can write
        ``gator.task(add, 1, 2).wait(5)``. A task that ran in-process
        (``is_async=False``) returns its ``result`` at once. A task that was
        not queued because its id was in the queue already (``queued`` is
        False) waits for the task of that id.

        Example:
            >>> from alligator import Gator
            >>> gator = Gator("locmem://example-task-wait", allow=["builtins"])
            >>> task = gator.task(pow, 2, 5)
            >>> done = gator.pop()  # a worker would do this, in another process
            >>> task.wait(timeout=5)
            32

        Args:
            timeout: Seconds to wait for it to finish; None (or 0) looks
                once and does not wait.

        Returns:
            The function's return value, decoded from JSON (a tuple comes
            back as a list); None when it succeeded without a stored result.

        Raises:
            TaskFailed: It failed for good; ``.reason`` is the dead
                letter's reason.
            ResultTimeout: It has not finished yet (by the timeout).
            TaskNotFound: The store does not know the id (never queued
                there, cancelled, or finished too long ago).
            ResultSignatureError: The gator signs, and the stored result or
                reason is not signed for this task (see :meth:`Gator.result
                <alligator.gator.Gator.result>`).
            AlligatorException: This task was not queued through a
                :class:`~alligator.gator.Gator` (built by hand, or read by a
                worker), so there is no store to wait on.
        """
        if not self.is_async and self.status == SUCCESS:
            return self.result
        if self._gator is None:
            raise AlligatorException(
                f"task {printable(self.task_id)} was not queued by a Gator, so it has no store to "
                "wait on; call gator.result(task_id, timeout) on the gator of its queue instead"
            )
        return self._gator.result(self.task_id, timeout)

    def resolve(self) -> Callable[..., Any]:
        """Returns the function, importing it by name if it came from a queue.

        Raises:
            UnknownModuleError: Its module cannot be imported.
            UnknownCallableError: Its module lacks it.
        """
        if self.func is None:
            if not self.module or not self.callable:
                raise InvalidPayloadError("the task names no function to call")
            self.func = import_attr(self.module, self.callable)
            if not callable(self.func):
                raise InvalidPayloadError(f"{self.module}:{self.callable} is not callable")
        return self.func

    def resolve_hooks(self) -> list[tuple[tuple[str, str], Callable[..., Any]]]:
        """Imports every hook the task names, so a missing one is caught before it runs.

        Returns:
            ``((module, name), hook)`` for each hook named.

        Raises:
            UnknownModuleError: A hook's module cannot be imported.
            UnknownCallableError: A hook's module lacks it.
        """
        return [((module, name), import_attr(module, name)) for module, name in self.hooks()]

    def hooks(self) -> list[tuple[str, str]]:
        """Returns ``(module, function)`` for each hook this task names."""
        paths = (self.on_start, self.on_success, self.on_error, self.on_killed)
        if not any(paths):
            return []  # most tasks: a worker asks twice a task
        return [(module, name) for module, _, name in (p.partition(":") for p in paths if p)]

    @staticmethod
    def _call_hook(path: str | None, *args: Any) -> None:
        if path:
            module, _, name = path.partition(":")
            import_attr(module, name)(*args)

    def _call_after_hook(self, path: str | None, outcome: Any) -> None:
        try:
            self._call_hook(path, self, outcome)
        except KeyboardInterrupt:
            raise  # the operator's, not the task's
        except BaseException as exc:
            # The task has already finished; nothing a hook does changes that.
            log.exception(
                "hook %s of task %s raised %s; the task's outcome stands",
                printable(path),
                printable(self.task_id),
                type(exc).__name__,
            )

    def next_retry_delay(self, retry: int) -> float:
        """Returns the seconds to wait before retry number ``retry`` (1-based)."""
        return backoff_delay(
            retry, self.retry_delay, self.retry_backoff, self.retry_max_delay, self.retry_jitter
        )

    def retry_after(self, attempts: int) -> float | None:
        """The one retry rule: seconds to wait after failed attempt ``attempts`` (1-based), or None.

        A worker releases the task for that long, and
        :meth:`Gator.execute <alligator.gator.Gator.execute>` sleeps for it;
        None once its ``retries`` are spent (the failure is final).

        Example:
            >>> Task(retries=2, retry_delay=1.0, retry_backoff=2.0, retry_jitter=False).retry_after(2)
            2.0
            >>> Task(retries=2).retry_after(3) is None
            True
        """
        if attempts > self.retries:
            return None
        return self.next_retry_delay(attempts)

    # -- status ----------------------------------------------------------

    def to_waiting(self) -> None:
        """Sets the status to WAITING."""
        self.status = WAITING

    def to_success(self) -> None:
        """Sets the status to SUCCESS."""
        self.status = SUCCESS

    def to_failed(self) -> None:
        """Sets the status to FAILED."""
        self.status = FAILED

    def to_delayed(self) -> None:
        """Sets the status to DELAYED."""
        self.status = DELAYED

    def to_retrying(self) -> None:
        """Sets the status to RETRYING."""
        self.status = RETRYING

    def to_running(self) -> None:
        """Sets the status to RUNNING."""
        self.status = RUNNING

    # -- the wire format -------------------------------------------------

    def serialize(self) -> str:
        """Returns the task as the JSON string that goes on the queue.

        Raises:
            ValueError: :meth:`to_call` was not called first.
        """
        return task_payload.serialize(self)

    @classmethod
    def deserialize(cls, data: str | bytes) -> Task:
        """Rebuilds a task from a payload made by :meth:`serialize`.

        The function is not imported here, only named; :meth:`resolve`
        imports it when the task runs.

        Args:
            data: The JSON string from the queue.

        Returns:
            The task.

        Raises:
            InvalidPayloadError: The payload is not a task; the message says
                what is wrong with it.
        """
        fields = _payload.loads(data)
        try:
            return task_payload.from_fields(cls, fields)
        except (TypeError, ValueError, KeyError, NotSerializableError) as err:
            raise InvalidPayloadError(f"payload is not a valid task: {err}") from err
