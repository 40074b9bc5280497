"""The pipe between a supervisor and each of its children: one JSON object a line, child to supervisor.

A child writes three kinds of report::

    {"event": "up", "pid": 4242}
    {"event": "started", "queue": "q", "task": "ID", "receipt": "R", "attempt": 1,
     "limit": 30.0, "function": "myapp.tasks:send"}
    {"event": "finished", "task": "ID", "receipt": "R"}

Only tasks with a time limit are reported (the supervisor has nothing to
watch in the others). The task's code runs in the child and could write to
the pipe too, so the supervisor trusts nothing it reads: a line it cannot
read (not JSON, a field of the wrong type, a limit of ``1e400``, a line
longer than :data:`MAX_LINE_BYTES`) is logged and ignored, and a child holds
at most :data:`MAX_WATCHED` watched tasks. The child keeps the pipe out of a
task's way: its fd is closed on exec (a process the task starts does not
inherit it) and its number leaves the environment at start.

The supervisor's half imports only the standard library (it runs in a bare
interpreter); the child's half (:func:`child_channel`, :func:`report_events`)
runs in an ordinary worker.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import alligator.workers
    from alligator.events import TaskEvent

log = logging.getLogger("alligator.supervisor")

#: The environment variable that tells a child which pipe to report on (``FD:SUPERVISOR_PID``).
CHILD_ENV = "ALLIGATOR_SUPERVISOR"
#: The environment variable that tells a child its slot (0 runs the schedules: see alligator.cli).
SLOT_ENV = "ALLIGATOR_WORKER_SLOT"
#: The environment variable that tells a child the CPU to pin itself to (see alligator.cpus.plan_pinning).
CPU_ENV = "ALLIGATOR_WORKER_CPU"
#: Longest report line read; a longer one is dropped unread.
MAX_LINE_BYTES = 8192
#: Longest text field kept (a task id, a function name).
MAX_TEXT_CHARS = 1000
#: Most tasks of one child watched at once; reports of more are ignored.
MAX_WATCHED = 4096
#: Longest time limit taken from a report (``alligator.limits.MAX_TIME_LIMIT``).
MAX_LIMIT_SECONDS = 7 * 24 * 3600.0
#: Largest attempt number taken from a report.
MAX_ATTEMPT = 2**31

UP = "up"
STARTED = "started"
FINISHED = "finished"


class BadReport(ValueError):
    """A report line the supervisor cannot use."""


def _reject_constant(name: str) -> float:
    raise BadReport(f"{name} is not a number a report may carry")


def parse(line: bytes) -> dict[str, Any]:
    """Decodes one report line.

    Raises:
        BadReport: It is not a JSON object with a string ``event``.
    """
    try:
        message = json.loads(line, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as err:
        raise BadReport(f"not JSON: {err}") from None
    if not isinstance(message, dict) or not isinstance(message.get("event"), str):
        raise BadReport("not an object with an event")
    return message


def _text(message: dict[str, Any], key: str) -> str:
    value = message.get(key, "")
    if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS:
        raise BadReport(f"{key} is not a string of at most {MAX_TEXT_CHARS} characters")
    return value


def key_of(message: dict[str, Any]) -> tuple[str, str]:
    """The ``(task id, receipt)`` a started or finished report is about.

    Raises:
        BadReport: Either is missing or not a short string.
    """
    return _text(message, "task"), _text(message, "receipt")


class Running:
    """A task a child said it started, checked field by field.

    Raises:
        BadReport: A field is missing, of the wrong type or out of range.
    """

    __slots__ = ("attempt", "function", "limit", "queue", "receipt", "started", "task_id")

    def __init__(self, message: dict[str, Any], now: float) -> None:
        self.task_id, self.receipt = key_of(message)
        if not self.task_id:
            raise BadReport("no task id")
        self.queue = _text(message, "queue")
        self.function = _text(message, "function")
        attempt = message.get("attempt", 1)
        if isinstance(attempt, bool) or not isinstance(attempt, int) or not 1 <= attempt <= MAX_ATTEMPT:
            raise BadReport(f"attempt is not a whole number from 1 to {MAX_ATTEMPT}")
        self.attempt = attempt
        limit = message.get("limit")
        if (
            isinstance(limit, bool)
            or not isinstance(limit, (int, float))
            or not math.isfinite(limit)
            or not 0 < limit <= MAX_LIMIT_SECONDS
        ):
            raise BadReport(f"limit is not a number of seconds from 0 to {MAX_LIMIT_SECONDS:g}")
        self.limit = float(limit)
        self.started = now


class LineReader:
    """Splits what a child wrote into lines, dropping any longer than :data:`MAX_LINE_BYTES`."""

    __slots__ = ("buffer", "skipping")

    def __init__(self) -> None:
        self.buffer = b""
        #: Inside an over-long line: everything up to its end is dropped.
        self.skipping = False

    def feed(self, data: bytes) -> tuple[list[bytes], int]:
        """Takes what was read; returns the complete lines and how many over-long ones were dropped."""
        dropped = 0
        lines: list[bytes] = []
        self.buffer += data
        while True:
            end = self.buffer.find(b"\n")
            if end < 0:
                break
            line, self.buffer = self.buffer[:end], self.buffer[end + 1 :]
            if self.skipping:
                self.skipping = False
            elif len(line) > MAX_LINE_BYTES:
                dropped += 1
            else:
                lines.append(line)
        if len(self.buffer) > MAX_LINE_BYTES:
            # No end in sight: drop what came, and the rest of the line as it comes.
            if not self.skipping:
                dropped += 1
            self.skipping = True
            self.buffer = b""
        return lines, dropped


# -- in the child ----------------------------------------------------------

_parent: int | None = None


def child_channel() -> int | None:
    """Returns the pipe a supervisor gave this process to report on, or None.

    The variable is taken out of the environment, so processes a task
    starts do not inherit it, and the fd is made close-on-exec, so they do
    not inherit the pipe either; it is honoured only from the parent that
    set it (see :func:`supervisor_pid`).
    """
    global _parent
    spec = os.environ.pop(CHILD_ENV, "")
    fd_text, _, parent = spec.partition(":")
    if not fd_text.isdigit() or not parent.isdigit() or int(parent) != os.getppid():
        return None
    fd = int(fd_text)
    try:
        os.set_inheritable(fd, False)
    except OSError:
        return None
    _parent = int(parent)
    return fd


def child_slot() -> int | None:
    """Returns the slot the supervisor started this process in (taken out of the environment), or None."""
    text = os.environ.pop(SLOT_ENV, "")
    return int(text) if text.isdigit() else None


def child_cpu() -> int | None:
    """Returns the CPU the supervisor pins this process to (taken out of the environment), or None."""
    text = os.environ.pop(CPU_ENV, "")
    return int(text) if text.isdigit() else None


def supervisor_pid() -> int | None:
    """The supervisor's pid, once :func:`child_channel` found one."""
    return _parent


def report_events(worker: alligator.workers.Worker, fd: int) -> None:
    """Reports the worker's start, and each task with a time limit as it starts and finishes, on ``fd``.

    One JSON line each. Tasks without a time limit are not reported: the
    supervisor has nothing to watch in them, and tiny tasks run by the
    thousand a second would only make it busy. If the pipe stops being the
    one it was (a task closed the fd, and maybe opened a file under the same
    number), nothing more is written to it: the supervisor sees the pipe's
    end and replaces this process. The worker also watches the supervisor
    (``worker.parent_pid``), and stops when it is gone.
    """
    from alligator.events import STARTED as STARTED_EVENT

    lock = threading.Lock()
    watched: set[tuple[str, str]] = set()
    try:
        first = os.fstat(fd)
        identity: tuple[int, int] | None = (first.st_dev, first.st_ino)
    except OSError:
        identity = None

    def send(message: dict[str, Any]) -> None:
        # Under the lock: lines of two threads must not interleave.
        nonlocal identity
        if identity is None:
            return
        try:
            now = os.fstat(fd)
            if (now.st_dev, now.st_ino) != identity:
                raise OSError(f"fd {fd} is no longer the supervisor's pipe")
            data = json.dumps(message, separators=(",", ":")).encode() + b"\n"
            while data:
                data = data[os.write(fd, data) :]
        except OSError as err:
            # Gone (the supervisor died: the worker notices and stops) or
            # closed by a task (the supervisor notices and replaces it).
            identity = None
            log.error("cannot report to the supervisor any more (%s); tasks are no longer watched", err)

    def on_event(event: TaskEvent) -> None:
        # Tasks without a limit, nearly all of them, take no lock: a task's
        # finish is watched only if its start was, which the same thread saw.
        if event.kind == STARTED_EVENT:
            if event.time_limit is None:
                return
        elif not watched:
            return
        key = (event.task_id, event.receipt)
        with lock:
            if event.kind == STARTED_EVENT:
                if event.time_limit is None:
                    return
                watched.add(key)
                send(
                    {
                        "event": STARTED,
                        "queue": event.queue,
                        "task": event.task_id,
                        "receipt": event.receipt,
                        "attempt": event.attempt,
                        "limit": event.time_limit,
                        "function": event.function,
                    }
                )
            elif key in watched:
                watched.discard(key)
                send({"event": FINISHED, "task": event.task_id, "receipt": event.receipt})

    worker.parent_pid = _parent
    worker.add_listener(on_event)
    with lock:
        send({"event": UP, "pid": os.getpid()})
