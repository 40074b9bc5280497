"""Task functions the tests' workers run (workers import this module by name).

Each appends a line to a file, so a test can count runs across processes.
"""

from __future__ import annotations

import os
import time


def record(path: str, token: str) -> str:
    """Appends ``token`` and this process's pid to ``path``."""
    with open(path, "a") as out:
        out.write(f"{token} {os.getpid()}\n")
    return token


def slow(path: str, token: str, seconds: float) -> str:
    """Records a start, sleeps, records an end: a task that takes a while."""
    record(path, f"start-{token}")
    time.sleep(seconds)
    record(path, f"end-{token}")
    return token


def hang_first_time(path: str, token: str) -> str:
    """Hangs on its first run (the test kills that worker); returns on the next."""
    first = not os.path.exists(path)
    record(path, f"start-{token}")
    if first:
        time.sleep(600)
    record(path, f"end-{token}")
    return token
