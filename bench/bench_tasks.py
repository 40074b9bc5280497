"""The task functions the benchmark's Alligator workers run."""

from __future__ import annotations

import os
import time

import redis

_stamps: redis.Redis | None = None


def noop() -> None:
    """Does nothing: the benchmark measures the queue, not the work."""


def stamp(key: str) -> None:
    """Records when a worker started this task, for the idle-start latency."""
    global _stamps
    now = time.time()
    if _stamps is None:
        _stamps = redis.Redis.from_url(os.environ["BENCH_STAMPS_URL"])
    _stamps.set(key, repr(now))
