"""The same workload for Huey (RedisHuey); the consumer imports ``huey_app.huey``."""

from __future__ import annotations

import os

import bench_tasks
from huey import RedisHuey

huey = RedisHuey("bench", url=os.environ["BENCH_HUEY_URL"])


@huey.task()
def noop() -> None:
    bench_tasks.noop()


@huey.task()
def roundtrip() -> None:
    bench_tasks.roundtrip()


@huey.task()
def stamp(key: str) -> None:
    bench_tasks.stamp(key)
