"""CPU per enqueue on SQLite: ``gator.task(noop)`` against ``SqliteHuey``'s ``noop()``, one call at a time.

Each round queues ``--tasks`` no-op tasks on a new file in a new temporary
directory, first with one then the other (alternating which goes first),
and reads ``time.process_time`` around the loop: the producer's own CPU,
user and system (the sync's system time included), which swings far less
than the wall rate on a shared machine. Prints the medians per call and
the median of the rounds' ratios (above 1: Alligator spends less).

    python bench/sqlite_enqueue_cpu.py --tasks 20000 --rounds 7
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# huey_app builds a RedisHuey at import (without connecting); only tasks_on is used here.
os.environ.setdefault("BENCH_HUEY_URL", "redis://127.0.0.1:6379")

import bench_tasks
from huey import SqliteHuey
from huey_app import tasks_on

from alligator import Gator


def alligator_round(directory: str, n: int) -> tuple[float, float]:
    """Queues ``n`` no-op tasks one at a time on a new file; returns (CPU, wall) seconds."""
    gator = Gator(f"sqlite:///{directory}/alligator.db", queue_name="bench")
    gator.task(bench_tasks.noop)  # the connection opened, the statements prepared
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        gator.task(bench_tasks.noop)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    gator.backend.close()
    return cpu, wall


def huey_round(directory: str, n: int) -> tuple[float, float]:
    """The same for SqliteHuey (its defaults: WAL, SQLite's own synchronous=FULL)."""
    noop, _, _ = tasks_on(SqliteHuey("bench", filename=f"{directory}/huey.db"))
    noop()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        noop()
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    """Runs the rounds and prints the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tasks", type=int, default=20_000, help="tasks per round (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=7, help="rounds of each (default: %(default)s)")
    args = parser.parse_args()
    sides: dict[str, Callable[[str, int], tuple[float, float]]] = {
        "Alligator": alligator_round,
        "SqliteHuey": huey_round,
    }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
    for n in range(args.rounds):
        for name in sides if n % 2 == 0 else reversed(sides):
            directory = tempfile.mkdtemp(prefix="alligator-bench-")
            try:
                times[name].append(sides[name](directory, args.tasks))
            finally:
                shutil.rmtree(directory)
    for name, rounds in times.items():
        cpu = statistics.median(c for c, _ in rounds) / args.tasks * 1e6
        wall = statistics.median(w for _, w in rounds) / args.tasks * 1e6
        print(f"{name}: CPU {cpu:.1f} us a call, wall {wall:.1f} us a call")
    pairs = list(zip(times["Alligator"], times["SqliteHuey"], strict=True))
    print(f"SqliteHuey / Alligator, CPU: {statistics.median(h[0] / a[0] for a, h in pairs):.2f}x")
    print(f"SqliteHuey / Alligator, wall: {statistics.median(h[1] / a[1] for a, h in pairs):.2f}x")


if __name__ == "__main__":
    main()
