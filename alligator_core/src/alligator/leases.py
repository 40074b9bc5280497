"""Keeping the leases of held tasks alive while they run."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType

from alligator.backend import Backend, Reservation
from alligator.text import printable

log = logging.getLogger("alligator.worker")


class LeaseKeeper:
    """A background thread that extends the leases of the tasks a worker holds.

    A lease that ran out hands the task to another worker, so a long task
    would run twice. Every ``lease_seconds / 3`` the keeper extends every
    held lease by a full ``lease_seconds``: two extensions can fail in a row
    (a network blip) before the lease is at risk.

    Tasks may come from several queues (a worker with priority queues): each
    is held under the queue it was reserved from, and extended there.

    The same thread runs other periodic chores (see :meth:`every`), such as a
    worker's heartbeat, so a worker needs no thread more.

    Args:
        backend: The backend the tasks were reserved from.
        queue: Their queue (the default of :meth:`hold` and :meth:`drop`).
        lease_seconds: The lease length to keep renewing.
    """

    def __init__(self, backend: Backend, queue: str, lease_seconds: float) -> None:
        self.backend = backend
        self.queue = queue
        self.lease_seconds = lease_seconds
        self.interval = max(lease_seconds / 3.0, 0.01)
        # (queue, task_id) -> (receipt, the thread running it)
        self._held: dict[tuple[str, str], tuple[str, threading.Thread]] = {}
        # (interval in seconds, chore), see every()
        self._chores: list[tuple[float, Callable[[], None]]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Ids whose lease could not be extended (it ran out, so they may run twice).
        self.lost: set[str] = set()

    def hold(
        self, reservation: Reservation, queue: str | None = None, owner: threading.Thread | None = None
    ) -> None:
        """Starts keeping a reservation's lease alive, for as long as its owner thread lives.

        The owner is the calling thread unless given. Holding it again from
        another thread (a buffered task a thread starts) makes that thread
        its owner.
        """
        key = (queue or self.queue, reservation.task_id)
        with self._lock:
            self._held[key] = (reservation.receipt, owner or threading.current_thread())

    def drop(self, task_id: str, queue: str | None = None) -> None:
        """Stops keeping a task's lease alive (it was settled)."""
        with self._lock:
            self._held.pop((queue or self.queue, task_id), None)

    def every(self, seconds: float, chore: Callable[[], None]) -> None:
        """Also calls ``chore()`` from the keeper's thread every ``seconds`` (first after ``seconds``).

        Call before :meth:`start`. Exceptions are logged; the chore runs again
        next time.
        """
        self._chores.append((seconds, chore))

    def drop_thread(self, thread: threading.Thread) -> None:
        """Stops keeping alive every lease ``thread`` held."""
        with self._lock:
            for key in [k for k, (_, owner) in self._held.items() if owner is thread]:
                del self._held[key]

    def held(self, queue: str | None = None) -> list[tuple[str, str]]:
        """Returns the ``(task_id, receipt)`` pairs of ``queue`` held now by live threads.

        A lease whose thread died is dropped: renewing it would keep its
        task RUNNING for ever with nobody running it.
        """
        queue = queue or self.queue
        return [(task_id, receipt) for q, task_id, receipt in self._held_everywhere() if q == queue]

    def _held_everywhere(self) -> list[tuple[str, str, str]]:
        with self._lock:
            dead = [k for k, (_, owner) in self._held.items() if not owner.is_alive()]
            for key in dead:
                _, owner = self._held.pop(key)
                log.error(
                    "thread %s died holding task %s; its lease is left to end", owner.name, printable(key[1])
                )
            return [(queue, task_id, receipt) for (queue, task_id), (receipt, _) in self._held.items()]

    def start(self) -> None:
        """Starts the background thread."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="alligator-leases", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stops the background thread and waits for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> LeaseKeeper:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def extend_now(self) -> None:
        """Extends every held lease once, now (one call per queue)."""
        by_queue: dict[str, list[tuple[str, str]]] = {}
        for queue, task_id, receipt in self._held_everywhere():
            by_queue.setdefault(queue, []).append((task_id, receipt))
        for queue, held in by_queue.items():
            flags = self.backend.extend_many(queue, held, self.lease_seconds)
            for (task_id, receipt), kept in zip(held, flags, strict=True):
                if not kept:
                    with self._lock:
                        entry = self._held.get((queue, task_id))
                        still_held = entry is not None and entry[0] == receipt
                    if still_held:
                        self.lost.add(task_id)
                        log.warning("lease of task %s was lost; it may run twice", printable(task_id))

    def _run(self) -> None:
        now = time.monotonic()
        next_extend = now + self.interval
        due = [now + seconds for seconds, _ in self._chores]
        while True:
            for index, (seconds, chore) in enumerate(self._chores):
                if time.monotonic() >= due[index]:
                    due[index] = time.monotonic() + seconds
                    try:
                        chore()
                    except Exception:
                        log.exception("a periodic worker chore failed; it runs again later")
            wake = min([next_extend, *due])
            if self._stop.wait(max(wake - time.monotonic(), 0.0)):
                return
            if time.monotonic() >= next_extend:
                next_extend = time.monotonic() + self.interval
                try:
                    self.extend_now()
                except Exception:
                    # The store may be briefly unreachable; the next round retries,
                    # and a lease is renewed three times per period for this reason.
                    log.exception("could not extend leases")
