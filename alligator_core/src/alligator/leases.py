"""The leases a consumer holds: which tasks, under which receipt, for which thread.

A :class:`~alligator.settler.Settler` keeps one :class:`HeldLeases` from
the moment a task is reserved (hold) to the moment its verdict is applied
(drop), and renews every lease in it until then. This module is only the
record; it writes nothing to the store.
"""

from __future__ import annotations

import logging
import threading

from alligator.backend import Reservation
from alligator.text import printable

log = logging.getLogger("alligator.worker")


class HeldLeases:
    """The leases held now, each for as long as the thread that owns it lives.

    Tasks may come from several queues (a worker with priority queues): each
    is held under the queue it was reserved from. Thread-safe.
    """

    def __init__(self) -> None:
        # (queue, task_id) -> (receipt, the thread running it)
        self._held: dict[tuple[str, str], tuple[str, threading.Thread]] = {}
        self._lock = threading.Lock()
        #: Ids whose lease could not be extended (it ran out, so they may run twice).
        self.lost: set[str] = set()

    def hold(self, queue: str, reservation: Reservation, owner: threading.Thread | None = None) -> None:
        """Holds a reservation's lease for as long as its owner thread lives.

        The owner is the calling thread unless given. Holding it again from
        another thread (a buffered task a thread starts) makes that thread
        its owner.
        """
        with self._lock:
            self._held[(queue, reservation.task_id)] = (
                reservation.receipt,
                owner or threading.current_thread(),
            )

    def drop(self, queue: str, task_id: str) -> None:
        """Stops holding a task's lease (its verdict was applied, or it is left to end)."""
        with self._lock:
            self._held.pop((queue, task_id), None)

    def drop_thread(self, thread: threading.Thread) -> None:
        """Stops holding every lease ``thread`` owned."""
        with self._lock:
            for key in [k for k, (_, owner) in self._held.items() if owner is thread]:
                del self._held[key]

    def receipt(self, queue: str, task_id: str) -> str | None:
        """The receipt a task is held under, or None when it is not held."""
        with self._lock:
            entry = self._held.get((queue, task_id))
        return None if entry is None else entry[0]

    def everywhere(self) -> list[tuple[str, str, str]]:
        """Returns ``(queue, task_id, receipt)`` of every lease held now by a live thread.

        A lease whose thread died is dropped: renewing it would keep its
        task RUNNING for ever with nobody running it.
        """
        with self._lock:
            dead = [k for k, (_, owner) in self._held.items() if not owner.is_alive()]
            for key in dead:
                _, owner = self._held.pop(key)
                log.error(
                    "thread %s died holding task %s; its lease is left to end", owner.name, printable(key[1])
                )
            return [(queue, task_id, receipt) for (queue, task_id), (receipt, _) in self._held.items()]
