"""Rate limits and concurrency per key: a worker's side, and ``gator.limit`` inside a task.

A task queued with ``rate_limit`` or ``concurrency_limit`` (see
:class:`~alligator.tasks.Task`) is checked by :class:`LimitGate` just before
it runs, after its payload is opened and admitted, against the store's
shared state (:mod:`alligator.limit_store`). A task with no limit costs no
store call. When a limit says wait, the task is handed back unstarted
(:class:`~alligator.verdicts.HandBack`: not an attempt, never a failure,
never a dead letter):

* over a rate, due again after exactly the wait the store gave: the slot
  the store booked for it, so the waiting tasks of a busy key come back
  one per slot, not all together;
* every concurrency slot taken, due again after a short, jittered
  :data:`SLOT_RECHECK_SECONDS` (at most the time until the first held
  lease ends), since nobody knows when a running task will end.

A task with both takes its concurrency slot first and gives it back if the
rate says wait, so a waiting task never holds a slot. The slot of a task
that runs is extended with its lease (every third of a lease) and given
back when it ends; a worker killed mid-task stops extending it, and the
slot frees itself when its lease ends.

The key is the task's ``limit_key``, else its function (``module:name``).
The holder the store sees is a hash of the task's queue and id, so the same
task meets its booking again whatever worker takes it next.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alligator import capabilities
from alligator.limit_store import MAX_LIMIT_KEY_BYTES, Limiting, Rate, check_key, parse_rate
from alligator.text import printable

if TYPE_CHECKING:
    from alligator.backend import Backend
    from alligator.tasks import Task

log = logging.getLogger("alligator.worker")

#: Longest a task refused a concurrency slot waits before it is tried again
#: (it waits a random time between half this and this, so the waiting tasks
#: of one key do not all come back at once).
SLOT_RECHECK_SECONDS = 1.0
#: Shortest wait before a refused task is tried again (a store that says
#: "a lease ends now" must not make a worker spin).
MIN_RECHECK_SECONDS = 0.05
#: How long a task is set aside when its store cannot be asked (an error).
ERROR_RECHECK_SECONDS = 1.0


@dataclass(frozen=True)
class Limits:
    """What a task asks for: a rate and/or a concurrency limit, on one key."""

    key: str
    rate: Rate | None
    concurrency: int | None


def limits_of(task: Task) -> Limits | None:
    """The limits a task was queued with; None for a task without any (no store call then)."""
    if task.rate_limit is None and task.concurrency_limit is None:
        return None
    key = task.limit_key
    if key is None:
        key = f"{task.module}:{task.callable}"
        if len(key.encode("utf-8", "surrogatepass")) > MAX_LIMIT_KEY_BYTES:
            # A function's name may be longer than a key may be: its hash stands for it.
            key = "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    rate = None if task.rate_limit is None else parse_rate(task.rate_limit)
    return Limits(key, rate, task.concurrency_limit)


def holder_of(queue: str, task_id: str) -> str:
    """The holder a store sees for a task: 32 hex digits of a hash of its queue and id."""
    return hashlib.sha256(f"{queue}\0{task_id}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


class LimitGate:
    """A worker's limits: checks a task's before it runs, holds its concurrency slot while it runs.

    Thread-safe: the worker's task threads call :meth:`admit` and
    :meth:`done`, its lease thread :meth:`extend_now`.

    Args:
        backend: The worker's store.
        lease_seconds: The worker's lease: a slot's lease is as long.
    """

    def __init__(self, backend: Backend, lease_seconds: float) -> None:
        self.backend = backend
        self.lease_seconds = lease_seconds
        # (queue, task_id) -> (key, holder) of the concurrency slots held now.
        self._held: dict[tuple[str, str], tuple[str, str]] = {}
        self._lock = threading.Lock()
        #: Tasks handed back by a limit so far (logged as the worker stops).
        self.delayed = 0
        #: Calls made to the store's limits so far (logged as the worker stops).
        self.calls = 0

    def _store(self) -> Limiting:
        return capabilities.limiting(self.backend)

    def summary(self) -> str:
        """What the limits cost, for the worker's stop line: "" when no task had a limit."""
        with self._lock:
            if not self.calls:
                return ""
            return f"; {self.delayed} waited on a limit ({self.calls} limit calls)"

    def _called(self) -> None:
        with self._lock:
            self.calls += 1

    def admit(self, queue: str, task: Task, limits: Limits) -> float:
        """Takes what ``task`` needs to run now.

        Returns:
            0.0 when it may run (its slot, if any, held until :meth:`done`);
            else the seconds to hand it back for.

        Raises:
            Unsupported: The store cannot keep limits (a payload written by
                hand: a producer refuses such a task at enqueue).
        """
        store = self._store()
        holder = holder_of(queue, task.task_id)
        try:
            if limits.concurrency is not None:
                self._called()
                wait = store.acquire_slot(limits.key, holder, limits.concurrency, self.lease_seconds)
                if wait > 0:
                    return self._delayed(max(MIN_RECHECK_SECONDS, min(wait, SLOT_RECHECK_SECONDS)), True)
                with self._lock:
                    self._held[(queue, task.task_id)] = (limits.key, holder)
            if limits.rate is not None:
                self._called()
                wait = store.take_rate(limits.key, holder, limits.rate.count, limits.rate.per)
                if wait > 0:
                    self.done(queue, task.task_id)
                    return self._delayed(max(MIN_RECHECK_SECONDS, wait), False)
        except capabilities.Unsupported:
            raise
        except Exception as err:
            self.done(queue, task.task_id)
            log.error(
                "could not check the limits of task %s (%s); trying again in %gs",
                printable(task.task_id),
                err,
                ERROR_RECHECK_SECONDS,
            )
            return self._delayed(ERROR_RECHECK_SECONDS, False)
        return 0.0

    def _delayed(self, seconds: float, jitter: bool) -> float:
        with self._lock:
            self.delayed += 1
        return seconds * random.uniform(0.5, 1.0) if jitter else seconds

    def done(self, queue: str, task_id: str) -> None:
        """Gives back the slot a task held, if any; a store error leaves it to its lease (logged)."""
        with self._lock:
            held = self._held.pop((queue, task_id), None)
        if held is None:
            return
        try:
            self._called()
            self._store().release_slot(*held)
        except Exception as err:
            log.error(
                "could not give back the %s slot of task %s (%s); it frees itself when its lease ends",
                printable(held[0]),
                printable(task_id),
                err,
            )

    def extend_now(self) -> None:
        """Extends the lease of every slot held now (the worker's lease thread calls it)."""
        with self._lock:
            held = list(self._held.items())
        if not held:
            return
        store = self._store()
        for (_, task_id), (key, holder) in held:
            try:
                self._called()
                if not store.extend_slot(key, holder, self.lease_seconds):
                    log.error(
                        "the %s slot of task %s ended before it was extended: another task may run in it",
                        printable(key),
                        printable(task_id),
                    )
            except Exception as err:
                log.error(
                    "could not extend the %s slot of task %s: %s", printable(key), printable(task_id), err
                )


@contextlib.contextmanager
def limit(backend: Backend, key: str, rate: str, timeout: float | None = None) -> Iterator[None]:
    """Waits until ``key`` may be taken at ``rate``, then runs the block: see :meth:`~.gator.Gator.limit`.

    Raises:
        Unsupported: The store cannot keep limits.
        TimeoutError: The wait would end past ``timeout`` seconds.
    """
    store = capabilities.limiting(backend)
    check_key(key, "key")
    parsed = parse_rate(rate, "rate")
    holder = uuid.uuid4().hex
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        wait = store.take_rate(key, holder, parsed.count, parsed.per)
        if wait <= 0:
            break
        if deadline is not None and time.monotonic() + wait > deadline:
            raise TimeoutError(
                f"the rate limit {parsed} of {key!r} would let this block run only in {wait:.3g}s, "
                f"past its timeout of {timeout}s"
            )
        time.sleep(wait)
    yield
