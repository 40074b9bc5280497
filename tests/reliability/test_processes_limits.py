"""Rate limits and concurrency per key, proved with real worker processes on SQLite, Redis and PostgreSQL.

Four ``python -m alligator`` processes share one store; the tasks record
their own runs in the ledger (:mod:`reliability_tasks`), and the checks read
the ledger, never the store.

* A rate of 20/s: the limiter lets 20 go at once after a quiet spell, then
  one per 50 ms, on the store's clock. The tasks record their start a
  moment after the store let them go (a thread switch, a process the busy
  machine did not schedule for a while), so a start can lag its slot, which
  a check over a one-second window would count against the limit. The
  check (``limit_tasks.check_rate``) therefore allows each start a lag of
  up to half a second, the first included: after the first 20, the starts
  come at no more than 20/s over the span from the first start to the last
  lengthened by that half second; and no window of 2 s holds more than the
  70 the limiter lets go in 2.5 s (20 at once, and 50 more). Short form 100
  tasks (about 4 s); soak form 620 (30 s at 20/s after the first 20).
* No busy loop: each worker logs how many calls it made to the store's
  limits as it stops. A task that waits is handed back once, with the wait
  to the slot the store booked for it, and taken once more: about two calls
  a task. The check allows three; a loop would make dozens.
* A concurrency limit of 2: each run spans its start and its end (or its
  worker's kill), and no instant has three. One worker is SIGKILLed while it
  runs a task of the key (the task SIGKILLs its own worker on its first run,
  so the kill always lands mid-task): its slot frees itself when its lease
  (4 s) ends, and every task, the killed one included, runs to its end.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable

import limit_tasks
import pytest
import reliability_tasks
from reliability_helpers import ON_EVERY_STORE, Store, Workers, report, wait_for
from reliability_tasks import Ledger

from alligator.constants import SUCCESS

WORKERS = 4
RATE, PER = 20, 1.0
#: The slots' lease (seconds), renewed every third of it: a live worker's slot lapses only if its
#: renewals stall for two thirds of it, which 2 s (1.3 s of stall) left within a loaded machine's reach.
LEASE = "4"

pytestmark = ON_EVERY_STORE


def _limit_calls(pool: Workers) -> int:
    return sum(int(n) for n in re.findall(r"waited on a limit \((\d+) limit calls\)", pool.output()))


def _check_rate(store: Store, workers: Callable[..., Workers], ledger: Ledger, count: int) -> None:
    gator = store.gator()
    key = f"rate-{uuid.uuid4().hex[:8]}"
    opts = gator.options(rate_limit=f"{RATE}/s", limit_key=key)
    tasks = [opts.task(reliability_tasks.work, f"r{i}", 0) for i in range(count)]
    pool = workers(store)
    pool.start(WORKERS)
    pool.wait_started()
    wait_for(lambda: len(ledger.refresh().finished) == count, 60 + count / RATE * 3, f"{count} tasks to run")
    codes = pool.stop()
    assert codes == [0] * WORKERS
    runs = ledger.refresh().by_key()
    assert sorted(runs) == sorted(f"r{i}" for i in range(count)), "every task ran"
    assert all(len(r) == 1 for r in runs.values()), "each once: none failed and ran again"
    assert all(gator.status(t.task_id) == SUCCESS for t in tasks)
    output = pool.output()
    assert "retrying" not in output and "dead-letter" not in output, "no task failed"
    calls = _limit_calls(pool)
    figures = limit_tasks.check_rate([r[0].start for r in runs.values()], RATE, PER)
    report("rate_limit", tasks=count, calls=calls, **figures)
    assert 0 < calls <= 3 * count, f"{calls} limit calls for {count} tasks: the workers spun"


def test_a_rate_limit_holds_across_four_worker_processes(
    store: Store, workers: Callable[..., Workers], ledger: Ledger
) -> None:
    _check_rate(store, workers, ledger, 100)


@pytest.mark.soak
def test_a_rate_limit_holds_across_four_worker_processes_for_30_seconds(
    store: Store, workers: Callable[..., Workers], ledger: Ledger
) -> None:
    _check_rate(store, workers, ledger, RATE + 30 * RATE)


def test_a_concurrency_limit_holds_across_four_processes_and_a_killed_workers_slot_comes_back(
    store: Store, workers: Callable[..., Workers], ledger: Ledger
) -> None:
    gator = store.gator()
    opts = gator.options(concurrency_limit=2, limit_key=f"customer-{uuid.uuid4().hex[:8]}")
    count = 12
    # The first task SIGKILLs its worker mid-task (holding a slot) on its first run.
    tasks = [opts.task(reliability_tasks.killed_once, "c0", 300)]
    tasks += [opts.task(reliability_tasks.work, f"c{i}", 300) for i in range(1, count)]
    pool = workers(store, "--lease-seconds", LEASE)
    pool.start(WORKERS)
    pool.wait_started()
    wait_for(lambda: len(ledger.refresh().finished) == count, 120, f"{count} tasks to finish")
    [victim] = pool.reap()
    assert pool.stop() == [0] * (WORKERS - 1)
    runs = ledger.refresh().runs
    # The runs of the killed worker (the killer's, and any beside it) end at the kill, which the killer
    # recorded as it sent the signal. (The moment the test noticed the death stood in for it once: on a
    # loaded machine that came after the lease had freed the slot and the next task had started, and a
    # correct limit was counted three at once.)
    killed = {run.pid: run.killed for run in runs if run.killed is not None}
    most = limit_tasks.most_at_once(
        [(run.start, run.end if run.end is not None else killed.get(run.pid, math.inf)) for run in runs]
    )
    report("concurrency_limit", tasks=count, runs=len(runs), most_at_once=most)
    assert most <= 2, "never three tasks of the key at once, the killed one's run included"
    assert sorted(ledger.finished) == sorted(f"c{i}" for i in range(count))
    assert all(gator.status(t.task_id) == SUCCESS for t in tasks)
    assert victim.returncode == -9
    assert [run.end for run in runs if run.pid == victim.pid and run.key == "c0"] == [None], "killed mid-task"
