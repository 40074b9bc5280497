"""Poison tasks: of 1,000 tasks, 50 always raise and 10 SIGKILL their own worker.

Three ``python -m alligator`` workers (``--lease-seconds 1 --max-deliveries 5``)
work the queue while the test supervises them, replacing every worker that
dies. At the end exactly those 60 are dead letters, each with its attempts
and a reason (a raiser: its traceback; a killer: "delivered 6 times without
finishing"), and the other 940 completed. Every task carries an ``on_start``
hook that writes the delivery number of each run to the ledger, so the test
can see deliveries that never ran (prefetched by a worker that died).
"""

from __future__ import annotations

import collections
import random
import time

import pytest
import reliability_tasks
from reliability_helpers import Store, report, wait_for
from reliability_tasks import Ledger, Run

from alligator.constants import SUCCESS
from alligator.tasks import Task

TASKS = 1000
RAISERS = 50
KILLERS = 10
LEASE = 1.0
MAX_DELIVERIES = 5
WORKERS = 3


def run_poison(store: Store, make_workers, ledger: Ledger, seed: int, timeout: float) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    keys = [f"p{n:04d}" for n in range(TASKS)]
    shuffled = rng.sample(keys, len(keys))
    raisers, killers = set(shuffled[:RAISERS]), set(shuffled[RAISERS : RAISERS + KILLERS])
    innocents = [k for k in keys if k not in raisers and k not in killers]
    gator = store.gator()
    for key in keys:
        func = (
            reliability_tasks.raiser
            if key in raisers
            else reliability_tasks.killer
            if key in killers
            else reliability_tasks.record
        )
        gator.push(Task(task_id=key, on_start=reliability_tasks.note_attempts), func, key)

    # One thread each, as the counts above assume: a killer's SIGKILL then
    # costs no innocent in another thread of its process a delivery.
    pool = make_workers(
        store, "--lease-seconds", str(LEASE), "--max-deliveries", str(MAX_DELIVERIES), "--concurrency", "1"
    )
    started = time.monotonic()
    pool.start(WORKERS)
    deaths: list[int] = []
    deadline = started + timeout
    dead_ids: set[str] = set()
    last_look = 0.0
    while True:
        for proc in pool.reap():
            deaths.append(proc.returncode)
            pool.start()
        now = time.monotonic()
        if now - last_look > 0.25:
            last_look = now
            dead_ids = {d.task_id for d in gator.dead_letters(limit=10 * TASKS)}
            if not ledger.refresh().missing(innocents) and len(dead_ids) >= RAISERS + KILLERS:
                break
        assert now < deadline, (
            f"timed out: {len(ledger.missing(innocents))} innocents unfinished, "
            f"{len(dead_ids)} dead letters, {len(deaths)} worker deaths"
        )
        time.sleep(0.02)
    drained = time.monotonic() - started
    wait_for(lambda: all(gator.status(k) == SUCCESS for k in innocents), LEASE + 10, "innocents SUCCESS")
    for proc in pool.reap():  # a death after the loop's last look
        deaths.append(proc.returncode)
    codes = pool.stop()
    elapsed = time.monotonic() - started
    output = pool.output()
    assert codes == [0] * len(codes), output
    ledger.refresh()
    runs = ledger.by_key()
    letters = {d.task_id: d for d in gator.dead_letters(limit=10 * TASKS)}

    wrongly_dead = {k: (letters[k].attempts, letters[k].reason) for k in set(letters) - raisers - killers}
    assert not wrongly_dead, (
        "innocent tasks were dead-lettered (runs per the ledger: "
        f"{ {k: _describe(runs.get(k, [])) for k in wrongly_dead} }): {wrongly_dead}"
    )
    assert set(letters) == raisers | killers
    for key in raisers:
        letter = letters[key]
        assert letter.attempts >= 1
        assert (
            "Traceback" in letter.reason and f"ValueError: poison task {key} always raises" in letter.reason
        )
    killer_runs = {key: len(runs.get(key, [])) for key in killers}
    for key in killers:
        letter = letters[key]
        assert letter.attempts == MAX_DELIVERIES + 1, (key, letter)
        assert f"delivered {MAX_DELIVERIES + 1} times without finishing" in letter.reason, letter.reason
        # At most max_deliveries runs; fewer when a delivery died unstarted in a killed batch.
        assert 1 <= killer_runs[key] <= MAX_DELIVERIES, (key, _describe(runs[key]))
    assert all(code == -9 for code in deaths), f"worker exit statuses: {deaths}\n{output}"
    assert len(deaths) == sum(killer_runs.values()), "every death is a killer's run, and only those"
    assert not ledger.missing(innocents)
    assert gator.len() == 0
    assert all(gator.status(k) == SUCCESS for k in innocents)

    # Evidence for the report: innocents hurt by the killers they were batched with.
    duplicated = {k: runs[k] for k in innocents if len(runs[k]) > 1}
    first_attempts = [runs[k][0].attempts or 0 for k in innocents]
    max_attempts = max((r.attempts or 0) for k in innocents for r in runs[k])
    killed_by = _killer_attempts_by_pid(runs, killers)
    after_suspect = {
        k: _describe(r) for k, r in duplicated.items() if any(killed_by.get(x.pid, 0) > 1 for x in r[:-1])
    }
    report(
        f"poison[{store.name}]",
        tasks=TASKS,
        raisers=RAISERS,
        killers=KILLERS,
        dead_letters=len(letters),
        worker_deaths=len(deaths),
        killer_runs=sorted(killer_runs.values()),
        raiser_attempts=sorted(collections.Counter(letters[k].attempts for k in raisers).items()),
        innocent_duplicate_runs=sum(len(r) - 1 for r in duplicated.values()),
        innocents_first_run_not_first_delivery=sum(1 for a in first_attempts if a > 1),
        innocent_max_attempts=max_attempts,
        innocent_reruns_after_a_redelivered_killer=len(after_suspect),
        examples_after_suspect=dict(list(after_suspect.items())[:3]),
        drain_seconds=round(drained, 2),
        total_seconds=round(elapsed, 2),
        seed=seed,
    )


def _killer_attempts_by_pid(runs: dict[str, list[Run]], killers: set[str]) -> dict[int, int]:
    """pid of each worker a killer took down -> the delivery number of that killer's run."""
    return {run.pid: run.attempts or 0 for key in killers for run in runs.get(key, [])}


def _describe(task_runs: list[Run]) -> list[tuple[int, int | None, bool]]:
    return [(r.pid, r.attempts, r.end is not None) for r in task_runs]


def test_poison_tasks_are_dead_lettered_and_nothing_else(
    sqlite_store: Store, workers, ledger: Ledger
) -> None:  # type: ignore[no-untyped-def]
    run_poison(sqlite_store, workers, ledger, seed=random.randrange(1 << 30), timeout=150)


@pytest.mark.soak
def test_poison_tasks_soak_on_both_backends(workers, ledger: Ledger, store: Store) -> None:  # type: ignore[no-untyped-def]
    run_poison(store, workers, ledger, seed=random.randrange(1 << 30), timeout=300)
