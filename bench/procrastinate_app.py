"""The same workload for Procrastinate, on the same PostgreSQL server (a database of its own).

``procrastinate --app procrastinate_app.app worker`` runs it. The tasks are
plain functions (Procrastinate runs them in a thread), calling the bench's
own task bodies.
"""

from __future__ import annotations

import os

import bench_tasks
from procrastinate import App, PsycopgConnector

app = App(connector=PsycopgConnector(conninfo=os.environ["BENCH_PROCRASTINATE_DSN"]))


@app.task(name="noop", queue="bench")
def noop() -> None:
    bench_tasks.noop()


@app.task(name="roundtrip", queue="bench")
def roundtrip() -> None:
    bench_tasks.roundtrip()


@app.task(name="stamp", queue="bench")
def stamp(key: str) -> None:
    bench_tasks.stamp(key)
