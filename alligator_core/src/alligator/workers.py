"""The :class:`Worker`: takes tasks off a queue and runs them, until told to stop."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable  # wt-proc: minimal listeners
from types import FrameType
from typing import Any

from alligator.backend import Reservation
from alligator.constants import ALL
from alligator.delivery import (
    DEFAULT_LEASE_SECONDS,
    DEFAULT_MAX_DELIVERIES,
    Delivery,
    DeliveryRules,
    DeliverySteps,
    Outcome,
)
from alligator.events import FINISHED, STARTED, Listener, TaskEvent  # wt-proc: minimal listeners
from alligator.exceptions import ConfigurationError
from alligator.gator import Gator
from alligator.leases import LeaseKeeper
from alligator.security import NOTHING_ALLOWED
from alligator.text import printable

log = logging.getLogger("alligator.worker")

#: The most tasks one thread reserves in one call.
DEFAULT_PREFETCH = 32
#: Batches are sized so a batch runs in about this long; many tiny tasks are
#: fetched together, slow ones one at a time (so other workers can have them).
TARGET_BATCH_SECONDS = 0.05
#: Longest a finished task's ack waits to be sent with others.
ACK_FLUSH_SECONDS = 0.05
#: Longest wait between retries when the backend cannot be reached.
MAX_ERROR_BACKOFF = 5.0


class Worker:
    """Consumes a queue: reserves tasks, runs them, settles each.

    Example:
        >>> gator = Gator("locmem://example-worker", allow=["builtins"])
        >>> _ = gator.task(abs, -4)
        >>> Worker(gator, max_tasks=1).run_forever()
        1

    Every task is reserved under a lease that a background thread keeps
    alive while the worker holds it, and is acknowledged only after it ran:
    a worker killed at any instant loses nothing (its tasks run again
    elsewhere once their leases end). Tiny tasks are reserved and
    acknowledged in batches to save round trips; slow ones one at a time.

    Args:
        gator: The :class:`~alligator.gator.Gator` whose backend to consume.
        max_tasks: Stop after this many tasks (0: never).
        to_consume: The queue to consume; the default, ``ALL``, means the
            gator's own queue.
        nap_time: Seconds to sleep when the queue is empty (backends that
            can wait for work do that instead).
        concurrency: How many tasks run at once, each in its own thread.
            Threads suit the I/O-bound work tasks usually do; run more
            ``latergator`` processes for CPU-bound work.
        lease_seconds: Length of the lease on a task; a crashed worker's tasks
            are handed out again this long after it last renewed them.
        max_deliveries: Deliveries without a finished run after which a task
            is dead-lettered (its worker kept dying). A hard cap: runs that
            failed do not count, and a task's ``retries`` do not raise it.
        prefetch: The most tasks one thread reserves at once.
        allow: Modules to allow besides the gator's (see :class:`~alligator.gator.Gator`).
    """

    def __init__(
        self,
        gator: Gator,
        max_tasks: int = 0,
        to_consume: str = ALL,
        nap_time: float = 0.1,
        concurrency: int = 1,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        prefetch: int = DEFAULT_PREFETCH,
        allow: str | list[str] | tuple[str, ...] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency!r}")
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be positive, not {lease_seconds!r}")
        if max_tasks < 0:
            raise ValueError(f"max_tasks must be 0 (no limit) or more, not {max_tasks!r}")
        self.gator = gator
        self.max_tasks = max_tasks
        self.to_consume = gator.queue_name if to_consume == ALL else to_consume
        self.nap_time = nap_time
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.max_deliveries = max_deliveries
        self.prefetch = max(1, prefetch)
        self.policy = gator.policy.with_allowed(allow)
        self._steps = DeliverySteps(
            gator.backend, self.to_consume, DeliveryRules(self.policy, max_deliveries, gator.task_class)
        )
        #: Tasks handled so far (run, retried or dead-lettered).
        self.tasks_complete = 0
        self._claimed = 0
        self._count_lock = threading.Lock()
        self._stopping = threading.Event()
        self._keeper = LeaseKeeper(gator.backend, self.to_consume, lease_seconds)
        self._listeners: list[Listener] = []  # wt-proc: minimal listeners (wt-worker owns these)

    # -- wt-proc: minimal listeners, for the supervisor; wt-worker's version replaces this --

    def add_listener(self, listener: Callable[..., None]) -> None:
        """Calls ``listener`` with a ``TaskEvent`` (``alligator.events``) as each task starts and finishes."""
        self._listeners.append(listener)

    def _emit(self, event: TaskEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("a task listener raised; ignored")

    # -- the 0.5.0 hooks ---------------------------------------------------

    def ident(self) -> str:
        """Returns a string that identifies this worker in logs: host, pid, queue."""
        return f"Alligator Worker ({socket.gethostname()} #{os.getpid()}) on {self.to_consume!r}"

    def starting(self) -> None:
        """Logs the start line: the store, the allowed modules, whether signing is on."""
        log.info(
            "%s starting (store %s, concurrency %d, lease %.0fs, max deliveries %d)",
            self.ident(),
            self.gator.backend.describe(),
            self.concurrency,
            self.lease_seconds,
            self.max_deliveries,
        )
        log.info(
            "allowed task modules: %s; payload signing %s",
            ", ".join(self.policy.allow),
            "on (unsigned payloads are refused)" if self.policy.secrets else "off",
        )

    def check(self) -> None:
        """Raises if this worker could not run any task.

        Raises:
            ConfigurationError: No module is allowed, so every task would be
                dead-lettered one by one; the message says how to allow some.
        """
        if not self.policy.allow:
            raise ConfigurationError(NOTHING_ALLOWED)

    def stopping(self) -> None:
        """Logs the stop line."""
        log.info("%s stopping after %d task(s)", self.ident(), self.tasks_complete)

    def result(self, result: Any) -> None:
        """Receives the result of each task that succeeded (logged at DEBUG)."""
        log.debug("result: %r", result)

    # -- running -----------------------------------------------------------

    def stop(self) -> None:
        """Asks the worker to stop: the tasks in hand finish, the rest go back."""
        self._stopping.set()

    def run_forever(self) -> int:
        """Consumes until :meth:`stop`, a SIGTERM/SIGINT, or ``max_tasks``.

        Returns:
            How many tasks were handled.

        Raises:
            ConfigurationError: See :meth:`check`; raised before anything is reserved.
        """
        self.check()
        # Handlers first: a signal sent as soon as the start line shows must
        # still mean "finish and exit 0".
        restore = self._install_signal_handlers()
        self.starting()
        self._keeper.start()
        try:
            if self.concurrency == 1:
                self._consume_guarded()
            else:
                threads = [
                    threading.Thread(target=self._consume_guarded, name=f"alligator-task-{n}", daemon=True)
                    for n in range(self.concurrency)
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    # A timed join keeps the main thread able to take signals.
                    while thread.is_alive():
                        thread.join(0.2)
        finally:
            self._keeper.stop()
            restore()
            self.stopping()
        return self.tasks_complete

    def _install_signal_handlers(self) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("received %s; finishing the task in hand", signal.Signals(signum).name)
            self.stop()

        for sig in previous:
            signal.signal(sig, on_signal)

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore

    def _claim(self, wanted: int) -> int:
        with self._count_lock:
            if self.max_tasks:
                wanted = min(wanted, self.max_tasks - self.tasks_complete - self._claimed)
            wanted = max(wanted, 0)
            self._claimed += wanted
            return wanted

    def _settle_claims(self, claimed: int, handled: int) -> None:
        with self._count_lock:
            self._claimed -= claimed
            self.tasks_complete += handled

    def _finished(self) -> bool:
        with self._count_lock:
            return bool(self.max_tasks) and self.tasks_complete >= self.max_tasks

    def _consume_guarded(self) -> None:
        """Consumes until told to stop; an error of ours is logged, never fatal to the thread.

        A task's own exceptions never get here (the delivery steps settle
        them). An ``Exception`` that does is a fault of the store or of ours:
        logged, and consuming goes on after a pause. Anything else (an
        interrupt aimed at the process) stops the whole worker, loudly.
        """
        failures = 0
        thread = threading.current_thread()
        while not self._stopping.is_set() and not self._finished():
            try:
                self._consume()
                return
            except Exception:
                failures += 1
                wait = min(MAX_ERROR_BACKOFF, 0.1 * 2**failures)
                # Its unsent acks are lost: stop renewing what it held, so
                # those tasks are delivered again once their leases end.
                self._keeper.drop_thread(thread)
                log.exception("worker thread %s failed; going on in %.1fs", thread.name, wait)
                self._stopping.wait(wait)
            except BaseException:
                self._keeper.drop_thread(thread)
                log.critical("worker thread %s was interrupted; stopping the worker", thread.name)
                self.stop()
                raise

    def _consume(self) -> None:
        backend = self.gator.backend
        acks: list[tuple[str, str]] = []
        seconds_per_task = TARGET_BATCH_SECONDS
        errors = 0
        while not self._stopping.is_set() and not self._finished():
            size = max(1, min(self.prefetch, int(TARGET_BATCH_SECONDS / max(seconds_per_task, 1e-6))))
            claimed = self._claim(size)
            if not claimed:
                # Other threads hold the rest of max_tasks; wait for them.
                self._stopping.wait(0.01)
                continue
            try:
                self._flush(acks)
                timeout = max(self.nap_time, 1.0) if backend.blocking_reserve else 0.0
                batch = backend.reserve(self.to_consume, self.lease_seconds, claimed, timeout)
                errors = 0
            except Exception as err:
                self._settle_claims(claimed, 0)
                errors += 1
                wait = min(MAX_ERROR_BACKOFF, 0.1 * 2**errors)
                log.error("backend error: %s; retrying in %.1fs", err, wait)
                self._stopping.wait(wait)
                continue
            if not batch:
                self._settle_claims(claimed, 0)
                if not backend.blocking_reserve:
                    self._stopping.wait(self.nap_time)
                continue
            for reservation in batch:
                self._keeper.hold(reservation)
            started = time.monotonic()
            handled = 0
            try:
                handled = self._run_batch(batch, acks)
            finally:
                self._settle_claims(claimed, handled)
            if handled:
                elapsed = (time.monotonic() - started) / handled
                seconds_per_task = 0.7 * seconds_per_task + 0.3 * elapsed
        self._flush(acks, final=True)

    def _run_batch(self, batch: list[Reservation], acks: list[tuple[str, str]]) -> int:
        handled = 0
        oldest_ack = time.monotonic()
        for index, reservation in enumerate(batch):
            rest = batch[index + 1 :]
            if self._stopping.is_set():
                self._hand_back([reservation, *rest])
                break
            if reservation.attempts > 1:
                # A redelivery may be what killed the last worker: run it
                # alone, with everything finished before it acked, so a
                # second crash costs only its own delivery.
                self._flush(acks)
                if rest:
                    self._hand_back(rest)
                    rest = []
            delivery = self._deliver(reservation, acks)
            if delivery.outcome is Outcome.SUCCEEDED:
                if not acks:
                    oldest_ack = time.monotonic()
                acks.append((reservation.task_id, reservation.receipt))
                assert delivery.task is not None
                try:
                    self.result(delivery.task.result)
                except Exception:
                    log.exception("Worker.result() raised; the task's success stands")
            else:
                self._keeper.drop(reservation.task_id)
            if delivery.outcome is not Outcome.WAITING:
                handled += 1
            if acks and time.monotonic() - oldest_ack >= ACK_FLUSH_SECONDS:
                self._flush(acks)
            if not rest and index + 1 < len(batch):
                break
        return handled

    def _deliver(self, reservation: Reservation, acks: list[tuple[str, str]]) -> Delivery:
        delivery = self._steps.open(reservation)
        if delivery.settled:
            return delivery
        assert delivery.task is not None
        if delivery.task.depends_on:
            # A dependency may be among the tasks finished but not acked yet.
            self._flush(acks)
        # wt-proc: minimal STARTED/FINISHED events (wt-worker's version replaces this)
        limit = getattr(delivery.task, "time_limit", None) or getattr(self, "time_limit", None)
        common = (self.to_consume, reservation.task_id, delivery.function, reservation.attempts)
        self._emit(TaskEvent(STARTED, *common, receipt=reservation.receipt, time_limit=limit))
        try:
            return self._steps.complete(delivery)
        finally:
            outcome = delivery.outcome.value if delivery.outcome is not None else None
            self._emit(TaskEvent(FINISHED, *common, receipt=reservation.receipt, outcome=outcome))

    def _hand_back(self, reservations: list[Reservation]) -> None:
        for reservation in reservations:
            self._keeper.drop(reservation.task_id)
            try:
                self.gator.backend.release(
                    self.to_consume, reservation.task_id, reservation.receipt, 0.0, False
                )
            except Exception as err:
                log.error("could not hand back task %s: %s", printable(reservation.task_id), err)

    def _flush(self, acks: list[tuple[str, str]], final: bool = False) -> None:
        """Sends the buffered acks; on a backend error keeps them for the next try."""
        if not acks:
            return
        try:
            done = self.gator.backend.ack_many(self.to_consume, acks)
        except Exception as err:
            if not final:
                # The leases stay held (and renewed) until the acks get through.
                log.error("could not acknowledge %d task(s) yet: %s", len(acks), err)
                return
            log.error("could not acknowledge %d task(s): %s; they will run again", len(acks), err)
            done = len(acks)
        if done < len(acks):
            log.warning("%d task(s) finished after their lease was lost", len(acks) - done)
        for task_id, _ in acks:
            self._keeper.drop(task_id)
        acks.clear()
