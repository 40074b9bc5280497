"""Running ``async def`` tasks: each thread awaits them on an event loop of its own.

A task whose function is a coroutine function is queued like any other; the
thread that runs it awaits the coroutine on that thread's loop, made on its
first async task and kept for the next ones (one loop per thread, not one
per task, so connections a task keeps in loop-bound pools survive between
tasks). With ``is_async=False`` the caller's thread does the same.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any

from alligator import timelimits

_local = threading.local()


def thread_loop() -> asyncio.AbstractEventLoop:
    """The calling thread's event loop for tasks, made on first use."""
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        _local.loop = loop
    return loop


def close_thread_loop() -> None:
    """Closes the calling thread's loop, if it has one (a worker thread ending)."""
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    _local.loop = None
    if loop is not None and not loop.is_closed():
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Awaits ``coro`` to completion and returns its result (or raises its exception).

    Runs on the calling thread's own loop. Called from inside a running
    loop (an ``is_async=False`` task queued from async code), it runs on a
    helper thread's loop and blocks until done, as a synchronous call would.
    Under a time limit (see :mod:`alligator.timelimits`) the coroutine is
    cancelled when the limit passes.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run_here(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="alligator-async") as pool:
        return pool.submit(_run_here, coro).result()


def _run_here(coro: Coroutine[Any, Any, Any]) -> Any:
    loop = thread_loop()
    task = loop.create_task(coro)
    limited = timelimits.watchdog().current()
    if limited is not None:

        def cancel() -> None:
            loop.call_soon_threadsafe(task.cancel)

        limited.cancel = cancel
    try:
        return loop.run_until_complete(task)
    finally:
        if limited is not None:
            limited.cancel = None
        if not task.done():
            # Interrupted inside the loop's own code (an exception raised
            # into the thread): the loop's state is unknown, so drop it and
            # let the next task make a fresh one.
            task.cancel()
            _local.loop = None
            try:
                loop.close()
            except RuntimeError:
                pass
