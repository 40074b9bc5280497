"""SIGKILL soak: workers are killed at random every half second; no task is lost.

Four ``python -m alligator`` processes work a queue of 5-50 ms tasks while the
test SIGKILLs a random one every 0.5 s and starts a replacement. The ledger
(written by the tasks themselves, outside the queue) then proves:

* every task finished at least once;
* every duplicate run traces to a killed worker (see ``_check_duplicates``);
* nothing is left in the store: no waiting task, no lease, no dead letter,
  every status SUCCESS, and a reserve with a clock far in the future finds
  nothing (so no lease is left to expire later either);
* every task a killed worker was running (an orphan) started again, soon
  after the end of the lease it waited for; the store's own record of that
  end is read while the test runs (see :class:`LeaseWatch`).

How soon after the lease's end depends on the machine's load, so the two
forms bound it differently:

* short form (600 tasks per backend, ``nox -s reliability``, run on busy
  shared machines): the re-run starts within ``ORPHAN_PICKUP_SHORT`` (30 s)
  of the lease's recorded end: generous, so that a loaded machine does not
  fail it, and still far below the test's own deadline, so an orphan that
  waits for something other than its lease fails it;
* long form (2,000 tasks, marked ``soak``): the strict figure of
  ``docs/guarantees.md``, the re-run starts within ``lease + 1 s`` of the
  kill.

The drain itself fails when no task finishes for ``STALL`` (45 s), or at
its overall deadline (200 s in the short form): on a loaded machine the
workers' start-up (a new Python process every 0.5 s) slows it a lot, but
must never stop it.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest
import reliability_tasks
from reliability_helpers import Store, Workers, report, wait_for
from reliability_tasks import Ledger, Run

from alligator.constants import SUCCESS
from alligator.tasks import Task

WORKERS = 4
LEASE = 2.0
KILL_EVERY = 0.5
#: Slack on top of the lease for an orphan's re-run after its kill, in the soak form; see _check_orphans.
ORPHAN_SLACK = 1.0
#: Longest wait of an orphan after the recorded end of its lease, in the short form; see _check_orphans.
ORPHAN_PICKUP_SHORT = 30.0
#: How often LeaseWatch reads the store's leases (seconds).
WATCH_EVERY = 0.05
#: Tasks the test keeps queued ahead of the workers; see _check_orphans.
BACKLOG = 24
#: The longest the drain may go without a task finishing (seconds).
STALL = 45.0


class LeaseWatch(threading.Thread):
    """The store's own record of when each lease ended, read while the soak runs.

    Every ``WATCH_EVERY`` seconds it reads every lease of the queue straight
    from the store (``Store.raw``: the ``alligator_tasks`` rows with a
    receipt, or Redis's ``leases`` and ``receipts``) and keeps, per delivery
    (task id and receipt), the latest deadline seen. A lease whose worker
    was killed is never renewed again, so its deadline stays put in the
    store until it runs out and another worker takes the task: the watch
    sees it for about a whole lease, and so knows exactly when it ended,
    even when a second delivery of the same task died unstarted in a killed
    worker's batch (then the re-run waited for two leases, and it is the
    second one's end that counts).
    """

    def __init__(self, store: Store) -> None:
        super().__init__(name="lease-watch", daemon=True)
        self.read = store.raw.Leases(store.dsn, store.queue)
        self.ends: dict[tuple[str, str], float] = {}
        self.reads = 0
        self.errors: list[str] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            while not self._stop_event.is_set():
                try:
                    seen = self.read()
                except Exception as err:  # a busy store: read again next time
                    self.errors.append(repr(err))
                    seen = {}
                for delivery, end in seen.items():
                    if end > self.ends.get(delivery, float("-inf")):
                        self.ends[delivery] = end
                self.reads += 1
                self._stop_event.wait(WATCH_EVERY)
        finally:
            self.read.close()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(30)

    def last_end_before(self, key: str, when: float) -> float | None:
        """The latest recorded end of a lease of ``key`` that ended by ``when``, or None."""
        ends = [end for (task_id, _), end in self.ends.items() if task_id == key and end <= when]
        return max(ends, default=None)


def soak(  # type: ignore[no-untyped-def]
    store: Store, make_workers, ledger: Ledger, tasks: int, seed: int, timeout: float, strict: bool
) -> None:
    rng = random.Random(seed)
    gator = store.gator()
    keys = [f"k{n:05d}" for n in range(tasks)]
    # One thread per worker, as docs/guarantees.md measures it: with the
    # default 4, more tasks are fetched ahead by workers killed before they
    # start them, and those wait a second lease (the strict bound's premise).
    # --max-deliveries: a kill every 0.5 s may catch one task five times between its reserve and its
    # ack on a loaded machine; the default would dead-letter it (test_poison proves that limit).
    pool: Workers = make_workers(
        store, "--lease-seconds", str(LEASE), "--concurrency", "1", "--max-deliveries", "1000"
    )
    watch = LeaseWatch(store)
    watch.start()
    started = time.monotonic()
    pool.start(WORKERS)
    kills: dict[int, float] = {}  # pid -> time.time() just before its SIGKILL
    gone: dict[int, float] = {}  # pid -> time.time() once it was reaped: it started nothing later
    pushed = 0
    next_kill = time.monotonic() + KILL_EVERY
    deadline = time.monotonic() + timeout
    # On a loaded machine the workers' start-up (seconds each, one started every 0.5 s) slows the drain
    # a lot; what must not happen is no progress at all.
    progress, progressed = 0, time.monotonic()
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
            gone[victim.pid] = time.time()
            pool.start()
            next_kill += KILL_EVERY
        assert not pool.reap(), "a worker died without being killed; see its log:\n" + pool.output()
        if len(ledger.finished) > progress:
            progress, progressed = len(ledger.finished), time.monotonic()
        # The messages count what is missing only when they are shown, not every 10 ms.
        stalled = time.monotonic() - progressed > STALL
        late = time.monotonic() >= deadline
        assert not stalled, f"{len(ledger.missing(keys))} tasks never finished: none finished for {STALL:g} s"
        assert not late, f"{len(ledger.missing(keys))} tasks never finished in {timeout:g} s"
        time.sleep(0.01)
    drained = time.monotonic() - started

    # Tasks a killed worker finished but had not acked yet run again once their
    # lease ends: wait for the store to settle before looking at it.
    settle = wait_for(
        lambda: all(gator.status(k) == SUCCESS for k in keys), LEASE + 10, "every status to be SUCCESS"
    )
    codes = pool.stop()
    watch.stop()
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
    duplicates, rerun_of_finished = _check_duplicates(runs, gone)
    delays, pickups = _check_orphans(runs, kills, watch, strict)
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
        orphan_pickup_after_lease_end_max_s=round(max(pickups, default=0.0), 3),
        orphan_pickup_after_lease_end_mean_s=round(sum(pickups) / len(pickups), 3) if pickups else None,
        bound="lease + 1 s after the kill" if strict else f"{ORPHAN_PICKUP_SHORT:g} s after the lease's end",
        lease_reads=watch.reads,
        drain_seconds=round(drained, 2),
        settle_seconds=round(settle, 2),
        total_seconds=round(elapsed, 2),
        seed=seed,
    )


def _check_duplicates(runs: dict[str, list[Run]], gone: dict[int, float]) -> tuple[int, int]:
    """Every run of a task but its last must be by a worker the test SIGKILLed.

    Delivery is at-least-once, so a task may run more than once, but only
    because a worker died: a task it was running when killed (an orphan)
    runs again, and so does a task it had *finished* but not acknowledged
    yet, because a worker sends acks in batches (up to 50 ms, or until the
    next reserve) for throughput. A live worker keeps its leases alive, so
    a task run by a worker that was not killed must never run again. Hence
    every duplicate must trace to a pid in the killed set, and must have
    started before that worker was gone (``gone``: the time taken once its
    process was reaped; a time taken before the signal could come before
    a run the worker started while the test waited to send it).

    Returns:
        The duplicate runs, and how many of them re-ran a run that had
        finished (completed but unacked when its worker was killed).
    """
    duplicates = finished_reruns = 0
    bad = []
    for key, task_runs in runs.items():
        for run in task_runs[:-1]:
            duplicates += 1
            if run.pid not in gone or run.start > gone[run.pid]:
                bad.append((key, [(r.pid, r.start, r.end) for r in task_runs]))
            elif run.end is not None:
                finished_reruns += 1
        assert task_runs[-1].end is not None, f"the last run of {key} never finished: {task_runs}"
    assert not bad, f"duplicates not explained by a SIGKILLed worker (killed: {gone}): {bad[:10]}"
    return duplicates, finished_reruns


def _check_orphans(
    runs: dict[str, list[Run]], kills: dict[int, float], watch: LeaseWatch, strict: bool
) -> tuple[list[float], list[float]]:
    """Every run cut short by a kill is started again, after its lease ended.

    For each orphan (a run by a killed worker that never finished), the
    lease it waited for is the last lease of that task whose recorded end
    (``watch``) came before the re-run started: the killed worker's own,
    or that of a later delivery that died unstarted in another killed
    worker's batch. Its end is at most ``LEASE`` after the worker last
    renewed it, which is before the kill.

    * **Short form** (``strict=False``): the re-run starts within
      ``ORPHAN_PICKUP_SHORT`` of that recorded end. After the end, the task
      needs a live worker to reserve it, its FIFO turn behind tasks that
      became due before it (at most ``BACKLOG``), and the gap between the
      delivery and the ``B`` line. On an idle machine that is well under a
      second. On a loaded 2-core machine a worker is killed and a new
      Python process started every 0.5 s, and the new ones take seconds to
      start, so at times hardly any worker is up: with two busy loops
      beside the test (load average 8 to 11) the re-run came up to 2.6 s
      after the lease's end on Redis, 0.8 s on SQLite, and up to 13.6 s
      before the workers started with bytecode. The bound is generous so that load
      cannot fail the test, yet well inside its 200 s deadline, so an orphan
      stranded for good, or until something unrelated happens, still does.
    * **Soak form** (``strict=True``): the figure of ``docs/guarantees.md``:
      the re-run starts within ``LEASE + ORPHAN_SLACK`` of the kill. The
      slack of 1 s covers that worker's nap on an empty queue (``--nap-time
      0.05``; Redis wakes a blocked reserve at the lease deadline, and
      PostgreSQL's wait on ``LISTEN`` ends at it), its
      current batch (sized to ~50 ms), the FIFO turn, a replacement worker's
      start-up when all were busy, and the gap to the ``B`` line. Run it on
      a machine that is not otherwise loaded.

    When the watch recorded no lease for an orphan (it should always see
    one: a dead worker's lease stays in the store for up to a lease), the
    kill time plus ``LEASE`` stands in for the end: the latest it could be.

    Returns:
        Each orphan's re-run delay after its kill, and after its lease's end.
    """
    delays: list[float] = []
    pickups: list[float] = []
    late = []
    unseen = []
    for key, task_runs in runs.items():
        for index, run in enumerate(task_runs[:-1]):
            if run.end is not None:
                continue  # finished before the kill: not an orphan
            killed_at = kills[run.pid]
            rerun = task_runs[index + 1]
            lease_end = watch.last_end_before(key, rerun.start)
            if lease_end is None:
                unseen.append(key)
                lease_end = killed_at + LEASE
            delay, pickup = rerun.start - killed_at, rerun.start - lease_end
            delays.append(delay)
            pickups.append(pickup)
            if strict and delay > LEASE + ORPHAN_SLACK:
                late.append((key, f"{delay:.3f}s after the kill"))
            if not strict and pickup > ORPHAN_PICKUP_SHORT:
                late.append((key, f"{pickup:.3f}s after its lease ended"))
    assert not late, f"orphans re-run too late: {late}"
    # The watch reads the store raw: if it saw no lease at all, its reader no
    # longer matches the backend's layout (fix raw_sqlite.py / raw_redis.py).
    assert len(delays) < 3 or len(unseen) < len(delays), (
        f"the lease watch saw none of {len(delays)} orphans' leases ({watch.reads} reads, "
        f"errors: {watch.errors[:3]}): does Store.raw still match the backend's layout?"
    )
    return delays, pickups


# Workers start as deployed, with bytecode (see conftest.precompiled): a new
# one is started every 0.5 s, and compiling redis-py in each took seconds on a
# loaded machine, during which the queue, orphans included, waited.
@pytest.mark.usefixtures("precompiled")
def test_sigkill_soak_short(soak_store: Store, workers, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    soak(soak_store, workers, ledger, tasks=600, seed=random.randrange(1 << 30), timeout=200, strict=False)


@pytest.mark.soak
@pytest.mark.usefixtures("precompiled")
def test_sigkill_soak_long(soak_store: Store, workers, ledger: Ledger, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    soak(soak_store, workers, ledger, tasks=2000, seed=random.randrange(1 << 30), timeout=600, strict=True)
