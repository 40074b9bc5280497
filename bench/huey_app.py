"""The same workload for Huey (RedisHuey); the consumer imports ``huey_app.huey``."""

from __future__ import annotations

import os
from typing import Any

import bench_tasks
from huey import RedisHuey


def tasks_on(huey: Any) -> tuple[Any, Any, Any]:
    """The bench's three tasks (noop, roundtrip, stamp) on ``huey``; SqliteHuey's app uses them too."""

    @huey.task(name="noop")
    def noop() -> None:
        bench_tasks.noop()

    @huey.task(name="roundtrip")
    def roundtrip() -> None:
        bench_tasks.roundtrip()

    @huey.task(name="stamp")
    def stamp(key: str) -> None:
        bench_tasks.stamp(key)

    return noop, roundtrip, stamp


huey = RedisHuey("bench", url=os.environ["BENCH_HUEY_URL"])
noop, roundtrip, stamp = tasks_on(huey)
