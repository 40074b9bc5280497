"""Unique tasks with real processes, on SQLite, Redis and PostgreSQL (Redis Cluster: in the cluster tests).

* 1,000 enqueues of 200 distinct keys, from 8 threads in 2 processes started
  together, queue exactly 200 tasks: one per key; every refused enqueue names
  the task that holds its key.
* While workers drain the queue and producers keep enqueueing, two tasks of
  one key never run at once, and every task queued runs.
* A worker SIGKILLed mid-task leaves its task's key held: an enqueue of the
  same key is refused until the task, delivered again to another worker,
  has finished; then the key is free.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import reliability_tasks
from reliability_helpers import HERE, ON_EVERY_STORE, Store, Workers, report, wait_for, worker_env
from reliability_tasks import Ledger

from alligator.constants import SUCCESS

PRODUCER = HERE / "unique_producer.py"
WAIT = 120.0

pytestmark = ON_EVERY_STORE


def run_producers(
    dsn: str,
    queue: str,
    ledger: Ledger,
    tmp_path: Path,
    keys: int = 200,
    per_thread: int = 125,
    milliseconds: int | None = None,
) -> list[dict[str, object]]:
    """Runs 2 producer processes of 4 threads together; returns every enqueue's line."""
    processes, threads = 2, 4
    go = tmp_path / "go"
    outs = [tmp_path / f"enqueued-{p}.jsonl" for p in range(processes)]
    command = [sys.executable, str(PRODUCER), dsn, queue]
    sizes = [str(threads), str(per_thread), str(keys), str(go)]
    procs = [
        subprocess.Popen(
            [*command, str(p), *sizes, str(outs[p]), *([] if milliseconds is None else [str(milliseconds)])],
            env=worker_env(ledger),
        )
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


def test_tasks_of_one_key_never_run_at_once_while_workers_drain(
    store: Store, ledger: Ledger, tmp_path: Path, workers: Callable[..., Workers]
) -> None:
    pool = workers(store)
    pool.start(2)
    pool.wait_started()
    lines = run_producers(store.dsn, store.queue, ledger, tmp_path, keys=10, per_thread=150, milliseconds=20)
    queued = [line for line in lines if line["queued"]]
    assert len(queued) >= 10
    gator = store.gator()
    wait_for(lambda: len(ledger.refresh().finished) == 10 and gator.len() == 0, WAIT, "the queue to drain")
    wait_for(
        lambda: sum(run.end is not None for run in ledger.refresh().runs) == len(queued), WAIT, "every run"
    )
    for key, runs in ledger.by_key().items():
        for before, after in itertools.pairwise(runs):
            assert before.end is not None and after.start >= before.end, f"two tasks of {key} ran at once"
    assert len(ledger.runs) == len(queued), "each task queued ran once"
    report("unique_tasks_never_overlap", store=store.name, enqueues=len(lines), queued=len(queued))
    assert pool.stop() == [0, 0]
