"""Redis's own time per task: the push, reserve and ack scripts, and each command inside them.

Two measures, from Redis's ``INFO commandstats`` (reset before each; a
script's time counts once as ``evalsha`` and again under each command it
calls):

* the scripts alone, with nothing else running: ``--tasks`` no-op tasks
  pushed one call at a time, reserved in batches of 128 and acked with a
  result, per task;
* a drain: the same tasks queued in one batch, then run by a ``Worker`` at
  concurrency 1 in this process (as ``latergator --concurrency 1`` does),
  results on and off; Redis's time per task by command.

Use a Redis nothing else is using (the database is flushed).

    python bench/redis_cost.py --tasks 20000
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_tasks
import redis

from alligator import Gator, Worker
from alligator.store_values import Ack

BATCH = 128


def usec(client: redis.Redis) -> dict[str, float]:
    """Microseconds Redis spent in each command since the last reset."""
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): float(row["usec"]) for name, row in stats.items()}


def scripts_alone(gator: Gator, client: redis.Redis, n: int) -> dict[str, float]:
    """Redis's microseconds per task in the push, reserve and ack scripts, run alone."""
    backend = gator.backend
    client.flushdb()
    out = {}
    client.config_resetstat()
    for _ in range(n):
        gator.task(bench_tasks.noop)
    out["push"] = usec(client)["evalsha"] / n
    client.config_resetstat()
    batches = [backend.reserve("bench", 300, BATCH) for _ in range(-(-n // BATCH))]
    out["reserve"] = usec(client)["evalsha"] / n
    client.config_resetstat()
    for batch in batches:
        backend.ack_results("bench", [Ack(r.task_id, r.receipt, "null", 3600.0) for r in batch])
    out["ack"] = usec(client)["evalsha"] / n
    return out


def drain(gator: Gator, client: redis.Redis, n: int, results: bool) -> dict[str, float]:
    """Redis's microseconds per task, by command, while one worker at concurrency 1 drains ``n`` tasks."""
    client.flushdb()
    with gator.batch(store_result=results) as batch:
        for _ in range(n):
            batch.task(bench_tasks.noop)
    client.config_resetstat()
    Worker(gator, max_tasks=n, concurrency=1, allow=["bench_tasks"]).run_forever()
    return {name: spent / n for name, spent in usec(client).items()}


def main() -> None:
    """Runs the rounds and prints the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tasks", type=int, default=20000, help="tasks per round (default: 20000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, median taken (default: 3)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13", help="a database to flush and use")
    args = parser.parse_args()
    # The store's no-persistence warning, once per gator and once per worker.
    warnings.simplefilter("ignore")
    logging.getLogger("alligator").setLevel(logging.ERROR)
    gator = Gator(args.redis, queue_name="bench")
    client = redis.Redis.from_url(args.redis)
    alone = [scripts_alone(gator, client, args.tasks) for _ in range(args.rounds)]
    print("the scripts alone, µs of Redis per task (medians):")
    for step in ("push", "reserve", "ack"):
        print(f"  {step:8} {statistics.median(a[step] for a in alone):6.1f}")
    for results in (True, False):
        rounds = [drain(gator, client, args.tasks, results) for _ in range(args.rounds)]
        names = sorted({name for r in rounds for name in r}, key=lambda name: -rounds[0].get(name, 0))
        state = "on" if results else "off"
        print(f"a drain at concurrency 1, results {state}, µs of Redis per task (medians):")
        for name in names:
            spent = statistics.median(r.get(name, 0.0) for r in rounds)
            if spent >= 0.05:
                print(f"  {name:18} {spent:6.2f}")
    client.flushdb()


if __name__ == "__main__":
    main()
