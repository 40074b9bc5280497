"""Task functions the tests queue; importable by workers in other processes."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

#: Calls made in this process, for assertions.
CALLS: list[tuple[str, Any]] = []
#: How often `flaky` has been called, per key.
ATTEMPTS: dict[str, int] = {}


def record(value: Any) -> Any:
    CALLS.append(("record", value))
    return value


def add(a: int, b: int) -> int:
    return a + b


def noop() -> None:
    return None


def echo(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return {"args": list(args), "kwargs": kwargs}


def always_fails(message: str = "boom") -> None:
    raise RuntimeError(message)


def flaky(key: str, failures: int) -> str:
    """Fails `failures` times for this key, then succeeds."""
    ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
    if ATTEMPTS[key] <= failures:
        raise ConnectionError(f"attempt {ATTEMPTS[key]} failed")
    return "ok"


def fails_until(path: str) -> str:
    """Fails until the file at `path` exists, in whichever worker process runs it; then succeeds."""
    if not os.path.exists(path):
        raise ConnectionError(f"{path} does not exist yet")
    return "ok"


def sleep_then_record(seconds: float, value: Any) -> Any:
    time.sleep(seconds)
    CALLS.append(("slept", value))
    return value


def touch(path: str, seconds: float = 0.0) -> None:
    """Appends a line to `path` (after sleeping), so other processes can see the run."""
    time.sleep(seconds)
    with open(path, "a") as handle:
        handle.write(f"{os.getpid()}\n")


def start_hook(task: Any) -> None:
    CALLS.append(("on_start", task.task_id))


def success_hook(task: Any, result: Any) -> None:
    CALLS.append(("on_success", result))


def error_hook(task: Any, exc: BaseException) -> None:
    CALLS.append(("on_error", str(exc)))


def killed_hook(task: Any, exc: BaseException) -> None:
    CALLS.append(("on_killed", f"{type(exc).__name__}: {exc}"))


class Namespace:
    @staticmethod
    def static(value: int) -> int:
        return value * 2


def exits() -> None:
    raise SystemExit(3)


_barrier: Any = None
_barrier_lock = threading.Lock()


def meet(parties: int) -> str:
    """Returns only when `parties` tasks are running at once (or raises after 10 s)."""
    global _barrier
    # Under the lock: two threads that both found no barrier made one each,
    # and each then waited on its own for ever (seen once the worker's
    # threads switched every millisecond).
    with _barrier_lock:
        if _barrier is None or _barrier.parties != parties or _barrier.broken:
            _barrier = threading.Barrier(parties)
        barrier = _barrier
    barrier.wait(timeout=10)
    return "met"


class CustomStop(BaseException):
    """A BaseException that is neither Exception nor one of Python's own."""


def raises_base(kind: str) -> None:
    """Raises the BaseException named by `kind`, as task code sometimes does."""
    import asyncio

    CALLS.append(("raises_base", kind))
    errors: dict[str, BaseException] = {
        "KeyboardInterrupt": KeyboardInterrupt(),
        "SystemExit": SystemExit(4),
        "GeneratorExit": GeneratorExit(),
        "CancelledError": asyncio.CancelledError(),
        "CustomStop": CustomStop("custom"),
    }
    raise errors[kind]


def exits_on_success(task: Any, result: Any) -> None:
    CALLS.append(("exits_on_success", result))
    raise SystemExit(0)


def closes_stderr() -> str:
    import sys

    sys.stderr.close()
    return "closed"


def fails_with(message: str) -> None:
    raise ValueError(message)


def append_label(path: str, label: str) -> None:
    """Appends ``label`` to ``path`` on a line of its own: the order a worker ran tasks in."""
    with open(path, "a") as handle:
        handle.write(f"{label}\n")


def append_label_first_run_sleeps(path: str, label: str, marker: str, seconds: float) -> None:
    """Appends ``label`` to ``path``; the first run (no ``marker`` file yet) then sleeps ``seconds``."""
    append_label(path, label)
    if not os.path.exists(marker):
        Path(marker).touch()
        time.sleep(seconds)
