"""Alligator's PostgreSQL backend beside Procrastinate, on the same server, each in a database of its own."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import psycopg
from harness import BIN, ENQUEUE_CHUNK, ENQUEUE_ROUNDS, HERE, QUEUE, WORKLOADS, Harness, Result, rate, timed
from psycopg import sql

#: The bench's databases on the server (created when missing; never any other).
ALLIGATOR_DB = "alligator_bench"
PROCRASTINATE_DB = "alligator_bench_procrastinate"


def database(server: str, name: str) -> str:
    """The DSN of the bench's database ``name`` on ``server``, created if missing."""
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return f"{server}/{name}"


def drop_databases(server: str) -> None:
    """Drops the bench's two databases (and only those), once the run is over."""
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        for name in (ALLIGATOR_DB, PROCRASTINATE_DB):
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def alligator_reset(dsn: str) -> Callable[[], None]:
    """Empties Alligator's bench queue (and the default one, which the no-flags worker reads)."""

    def reset() -> None:
        from alligator import Gator

        for queue in (QUEUE, "all"):
            gator = Gator(dsn, queue_name=queue)
            gator.drop_all()
            gator.backend.close()

    return reset


def bench_procrastinate(h: Harness, n: int, dsn: str, alligator_dsn: str) -> Result:
    """Procrastinate 3 with its worker's defaults (concurrency 1) and --concurrency 1, sync tasks.

    Its enqueue is timed paired with Alligator's on ``alligator_dsn`` (see ``vs_peer``).
    """
    h.env["BENCH_PROCRASTINATE_DSN"] = dsn
    import os

    os.environ["BENCH_PROCRASTINATE_DSN"] = dsn
    import procrastinate_app

    app = procrastinate_app.app
    result = Result("Procrastinate (PsycopgConnector)")
    admin = psycopg.connect(dsn, autocommit=True)
    with app.open():
        if admin.execute("SELECT to_regclass('procrastinate_jobs')").fetchone() == (None,):
            app.schema_manager.apply_schema()

        def reset() -> None:
            admin.execute("TRUNCATE procrastinate_jobs RESTART IDENTITY CASCADE")

        def remaining() -> int:
            row = admin.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
            ).fetchone()
            return int(row[0]) if row else 0

        # The machine's speed drifts by 2x within seconds, and a commit's
        # fsync waits on everyone else's: each round times Procrastinate's
        # defer and Alligator's gator.task (same server, same payload-free
        # no-op) back to back, after one warm-up round of each, and the
        # ratio is the median of the per-round ratios.
        import bench_tasks

        from alligator import Gator

        gator = Gator(alligator_dsn, queue_name=QUEUE)
        chunk = min(n, ENQUEUE_CHUNK)
        singles, ours, ratios = [], [], []
        for round_ in range(ENQUEUE_ROUNDS + 1):
            reset()
            theirs = rate(chunk, timed(lambda: [procrastinate_app.noop.defer() for _ in range(chunk)]))
            gator.drop_all()
            mine = rate(chunk, timed(lambda: [gator.task(bench_tasks.noop) for _ in range(chunk)]))
            if round_:
                singles.append(theirs)
                ours.append(mine)
                ratios.append(mine / theirs)
        gator.drop_all()
        gator.backend.close()
        result.enqueue = statistics.median(singles)
        result.vs_peer = statistics.median(ratios)
        result.notes.append(
            f"paired with Alligator PostgreSQL's gator.task round by round: {statistics.median(ours):,.0f}/s "
            f"against {result.enqueue:,.0f}/s, median ratio {result.vs_peer:.2f}"
        )
        base = [
            str(BIN / "procrastinate"),
            "--app",
            "procrastinate_app.app",
            "--log-level",
            "warning",
            "worker",
        ]
        variants: list[tuple[str, list[str]]] = [("c=1", ["--concurrency", "1"]), ("defaults", [])]
        peaks = []
        for workload in WORKLOADS:
            task: Any = getattr(procrastinate_app, workload)
            for label, extra in variants:
                rates = []
                for _ in range(h.args.repeat):
                    reset()
                    task.batch_defer(*([{}] * n))
                    seconds, peak = h.drain([*base, *extra], remaining, n, False)
                    rates.append(rate(n, seconds))
                    peaks.append(peak)
                result.drains[(workload, label)] = statistics.median(rates)
        result.drain_1 = result.drains[("noop", "c=1")]
        result.drain_defaults = result.drains[("noop", "defaults")]
        reset()
        delay, peak = h.idle_start(base, lambda key: procrastinate_app.stamp.defer(key=key) and None)
        result.idle_start_ms, result.peak_rss_mib = delay, max([*peaks, peak]) / 2**20
        reset()
    admin.close()
    result.notes.append("defaults: `procrastinate worker` (concurrency 1, LISTEN/NOTIFY on)")
    result.notes.append(f"app in {HERE / 'procrastinate_app.py'}")
    return result
