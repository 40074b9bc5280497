"""Soft time limits: a watchdog raises :class:`~alligator.exceptions.TimeLimitExceeded` in a late task.

A task running past its limit gets the exception raised in its own thread
(``PyThreadState_SetAsyncExc``, as Dramatiq's worker does), at the next
line of Python it executes, so its ``finally`` blocks and context managers
run and the task fails like any other failure. An ``async def`` task is
cancelled on its event loop first (the exception lands at its ``await``),
and gets the exception raised into its thread only if it does not yield in
time (a loop of plain Python code inside the coroutine).

What no thread can do: stop code blocked in C (``time.sleep``, a socket
read without a timeout, a long regex), which sees the exception only once
it returns to Python, nor a task that catches the exception and carries on.
Only killing the process stops those: run the worker under ``--processes``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from alligator.exceptions import TimeLimitExceeded

log = logging.getLogger("alligator.worker")

#: Seconds an async task has to finish after it was cancelled at its limit,
#: before the exception is raised into its thread instead.
ASYNC_GRACE_SECONDS = 1.0


def limit_reason(limit: float) -> str:
    """The dead letter's reason (first line) for a task stopped at ``limit`` seconds."""
    return f"time limit of {limit:g} s exceeded"


def _raise_in_thread(ident: int, exc: type[BaseException] | None) -> bool:
    """Sets (or with None clears) the exception pending in thread ``ident``."""
    import ctypes  # loaded already when the watchdog started (see Watchdog.limit)

    found = ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(ident), ctypes.py_object(exc) if exc is not None else ctypes.c_void_p(0)
    )
    return bool(found)


@dataclass
class LimitedRun:
    """One run under a time limit, as the watchdog sees it.

    Attributes:
        ident: The thread running it.
        limit: Its limit, in seconds.
        deadline: When it is due to end (``time.monotonic()``).
        cancel: Set while an async task runs: cancels it on its loop
            (thread-safe), tried before raising into the thread.
        cancelled_at: When the watchdog cancelled it, if it did.
        raised: Whether the watchdog raised the exception into its thread.
    """

    ident: int
    limit: float
    deadline: float
    cancel: Callable[[], None] | None = None
    cancelled_at: float | None = None
    raised: bool = False

    @property
    def expired(self) -> bool:
        """Whether the watchdog acted on it (its limit passed)."""
        return self.cancelled_at is not None or self.raised


class Watchdog:
    """Watches the deadlines of the limited runs of one process, from one thread.

    The thread starts with the first limited run and sleeps until the
    nearest deadline; unlimited tasks cost nothing.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._runs: dict[int, LimitedRun] = {}
        self._thread: threading.Thread | None = None

    @contextmanager
    def limit(self, seconds: float) -> Iterator[LimitedRun]:
        """Runs the ``with`` body under a limit of ``seconds``; past it, raises inside it.

        Raises:
            TimeLimitExceeded: The body ran past the limit (raised from
                inside it, or at the latest as the block ends).
        """
        ident = threading.get_ident()
        run = LimitedRun(ident, seconds, time.monotonic() + seconds)
        with self._cond:
            self._runs[ident] = run
            if self._thread is None:
                # ctypes comes with the watchdog, not with this module: a
                # worker whose tasks run without a limit need not load it
                # (~0.4 MiB of its RSS), and the watchdog never imports
                # while it raises into a late task.
                import ctypes  # noqa: F401

                self._thread = threading.Thread(target=self._watch, name="alligator-time-limits", daemon=True)
                self._thread.start()
            self._cond.notify()
        try:
            yield run
        except BaseException as exc:
            self._end(run)
            if run.expired and not isinstance(exc, TimeLimitExceeded):
                # The cancellation of an async task, or whatever the task
                # turned the exception into: it was the limit.
                raise TimeLimitExceeded(limit_reason(seconds)) from exc
            raise
        self._end(run)
        if run.expired:
            # It returned (or swallowed the exception) after its limit: it
            # still failed, so retries and dead letters see the limit.
            raise TimeLimitExceeded(limit_reason(seconds))

    def _end(self, run: LimitedRun) -> None:
        with self._cond:
            if self._runs.get(run.ident) is run:
                del self._runs[run.ident]
            if run.raised:
                # Set too late to land in the task (it had returned): clear
                # it, or it would hit the worker's own code.
                _raise_in_thread(run.ident, None)

    def current(self) -> LimitedRun | None:
        """The limited run of the calling thread, if any."""
        with self._cond:
            return self._runs.get(threading.get_ident())

    def _watch(self) -> None:
        while True:
            with self._cond:
                now = time.monotonic()
                wake = now + 60.0
                for run in list(self._runs.values()):
                    wake = min(wake, self._check(run, now))
                self._cond.wait(max(wake - time.monotonic(), 0.001))

    def _check(self, run: LimitedRun, now: float) -> float:
        """Acts on one run (under the lock); returns when to look at it again."""
        if run.raised:
            return now + 60.0
        if now < run.deadline:
            return run.deadline
        if run.cancel is not None and run.cancelled_at is None:
            run.cancelled_at = now
            log.warning("async task over its time limit of %gs: cancelling it", run.limit)
            try:
                run.cancel()
            except Exception:  # the loop closed meanwhile: the exception will do
                log.debug("could not cancel an async task", exc_info=True)
            return now + ASYNC_GRACE_SECONDS
        if run.cancelled_at is not None and now < run.cancelled_at + ASYNC_GRACE_SECONDS:
            return run.cancelled_at + ASYNC_GRACE_SECONDS
        run.raised = True
        log.warning("task over its time limit of %gs: raising TimeLimitExceeded in its thread", run.limit)
        _raise_in_thread(run.ident, TimeLimitExceeded)
        return now + 60.0


_watchdog = Watchdog()


def watchdog() -> Watchdog:
    """The process's one :class:`Watchdog`."""
    return _watchdog
