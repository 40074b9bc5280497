"""The supervisor against its own tasks: what a task does to the report pipe, and what it starts.

Real supervisors with real children, as in ``test_processes.py``; the tasks
(``test_processes_tasks``) find the supervisor's pipe as hostile code would,
through ``/proc/self/fd``.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import reliability_tasks
import test_processes_tasks
from reliability_helpers import Store, Workers, wait_for
from reliability_tasks import Ledger
from test_processes import TASKS, TIME_LIMIT, _alive, _child_pids, _children_started

from alligator import Gator, capabilities
from alligator.constants import FAILED
from alligator.tasks import Task

#: Report lines that made the supervisor exit 1 and kill its pool, in both of its pipe formats.
POISON = [
    '{"e":"started","l":"soon"}',
    '{"e":"started","q":"q","t":"x","r":"r","a":1e400,"l":1}',
    '{"event":"started","queue":"q","task":"x","receipt":"r","attempt":1,"limit":"soon"}',
    '{"event":"started","queue":"q","task":"x","receipt":"r","attempt":1e400,"limit":1}',
    '{"event":"started","queue":"q","task":"x","receipt":"r","attempt":1,"limit":Infinity}',
    '{"event":"finished","task":["x"],"receipt":{}}',
    "[1, 2, 3]",
    "not json at all",
    "x" * 100_000,
]


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    """SQLite only: what is proved here is the supervisor's, whatever the store."""
    return sqlite_store


def _gator(store: Store) -> Gator:
    return Gator(store.dsn, queue_name=store.queue, allow=["reliability_tasks", "test_processes_tasks"])


def test_unreadable_reports_are_logged_and_ignored(
    store: Store, workers: Callable[..., Workers], ledger: Ledger
) -> None:
    pool = workers(store, *TASKS, "--processes", "1")
    [supervisor] = pool.start()
    _children_started(pool, 1)
    gator = _gator(store)
    keys = [f"poison{n}" for n in range(len(POISON))]
    for key, line in zip(keys, POISON, strict=True):
        gator.push(Task(task_id=key), test_processes_tasks.poison_pipe, key, line)
    gator.push(Task(task_id="after"), reliability_tasks.record, "after")
    wait_for(lambda: not ledger.refresh().missing([*keys, "after"]), 120, "every task to run")
    output = pool.output()
    assert supervisor.poll() is None, output
    assert "sent an unreadable report" in output, output
    # The same child ran them all: none was killed or replaced for what a task wrote.
    assert len(_child_pids(pool)) == 1, output
    assert pool.stop() == [0], pool.output()


def test_a_task_that_closes_the_pipe_cannot_switch_off_the_hard_limit_of_the_next(
    store: Store, workers: Callable[..., Workers], ledger: Ledger
) -> None:
    pool = workers(store, *TASKS, "--processes", "1", "--time-limit", TIME_LIMIT, "--lease-seconds", "2")
    [supervisor] = pool.start()
    _children_started(pool, 1)
    gator = _gator(store)
    gator.push(Task(task_id="closer"), test_processes_tasks.close_pipe, "closer")
    # Ignores its limit for 600 s, in C code: only a kill ends it in time.
    gator.push(Task(task_id="stuck"), test_processes_tasks.stubborn, "stuck", 600.0)
    wait_for(lambda: "closer" in ledger.refresh().finished, 60, "the closer to run")
    first = _child_pids(pool)[0]
    wait_for(
        lambda: gator.status("stuck") == FAILED, 120, "the stuck task to be killed and settled as failed"
    )
    [letter] = [
        d
        for d in capabilities.administration(gator.backend).dead_letters(store.queue)
        if d.task_id == "stuck"
    ]
    assert "the process was killed" in letter.reason, letter.reason
    output = pool.output()
    assert "closed its pipe to the supervisor" in output, output
    assert not _alive(first)
    assert supervisor.poll() is None
    assert pool.stop() == [0], pool.output()


def test_a_task_that_closes_the_pipe_every_time_is_dead_lettered_not_cycled_for_ever(
    store: Store, workers: Callable[..., Workers], ledger: Ledger
) -> None:
    pool = workers(store, *TASKS, "--processes", "1", "--lease-seconds", "2", "--max-deliveries", "2")
    [supervisor] = pool.start()
    _children_started(pool, 1)
    gator = _gator(store)
    gator.push(Task(task_id="closer"), test_processes_tasks.close_pipe_and_hang, "closer", 600.0)
    # Each child that ran it was killed and replaced; its deliveries counted as a crash's do.
    wait_for(lambda: gator.status("closer") == FAILED, 120, "the task to be dead-lettered")
    wait_for(lambda: len(_child_pids(pool)) >= 3, 60, "the children to be replaced")
    assert len(ledger.refresh().by_key()["closer"]) == 2
    gator.push(Task(task_id="after"), reliability_tasks.record, "after")
    wait_for(lambda: "after" in ledger.refresh().finished, 120, "the next task to run")
    assert supervisor.poll() is None
    assert pool.stop() == [0], pool.output()


def test_the_pipe_is_out_of_reach_of_what_a_task_starts(
    store: Store, workers: Callable[..., Workers], ledger: Ledger, tmp_path: Path
) -> None:
    pool = workers(store, *TASKS, "--processes", "1")
    pool.start()
    _children_started(pool, 1)
    out = tmp_path / "inherited.json"
    _gator(store).push(
        Task(task_id="probe"), test_processes_tasks.what_a_grandchild_inherits, "probe", str(out)
    )
    wait_for(lambda: "probe" in ledger.refresh().finished, 120, "the probe to run")
    seen = json.loads(out.read_text())
    assert seen == {"grandchild": [[], None], "task": None}, seen
    assert pool.stop() == [0], pool.output()


def test_a_hard_kill_takes_what_the_task_started_along(
    store: Store, workers: Callable[..., Workers], ledger: Ledger, tmp_path: Path
) -> None:
    pool = workers(store, *TASKS, "--processes", "1", "--time-limit", TIME_LIMIT)
    pool.start()
    _children_started(pool, 1)
    gator = _gator(store)
    pidfile = tmp_path / "sleeper.pid"
    gator.push(Task(task_id="spawner"), test_processes_tasks.spawn_and_hang, "spawner", str(pidfile), 600.0)
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip() != "", 60, "the sleeper to start")
    sleeper = int(pidfile.read_text())
    try:
        wait_for(lambda: gator.status("spawner") == FAILED, 60, "the task to be killed")
        # Its child was SIGKILLed with its process group: the sleep went too.
        wait_for(lambda: not _alive(sleeper), 30, "the task's `sleep 1000` to be gone")
    finally:
        if _alive(sleeper):
            os.kill(sleeper, signal.SIGKILL)
    assert pool.stop() == [0], pool.output()
