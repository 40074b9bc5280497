"""Task functions of the reliability tests, and the ledger they write.

Every run is recorded in a LEDGER OUTSIDE THE QUEUE: a plain file named by
the ``RELIABILITY_LEDGER`` environment variable, to which each run appends
one line when it starts and one when it finishes::

    B <task key> <pid> <time.time()>       the run started
    E <task key> <pid> <time.time()>       the run finished (its function returned)
    K <task key> <pid> <time.time()>       the run SIGKILLs its own worker, at once (a killer task)
    A <task key> <pid> <attempts>          (on_start hook) the delivery number of this run

Each line is written with a single ``os.write`` on a file opened with
``O_APPEND``: POSIX makes such a write atomic with respect to the other
writers' for lines this short, so lines of concurrent workers never
interleave, and a worker SIGKILLed mid-task leaves a ``B`` without an ``E``.
The assertions read this file, never the queue, so they do not trust what
they are checking.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

LEDGER_ENV = "RELIABILITY_LEDGER"


def _write(kind: str, key: str, value: str) -> None:
    line = f"{kind} {key} {os.getpid()} {value}\n".encode()
    fd = os.open(os.environ[LEDGER_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def _begin(key: str) -> None:
    _write("B", key, f"{time.time():.6f}")


def _end(key: str) -> None:
    _write("E", key, f"{time.time():.6f}")


def work(key: str, milliseconds: int) -> str:
    """A well-behaved task: sleeps a while and records its run."""
    _begin(key)
    time.sleep(milliseconds / 1000.0)
    _end(key)
    return key


def slow_first_time(key: str, milliseconds: int) -> str:
    """Sleeps a while on its first run only: a task caught mid-run by a stop,
    whose re-run need not make the test wait that long again."""
    try:
        with open(os.environ[LEDGER_ENV]) as ledger:
            earlier = sum(1 for line in ledger if line.startswith(f"B {key} "))
    except FileNotFoundError:  # nothing has run yet
        earlier = 0
    _begin(key)
    if not earlier:
        time.sleep(milliseconds / 1000.0)
    _end(key)
    return key


def record(key: str) -> str:
    """The smallest well-behaved task."""
    _begin(key)
    _end(key)
    return key


def canary(key: str) -> str:
    """Must never run in the hostile-payload test: every payload naming it is broken."""
    _begin(key)
    _end(key)
    return key


def raiser(key: str) -> None:
    """A poison task that always raises."""
    _begin(key)
    raise ValueError(f"poison task {key} always raises")


def killer(key: str) -> None:
    """A poison task that SIGKILLs the worker running it.

    The ``K`` line is the run's end: the process dies as the signal is sent,
    so checks that span a run need not stand a later moment of their own
    (when the test noticed the death) for it.
    """
    _begin(key)
    _write("K", key, f"{time.time():.6f}")
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(10)  # pragma: no cover - the signal is on its way


def killed_once(key: str, milliseconds: int) -> str:
    """SIGKILLs the worker running it on its first run, mid-task; runs as :func:`work` after."""
    try:
        with open(os.environ[LEDGER_ENV]) as ledger:
            earlier = sum(1 for line in ledger if line.startswith(f"B {key} "))
    except FileNotFoundError:  # nothing has run yet
        earlier = 0
    if not earlier:
        killer(key)
    return work(key, milliseconds)


def canary_with(key: str, *values: Any, **options: Any) -> str:
    """Like :func:`canary`, for payloads whose only fault is in an argument it would accept."""
    _begin(key)
    _end(key)
    return key


def checked(key: str, value: str, sha256: str) -> str:
    """A well-behaved task that finishes only if ``value`` crossed the queue unchanged.

    ``sha256`` is the hex digest of ``value``'s UTF-8 bytes, computed by the
    test when it wrote the payload: NUL and every other code point must
    arrive exactly as written.
    """
    _begin(key)
    if hashlib.sha256(value.encode("utf-8")).hexdigest() != sha256:
        raise ValueError(f"the argument of {key} changed on its way: {value!r}")
    _end(key)
    return key


def mark(key: str) -> None:
    """Records, as a run that never ends, that code which must not run did (see ``hostile_pkg``)."""
    _begin(key)


class HostileBaseException(BaseException):
    """A BaseException of a task's own, not an Exception."""


def raise_base(key: str, kind: str) -> None:
    """A poison task that raises a BaseException that is not an Exception."""
    _begin(key)
    if kind == "KeyboardInterrupt":
        raise KeyboardInterrupt(f"task {key}")
    if kind == "SystemExit":
        raise SystemExit(3)
    if kind == "GeneratorExit":
        raise GeneratorExit(f"task {key}")
    if kind == "CancelledError":
        import asyncio  # only here: the other workers need not pay for importing it

        raise asyncio.CancelledError(f"task {key}")
    if kind == "HostileBaseException":
        raise HostileBaseException(f"task {key}")
    raise ValueError(f"unknown kind {kind!r}")


def note_attempts(task: Any) -> None:
    """on_start hook: records which delivery of the task this run is."""
    _write("A", str(task.func_args[0]), str(task.attempts))


# -- reading the ledger (in the test process) ---------------------------


@dataclass
class Run:
    """One run of a task by one process, as the ledger tells it."""

    key: str
    pid: int
    start: float
    end: float | None = None
    attempts: int | None = None
    #: When the run SIGKILLed its own worker (``K``); its end stays None: it never returned.
    killed: float | None = None


@dataclass
class Ledger:
    """The ledger file, read incrementally (tests poll it while workers write)."""

    path: str
    runs: list[Run] = field(default_factory=list)
    _offset: int = 0
    _open: dict[tuple[str, int], Run] = field(default_factory=dict)
    _attempts: dict[tuple[str, int], int] = field(default_factory=dict)
    finished: set[str] = field(default_factory=set)

    def refresh(self) -> Ledger:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return self
        cut = data.rfind(b"\n") + 1  # a line being written is read next time
        self._offset += cut
        for line in data[:cut].decode().splitlines():
            kind, key, pid_text, value = line.split()
            pid = int(pid_text)
            if kind == "A":
                self._attempts[(key, pid)] = int(value)
            elif kind == "B":
                run = Run(key, pid, float(value), attempts=self._attempts.pop((key, pid), None))
                self.runs.append(run)
                self._open[(key, pid)] = run
            elif kind == "K":
                self._open[(key, pid)].killed = float(value)
            elif kind == "E":
                self._open.pop((key, pid)).end = float(value)
                self.finished.add(key)
        return self

    def by_key(self) -> dict[str, list[Run]]:
        """Each task's runs, in the order they started."""
        out: dict[str, list[Run]] = {}
        for run in sorted(self.runs, key=lambda r: r.start):
            out.setdefault(run.key, []).append(run)
        return out

    def keys(self) -> set[str]:
        return {run.key for run in self.runs}

    def missing(self, keys: Iterable[str]) -> set[str]:
        """The keys that have not finished a run yet."""
        return set(keys) - self.finished
