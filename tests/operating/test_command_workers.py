"""``alligator workers`` and ``result``: a real latergator's heartbeat and the results it stores."""

from __future__ import annotations

import json
import signal
from typing import Any

import sample_tasks
from operating_helpers import Alligator, Store, Worker, wait_for


def _mine(alligator: Alligator, store: Store, worker: Worker) -> list[dict[str, Any]]:
    """Our worker's records as ``workers --json`` lists them, one per worker process (by default one
    per usable CPU, under a supervisor), found by the test's own queue (the shared Redis may list others')."""
    ran = alligator("workers", store.dsn, "--json")
    assert ran.returncode == 0, ran.stderr
    return [w for w in json.loads(ran.stdout)["workers"] if w["queues"] == [store.queue]]


def test_workers_shows_a_live_worker_and_the_task_it_runs(
    store: Store, worker: Worker, alligator: Alligator
) -> None:
    store.gator().options(task_id="slow").task(sample_tasks.sleep_then_record, 8, "x")
    seen: list[dict[str, Any]] = []

    def running_slow() -> bool:
        for record in _mine(alligator, store, worker):
            if any(t["task_id"] == "slow" for t in record["current"]):
                seen.append(record)
                return True
        return False

    wait_for(running_slow, seconds=60, what=f"the heartbeat listing 'slow'; worker log:\n{worker.output()}")
    record = seen[-1]
    assert set(record) == {
        "worker_id",
        "host",
        "pid",
        "queues",
        "concurrency",
        "started_at",
        "heartbeat_at",
        "tasks_handled",
        "current",
        "supervisor",
        "stale",
    }
    assert record["stale"] is False  # a live worker, heartbeating
    assert record["queues"] == [store.queue]
    (task,) = record["current"]
    assert (task["function"], task["queue"]) == ("sample_tasks:sleep_then_record", store.queue)

    table = alligator("workers", store.dsn)
    assert table.returncode == 0, table.stderr
    row = table.row(record["worker_id"])
    assert row[2] == str(record["pid"])
    assert row[3] == store.queue
    running = [line for line in table.lines() if line.split()[1:2] == ["slow"]]
    assert running and "sample_tasks:sleep_then_record" in running[0]

    info = json.loads(alligator("info", store.dsn, "--json").stdout)
    assert any(w["pid"] == record["pid"] for w in info["workers"])

    # A worker that stops cleanly removes its record.
    worker.process.send_signal(signal.SIGTERM)
    worker.process.wait(60)
    assert _mine(alligator, store, worker) == []


def test_result_prints_the_stored_value(store: Store, worker: Worker, alligator: Alligator) -> None:
    gator = store.gator()
    gator.options(task_id="r1").task(sample_tasks.echo, "hi", n=2)
    ran = alligator("result", store.dsn, "r1", "--queue", store.queue, "--wait", "60")
    assert ran.returncode == 0, ran.stderr + worker.output()
    assert json.loads(ran.stdout) == {"args": ["hi"], "kwargs": {"n": 2}}

    data = json.loads(alligator("result", store.dsn, "r1", "-q", store.queue, "--json").stdout)
    assert data == {
        "queue": store.queue,
        "task_id": "r1",
        "status": "success",
        "state": "success",
        "stored": True,
        "result": {"args": ["hi"], "kwargs": {"n": 2}},
        "reason": None,
    }


def test_result_of_a_failed_pending_or_unknown_task_exits_1(
    store: Store, worker: Worker, alligator: Alligator
) -> None:
    gator = store.gator()
    gator.options(task_id="bad", retries=0).task(sample_tasks.fails_with, "boom")
    failed = alligator("result", store.dsn, "bad", "-q", store.queue, "--wait", "60")
    assert failed.returncode == 1
    assert failed.stdout == ""
    assert "task 'bad' failed:" in failed.stderr
    assert failed.stderr.rstrip().endswith("ValueError: boom")

    gator.options(task_id="later", delay_by=600).task(sample_tasks.add, 1, 2)
    pending = alligator("result", store.dsn, "later", "-q", store.queue, "--wait", "0.5")
    assert pending.returncode == 1
    assert "task 'later' has not finished: it is delayed after waiting 0.5s" in pending.stderr
    as_json = json.loads(alligator("result", store.dsn, "later", "-q", store.queue, "--json").stdout)
    assert (as_json["status"], as_json["state"]) == ("pending", "delayed")

    unknown = alligator("result", store.dsn, "nope", "-q", store.queue)
    assert unknown.returncode == 1
    assert "no task 'nope' in queue" in unknown.stderr


def test_show_a_finished_task_shows_its_result(store: Store, worker: Worker, alligator: Alligator) -> None:
    store.gator().options(task_id="r2").task(sample_tasks.add, 2, 3)
    assert alligator("result", store.dsn, "r2", "-q", store.queue, "--wait", "60").stdout == "5\n"
    shown = alligator("show", store.dsn, "r2", "-q", store.queue)
    assert shown.returncode == 0, shown.stderr
    fields = shown.fields()
    assert (fields["status"], fields["result"]) == ("success", "5")
    data = json.loads(alligator("show", store.dsn, "r2", "-q", store.queue, "--json").stdout)
    assert (data["status"], data["result"]) == ("success", 5)
