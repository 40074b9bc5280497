"""The dashboard's own memory of the last hour: a ring buffer of samples.

Why the dashboard samples, rather than workers keeping counters in the store:
it costs the store nothing but a few reads every :data:`INTERVAL` seconds (no
extra write on every task, no new record layout every backend would have to
learn), it works on any backend that passes the kit, and it is bounded
(:data:`KEEP` samples of at most ``MAX_QUEUES`` queues). The price: the
charts begin when the dashboard starts and are lost when it stops; for
history that outlives it, let Prometheus scrape ``/metrics``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from alligator.backend import QueueCounts
from alligator.dashboard.data import Store
from alligator.presence import WorkerInfo

log = logging.getLogger("alligator.dashboard")

#: Seconds between samples.
INTERVAL = 10.0
#: Samples kept: one hour at :data:`INTERVAL`.
KEEP = 360
#: Largest number a sample may hold (a count, or tasks finished in one
#: interval): far past any real store, well inside what a float draws.
MAX_DRAWN = 10**12


@dataclass(frozen=True)
class Sample:
    """The store at one instant.

    Attributes:
        at: When (this process's clock, seconds since the epoch).
        counts: Each queue's counts per state.
        finished: Tasks the live workers finished since the sample before,
            from their heartbeats' ``tasks_handled``; None without a worker
            registry or for the first sample.
    """

    at: float
    counts: dict[str, QueueCounts] = field(default_factory=dict)
    finished: int | None = None


def finished_between(before: dict[str, WorkerInfo], now: list[WorkerInfo], since: float) -> int:
    """Counts tasks finished between two looks at the live workers.

    A worker seen both times adds what its counter grew by; a worker that
    started after the first look adds all it handled; a worker that vanished
    in between adds nothing (what it did after the first look is lost).

    Example:
        >>> def w(i, handled, started):
        ...     return WorkerInfo(i, "h", 1, ("q",), 1, started, 0.0, handled)
        >>> finished_between({"a": w("a", 5, 0.0)}, [w("a", 9, 0.0), w("b", 3, 50.0)], since=10.0)
        7
    """
    total = 0
    for info in now:
        old = before.get(info.worker_id)
        if old is not None:
            total += max(0, info.tasks_handled - old.tasks_handled)
        elif info.started_at >= since:
            total += info.tasks_handled
    return total


def drawable(sample: Sample) -> bool:
    """Whether every number of a sample is one the charts can draw.

    Example:
        >>> drawable(Sample(0.0, {}, 10**20))
        False
    """
    numbers = [n for c in sample.counts.values() for n in (c.waiting, c.delayed, c.running, c.dead)]
    if sample.finished is not None:
        numbers.append(sample.finished)
    return math.isfinite(sample.at) and all(isinstance(n, int) and 0 <= n <= MAX_DRAWN for n in numbers)


class Sampler:
    """Samples a store every ``interval`` seconds in a daemon thread, keeping ``keep`` samples.

    Args:
        store: The store to sample.
        interval: Seconds between samples.
        keep: Samples kept (older ones drop off).
    """

    def __init__(self, store: Store, interval: float = INTERVAL, keep: int = KEEP) -> None:
        self.store = store
        self.interval = interval
        self.samples: deque[Sample] = deque(maxlen=keep)
        self._workers: dict[str, WorkerInfo] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def sample(self) -> Sample | None:
        """Takes one sample now and keeps it; None (logged) if the store failed.

        A sample with a number no chart can draw (past
        :data:`MAX_DRAWN`) is dropped, not kept: a planted
        record must not break the charts for the hour the buffer holds it.
        """
        at = time.time()
        try:
            overview = self.store.overview()
        except Exception as err:  # a store that is down must not stop the sampling
            log.warning("dashboard: could not sample the store: %s: %s", type(err).__name__, err)
            return None
        workers = overview.workers
        finished = None
        with self._lock:
            if workers is not None:
                if self._workers is not None and self.samples:
                    finished = finished_between(self._workers, workers, self.samples[-1].at)
                self._workers = {info.worker_id: info for info in workers}
            sample = Sample(at, overview.counts, finished)
            if not drawable(sample):
                log.warning("dashboard: a sample held a number out of bounds (a hostile record?); dropped")
                return None
            self.samples.append(sample)
        return sample

    def history(self) -> list[Sample]:
        """The samples kept, oldest first."""
        with self._lock:
            return list(self.samples)

    def start(self) -> None:
        """Starts sampling in a daemon thread (the first sample at once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="alligator-dashboard-sampler", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stops the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)
