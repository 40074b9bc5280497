"""The checks of a :class:`~alligator.tasks.Task`'s options: ids, time limits, result lifetimes, hooks.

Each refuses a bad value where the task is made, with a message naming the
option, so a mistake shows in the caller's code and not as a dead letter on
a worker. :mod:`alligator.tasks` re-exports the public ones.
"""

from __future__ import annotations

import datetime
import math
import numbers
from collections.abc import Callable
from typing import Any

from alligator.exceptions import NotImportableError
from alligator.limits import (
    MAX_PRIORITY,
    MAX_RESULT_TTL,
    MAX_RETRIES,
    MAX_TASK_ID_LENGTH,
    MAX_TIME_LIMIT,
    MIN_PRIORITY,
)
from alligator.security import unrunnable_reason
from alligator.text import printable
from alligator.utils import callable_path

#: The type of a hook, a function a task calls before it runs or after it succeeded or failed.
Hook = Callable[..., Any]
#: How a hook may be given (the function, its ``"module:function"`` path, or None for none).
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


def check_retries(retries: object) -> int:
    """Returns ``retries`` if it is a whole number from 0 to MAX_RETRIES, else raises ValueError."""
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
        raise ValueError(f"retries must be a whole number from 0 to {MAX_RETRIES}, not {_show(retries)}")
    return retries


def check_priority(priority: object, name: str = "priority") -> int:
    """Returns a task's priority within its queue if it is one, or says what is wrong.

    A priority is a whole number from ``alligator.limits.MIN_PRIORITY``
    (-100) to ``alligator.limits.MAX_PRIORITY`` (100); 0 is the default.
    Among the due tasks of a queue a higher one is reserved first.

    Example:
        >>> check_priority(10)
        10

    Raises:
        TypeError: It is not an int (``True`` and ``2.0`` are not either).
        ValueError: It is out of the range.
    """
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise TypeError(
            f"{name} must be a whole number from {MIN_PRIORITY} to {MAX_PRIORITY}, not {_show(priority)}"
        )
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise ValueError(
            f"{name} must be from {MIN_PRIORITY} to {MAX_PRIORITY} (higher runs first), not {_show(priority)}"
        )
    return int(priority)


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
