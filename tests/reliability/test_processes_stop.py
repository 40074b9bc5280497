"""Stopping workers: a second signal, the shutdown timeout, and a supervisor that was SIGKILLed alone.

Real processes and stores, as in ``test_processes.py``. Leases are long
(60 s) so that a task seen waiting again within seconds was handed back by
its worker, not left to its lease.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import time
import urllib.request
from collections.abc import Callable

import test_processes_tasks
from reliability_helpers import Store, Workers, wait_for
from reliability_tasks import Ledger
from test_processes import TASKS, _alive, _child_pids, _children_started

from alligator import Gator
from alligator.constants import RUNNING, WAITING
from alligator.tasks import Task

LONG_LEASE = "60"


def _gator(store: Store) -> Gator:
    return Gator(store.dsn, queue_name=store.queue, allow=["reliability_tasks", "test_processes_tasks"])


def _hang(gator: Gator, *keys: str) -> None:
    for key in keys:
        # In C code for 600 s, with no time limit: only a hand-back or a kill ends it.
        gator.push(Task(task_id=key), test_processes_tasks.stubborn, key, 600.0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_second_sigint_hands_back_the_task_in_hand_and_exits_130(
    store: Store, workers: Callable[..., Workers], ledger: Ledger
) -> None:
    pool = workers(store, *TASKS, "--lease-seconds", LONG_LEASE)
    [worker] = pool.start()
    pool.wait_started()
    gator = _gator(store)
    _hang(gator, "hung")
    wait_for(lambda: "hung" in ledger.refresh().keys(), 60, "the task to start")
    worker.send_signal(signal.SIGINT)
    wait_for(lambda: "received SIGINT; finishing 1 task(s) in hand" in pool.output(), 30, "the first signal")
    worker.send_signal(signal.SIGINT)
    assert worker.wait(30) == 128 + signal.SIGINT, pool.output()
    pool.reap()
    # Released, not left to its 60 s lease: waiting again at once.
    assert gator.status("hung") == WAITING, pool.output()
    assert "handed back task test_processes_tasks:stubborn [hung]" in pool.output(), pool.output()


def test_sigterm_names_the_task_waited_on_and_the_shutdown_timeout_hands_it_back(
    store: Store, workers: Callable[..., Workers], ledger: Ledger
) -> None:
    pool = workers(store, *TASKS, "--lease-seconds", LONG_LEASE, "--shutdown-timeout", "2")
    [worker] = pool.start()
    pool.wait_started()
    gator = _gator(store)
    _hang(gator, "hung")
    wait_for(lambda: "hung" in ledger.refresh().keys(), 60, "the task to start")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(60) == 0, pool.output()
    pool.reap()
    output = pool.output()
    assert (
        "received SIGTERM; finishing 1 task(s) in hand: test_processes_tasks:stubborn [hung] running"
        in output
    )
    # The time left when the line is written: 2 s, less what a loaded machine took to write it.
    assert re.search(r"handing back what still runs in [0-2]s", output), output
    assert "the shutdown timeout" in output, output
    assert gator.status("hung") == WAITING, output


def test_under_processes_a_second_signal_hands_back_every_task_at_once(
    store: Store, workers: Callable[..., Workers], ledger: Ledger
) -> None:
    # One thread each: each child holds one of the two tasks and no idle thread
    # of a sibling still stopping can take back what the other handed back.
    pool = workers(store, *TASKS, "--processes", "2", "--concurrency", "1", "--lease-seconds", LONG_LEASE)
    [supervisor] = pool.start()
    _children_started(pool, 2)
    gator = _gator(store)
    keys = ["h0", "h1"]
    _hang(gator, *keys)
    wait_for(lambda: set(keys) <= ledger.refresh().keys(), 60, "both tasks to start")
    children = _child_pids(pool)
    supervisor.send_signal(signal.SIGINT)
    time.sleep(0.5)
    supervisor.send_signal(signal.SIGINT)
    assert supervisor.wait(30) == 128 + signal.SIGINT, pool.output()
    pool.reap()
    wait_for(lambda: not any(_alive(pid) for pid in children), 30, "the children to be gone")
    assert [gator.status(key) for key in keys] == [WAITING, WAITING], pool.output()


def _listening(port: int) -> bool:
    """Whether anything accepts connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_children_of_a_sigkilled_supervisor_hand_back_their_tasks_and_exit(
    store: Store, workers: Callable[..., Workers], ledger: Ledger
) -> None:
    port = _free_port()
    args = (*TASKS, "--processes", "2", "--lease-seconds", LONG_LEASE, "--shutdown-timeout", "1")
    pool = workers(store, *args, "--metrics-port", str(port))
    [supervisor] = pool.start()
    _children_started(pool, 2)
    gator = _gator(store)
    keys = ["o0", "o1"]
    _hang(gator, *keys)
    wait_for(lambda: set(keys) <= ledger.refresh().keys(), 60, "both tasks to start")
    assert [gator.status(key) for key in keys] == [RUNNING, RUNNING]
    children = _child_pids(pool)
    # What systemd's KillMode=process does: the supervisor alone.
    os.kill(supervisor.pid, signal.SIGKILL)
    supervisor.wait(10)
    pool.reap()
    wait_for(lambda: not any(_alive(pid) for pid in children), 60, "the orphaned children to exit")
    output = pool.output()
    assert f"the supervisor (pid {supervisor.pid}) is gone" in output, output
    # Handed back, long before their 60 s leases end.
    assert [gator.status(key) for key in keys] == [WAITING, WAITING], output
    # The orphaned metrics endpoint notices too (it looks once a second) and
    # lets the port go; then a new supervisor gets it.
    wait_for(lambda: not _listening(port), 60, "the orphaned metrics endpoint to let its port go")
    again = workers(store, *args, "--metrics-port", str(port))
    [second] = again.start()
    _children_started(again, 2)

    def scraped() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                return b"alligator_worker_uptime_seconds" in response.read()
        except OSError:
            return False

    wait_for(scraped, 60, "the new supervisor's metrics endpoint")
    assert second.poll() is None, again.output()
    second.send_signal(signal.SIGINT)
    time.sleep(0.5)
    second.send_signal(signal.SIGINT)
    second.wait(30)
    again.reap()
