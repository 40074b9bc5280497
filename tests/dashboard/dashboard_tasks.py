"""Task functions of the browser tests; a real latergator imports them from this folder."""

from __future__ import annotations

import os
import time
from typing import Any


def slow(seconds: float, n: int) -> int:
    """Takes a while, so the overview can be watched while a worker drains the queue."""
    time.sleep(seconds)
    return n


def fails_until(path: str) -> str:
    """Fails until ``path`` exists; then appends a line to it and returns "ran"."""
    if not os.path.exists(path):
        raise RuntimeError(f"{path} does not exist yet")
    with open(path, "a") as handle:
        handle.write(f"ran in {os.getpid()}\n")
    return "ran"


def always_fails(message: str) -> None:
    raise RuntimeError(message)


def echo(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return {"args": list(args), "kwargs": kwargs}
