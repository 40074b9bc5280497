"""``alligator info``, ``tasks``, ``show``: run as a user runs them, on a real store with a real worker."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import pytest
import sample_tasks
from operating_helpers import Alligator, Store, Worker, wait_for

from alligator.constants import FAILED, SUCCESS


@dataclass
class Scene:
    """A queue a worker consumed (a success, a dead letter, a delayed task), and one nobody consumes."""

    store: Store
    other: str


@pytest.fixture
def scene(store: Store, worker: Worker) -> Scene:
    gator = store.gator()
    gator.options(task_id="ok-1").task(sample_tasks.add, 1, 2)
    gator.options(task_id="bad-1", retries=0).task(sample_tasks.fails_with, "boom")
    gator.options(task_id="later-1", delay_by=600).task(sample_tasks.echo, "hi", x=1)
    other = store.queue + "-other"
    store.gator(other).options(task_id="other-1").task(sample_tasks.add, 2, 3)
    wait_for(
        lambda: gator.status("ok-1") == SUCCESS and gator.status("bad-1") == FAILED,
        what=f"the worker to run ok-1 and bad-1; its log:\n{worker.output()}",
    )
    return Scene(store, other)


def test_info_shows_each_queue_with_its_counts(scene: Scene, alligator: Alligator) -> None:
    store = scene.store
    ran = alligator("info", store.dsn)
    assert ran.returncode == 0, ran.stderr
    assert ran.lines()[0].split()[0] == "store"
    header = ran.row("QUEUE")
    assert header == ["QUEUE", "WAITING", "DELAYED", "RUNNING", "DEAD"]
    assert ran.row(store.queue) == [store.queue, "0", "1", "0", "1"]
    assert ran.row(scene.other) == [scene.other, "1", "0", "0", "0"]

    as_json = alligator("info", store.dsn, "--json")
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert set(data) == {"store", "queues", "paused", "workers", "workers_unavailable"}
    mine = {q["name"]: q for q in data["queues"] if q["name"] in (store.queue, scene.other)}
    assert mine[store.queue] == {
        "name": store.queue,
        "waiting": 0,
        "delayed": 1,
        "running": 0,
        "dead": 1,
        "total": 2,
        "paused": False,
    }
    assert mine[scene.other]["waiting"] == 1


def test_tasks_lists_one_state_as_a_table_and_as_json(scene: Scene, alligator: Alligator) -> None:
    store = scene.store
    dead = alligator("tasks", store.dsn, "--queue", store.queue, "--state", "dead")
    assert dead.returncode == 0, dead.stderr
    assert dead.row("TASK") == ["TASK", "CALL", "ATTEMPTS", "FAILED", "REASON"]
    row = dead.row("bad-1")
    assert row[1] == 'sample_tasks:fails_with("boom")'
    assert row[2] == "1"
    assert row[-2:] == ["ValueError:", "boom"], "the reason's last line says what happened"
    assert f"dead tasks of queue '{store.queue}': 1-1 of 1" in dead.stdout

    delayed = alligator("tasks", store.dsn, "-q", store.queue, "-s", "delayed", "--json")
    assert delayed.returncode == 0, delayed.stderr
    data = json.loads(delayed.stdout)
    assert {k: data[k] for k in ("queue", "state", "offset", "limit")} == {
        "queue": store.queue,
        "state": "delayed",
        "offset": 0,
        "limit": 50,
    }
    (task,) = data["tasks"]
    assert set(task) == {
        "task_id",
        "state",
        "attempts",
        "failures",
        "priority",
        "due",
        "reason",
        "failed_at",
        "function",
        "args",
        "kwargs",
        "options",
        "signed",
        "payload_error",
    }
    assert (task["task_id"], task["function"], task["args"], task["kwargs"]) == (
        "later-1",
        "sample_tasks:echo",
        ["hi"],
        {"x": 1},
    )
    assert task["due"] > time.time() + 500, "due in ten minutes, on the store's clock (this machine's)"

    waiting = alligator("tasks", store.dsn, "--queue", scene.other)
    assert waiting.row("other-1")[1:3] == ["sample_tasks:add(2,", "3)"]
    assert waiting.row("TASK")[-1] == "DUE"


def test_tasks_pages_with_offset_and_limit(store: Store, alligator: Alligator) -> None:
    gator = store.gator()
    for n in range(5):
        gator.options(task_id=f"t{n}").task(sample_tasks.add, n, n)
    page = alligator("tasks", store.dsn, "--queue", store.queue, "--offset", "1", "--limit", "2", "--json")
    assert [t["task_id"] for t in json.loads(page.stdout)["tasks"]] == ["t1", "t2"]
    table = alligator("tasks", store.dsn, "--queue", store.queue, "--offset", "1", "--limit", "2")
    assert f"waiting tasks of queue '{store.queue}': 2-3 of 5" in table.stdout
    past = alligator("tasks", store.dsn, "--queue", store.queue, "--offset", "9")
    assert past.returncode == 0
    assert f"waiting tasks of queue '{store.queue}': none of 5" in past.stdout


def test_show_a_dead_letter_prints_its_call_and_traceback(scene: Scene, alligator: Alligator) -> None:
    store = scene.store
    ran = alligator("show", store.dsn, "bad-1", "--queue", store.queue)
    assert ran.returncode == 0, ran.stderr
    fields = ran.fields()
    assert fields["status"] == "failed"
    assert fields["function"] == "sample_tasks:fails_with"
    assert fields["args"] == '["boom"]'
    assert fields["attempts"] == "1", "a dead letter keeps no count of failed runs"
    reason = ran.stdout.split("reason:\n", 1)[1]
    assert "Traceback (most recent call last):" in reason
    assert reason.rstrip().endswith("ValueError: boom")

    data = json.loads(alligator("show", store.dsn, "bad-1", "--queue", store.queue, "--json").stdout)
    assert (data["status"], data["function"], data["args"], data["attempts"]) == (
        "failed",
        "sample_tasks:fails_with",
        ["boom"],
        1,
    )
    assert data["options"]["retries"] == 0
    assert data["reason"].rstrip().endswith("ValueError: boom")
    assert data["failed_at"] is not None


def test_show_a_delayed_and_a_finished_task(scene: Scene, alligator: Alligator) -> None:
    store = scene.store
    delayed = json.loads(alligator("show", store.dsn, "later-1", "-q", store.queue, "--json").stdout)
    assert (delayed["status"], delayed["args"], delayed["kwargs"], delayed["attempts"]) == (
        "delayed",
        ["hi"],
        {"x": 1},
        0,
    )
    table = alligator("show", store.dsn, "later-1", "-q", store.queue).fields()
    assert table["due"] in ("in 9m", "in 10m")
    assert table["kwargs"] == '{"x": 1}'

    done = alligator("show", store.dsn, "ok-1", "-q", store.queue)
    assert done.returncode == 0, done.stderr
    assert done.fields()["status"] == "success"


def test_show_an_unknown_task_exits_1(store: Store, alligator: Alligator) -> None:
    ran = alligator("show", store.dsn, "nope", "--queue", store.queue)
    assert ran.returncode == 1
    assert ran.stdout == ""
    assert "no task 'nope' in queue" in ran.stderr
    as_json = alligator("show", store.dsn, "nope", "--queue", store.queue, "--json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["status"] == "unknown"
