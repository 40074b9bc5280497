"""The exactly-once proof of schedules with real processes: several schedulers, SIGKILLed and restarted.

:func:`prove_each_tick_once` starts ``schedulers`` real ``latergator
--schedules proof_schedules`` processes on one store (each consumes an idle
queue of its own: they only schedule), SIGKILLs one of them every
``kill_every`` seconds and starts a new one at once, for ``seconds``. This
process is the only consumer of the ticks' queue: it reserves, notes and
acks each tick's task, so a tick enqueued again after it ran would be seen
twice. At the end the ticks seen must be every multiple of 2 between the
first and the last, each once, and must cover every kill.
"""

from __future__ import annotations

import random
import threading
import time
import uuid

from reliability_helpers import Store, Workers, wait_for

from alligator import Gator
from alligator.backend import Backend

#: Seconds between ticks of the proof's schedule (proof_schedules.py).
EVERY = 2


class TickConsumer:
    """Reserves and acks the ticks' tasks in a thread, noting each task id it was handed."""

    def __init__(self, backend: Backend, queue: str) -> None:
        self.backend = backend
        self.queue = queue
        self.seen: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.errors: list[BaseException] = []

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                held_now = self.backend.reserve(self.queue, 300.0, limit=20, timeout=0.5)
                for held in held_now:
                    self.seen.append(int(held.task_id.rsplit(":", 1)[1]))
                    assert self.backend.ack(self.queue, held.task_id, held.receipt)
                if not held_now:
                    # SQLite's reserve returns at once on an empty queue: without this nap the
                    # consumer took a whole core of two from the schedulers it watches.
                    self._stop.wait(0.05)
        except BaseException as err:  # reported by the test
            self.errors.append(err)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)


def prove_each_tick_once(
    store: Store, pool: Workers, seconds: float, kill_every: float, schedulers: int = 4
) -> dict[str, int]:
    """Runs the proof (see the module docstring); returns its figures.

    The pool's env names the ticks' queue (``PROOF_TICK_QUEUE``).
    """
    tick_queue = pool.env["PROOF_TICK_QUEUE"]
    gator = Gator(store.dsn, queue_name=tick_queue)
    consumer = TickConsumer(gator.backend, tick_queue)
    consumer.start()
    kills = 0
    try:
        pool.start(schedulers)
        pool.wait_started(120)
        first_kill = last_restart = 0.0
        end = time.monotonic() + seconds
        rng = random.Random(uuid.uuid4().int)
        while time.monotonic() < end:
            time.sleep(kill_every * (0.5 + rng.random()))
            victim = rng.choice(pool.procs)
            when = pool.sigkill(victim)
            kills += 1
            first_kill = first_kill or when
            pool.start(1)
            last_restart = time.time()
        pool.wait_started(120)
        # Every kill must fall inside the ticks seen: wait for a tick past the last restart.
        wait_for(
            lambda: bool(consumer.seen) and max(consumer.seen) > last_restart + EVERY,
            120,
            "a tick after the last restart",
        )
        assert all(code == 0 for code in pool.stop(120)), pool.output()[-3000:]
        # The schedulers are gone: what they enqueued is all there is; drain it.
        wait_for(lambda: gator.backend.len(tick_queue) == 0, 120, "the ticks' queue to drain")
        time.sleep(1.0)  # a reserve in flight hands its tasks over
    finally:
        consumer.stop()
        pool.kill_all()
        gator.drop_all()
        gator.backend.close()
    assert not consumer.errors, consumer.errors
    seen = consumer.seen
    twice = sorted({tick for tick in seen if seen.count(tick) > 1})
    assert not twice, f"ticks enqueued more than once: {twice}"
    expected = list(range(min(seen), max(seen) + 1, EVERY))
    missing = sorted(set(expected) - set(seen))
    assert not missing, f"ticks never enqueued: {missing} (of {len(expected)})"
    assert min(seen) <= first_kill, "the ticks cover the first kill"
    return {"ticks": len(seen), "kills": kills, "schedulers": schedulers}
