"""Unique tasks with real processes, on SQLite and Redis (the Redis Cluster form is in the cluster tests).

* 1,000 enqueues of 200 distinct keys, from 8 threads in 2 processes started
  together, queue exactly 200 tasks: one per key; every refused enqueue names
  the task that holds its key.
* A worker SIGKILLed mid-task leaves its task's key held: an enqueue of the
  same key is refused until the task, delivered again to another worker,
  has finished; then the key is free.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import reliability_tasks
from reliability_helpers import HERE, Store, Workers, wait_for, worker_env
from reliability_tasks import Ledger

from alligator.constants import SUCCESS

PRODUCER = HERE / "unique_producer.py"
WAIT = 120.0


def run_producers(
    dsn: str,
    queue: str,
    ledger: Ledger,
    tmp_path: Path,
    processes: int = 2,
    threads: int = 4,
    keys: int = 200,
) -> list[dict[str, object]]:
    """Runs the producer processes together; returns every enqueue's line."""
    per_thread = 1000 // (processes * threads)
    go = tmp_path / "go"
    outs = [tmp_path / f"enqueued-{p}.jsonl" for p in range(processes)]
    command = [sys.executable, str(PRODUCER), dsn, queue]
    sizes = [str(threads), str(per_thread), str(keys), str(go)]
    procs = [
        subprocess.Popen([*command, str(p), *sizes, str(outs[p])], env=worker_env(ledger))
        for p in range(processes)
    ]
    ready = [out.with_name(out.name + ".ready") for out in outs]
    wait_for(
        lambda: all(r.exists() for r in ready) or any(p.poll() is not None for p in procs),
        WAIT,
        "the producers to connect",
    )
    go.touch()
    for proc in procs:
        assert proc.wait(WAIT) == 0, "a producer process failed"
    return [json.loads(line) for out in outs for line in out.read_text().splitlines()]


def check_one_per_key(lines: list[dict[str, object]], keys: int) -> None:
    assert len(lines) == 1000
    queued = {str(line["id"]): str(line["key"]) for line in lines if line["queued"]}
    assert len(queued) == keys, f"{len(queued)} tasks queued for {keys} keys"
    assert sorted(set(queued.values())) == sorted(f"key-{n}" for n in range(keys))
    for line in lines:
        if not line["queued"]:
            assert queued.get(str(line["held_by"])) == line["key"], f"refused without its holder: {line}"


def test_1000_enqueues_of_200_keys_from_8_threads_in_2_processes_queue_200(
    store: Store, ledger: Ledger, tmp_path: Path
) -> None:
    lines = run_producers(store.dsn, store.queue, ledger, tmp_path)
    check_one_per_key(lines, 200)
    assert store.gator().len() == 200


def test_a_sigkilled_worker_s_task_holds_its_key_until_its_redelivery_ends(
    store: Store, ledger: Ledger, workers: Callable[..., Workers]
) -> None:
    gator = store.gator()
    with gator.options(unique_for=600, unique_key="report") as opts:
        first = opts.task(reliability_tasks.slow_first_time, "report", 60_000)
    assert first.queued
    pool = workers(store, "--lease-seconds", "2")
    [victim] = pool.start(1)
    wait_for(lambda: "report" in ledger.refresh().keys(), WAIT, "the task to start")
    pool.sigkill(victim)
    again = gator.options(unique_for=600, unique_key="report").task(reliability_tasks.record, "again")
    assert (again.queued, again.held_by) == (False, first.task_id), "the killed worker's task still holds"
    pool.start(1)
    wait_for(lambda: gator.status(first.task_id) == SUCCESS, WAIT, "the task to run again and finish")
    assert len(ledger.refresh().by_key()["report"]) == 2, "it ran twice: killed, then delivered again"
    later = gator.options(unique_for=600, unique_key="report").task(reliability_tasks.record, "later")
    assert later.queued is True, "the key is free once the redelivered task ended"
    assert pool.stop() == [0]
