"""Keeping the leases of held tasks alive while they run."""

from __future__ import annotations

import logging
import threading
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

    Args:
        backend: The backend the tasks were reserved from.
        queue: Their queue.
        lease_seconds: The lease length to keep renewing.
    """

    def __init__(self, backend: Backend, queue: str, lease_seconds: float) -> None:
        self.backend = backend
        self.queue = queue
        self.lease_seconds = lease_seconds
        self.interval = max(lease_seconds / 3.0, 0.01)
        # task_id -> (receipt, the thread running it)
        self._held: dict[str, tuple[str, threading.Thread]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Ids whose lease could not be extended (it ran out, so they may run twice).
        self.lost: set[str] = set()

    def hold(self, reservation: Reservation) -> None:
        """Starts keeping a reservation's lease alive, for as long as this thread lives."""
        with self._lock:
            self._held[reservation.task_id] = (reservation.receipt, threading.current_thread())

    def drop(self, task_id: str) -> None:
        """Stops keeping a task's lease alive (it was settled)."""
        with self._lock:
            self._held.pop(task_id, None)

    def drop_thread(self, thread: threading.Thread) -> None:
        """Stops keeping alive every lease ``thread`` held."""
        with self._lock:
            for task_id in [t for t, (_, owner) in self._held.items() if owner is thread]:
                del self._held[task_id]

    def held(self) -> list[tuple[str, str]]:
        """Returns the ``(task_id, receipt)`` pairs held now by live threads.

        A lease whose thread died is dropped: renewing it would keep its
        task RUNNING for ever with nobody running it.
        """
        with self._lock:
            dead = [t for t, (_, owner) in self._held.items() if not owner.is_alive()]
            for task_id in dead:
                _, owner = self._held.pop(task_id)
                log.error(
                    "thread %s died holding task %s; its lease is left to end", owner.name, printable(task_id)
                )
            return [(task_id, receipt) for task_id, (receipt, _) in self._held.items()]

    def start(self) -> None:
        """Starts the background thread."""
        if self._thread is None:
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
        """Extends every held lease once, now."""
        held = self.held()
        if not held:
            return
        flags = self.backend.extend_many(self.queue, held, self.lease_seconds)
        for (task_id, receipt), kept in zip(held, flags, strict=True):
            if not kept:
                with self._lock:
                    entry = self._held.get(task_id)
                    still_held = entry is not None and entry[0] == receipt
                if still_held:
                    self.lost.add(task_id)
                    log.warning("lease of task %s was lost; it may run twice", printable(task_id))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.extend_now()
            except Exception:
                # The store may be briefly unreachable; the next round retries,
                # and a lease is renewed three times per period for this reason.
                log.exception("could not extend leases")
