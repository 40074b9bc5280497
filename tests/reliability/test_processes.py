"""``latergator --processes N``: the supervisor, proved with real processes, stores and signals.

Each test starts ``python -m alligator DSN ... --processes N`` (the
supervisor, which execs a bare interpreter and starts its children with
``python -m alligator``), reads the ledger the tasks write (never the queue
alone) and the processes' logs, and signals the supervisor or a child.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable

import pytest
import reliability_tasks
import test_processes_tasks
from reliability_helpers import Store, Workers, report, wait_for
from reliability_tasks import Ledger

from alligator import Gator, capabilities
from alligator.constants import FAILED, SUCCESS
from alligator.tasks import Task

TASKS = ["--allow", "test_processes_tasks"]
#: Short leases, so a killed child's tasks come back within seconds.
LEASE = "2"
#: The time limit of the hard-limit proofs (seconds). Their stubborn task swallows the soft limit's
#: exception only once inside its loop; with 1 s a stall of a loaded machine could land it before, and the
#: task then failed at the soft limit, never reaching the hard kill the proofs are about.
TIME_LIMIT = "3"


def _children_started(pool: Workers, count: int, timeout: float = 60.0) -> None:
    """Waits until ``count`` worker processes (in all) logged their start line."""
    wait_for(
        lambda: pool.output().count("latergator starting in") >= count,
        timeout,
        f"{count} worker process start(s)",
    )


def _child_pids(pool: Workers) -> list[int]:
    """Every child pid the supervisor said it started, in order."""
    return [int(pid) for pid in re.findall(r"worker process \d+ started \(pid (\d+)\)", pool.output())]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers; its parent (the supervisor) has not reaped it yet.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[-1][:1] != "Z"
    except FileNotFoundError:
        return False


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        return int(next(line.split()[1] for line in handle if line.startswith("VmRSS:")))


def test_a_sigkilled_child_is_replaced_and_its_task_runs_again(
    store: Store, workers: Callable[..., Workers], ledger: Ledger
) -> None:
    pool = workers(store, "--processes", "2", "--lease-seconds", LEASE)
    [supervisor] = pool.start()
    _children_started(pool, 2)
    gator = store.gator()
    gator.push(Task(task_id="long"), reliability_tasks.work, "long", 3000)
    wait_for(lambda: "long" in ledger.refresh().keys(), 60, "the task to start")
    victim = ledger.runs[0].pid
    assert victim in _child_pids(pool)
    os.kill(victim, signal.SIGKILL)
    # A new child takes the dead one's place...
    wait_for(lambda: len(_child_pids(pool)) >= 3, 60, "a new worker process")
    # ...and the task runs again, to the end, once its lease is over.
    wait_for(lambda: "long" in ledger.refresh().finished, 60, "the task to run again")
    runs = ledger.by_key()["long"]
    assert runs[0].pid == victim and runs[0].end is None
    assert runs[-1].pid != victim and runs[-1].end is not None
    assert supervisor.pid not in {run.pid for run in runs}, "the supervisor itself ran a task"
    output = pool.output()
    assert "was killed by SIGKILL" in output, output
    assert pool.stop() == [0], pool.output()
    assert gator.status("long") == SUCCESS


def test_a_task_past_its_hard_limit_is_killed_settled_as_failed_and_the_worker_goes_on(
    store: Store, workers: Callable[..., Workers], ledger: Ledger
) -> None:
    pool = workers(store, *TASKS, "--processes", "1", "--time-limit", TIME_LIMIT)
    [supervisor] = pool.start()
    _children_started(pool, 1)
    gator = Gator(store.dsn, queue_name=store.queue, allow=["reliability_tasks", "test_processes_tasks"])
    # Ignores its limit for 600 s, in C code: only a kill ends it in time.
    gator.push(
        Task(task_id="stuck", on_killed=test_processes_tasks.note_kill),
        test_processes_tasks.stubborn,
        "stuck",
        600.0,
    )
    gator.push(Task(task_id="after"), reliability_tasks.record, "after")
    started = time.monotonic()
    wait_for(lambda: "after" in ledger.refresh().finished, 120, "the next task to run")
    seconds = time.monotonic() - started
    wait_for(lambda: gator.status("stuck") == FAILED, 60, "the stuck task to be settled as failed")
    [letter] = [
        d
        for d in capabilities.administration(gator.backend).dead_letters(store.queue)
        if d.task_id == "stuck"
    ]
    assert f"time limit of {TIME_LIMIT} s exceeded; the process was killed" in letter.reason, letter.reason
    # Its on_killed hook ran once, in the process that settled it: neither the
    # killed worker process nor the supervisor.
    key = "killed:stuck:TimeLimitExceeded:1"
    wait_for(lambda: key in ledger.refresh().keys(), 60, "the on_killed hook")
    [hook_run] = ledger.by_key()[key]
    assert hook_run.pid not in {supervisor.pid, ledger.by_key()["stuck"][0].pid}
    output = pool.output()
    assert "ran past its time limit" in output and "killing worker process" in output, output
    # Settled once, as a failure: not delivered again as a crash.
    time.sleep(float(LEASE) + 1)
    assert len(ledger.refresh().by_key()["stuck"]) == 1
    assert len(_child_pids(pool)) == 2, output
    assert supervisor.poll() is None
    assert pool.stop() == [0], pool.output()
    report(f"hard_time_limit[{store.name}]", seconds_to_next_task=round(seconds, 2))


def test_sigterm_drains_the_tasks_in_hand_and_exits_0(
    store: Store, workers: Callable[..., Workers], ledger: Ledger
) -> None:
    pool = workers(store, "--processes", "2")
    [supervisor] = pool.start()
    _children_started(pool, 2)
    gator = store.gator()
    keys = ["d0", "d1"]
    for key in keys:
        gator.push(Task(task_id=key), reliability_tasks.work, key, 2000)
    wait_for(lambda: set(keys) <= ledger.refresh().keys(), 60, "both tasks to start")
    rss = _rss_kib(supervisor.pid)
    children = _child_pids(pool)
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(60) == 0, pool.output()
    pool.reap()
    # Both finished in hand, once each; no child was started after the signal, none is left.
    runs = ledger.refresh().by_key()
    assert {key: [run.end is not None for run in runs[key]] for key in keys} == {k: [True] for k in keys}
    assert _child_pids(pool) == children, pool.output()
    assert not any(_alive(pid) for pid in children)
    assert all(gator.status(key) == SUCCESS for key in keys)
    # The budget: the supervisor adds at most 15 MiB over its children.
    assert rss <= 15 * 1024, f"supervisor RSS {rss} KiB"
    report(f"supervisor_drain[{store.name}]", supervisor_rss_mib=round(rss / 1024, 1))


def test_two_sigints_stop_at_once_and_nothing_is_lost(
    store: Store, workers: Callable[..., Workers], ledger: Ledger
) -> None:
    pool = workers(store, "--processes", "2", "--lease-seconds", LEASE)
    [supervisor] = pool.start()
    _children_started(pool, 2)
    gator = store.gator()
    slow = ["s0", "s1"]
    quick = [f"q{n}" for n in range(10)]
    for key in slow:
        # 30 s on the first run, at once when run again after the stop.
        gator.push(Task(task_id=key), reliability_tasks.slow_first_time, key, 30000)
    for key in quick:
        gator.push(Task(task_id=key), reliability_tasks.work, key, 10)
    wait_for(lambda: set(slow) <= ledger.refresh().keys(), 60, "the slow tasks to start")
    children = _child_pids(pool)
    supervisor.send_signal(signal.SIGINT)
    time.sleep(0.5)
    supervisor.send_signal(signal.SIGINT)
    # At once: long before the 30 s tasks could have finished.
    assert supervisor.wait(20) == 128 + signal.SIGINT, pool.output()
    pool.reap()
    assert not any(_alive(pid) for pid in children)
    assert not ledger.refresh().finished & set(slow)
    # A fresh worker runs every task, the killed ones once their leases end.
    fresh = workers(store, "--lease-seconds", LEASE)
    fresh.start()
    wait_for(lambda: not ledger.refresh().missing(slow + quick), 120, "every task to run to the end")
    assert fresh.stop() == [0], fresh.output()
    assert all(gator.status(key) == SUCCESS for key in slow + quick)


def test_max_tasks_per_child_replaces_each_child_after_that_many_tasks(
    store: Store, workers: Callable[..., Workers], ledger: Ledger
) -> None:
    pool = workers(store, "--processes", "1", "--max-tasks-per-child", "2")
    pool.start()
    _children_started(pool, 1)
    gator = store.gator()
    keys = [f"m{n}" for n in range(6)]
    for key in keys:
        gator.push(Task(task_id=key), reliability_tasks.record, key)
    wait_for(lambda: not ledger.refresh().missing(keys), 120, "every task to run")
    pids = {run.pid for run in ledger.runs}
    # Two tasks per child: three children ran them, each started by the supervisor.
    assert len(pids) == 3 and pids <= set(_child_pids(pool)), (pids, pool.output())
    assert "exited after its tasks (--max-tasks-per-child 2); starting a new one" in pool.output()
    assert pool.stop() == [0], pool.output()


def test_children_that_refuse_their_arguments_stop_the_supervisor_with_status_2(
    sqlite_store: Store, workers: Callable[..., Workers]
) -> None:
    pool = workers(sqlite_store, "--processes", "2", "--setup", "no_such_setup_module")
    [supervisor] = pool.start()
    # Restarting would only fail again: the supervisor exits as latergator would.
    assert supervisor.wait(120) == 2, pool.output()
    pool.reap()
    output = pool.output()
    assert "--setup no_such_setup_module failed" in output and "restarting cannot help" in output, output


def test_a_child_that_dies_at_start_up_is_restarted_after_growing_pauses(
    sqlite_store: Store, workers: Callable[..., Workers]
) -> None:
    # The setup step of every child aborts the process (SIGABRT): a crash no restart can mend.
    pool = workers(sqlite_store, "--processes", "1", "--setup", "os:abort")
    [supervisor] = pool.start()
    wait_for(lambda: "3 time(s) in a row" in pool.output(), 120, "three deaths at start-up")
    output = pool.output()
    pauses = re.findall(
        r"at start-up \(\d+ time\(s\) in a row; see its log above\); restarting it in ([\d.]+)s", output
    )
    assert [float(p) for p in pauses[:3]] == [0.5, 1.0, 2.0], output
    assert "was killed by SIGABRT at start-up" in output, output
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(60) == 0, pool.output()
    pool.reap()


PYTHON_ENTRY_POINT = """\
import sys
from alligator import logs
from alligator.supervisor import Supervisor

logs.configure("INFO")
sys.exit(Supervisor(sys.argv[1:], processes=2).run())
"""


def test_the_python_entry_point_supervises_the_same_way(
    sqlite_store: Store, workers: Callable[..., Workers], ledger: Ledger
) -> None:
    pool = workers(sqlite_store, command=("-c", PYTHON_ENTRY_POINT))
    [supervisor] = pool.start()
    _children_started(pool, 2)
    gator = sqlite_store.gator()
    keys = [f"p{n}" for n in range(4)]
    for key in keys:
        gator.push(Task(task_id=key), reliability_tasks.record, key)
    wait_for(lambda: not ledger.refresh().missing(keys), 120, "every task to run")
    assert supervisor.pid not in {run.pid for run in ledger.runs}
    assert pool.stop() == [0], pool.output()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--processes", "2", "--max-tasks", "3"], "with --processes use --max-tasks-per-child"),
        (["--processes", "0"], "--processes: must be at least 1, not 0"),
        (["--max-tasks-per-child", "-1"], "--max-tasks-per-child: must be at least 0, not -1"),
    ],
)
def test_supervisor_arguments_that_cannot_work_are_refused(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from alligator.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["locmem://refused", "--allow", "reliability_tasks", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
