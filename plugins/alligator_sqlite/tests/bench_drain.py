"""Times one worker draining 10,000 no-op tasks from a fresh SQLite file; prints the median of 3.

Run from the repository root (not collected by pytest)::

    python plugins/alligator_sqlite/tests/bench_drain.py [--tasks 10000] [--runs 3] [--synchronous full]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from alligator import Gator, Worker


def drain_once(tasks: int, synchronous: str) -> float:
    """Queues ``tasks`` calls of ``abs`` in one batch; returns the seconds one worker takes to run them."""
    with tempfile.TemporaryDirectory() as tmp:
        gator = Gator(f"sqlite:///{tmp}/bench.db?synchronous={synchronous}")
        with gator.batch() as batch:
            for n in range(tasks):
                batch.task(abs, -n)
        started = time.perf_counter()
        done = Worker(gator, max_tasks=tasks).run_forever()
        elapsed = time.perf_counter() - started
        assert done == tasks and gator.len() == 0
        gator.backend.close()
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--synchronous", default="full", choices=["full", "normal"])
    args = parser.parse_args()
    # The worker only runs tasks of allowed modules; abs lives in builtins.
    os.environ.setdefault("ALLIGATOR_ALLOW", "builtins")
    rates = [args.tasks / drain_once(args.tasks, args.synchronous) for _ in range(args.runs)]
    print(
        f"{args.tasks} tasks, synchronous={args.synchronous}: "
        f"median {statistics.median(rates):,.0f} tasks/s (runs: {', '.join(f'{r:,.0f}' for r in rates)})"
    )


if __name__ == "__main__":
    main()
