"""The task functions the benchmark's Alligator workers run."""

from __future__ import annotations

import os
import time

import redis

_stamps: redis.Redis | None = None


def _client() -> redis.Redis:
    global _stamps
    if _stamps is None:
        _stamps = redis.Redis.from_url(os.environ["BENCH_STAMPS_URL"])
    return _stamps


def noop() -> None:
    """Does nothing: the benchmark measures the queue, not the work."""


def roundtrip() -> int:
    """One Redis round trip of its own, as a real task touching a store makes."""
    return int(_client().incr("bench:roundtrip"))


def stamp(key: str) -> None:
    """Records when a worker started this task, for the idle-start latency."""
    now = time.time()
    _client().set(key, repr(now))
