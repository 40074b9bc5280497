"""Task functions of the worker tests (fair dispatch, priority, time limits, async)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from alligator import Task

#: (what, value, time.monotonic()) of calls made in this process, in order.
EVENTS: list[tuple[str, Any, float]] = []
_lock = threading.Lock()


def note(what: str, value: Any) -> None:
    with _lock:
        EVENTS.append((what, value, time.monotonic()))


def names(what: str) -> list[Any]:
    """The values noted under ``what``, in order."""
    with _lock:
        return [value for kind, value, _ in EVENTS if kind == what]


def sleep(seconds: float, value: Any) -> Any:
    note("start", value)
    time.sleep(seconds)
    note("done", value)
    return value


def spin(value: Any) -> None:
    """Loops in Python code for ever (until a time limit stops it); notes its finally block."""
    note("start", value)
    try:
        while True:
            pass
    finally:
        note("finally", value)


def spin_for(seconds: float, value: Any) -> Any:
    """Loops in Python code for ``seconds``, then returns ``value``."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    note("done", value)
    return value


async def async_double(value: int) -> int:
    await asyncio.sleep(0.01)
    note("async", id(asyncio.get_running_loop()))
    return value * 2


async def async_sleep_forever(value: Any) -> None:
    note("start", value)
    try:
        await asyncio.sleep(3600)
    finally:
        note("finally", value)


async def async_spin(value: Any) -> None:
    """An async task that never yields to its loop."""
    note("start", value)
    try:
        while True:
            pass
    finally:
        note("finally", value)


async def async_fails() -> None:
    await asyncio.sleep(0)
    raise ValueError("async boom")


def success_hook(task: Any, result: Any) -> None:
    note("on_success", result)


def error_hook(task: Any, exc: BaseException) -> None:
    note("on_error", type(exc).__name__)


class LimitedTask(Task):
    """Tasks that ask for a time limit of 0.4 s of their own.

    Stands in for ``gator.options(time_limit=0.4)`` where this branch's Task
    does not carry the option yet: the worker reads ``task.time_limit``.
    """

    @classmethod
    def deserialize(cls, data: str | bytes) -> Task:
        task = super().deserialize(data)
        task.__dict__["time_limit"] = 0.4
        return task


def fresh_gator(**kwargs: Any) -> Any:
    """A gator on a private in-memory store, allowed to run these tasks and the sample ones."""
    import uuid

    from alligator import Gator

    return Gator(f"locmem://{uuid.uuid4().hex}", allow=["worker_tasks", "sample_tasks"], **kwargs)
