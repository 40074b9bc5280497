"""What the ``alligator`` command's tests share: running it, stores, workers, waiting.

Imported by name (pytest puts this folder on the path for its tests).
The fixtures built on it are in ``conftest.py``:

* ``alligator``: runs ``python -m alligator.command ARGS`` in a subprocess
  and returns what it printed and its exit status.
* ``store``: a real store, a SQLite file in the test's directory or the
  shared Redis at 127.0.0.1:6379 (db 0), with a queue name of its own that
  is dropped afterwards.
* ``worker``: a real ``latergator`` process consuming that queue, allowed to
  run ``sample_tasks``, stopped with SIGTERM at the end.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alligator import Gator

TESTS = Path(__file__).resolve().parent.parent
#: The shared server's db these tests use; each test has queues of its own in it.
SHARED_REDIS = "redis://127.0.0.1:6379/0"


def command_env(**extra: str) -> dict[str, str]:
    """The environment the command and the worker run in: sample_tasks importable, no secret, no DSN."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), env.get("PYTHONPATH", "")) if p)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    for name in ("ALLIGATOR_SECRET", "ALLIGATOR_DSN", "ALLIGATOR_ALLOW"):
        env.pop(name, None)
    env.update(extra)
    return env


@dataclass
class Ran:
    """What one run of the command did."""

    returncode: int
    stdout: str
    stderr: str

    def lines(self) -> list[str]:
        return self.stdout.splitlines()

    def fields(self) -> dict[str, str]:
        """The ``key  value`` lines ``show`` prints, as a dict (the reason's lines left out)."""
        found = {}
        for line in self.lines():
            if line[:1].strip() and "  " in line:
                key, value = line.split("  ", 1)
                found[key] = value.strip()
        return found

    def row(self, first: str) -> list[str]:
        """The table row whose first cell is ``first``, split on whitespace."""
        for line in self.lines():
            cells = line.split()
            if cells and cells[0] == first:
                return cells
        raise AssertionError(f"no row {first!r} in:\n{self.stdout}")


Alligator = Callable[..., Ran]


@dataclass
class Store:
    """A real store and a queue name of this test's own."""

    kind: str
    dsn: str
    queue: str

    def gator(self, queue: str | None = None) -> Gator:
        return Gator(self.dsn, queue_name=queue or self.queue, allow=["sample_tasks"], secret=[])


def one_cpu(n: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` giving a worker process one CPU of the machine's (the n-th, in turn), or None.

    ``latergator`` with no ``--processes`` then runs as one plain worker
    process, no supervisor (its default on one usable CPU).
    """
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    mine = {cpus[n % len(cpus)]}
    return lambda: os.sched_setaffinity(0, mine)


def wait_for(predicate: Callable[[], object], seconds: float = 60.0, what: str = "condition") -> None:
    """Waits (generously: the box is busy) until ``predicate()`` is true."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class Worker:
    """A running ``latergator`` process."""

    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")
