"""How a :class:`~alligator.workers.Worker` keeps its record in the store's live-worker registry.

The worker writes its record (a :class:`~alligator.presence.WorkerInfo`:
who it is, what it consumes, the tasks it runs now) when it starts and then
every :attr:`~alligator.workers.Worker.heartbeat_seconds` (from its
settler's lease thread), and removes it when it stops. The record expires on its
own :data:`~alligator.presence.WORKER_TTL` seconds after the last beat, so a
killed worker drops out of the listing too. A store without a registry turns
heartbeats off for the worker.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import TYPE_CHECKING

from alligator import capabilities, presence

if TYPE_CHECKING:  # pragma: no cover
    from alligator.gator import Gator

log = logging.getLogger("alligator.worker")


class Heartbeats:
    """The live-worker record of :class:`~alligator.workers.Worker` (a mixin: the state is the worker's)."""

    gator: Gator
    worker_id: str
    supervisor: str
    queues: tuple[str, ...]
    concurrency: int
    tasks_complete: int
    _cond: threading.Condition
    _count_lock: threading.Lock
    _running: dict[int, presence.RunningTask]
    _registry: bool
    _started_at: float

    def info(self) -> presence.WorkerInfo:
        """This worker as its heartbeat record describes it."""
        with self._cond:
            current = tuple(self._running.values())
        with self._count_lock:
            handled = self.tasks_complete
        return presence.WorkerInfo(
            worker_id=self.worker_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            queues=self.queues,
            concurrency=self.concurrency,
            started_at=self._started_at,
            heartbeat_at=time.time(),
            tasks_handled=handled,
            current=current,
            supervisor=self.supervisor,
        )

    def heartbeat(self) -> None:
        """Writes this worker's record to the store's live-worker registry (from the lease thread).

        A backend without a registry (``NotImplementedError``) turns it off
        for this worker.
        """
        if not self._registry:
            return
        try:
            capabilities.registry(self.gator.backend).heartbeat(
                self.worker_id, presence.encode(self.info()), presence.WORKER_TTL
            )
        except NotImplementedError:
            self._registry = False
            log.debug("%s keeps no registry of workers; heartbeats are off", self.gator.backend.describe())

    def _safe_heartbeat(self) -> None:
        try:
            self.heartbeat()
        except Exception as err:
            # The next beat tries again; the record lives WORKER_TTL seconds.
            log.warning("could not write this worker's heartbeat: %s", err)

    def _forget(self) -> None:
        if not self._registry:
            return
        try:
            capabilities.registry(self.gator.backend).forget_worker(self.worker_id)
        except NotImplementedError:
            pass
        except Exception as err:
            log.warning("could not remove this worker's record (it expires on its own): %s", err)
