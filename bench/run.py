"""Throughput, latency and memory of Alligator's workers, beside Huey, Dramatiq, taskiq and Procrastinate.

Run it with ``nox -s bench`` (or ``python bench/run.py`` in an environment with
the core, the plugins, huey, dramatiq[redis], taskiq, taskiq-redis, procrastinate and psutil), with
Redis on 127.0.0.1:6379 (``--redis`` to change) and PostgreSQL on 127.0.0.1:5432 (``--postgres``).
Each system gets its own Redis db, flushed before every run; Alligator's
PostgreSQL backend and Procrastinate each get a database of their own on the
same server (``alligator_bench``, ``alligator_bench_procrastinate``), emptied
before every run and dropped at the end:

* enqueue: one producer puts ``--tasks`` no-op tasks on the queue, one call at
  a time (and, for Alligator, in one ``gator.batch()``);
* drain: one worker process (started on the filled queue) takes them all off;
  the clock runs from its first task to its last, median of ``--repeat``
  runs, at concurrency 1 and with each worker's defaults (Huey and SqliteHuey:
  one thread; Dramatiq: 2 processes x 8 threads; taskiq: 2 processes x 100
  async tasks), and ``latergator DSN --allow bench_tasks`` with no other flag;
* workloads: each drain runs twice, with a no-op task and with a task making
  one Redis round trip of its own; Alligator's also with results off, and
  under ``--processes 2`` (timed until the store holds no task), with the
  supervisor's own RSS;
* idle start: the median delay from enqueueing a task to a worker that sat
  idle starting it;
* peak RSS of the worker process (with its children, for Dramatiq's forks).

The bare redis-py loop (LPUSH then RPOP of the same payload) is the ceiling,
and the round-trip task's own body called in a loop is the ceiling for that
workload. The report ends with issue 20's targets, each ratio computed from
medians of this run and marked MET or MISSED. The code: harness.py (starting
and timing workers), systems.py (each system), report.py (tables, targets).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import postgres_bench
import scaling
import systems
from harness import ALL_DBS, DB_ALLIGATOR, Harness, Result, precompile
from report import report

#: What ``--only`` accepts, in the order they run.
SYSTEMS = (
    "bare",
    "alone",
    "redis",
    "sqlite",
    "postgres",
    "procrastinate",
    "huey",
    "sqlitehuey",
    "dramatiq",
    "taskiq",
)
#: Run only when named in ``--only``: the taskset sweep of ``--processes`` (scaling.py).
EXTRA = ("scaling",)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000, help="tasks per run (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure, median taken (default: 3)")
    parser.add_argument("--probes", type=int, default=9, help="idle-start probes (default: 9)")
    parser.add_argument("--probe-timeout", type=float, default=3.0, help="give up a probe after (s)")
    parser.add_argument("--drain-timeout", type=float, default=120.0, help="give up a drain after (s)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379", help="Redis server (no db)")
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432",
        help="PostgreSQL server (no database): the bench uses databases of its own there",
    )
    parser.add_argument(
        "--only",
        nargs="*",
        default=list(SYSTEMS),
        choices=SYSTEMS + EXTRA,
        help="systems to run (default: all but scaling)",
    )
    args = parser.parse_args(argv)
    h = Harness(args)
    precompile()
    n = args.tasks
    results: list[Result] = []
    started = time.monotonic()

    for system in SYSTEMS:
        if system not in args.only:
            continue
        if system == "bare":
            results.append(systems.bench_bare(h, n))
        elif system == "alone":
            results.append(systems.bench_alone(h, n))
        elif system == "redis":
            dsn = h.url(DB_ALLIGATOR)
            results.append(
                systems.bench_alligator(h, n, "Alligator Redis", dsn, lambda: h.flush(DB_ALLIGATOR))
            )
        elif system == "sqlite":
            path = h.tmp / "bench.db"
            reset = systems.sqlite_reset(path)
            results.append(systems.bench_alligator(h, n, "Alligator SQLite", f"sqlite:///{path}", reset))
        elif system == "postgres":
            dsn = postgres_bench.database(args.postgres, postgres_bench.ALLIGATOR_DB)
            reset = postgres_bench.alligator_reset(dsn)
            results.append(systems.bench_alligator(h, n, "Alligator PostgreSQL", dsn, reset))
        elif system == "procrastinate":
            dsn = postgres_bench.database(args.postgres, postgres_bench.PROCRASTINATE_DB)
            ours = postgres_bench.database(args.postgres, postgres_bench.ALLIGATOR_DB)
            results.append(postgres_bench.bench_procrastinate(h, n, dsn, ours))
        elif system in ("huey", "sqlitehuey"):
            results.append(systems.bench_huey(h, n, sqlite=system == "sqlitehuey"))
        elif system == "dramatiq":
            results.append(systems.bench_dramatiq(h, n))
        elif system == "taskiq":
            results.append(systems.bench_taskiq(h, n))
    for db in ALL_DBS:
        h.flush(db)
    if {"postgres", "procrastinate"} & set(args.only):
        postgres_bench.drop_databases(args.postgres)
    if results:
        report(results, n)
    if "scaling" in args.only:
        scaling.bench_scaling(h, n)
    print(f"\n(took {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
