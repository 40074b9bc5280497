"""SIGKILL soak: workers are killed at random every half second; no task is lost.

Four ``python -m alligator`` processes work a queue of 5-50 ms tasks while the
test SIGKILLs a random one every 0.5 s and starts a replacement. The ledger
(written by the tasks themselves, outside the queue) then proves:

* every task finished at least once;
* every duplicate run traces to a killed worker (see ``_check_duplicates``);
* nothing is left in the store: no waiting task, no lease, no dead letter,
  every status SUCCESS, and a reserve with a clock far in the future finds
  nothing (so no lease is left to expire later either);
* every task a killed worker was running (an orphan) started again within
  ``lease + 1 s`` of the kill.

Short form (600 tasks per backend) in ``nox -s reliability``; long form
(2,000 tasks) marked ``soak``.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
import reliability_tasks
from conftest import Store, Workers, report, wait_for
from reliability_tasks import Ledger, Run

from alligator.constants import SUCCESS
from alligator.tasks import Task

WORKERS = 4
LEASE = 2.0
KILL_EVERY = 0.5
#: Slack on top of the lease for an orphan's re-run; see _check_orphans.
ORPHAN_SLACK = 1.0
#: Tasks the test keeps queued ahead of the workers; see _check_orphans.
BACKLOG = 24


def soak(store: Store, make_workers, ledger: Ledger, tasks: int, seed: int, timeout: float) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    gator = store.gator()
    keys = [f"k{n:05d}" for n in range(tasks)]
    pool: Workers = make_workers(store, "--lease-seconds", str(LEASE))
    started = time.monotonic()
    pool.start(WORKERS)
    kills: dict[int, float] = {}  # pid -> time.time() just before its SIGKILL
    pushed = 0
    next_kill = time.monotonic() + KILL_EVERY
    deadline = time.monotonic() + timeout
    while True:
        if pushed < tasks:
            room = BACKLOG - gator.len()
            for key in keys[pushed : pushed + max(room, 0)]:
                gator.push(Task(task_id=key), reliability_tasks.work, key, rng.randint(5, 50))
                pushed += 1
        if not ledger.refresh().missing(keys[:pushed]) and pushed == tasks:
            break
        if time.monotonic() >= next_kill:
            victim = rng.choice(pool.procs)
            kills[victim.pid] = pool.sigkill(victim)
            pool.start()
            next_kill += KILL_EVERY
        assert not pool.reap(), "a worker died without being killed; see its log:\n" + pool.output()
        assert time.monotonic() < deadline, f"{len(ledger.missing(keys))} tasks never finished"
        time.sleep(0.01)
    drained = time.monotonic() - started

    # Tasks a killed worker finished but had not acked yet run again once their
    # lease ends: wait for the store to settle before looking at it.
    settle = wait_for(
        lambda: all(gator.status(k) == SUCCESS for k in keys), LEASE + 10, "every status to be SUCCESS"
    )
    codes = pool.stop()
    elapsed = time.monotonic() - started
    ledger.refresh()
    output = pool.output()
    assert codes == [0] * len(codes), f"exit statuses after SIGTERM: {codes}\n{output}"
    assert "could not settle" not in output and "Traceback" not in output, output

    # Nothing left in the store.
    assert gator.len() == 0
    assert gator.dead_letters() == []
    probe = store.gator().backend
    probe.clock = lambda: time.time() + 1_000_000.0  # every lease that could exist has ended
    assert probe.len(store.queue) == 0, "a lease or task is still in the store"
    assert probe.reserve(store.queue, 60.0, 10_000, 0.0) == [], "a lease or task is still in the store"
    probe.close()

    runs = ledger.by_key()
    assert set(runs) == set(keys) and not ledger.missing(keys)
    duplicates, rerun_of_finished = _check_duplicates(runs, kills)
    delays = _check_orphans(runs, kills)
    report(
        f"sigkill_soak[{store.name}]",
        tasks=tasks,
        workers=WORKERS,
        lease_seconds=LEASE,
        kills=len(kills),
        runs=sum(len(r) for r in runs.values()),
        duplicate_runs=duplicates,
        reruns_of_finished_unacked_runs=rerun_of_finished,
        orphans=len(delays),
        orphan_rerun_delay_max_s=round(max(delays, default=0.0), 3),
        orphan_rerun_delay_mean_s=round(sum(delays) / len(delays), 3) if delays else None,
        drain_seconds=round(drained, 2),
        settle_seconds=round(settle, 2),
        total_seconds=round(elapsed, 2),
        seed=seed,
    )


def _check_duplicates(runs: dict[str, list[Run]], kills: dict[int, float]) -> tuple[int, int]:
    """Every run of a task but its last must be by a worker the test SIGKILLed.

    Delivery is at-least-once, so a task may run more than once, but only
    because a worker died: a task it was running when killed (an orphan)
    runs again, and so does a task it had *finished* but not acknowledged
    yet, because a worker sends acks in batches (up to 50 ms, or until the
    next reserve) for throughput. A live worker keeps its leases alive, so
    a task run by a worker that was not killed must never run again. Hence
    every duplicate must trace to a pid in the killed set, and must have
    started before that kill.

    Returns:
        The duplicate runs, and how many of them re-ran a run that had
        finished (completed but unacked when its worker was killed).
    """
    duplicates = finished_reruns = 0
    bad = []
    for key, task_runs in runs.items():
        for run in task_runs[:-1]:
            duplicates += 1
            if run.pid not in kills or run.start > kills[run.pid]:
                bad.append((key, [(r.pid, r.start, r.end) for r in task_runs]))
            elif run.end is not None:
                finished_reruns += 1
        assert task_runs[-1].end is not None, f"the last run of {key} never finished: {task_runs}"
    assert not bad, f"duplicates not explained by a SIGKILLed worker (killed: {kills}): {bad[:10]}"
    return duplicates, finished_reruns


def _check_orphans(runs: dict[str, list[Run]], kills: dict[int, float]) -> list[float]:
    """Every run cut short by a kill is started again within ``LEASE + ORPHAN_SLACK`` of the kill.

    The kill time is taken just before ``os.kill``. The lease of a task
    ends at most ``LEASE`` after the kill (the keeper renewed it to
    ``now + LEASE`` some time before). Then it is due again and another
    worker has to reserve it; the slack of 1 s covers that worker's nap on
    an empty queue (``--nap-time 0.05``; Redis wakes a blocked reserve at
    the lease deadline), its current batch (sized to ~50 ms), the task's
    FIFO turn behind tasks that became due before it (the test keeps at
    most ``BACKLOG`` tasks queued, about 0.3 s of work for the live
    workers), a replacement worker's start-up when all were busy, and the
    gap between the delivery and the ``B`` line the task writes.

    Returns:
        The re-run delay of every orphan, in seconds.
    """
    delays = []
    late = []
    for key, task_runs in runs.items():
        for index, run in enumerate(task_runs[:-1]):
            if run.end is not None:
                continue  # finished before the kill: not an orphan
            killed_at = kills[run.pid]
            rerun = task_runs[index + 1]
            delay = rerun.start - killed_at
            delays.append(delay)
            if delay > LEASE + ORPHAN_SLACK:
                late.append((key, round(delay, 3)))
    assert not late, f"orphans re-run later than lease + {ORPHAN_SLACK}s after the kill: {late}"
    return delays


def test_sigkill_soak_short(store: Store, workers, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    soak(store, workers, ledger, tasks=600, seed=random.randrange(1 << 30), timeout=90)


@pytest.mark.soak
def test_sigkill_soak_long(store: Store, workers, ledger: Ledger, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    soak(store, workers, ledger, tasks=2000, seed=random.randrange(1 << 30), timeout=600)
