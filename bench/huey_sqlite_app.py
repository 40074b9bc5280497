"""The same workload for Huey on SQLite (SqliteHuey); the consumer imports ``huey_sqlite_app.huey``."""

from __future__ import annotations

import os

from huey import SqliteHuey
from huey_app import tasks_on

huey = SqliteHuey("bench", filename=os.environ["BENCH_SQLITEHUEY_PATH"])
noop, roundtrip, stamp = tasks_on(huey)
