"""Tasks three times longer than the lease run once: the worker's settler extends the lease.

The default run's short form has tasks of two leases (each lease is
extended at least once, twice in most runs); ``nox -s soak`` runs the
three-lease tasks.

The control proves the test can fail: the same workers with lease extension
disabled (a small script monkeypatches ``Settler.extend_now`` to a
no-op, then runs ``latergator``) must hand the task out again while it runs.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import reliability_tasks
from reliability_helpers import Store, report, wait_for
from reliability_tasks import Ledger

from alligator.constants import SUCCESS
from alligator.tasks import Task

# A lease long enough that a renewal (every LEASE / 3) may come two seconds
# late on a busy 2-core machine without the lease being lost; the tasks last
# three leases.
LEASE = 3.0
TASK_SECONDS = 9.0
#: The short form's tasks: two leases, so each lives on extended leases too.
SHORT_TASK_SECONDS = 6.0
TASKS = 3
WORKERS = TASKS + 1  # an idle worker is always there to take a lapsed lease

NO_EXTENSION = """\
import sys
import alligator.settler
from alligator.cli import main

alligator.settler.Settler.extend_now = lambda self: None  # leases are never renewed
sys.exit(main())
"""


def _queue_long_tasks(store: Store, task_seconds: float = TASK_SECONDS) -> list[str]:
    gator = store.gator()
    keys = [f"long{n}" for n in range(TASKS)]
    for key in keys:
        gator.push(Task(task_id=key), reliability_tasks.work, key, int(task_seconds * 1000))
    return keys


def test_long_tasks_run_exactly_once_while_their_worker_lives(store: Store, workers, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    """The short form: tasks of two leases."""
    _long_tasks_run_once(store, workers, ledger, SHORT_TASK_SECONDS)


@pytest.mark.soak
def test_tasks_of_three_leases_run_exactly_once_while_their_worker_lives(  # type: ignore[no-untyped-def]
    store: Store, workers, ledger: Ledger
) -> None:
    """The long form (``nox -s soak``): tasks of three leases."""
    _long_tasks_run_once(store, workers, ledger, TASK_SECONDS)


def _long_tasks_run_once(store: Store, workers, ledger: Ledger, task_seconds: float) -> None:  # type: ignore[no-untyped-def]
    pool = workers(store, "--lease-seconds", str(LEASE))
    pool.start(WORKERS)
    pool.wait_started()
    started = time.monotonic()
    keys = _queue_long_tasks(store, task_seconds)
    # All done, then one more lease (and a bit) in which a lapsed lease would be handed out again.
    wait_for(lambda: not ledger.refresh().missing(keys), TASK_SECONDS * 4, "the long tasks to finish")
    time.sleep(LEASE * 1.5)
    elapsed = time.monotonic() - started
    codes = pool.stop()
    output = pool.output()
    runs = ledger.refresh().by_key()
    assert {k: len(runs[k]) for k in keys} == dict.fromkeys(keys, 1), f"runs: {runs}\n{output}"
    assert "was lost" not in output and "after their lease was lost" not in output, output
    assert codes == [0] * WORKERS, output
    gator = store.gator()
    assert all(gator.status(k) == SUCCESS for k in keys)
    assert gator.len() == 0
    report(
        f"long_tasks_extended[{store.name}]",
        lease_seconds=LEASE,
        task_seconds=task_seconds,
        tasks=TASKS,
        runs=sum(len(r) for r in runs.values()),
        seconds=round(elapsed, 2),
    )


def test_without_lease_extension_long_tasks_are_redelivered(  # type: ignore[no-untyped-def]
    store: Store, workers, ledger: Ledger, tmp_path: Path
) -> None:
    script = tmp_path / "latergator_no_extension.py"
    script.write_text(NO_EXTENSION)
    pool = workers(store, "--lease-seconds", str(LEASE), command=(str(script),))
    pool.start(WORKERS)
    pool.wait_started()
    started = time.monotonic()
    _queue_long_tasks(store)
    # Every task is handed out again once its lease ends, while its first run goes on.
    seen = wait_for(
        lambda: any(len(r) > 1 for r in ledger.refresh().by_key().values()),
        TASK_SECONDS * 3,
        "a redelivery (the control must see lease expiry, or the test above proves nothing)",
    )
    runs = ledger.by_key()
    redelivered = {k: len(r) for k, r in runs.items() if len(r) > 1}
    first = runs[next(iter(redelivered))]
    assert first[1].start < (first[0].end or float("inf")), "the second run started while the first ran"
    pool.kill_all()  # the control has made its point; do not wait for the tasks
    report(
        f"long_tasks_without_extension[{store.name}]",
        lease_seconds=LEASE,
        task_seconds=TASK_SECONDS,
        redelivered_tasks=len(redelivered),
        second_run_after_first_start_s=round(first[1].start - first[0].start, 3),
        seconds_to_first_redelivery=round(seen + 0.0, 2),
        seconds=round(time.monotonic() - started, 2),
    )
