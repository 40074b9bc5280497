"""A clock the tests move by hand."""

from __future__ import annotations

import threading
import time


class FakeClock:
    """A time source that stands still until :meth:`advance` moves it.

    Set it as ``backend.clock`` and the backend's delays and leases follow it.

    Example:
        >>> clock = FakeClock(1000.0)
        >>> clock.advance(2.5)
        >>> clock()
        1002.5

    Args:
        start: The starting time, in seconds since the epoch (default: now,
            so a server that also keeps real timestamps is not confused).
    """

    def __init__(self, start: float | None = None) -> None:
        self._now = float(time.time() if start is None else start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        """Returns the current fake time."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Moves the clock forward."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        with self._lock:
            self._now += seconds
