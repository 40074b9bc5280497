"""The same workload for Huey on SQLite (SqliteHuey); the consumer imports ``huey_sqlite_app.huey``."""

from __future__ import annotations

import os

import bench_tasks
from huey import SqliteHuey

huey = SqliteHuey("bench", filename=os.environ["BENCH_SQLITEHUEY_PATH"])


@huey.task()
def noop() -> None:
    bench_tasks.noop()


@huey.task()
def roundtrip() -> None:
    bench_tasks.roundtrip()


@huey.task()
def stamp(key: str) -> None:
    bench_tasks.stamp(key)
