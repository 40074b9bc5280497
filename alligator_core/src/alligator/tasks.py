"""The :class:`Task`: a function call, its options, and how it travels as JSON."""

from __future__ import annotations

import datetime
import inspect
import logging
import math
import numbers
import os
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from alligator import payload as _payload
from alligator import values
from alligator.constants import DELAYED, FAILED, RETRYING, RUNNING, SUCCESS, WAITING
from alligator.exceptions import (
    AlligatorException,
    InvalidPayloadError,
    NotImportableError,
    NotSerializableError,
)
from alligator.limits import (
    MAX_DEPENDENCIES,
    MAX_RESULT_TTL,
    MAX_RETRIES,
    MAX_RETRY_DELAY,
    MAX_TASK_ID_LENGTH,
    MAX_TIME_LIMIT,
)
from alligator.retries import (
    DEFAULT_RETRY_BACKOFF,
    DEFAULT_RETRY_DELAY,
    DEFAULT_RETRY_MAX_DELAY,
    backoff_delay,
)
from alligator.security import unrunnable_reason
from alligator.text import printable
from alligator.utils import callable_path, check_arguments_fit, import_attr

if TYPE_CHECKING:
    from alligator.gator import Gator

log = logging.getLogger("alligator.worker")

#: Version of the payload format of a plain JSON call; a call with a tagged
#: argument (a tuple, a datetime...) is written as version 2
#: (:data:`alligator.payload.TAGGED_VERSION`), which older workers refuse.
PAYLOAD_VERSION = _payload.PLAIN_VERSION

Hook = Callable[..., Any]
HookSpec = Hook | str | None


def _hook_path(hook: HookSpec, name: str, queued: bool) -> str | None:
    """Returns the ``"module:function"`` a hook travels as, refusing what a worker could not import."""
    if hook is None:
        return None
    if isinstance(hook, str):
        if ":" not in hook and "." not in hook:
            raise ValueError(f"{name} must be a function or 'module:function', not {printable(hook)!r}")
        module, _, function = hook.partition(":") if ":" in hook else hook.rpartition(".")
    else:
        module, function = callable_path(hook, f"the {name} hook", allow_main=not queued)
    problem = unrunnable_reason(module, function)
    # In-process tasks may use hooks of __main__; nothing else a worker refuses.
    if problem is not None and (queued or module != "__main__"):
        path = printable(f"{module}:{function}")
        raise NotImportableError(f"the {name} hook {path} can never run: {problem}")
    return f"{module}:{function}"


def _to_timestamp(when: float | datetime.datetime) -> float:
    if isinstance(when, datetime.datetime):
        # A naive datetime means local time, as datetime.timestamp() assumes.
        return when.timestamp()
    return when


def _show(value: object) -> str:
    """A value from a caller or a payload, short and on one line, for an error message."""
    return printable(repr(value), 60)


def _number(value: object, name: str, low: float | None = None, high: float | None = None) -> float:
    """Returns ``value`` as a float, refusing NaN, the infinities and values out of bounds."""
    if type(value) is float:  # the common case, without the slow ABC check below
        number = value
    elif isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, not {_show(value)}")
    else:
        try:
            number = float(value)
        except OverflowError:  # an int too large for a float
            number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, not {_show(value)}")
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = f"from {low:g} to {high:g}" if high is not None else f">= {low:g}"
        raise ValueError(f"{name} must be {bounds}, not {_show(value)}")
    return number


def _as_float(value: numbers.Real) -> float:
    """A real number as a float; NaN for one a float cannot hold (a huge int), so bounds refuse it."""
    try:
        return float(value)
    except (OverflowError, ValueError):
        return math.nan


def check_time_limit(value: object, name: str = "time_limit") -> float | None:
    """Returns a task's time limit as a float, or None for no limit, or says what is wrong.

    Example:
        >>> check_time_limit(90)
        90.0

    Args:
        value: Seconds the task may run, above 0 and at most
            ``alligator.limits.MAX_TIME_LIMIT`` (a week); or None.
        name: How to name it in the error.

    Raises:
        TypeError: It is not a number (``True`` is not one either).
        ValueError: It is NaN, infinite, 0 or less, or over a week.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number of seconds, or None for no limit; not {_show(value)}")
    number = _as_float(value)
    if not (0.0 < number <= MAX_TIME_LIMIT):
        raise ValueError(
            f"{name} must be above 0 and at most {MAX_TIME_LIMIT:.0f} seconds (a week), "
            f"or None for no limit; not {_show(value)}"
        )
    return number


def check_result_ttl(value: object, name: str = "result_ttl") -> float | None:
    """Returns how long a task's result is kept, as a float, or None for the gator's default.

    Example:
        >>> check_result_ttl(600)
        600.0

    Args:
        value: Seconds to keep the result, from 0 to
            ``alligator.limits.MAX_RESULT_TTL`` (30 days); or None.
        name: How to name it in the error.

    Raises:
        TypeError: It is not a number (``True`` is not one either).
        ValueError: It is NaN, infinite, negative, or over 30 days.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a number of seconds, or None for the gator's default; not {_show(value)}"
        )
    number = _as_float(value)
    if not (0.0 <= number <= MAX_RESULT_TTL):
        raise ValueError(
            f"{name} must be from 0 to {MAX_RESULT_TTL:.0f} seconds (30 days), "
            f"or None for the gator's default; not {_show(value)}"
        )
    return number


def check_task_id(task_id: object, name: str = "task_id") -> str:
    """Returns ``task_id`` if it can be a task's id, or says why not.

    An id is a non-empty string of at most
    ``alligator.limits.MAX_TASK_ID_LENGTH`` printable characters: no
    control characters, line breaks or lone surrogates, so an id is logged
    and stored as it is, and cannot forge a log line.

    Example:
        >>> check_task_id("report-2026-11")
        'report-2026-11'

    Args:
        task_id: The id.
        name: How to name it in the error.

    Returns:
        The id.

    Raises:
        ValueError: It is not a string, is empty, too long, or has a
            character that is not printable.
    """
    if not isinstance(task_id, str) or not task_id:
        raise ValueError(f"{name} must be a non-empty string, not {_show(task_id)}")
    if len(task_id) > MAX_TASK_ID_LENGTH:
        raise ValueError(f"{name} is {len(task_id)} characters, over the limit of {MAX_TASK_ID_LENGTH}")
    if not task_id.isprintable():
        raise ValueError(f"{name} {_show(task_id)} has a control or other unprintable character")
    return task_id


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
    ) -> None:
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
            raise ValueError(f"retries must be a whole number from 0 to {MAX_RETRIES}, not {_show(retries)}")
        if delay_by is not None and delay_until is not None:
            raise ValueError("give delay_by or delay_until, not both")
        if task_id is None:
            # 128 random bits, as a UUID4 has, at a fifth of uuid4()'s cost:
            # the id is made on every enqueue.
            self.task_id = os.urandom(16).hex()
        else:
            self.task_id = check_task_id(task_id, "task_id")
        self.retries = retries
        self.is_async = bool(is_async)
        self.on_start = _hook_path(on_start, "on_start", self.is_async)
        self.on_success = _hook_path(on_success, "on_success", self.is_async)
        self.on_error = _hook_path(on_error, "on_error", self.is_async)
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
        #: False if nothing was queued (the id was already in the queue, or
        #: the task ran in-process); None before it was queued, or when a
        #: batch cannot tell (see Batch.flush).
        self.queued: bool | None = None
        # The gator that queued it, for wait(); never serialized.
        self._gator: Gator | None = None

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
        module, name = callable_path(func, "a task's function", allow_main=not self.is_async)
        if self.is_async:
            problem = unrunnable_reason(module, name)
            if problem is not None:
                raise NotImportableError(f"{printable(f'{module}:{name}')} can never run: {problem}")
        encoded_args, encoded_kwargs = _encode_call(args, kwargs, name)
        check_arguments_fit(func, args, kwargs, name)
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
        paths = (self.on_start, self.on_success, self.on_error)
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
        if not self.callable:
            raise ValueError("call to_call(func, ...) before serializing a task")
        checked = self._plain_call
        args: Sequence[Any]
        if checked is not None and checked[0] is self.func_args and checked[1] is self.func_kwargs:
            args, kwargs = self.func_args, self.func_kwargs
        else:
            args, kwargs = _encode_call(self.func_args, self.func_kwargs, self.callable)
        tagged = args is not self.func_args or kwargs is not self.func_kwargs
        data: dict[str, Any] = {
            "v": _payload.TAGGED_VERSION if tagged else PAYLOAD_VERSION,
            "task_id": self.task_id,
            "module": self.module,
            "callable": self.callable,
            "args": args,
            "kwargs": kwargs,
            "retries": self.retries,
            "is_async": self.is_async,
        }
        # Defaults stay out of the payload: smaller messages, faster queues.
        if self.on_start:
            data["on_start"] = self.on_start
        if self.on_success:
            data["on_success"] = self.on_success
        if self.on_error:
            data["on_error"] = self.on_error
        if self.depends_on:
            data["depends_on"] = self.depends_on
        retry_policy = (self.retry_delay, self.retry_backoff, self.retry_max_delay)
        if retry_policy != (DEFAULT_RETRY_DELAY, DEFAULT_RETRY_BACKOFF, DEFAULT_RETRY_MAX_DELAY):
            data["retry_policy"] = list(retry_policy)
        if not self.retry_jitter:
            data["retry_jitter"] = False
        # Checked again: an attribute may have been changed since __init__.
        if self.time_limit is not None:
            data["time_limit"] = check_time_limit(self.time_limit)
        if self.result_ttl is not None:
            data["result_ttl"] = check_result_ttl(self.result_ttl)
        if self.store_result is not True:
            if self.store_result is not False:
                raise TypeError(f"store_result must be True or False, not {_show(self.store_result)}")
            data["store_result"] = False
        try:
            return _payload.dumps(data)
        except (TypeError, ValueError):
            if self._plain_call is None:
                raise
            # A value put into func_args in place after to_call: check it all again.
            self._plain_call = None
            return self.serialize()

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
            return cls._from_fields(fields)
        except (TypeError, ValueError, KeyError, NotSerializableError) as err:
            raise InvalidPayloadError(f"payload is not a valid task: {err}") from err

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> Task:
        required = ("task_id", "module", "callable", "retries")
        missing = [key for key in required if key not in fields]
        if missing:
            raise ValueError(f"missing key(s) {', '.join(missing)}")
        version = fields.get("v", PAYLOAD_VERSION)
        if isinstance(version, bool) or version not in (PAYLOAD_VERSION, _payload.TAGGED_VERSION):
            raise ValueError(f"payload format version {_show(version)} is not supported")
        expected_types: dict[str, type | tuple[type, ...]] = {
            "task_id": str,
            "module": str,
            "callable": str,
            "args": list,
            "kwargs": dict,
            "retries": int,
            "is_async": bool,
            "on_start": str,
            "on_success": str,
            "on_error": str,
            "depends_on": list,
            "retry_policy": list,
            "retry_jitter": bool,
            "async": bool,
            "options": dict,
            "time_limit": (int, float),
            "result_ttl": (int, float),
            "store_result": bool,
        }
        for key, value in fields.items():
            kind = expected_types.get(key)
            if kind is not None and not isinstance(value, kind):
                raise TypeError(f"{key!r} is a {type(value).__name__}")
        hooks = {name: fields.get(name) for name in ("on_start", "on_success", "on_error")}
        delay_until = None
        if "options" in fields:
            # Alligator 0.5.0 put hooks (and later delay_until) under "options".
            delay_until = _legacy_options(fields["options"], hooks)
        policy = fields.get(
            "retry_policy", [DEFAULT_RETRY_DELAY, DEFAULT_RETRY_BACKOFF, DEFAULT_RETRY_MAX_DELAY]
        )
        if len(policy) != 3 or not all(isinstance(x, (int, float)) for x in policy):
            raise ValueError("'retry_policy' must be three numbers")
        task = cls(
            task_id=fields["task_id"],
            retries=fields["retries"],
            is_async=fields.get("is_async", fields.get("async", True)),
            on_start=hooks["on_start"],
            on_success=hooks["on_success"],
            on_error=hooks["on_error"],
            depends_on=fields.get("depends_on"),
            delay_until=delay_until,
            retry_delay=policy[0],
            retry_backoff=policy[1],
            retry_max_delay=policy[2],
            retry_jitter=fields.get("retry_jitter", True),
            time_limit=fields.get("time_limit"),
            result_ttl=fields.get("result_ttl"),
            store_result=fields.get("store_result", True),
        )
        task.module = fields["module"]
        task.callable = fields["callable"]
        task.func_args = fields.get("args", [])
        task.func_kwargs = fields.get("kwargs", {})
        if version == _payload.TAGGED_VERSION:
            task.func_args, task.func_kwargs = _decode_call(task.func_args, task.func_kwargs)
        return task


def _legacy_options(options: dict[str, Any], hooks: dict[str, Any]) -> Any:
    """Reads the ``"options"`` of a 0.5.0 payload into ``hooks``; returns its ``delay_until``.

    0.5.0 wrote each hook as ``{"module": ..., "callable": ...}``.
    """
    for name in hooks:
        spec = options.get(name)
        if spec is None:
            continue
        if isinstance(spec, dict):
            module, function = spec.get("module"), spec.get("callable")
            if not isinstance(module, str) or not isinstance(function, str):
                raise ValueError(f"options.{name} must name a 'module' and a 'callable'")
            spec = f"{module}:{function}"
        if not isinstance(spec, str):
            raise TypeError(f"options.{name} is a {type(spec).__name__}")
        if hooks[name] is not None and hooks[name] != spec:
            raise ValueError(f"{name} is named twice, differently")
        hooks[name] = spec
    return options.get("delay_until")


def check_arg(value: Any, where: str) -> None:
    """Refuses a value that cannot cross the queue (see :mod:`alligator.values`).

    Raises:
        NotSerializableError: ``value`` cannot be carried; the message
            names it by ``where``, and the type.
    """
    values.encode(value, where)


def _encode_call(
    args: Sequence[Any], kwargs: dict[str, Any], name: str
) -> tuple[Sequence[Any], dict[str, Any]]:
    """A call's arguments as JSON data; the very same objects when no value needed a tag.

    Raises:
        NotSerializableError: An argument cannot be carried; the message
            names it by position or keyword, and the type.
    """
    copied: list[Any] | None = None
    for index, arg in enumerate(args):
        new = values.encode(arg, f"positional argument {index} of {name}()")
        if new is not arg:
            if copied is None:
                copied = list(args)
            copied[index] = new
    encoded_args = args if copied is None else copied
    encoded_kwargs = kwargs
    for key, arg in kwargs.items():
        new = values.encode(arg, f"keyword argument {key!r} of {name}()")
        if new is not arg:
            if encoded_kwargs is kwargs:
                encoded_kwargs = dict(kwargs)
            encoded_kwargs[key] = new
    return encoded_args, encoded_kwargs


def _decode_call(args: list[Any], kwargs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """Reads the arguments of a version 2 payload, which must hold a tagged value."""
    decoded_args = values.decode(args)
    # The keyword arguments' object is the call's, not a value: its keys are names, never a tag.
    decoded_kwargs = {key: values.decode(arg) for key, arg in kwargs.items()}
    if values.identical(decoded_args, args) and values.identical(decoded_kwargs, kwargs):
        # One spelling per call: version 2 is written only when a tag is needed.
        raise ValueError(
            f"payload format version {_payload.TAGGED_VERSION} is written only for arguments "
            "with tagged values, and this payload has none"
        )
    return decoded_args, decoded_kwargs
