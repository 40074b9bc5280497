"""Checks that a task's call, or a return value, crosses the queue unchanged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alligator import payload, values
from alligator.security import DEFAULT_MAX_PAYLOAD_BYTES
from alligator.tasks import Task


def assert_round_trips(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Task:
    """Asserts that ``func(*args, **kwargs)``, queued, reaches a worker exactly as it was called.

    Builds the task as ``gator.task`` would (the same checks: an importable
    function, arguments that fit its signature and that can be carried),
    writes its payload, reads it back as a worker does, and compares the
    arguments with :func:`alligator.values.identical` (same types all the way
    down: a tuple stays a tuple, ``Decimal("1.10")`` keeps its zero, a
    datetime its time zone).

    Example:
        >>> import datetime
        >>> from alligator.testing import assert_round_trips
        >>> task = assert_round_trips(divmod, 17, 5)
        >>> task.func_args
        [17, 5]

    Args:
        func: The task's function.
        *args: Positional arguments for it.
        **kwargs: Keyword arguments for it.

    Returns:
        The task as the worker reads it.

    Raises:
        NotSerializableError: An argument cannot be carried at all (the
            message names it and its type), as ``gator.task`` would raise.
        AssertionError: The payload is over the default size limit, or an
            argument would arrive changed.
    """
    task = Task()
    task.to_call(func, *args, **kwargs)
    text = task.serialize()
    size = len(text.encode("utf-8"))
    assert size <= DEFAULT_MAX_PAYLOAD_BYTES, (
        f"the payload is {size} bytes, over the default limit of {DEFAULT_MAX_PAYLOAD_BYTES}"
    )
    back = Task.deserialize(text)
    for index, (sent, arrived) in enumerate(zip(args, back.func_args, strict=False)):
        assert values.identical(arrived, sent), (
            f"positional argument {index} arrives as {arrived!r}, not {sent!r}"
        )
    assert len(back.func_args) == len(args)
    for key, sent in kwargs.items():
        arrived = back.func_kwargs.get(key)
        assert values.identical(arrived, sent), (
            f"keyword argument {key!r} arrives as {arrived!r}, not {sent!r}"
        )
    assert list(back.func_kwargs) == list(kwargs)
    return back


def assert_result_round_trips(value: Any) -> Any:
    """Asserts that ``value``, returned by a task, is what ``gator.result`` hands back.

    Example:
        >>> assert_result_round_trips((1, "a"))
        (1, 'a')

    Returns:
        The value as ``gator.result`` returns it.

    Raises:
        NotSerializableError: The value cannot be stored (the worker would
            dead-letter the task with that reason).
        AssertionError: It would come back changed.
    """
    back = payload.decode_result(payload.encode_result(value))
    assert values.identical(back, value), f"the return value comes back as {back!r}, not {value!r}"
    return back
