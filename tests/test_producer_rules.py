"""What the producer accepts: a task is refused when it is created, never found broken in a worker.

Each test names the finding of issue 8 it proves.
"""

from __future__ import annotations

import functools
import random
import sys
import uuid
from typing import Any

import pytest
import sample_tasks

from alligator import Gator, Task
from alligator.constants import FAILED, SUCCESS
from alligator.exceptions import NotImportableError, TaskArgumentsError
from alligator.limits import MAX_DEPENDENCIES, MAX_RETRIES, MAX_RETRY_DELAY, MAX_TASK_ID_LENGTH
from alligator.retries import backoff_delay
from alligator.security import DEFAULT_MAX_PAYLOAD_BYTES


def _dsn() -> str:
    return f"locmem://{uuid.uuid4().hex}"


# -- finding 13: no password in a Gator's repr --------------------------------


@pytest.mark.parametrize(
    "dsn",
    ["locmem://user:hunter2-secret@host/x", "locmem://host/x?password=hunter2-secret&db=1"],
)
def test_repr_of_a_gator_never_shows_a_password(dsn: str) -> None:
    text = repr(Gator(dsn))
    assert "hunter2-secret" not in text
    assert "***" in text


def test_the_gator_gives_its_payload_limit_to_its_backend() -> None:
    gator = Gator(_dsn(), max_payload_bytes=4096)
    assert gator.backend.max_payload_bytes == 4096
    assert Gator(_dsn()).backend.max_payload_bytes == DEFAULT_MAX_PAYLOAD_BYTES


# -- finding 15: only what a worker can import back by name is accepted --------


class Report:
    """A class whose methods are queued (or refused) below."""

    def __init__(self, title: str = "untitled") -> None:
        self.title = title

    def build(self, pages: int) -> str:
        return f"{self.title}: {pages} pages"

    @classmethod
    def make(cls, pages: int) -> str:
        return f"{cls.__name__}: {pages} pages"

    @staticmethod
    def count(pages: int) -> int:
        return pages


def add(a: int, b: int) -> int:
    return a + b


def _gator(**kwargs: Any) -> Gator:
    return Gator(_dsn(), allow=["test_producer_rules", "sample_tasks"], **kwargs)


def test_a_bound_method_is_refused_when_the_task_is_created() -> None:
    gator = _gator()
    with pytest.raises(NotImportableError, match="method bound to a Report object"):
        gator.task(Report("Q3").build, 7)
    with pytest.raises(ValueError, match="staticmethod or classmethod"):
        Task().to_call(Report().build, 7)
    assert gator.len() == 0


def test_class_and_static_methods_reachable_by_name_are_accepted_and_run() -> None:
    gator = _gator()
    made = gator.task(Report.make, 3)
    counted = gator.task(Report.count, 4)
    assert (made.module, made.callable) == ("test_producer_rules", "Report.make")
    assert gator.pop().result == "Report: 3 pages"  # type: ignore[union-attr]
    assert gator.pop().result == 4  # type: ignore[union-attr]
    assert gator.status(counted.task_id) == SUCCESS
    # A module-level alias of a bound method imports back to an equal method.
    task = Task(is_async=False)
    task.to_call(random.choice, [5])
    assert (task.module, task.callable) == ("random", "choice")


@pytest.mark.parametrize("is_async", [True, False])
def test_lambda_nested_and_partial_hooks_are_refused_when_the_task_is_created(is_async: bool) -> None:
    def nested(task: Task, result: object) -> None:
        return None

    gator = _gator()
    for hook, message in [
        (lambda task, result: None, "the on_success hook is a lambda"),
        (nested, "defined inside a function"),
        (functools.partial(sample_tasks.success_hook), "functools.partial"),
        (Report("x").build, "method bound to a Report object"),
    ]:
        with pytest.raises(NotImportableError, match=message):
            gator.options(on_success=hook, is_async=is_async)
        with pytest.raises(NotImportableError, match=message):
            Task(on_success=hook, is_async=is_async)  # type: ignore[arg-type]
    assert gator.len() == 0


def test_a_partial_task_function_is_refused_with_advice_not_an_attribute_error() -> None:
    gator = _gator()
    with pytest.raises(NotImportableError, match=r"functools\.partial.*pass the fixed arguments"):
        gator.task(functools.partial(add, 1), 2)
    with pytest.raises(NotImportableError, match="no module-level name"):
        gator.task(Adder(), 1, 2)
    assert gator.len() == 0


class Adder:
    def __call__(self, a: int, b: int) -> int:
        return a + b


def test_functions_of_main_are_refused_for_queued_tasks_only(monkeypatch: pytest.MonkeyPatch) -> None:
    def in_main(value: int) -> int:
        return value + 1

    in_main.__module__ = "__main__"
    in_main.__qualname__ = "in_main"
    monkeypatch.setattr(sys.modules["__main__"], "in_main", in_main, raising=False)
    gator = _gator()
    with pytest.raises(NotImportableError, match="defined in __main__"):
        gator.task(in_main, 1)
    with pytest.raises(NotImportableError, match="defined in __main__"):
        gator.options(on_error=in_main)
    assert gator.len() == 0
    with gator.options(is_async=False, on_success=in_main) as opts:
        task = opts.task(in_main, 1)
    assert task.status == SUCCESS and task.result == 2


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((1,), {}, "missing a required argument: 'b'"),
        ((1, 2, 3), {}, "too many positional arguments"),
        ((1, 2), {"c": 3}, "unexpected keyword argument 'c'"),
        ((1,), {"a": 2}, "multiple values for argument 'a'"),
    ],
)
def test_arguments_that_do_not_fit_the_signature_are_refused_at_enqueue(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    gator = _gator()
    with pytest.raises(TaskArgumentsError, match=message) as info:
        gator.task(add, *args, **kwargs)
    assert isinstance(info.value, TypeError)
    assert "do not fit add(a, b): " in str(info.value)
    with pytest.raises(TypeError, match=message):
        with gator.batch() as batch:
            batch.task(add, *args, **kwargs)
    with pytest.raises(TypeError, match=message):
        gator.push(Task(is_async=False, retries=3), add, *args, **kwargs)
    assert gator.len() == 0
    # Functions without a signature (some builtins) are not checked here.
    task = Task()
    task.to_call(max, 1, 2)
    assert task.callable == "max"


# -- findings 5 and 10: numbers and caps are checked when a task is created ---


@pytest.mark.parametrize(
    "name", ["delay_by", "delay_until", "retry_delay", "retry_backoff", "retry_max_delay"]
)
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), 10**400])
def test_nan_and_infinite_numbers_are_refused_at_the_api(name: str, value: float) -> None:
    gator = _gator()
    with pytest.raises(ValueError, match=f"{name} must be a finite number"):
        gator.options(**{name: value})
    with pytest.raises(ValueError, match=f"{name} must be a finite number"):
        Task(**{name: value})  # type: ignore[arg-type]
    assert gator.len() == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"delay_by": -1}, "delay_by must be >= 0"),
        ({"retry_delay": -0.5}, "retry_delay must be from 0 to 604800"),
        ({"retry_delay": MAX_RETRY_DELAY + 1}, "retry_delay must be from 0 to 604800"),
        ({"retry_max_delay": 10 * MAX_RETRY_DELAY}, "retry_max_delay must be from 0 to 604800"),
        ({"retry_backoff": 0.5}, "retry_backoff must be >= 1"),
        ({"retry_delay": "5"}, "retry_delay must be a number"),
        ({"delay_by": True}, "delay_by must be a number"),
        ({"retries": MAX_RETRIES + 1}, f"retries must be a whole number from 0 to {MAX_RETRIES}"),
        ({"retries": -1}, "retries must be a whole number"),
        ({"task_id": "x" * (MAX_TASK_ID_LENGTH + 1)}, f"over the limit of {MAX_TASK_ID_LENGTH}"),
        ({"task_id": "t1\nINFO alligator.worker: forged"}, "unprintable character"),
        ({"task_id": "t1\x00"}, "unprintable character"),
        ({"task_id": "bad\udc80"}, "unprintable character"),
        ({"task_id": ""}, "non-empty string"),
        ({"depends_on": [f"t{n}" for n in range(MAX_DEPENDENCIES + 1)]}, f"more than {MAX_DEPENDENCIES}"),
        ({"task_id": "me", "depends_on": ["other", "me"]}, "task me depends on itself"),
        ({"depends_on": ["ok", "t\r\n"]}, r"depends_on\[1\] .* unprintable character"),
        ({"depends_on": [7]}, r"depends_on\[0\] must be a non-empty string"),
        ({"depends_on": "parent-id"}, "list of task ids"),
    ],
)
def test_out_of_bounds_options_are_refused_and_nothing_is_queued(
    options: dict[str, Any], message: str
) -> None:
    gator = _gator()
    with pytest.raises((ValueError, TypeError), match=message):
        with gator.options(**options) as opts:
            opts.task(add, 1, 2)
    assert gator.len() == 0


def test_bounds_themselves_are_accepted() -> None:
    task = Task(
        task_id="x" * MAX_TASK_ID_LENGTH,
        retries=MAX_RETRIES,
        depends_on=[f"t{n}" for n in range(MAX_DEPENDENCIES)],
        delay_by=0,
        retry_delay=MAX_RETRY_DELAY,
        retry_backoff=1,
        retry_max_delay=0,
    )
    assert task.retries == MAX_RETRIES and len(task.depends_on) == MAX_DEPENDENCIES
    assert Task(task_id="rapport été 2026", delay_until=0).task_id == "rapport été 2026"


@pytest.mark.parametrize("retry", [1, 2, 30, 1025, 5000, 10**9])
@pytest.mark.parametrize("backoff", [1.0, 2.0, 1e300])
def test_backoff_never_overflows_and_never_exceeds_the_cap(retry: int, backoff: float) -> None:
    for max_delay in (600.0, MAX_RETRY_DELAY):
        wait = backoff_delay(retry, 1.0, backoff, max_delay, jitter=False)
        assert 0.0 <= wait <= max_delay
        assert 0.0 <= backoff_delay(retry, 1.0, backoff, max_delay, jitter=True) <= max_delay
    # Even asked for more, no wait is longer than a week.
    assert backoff_delay(retry, 1.0, backoff, 1e300, jitter=False) <= MAX_RETRY_DELAY
    task = Task(retries=MAX_RETRIES, retry_backoff=backoff, retry_max_delay=MAX_RETRY_DELAY)
    assert 0.0 <= task.next_retry_delay(retry) <= MAX_RETRY_DELAY


# -- finding 16: the caller can tell when an id was already queued -------------


def test_a_task_says_whether_this_call_queued_it() -> None:
    gator = _gator()
    with gator.options(task_id="nightly-report") as opts:
        first = opts.task(add, 1, 2)
        second = opts.task(add, 100, 200)
    assert first.queued is True
    assert second.queued is False, "the id was queued already: these arguments will never run"
    assert gator.len() == 1
    assert gator.pop().result == 3  # type: ignore[union-attr]
    in_process = gator.push(Task(is_async=False), add, 1, 1)
    assert in_process.queued is False and in_process.result == 2


def test_a_batch_says_whether_its_tasks_were_queued() -> None:
    gator = _gator()
    gator.push(Task(task_id="taken"), add, 0, 0)
    with gator.batch() as batch:
        fresh = [batch.task(add, n, n) for n in range(3)]
    assert [t.queued for t in fresh] == [True, True, True]
    with gator.batch(task_id="taken") as batch:
        again = batch.task(add, 1, 1)
    assert again.queued is False
    batch = gator.batch()
    mixed = [gator.task_class(task_id=i) for i in ("taken", "new-one")]
    for task in mixed:
        task.to_call(add, 1, 2)
    batch.tasks.extend(mixed)
    assert batch.flush() == 1
    assert [t.queued for t in mixed] == [None, None], "one call cannot tell which"


# -- finding 17: in-process runs count attempts --------------------------------

SEEN: list[tuple[str, int, int]] = []


def note_error(task: Task, exc: BaseException) -> None:
    SEEN.append(("on_error", task.attempts, task.retries))


def note_success(task: Task, result: object) -> None:
    SEEN.append(("on_success", task.attempts, task.retries))


def test_execute_counts_attempts_so_on_error_can_tell_the_last_failure() -> None:
    SEEN.clear()
    gator = _gator()
    task = Task(is_async=False, retries=2, on_error=note_error)
    task.to_call(sample_tasks.always_fails, "nope")
    with pytest.raises(RuntimeError, match="nope"):
        gator.execute(task)
    assert SEEN == [("on_error", 1, 2), ("on_error", 2, 2), ("on_error", 3, 2)]
    assert task.attempts == 3
    last = [attempts for _, attempts, retries in SEEN if attempts > retries]
    assert last == [3], "exactly one call is the last failure"

    SEEN.clear()
    sample_tasks.ATTEMPTS.clear()
    with gator.options(is_async=False, retries=3, on_error=note_error, on_success=note_success) as opts:
        done = opts.task(sample_tasks.flaky, "k", 1)
    assert done.attempts == 2
    assert SEEN == [("on_error", 1, 3), ("on_success", 2, 3)]


# -- finding 2 (Task.run): every exception has one meaning ---------------------


class Halt(BaseException):
    """A BaseException a task or hook might raise (like asyncio.CancelledError)."""


CALLED: list[str] = []


def exits_on_success(task: Task, result: object) -> None:
    CALLED.append("on_success")
    sys.exit(0)


def closes_generator_on_error(task: Task, exc: BaseException) -> None:
    CALLED.append(f"on_error:{type(exc).__name__}")
    raise GeneratorExit


def halts_on_start(task: Task) -> None:
    raise Halt("stop")


def interrupts(task: Task, result: object) -> None:
    raise KeyboardInterrupt


def raise_halt() -> None:
    CALLED.append("function")
    raise Halt("from the task")


def count_call() -> str:
    CALLED.append("function")
    return "done"


def test_an_on_success_hook_that_exits_leaves_the_success_standing() -> None:
    CALLED.clear()
    gator = _gator()
    with gator.options(is_async=False, retries=3, on_success=exits_on_success) as opts:
        task = opts.task(count_call)
    assert task.status == SUCCESS and task.result == "done" and task.exception is None
    assert CALLED == ["function", "on_success"], "ran once: a hook's exit is not a failure"


@pytest.mark.parametrize("exc_type", [Halt, SystemExit, GeneratorExit, KeyboardInterrupt])
def test_a_task_raising_any_base_exception_fails_calls_on_error_and_re_raises(
    exc_type: type[BaseException],
) -> None:
    CALLED.clear()
    task = Task(on_error=closes_generator_on_error)
    task.to_call(_RAISERS[exc_type])
    with pytest.raises(exc_type):
        task.run()
    assert task.status == FAILED
    assert isinstance(task.exception, exc_type)
    assert CALLED == ["function", f"on_error:{exc_type.__name__}"], "on_error ran; its own raise was logged"


def test_on_start_raising_a_base_exception_fails_the_task_without_running_it() -> None:
    CALLED.clear()
    task = Task(on_start=halts_on_start, on_error=closes_generator_on_error)
    task.to_call(count_call)
    with pytest.raises(Halt):
        task.run()
    assert task.status == FAILED and isinstance(task.exception, Halt)
    assert CALLED == []


def test_keyboard_interrupt_in_an_after_hook_is_not_swallowed() -> None:
    task = Task(on_success=interrupts)
    task.to_call(count_call)
    with pytest.raises(KeyboardInterrupt):
        task.run()
    assert task.status == SUCCESS


def raise_system_exit() -> None:
    CALLED.append("function")
    raise SystemExit(3)


def raise_generator_exit() -> None:
    CALLED.append("function")
    raise GeneratorExit


def raise_keyboard_interrupt() -> None:
    CALLED.append("function")
    raise KeyboardInterrupt


_RAISERS = {
    Halt: raise_halt,
    SystemExit: raise_system_exit,
    GeneratorExit: raise_generator_exit,
    KeyboardInterrupt: raise_keyboard_interrupt,
}
