"""How ``latergator --processes N`` scales with the CPUs it may use (``--only scaling``).

Each run pins the worker command, and every process it starts, to a set of
CPUs with ``taskset`` (Redis itself is not pinned: it takes what is left),
fills the queue, and times the drain until the store holds no task. The
table is tasks/s by CPUs allowed and processes, for both workloads; with it,
the share of a CPU Redis spent per task, from its own ``INFO cpu`` counters,
which says where one Redis server becomes the limit.
"""

from __future__ import annotations

import os
import shutil
import statistics
from typing import Any

import redis
from harness import BIN, DB_ALLIGATOR, QUEUE, WORKLOADS, Harness, rate
from systems import unfinished


def _redis_cpu(client: redis.Redis) -> float:
    info: Any = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def bench_scaling(h: Harness, n: int) -> None:
    """Prints drain rates for --processes 1..4 under taskset limits of 1 and all CPUs."""
    import bench_tasks

    from alligator import Gator

    if shutil.which("taskset") is None:
        print("\nscaling: taskset is not installed (util-linux); skipped")
        return
    cpus = sorted(os.sched_getaffinity(0))
    sets = [cpus[:1], cpus] if len(cpus) > 1 else [cpus]
    dsn = h.url(DB_ALLIGATOR)
    gator = Gator(dsn, queue_name=QUEUE)
    client = redis.Redis.from_url(dsn)
    print(f"\nscaling: {n:,} tasks per run, tasks/s (median of {h.args.repeat}); Redis CPU us per task")
    for workload in WORKLOADS:
        func = getattr(bench_tasks, workload)
        print(f"\n  {workload}:")
        for allowed in sets:
            mask = ",".join(str(c) for c in allowed)
            cells = []
            for processes in range(1, 5):
                rates, redis_us = [], []
                for _ in range(h.args.repeat):
                    h.flush(DB_ALLIGATOR)
                    with gator.batch() as batch:
                        for _ in range(n):
                            batch.task(func)
                    command = ["taskset", "-c", mask, str(BIN / "latergator"), dsn, "--queue", QUEUE]
                    command += ["--processes", str(processes), "--log-level", "WARNING"]
                    before = _redis_cpu(client)
                    seconds, _ = h.drain(command, lambda: unfinished(gator), n, False)
                    redis_us.append((_redis_cpu(client) - before) / n * 1e6)
                    rates.append(rate(n, seconds))
                cells.append(
                    f"{processes}p {statistics.median(rates):>7,.0f} ({statistics.median(redis_us):.0f})"
                )
            print(f"    CPUs {mask:<5} " + "  ".join(cells))
    h.flush(DB_ALLIGATOR)
    gator.backend.close()
    client.close()
