"""The one owner of settlement: applies verdicts to the store and keeps leases alive until then.

Everything that consumes tasks (a :class:`~alligator.workers.Worker`,
:meth:`Gator.pop <alligator.gator.Gator.pop>` and ``get``, the supervisor
settling a task it killed) decides what to do with a delivery as a
:class:`~alligator.verdicts.Verdict` and hands it to a :class:`Settler`.
Only the settler writes a delivery's ending to the store (ack, release,
dead letter) and renews leases, so there is one place where:

* a lease is held from the reservation (:meth:`Settler.hold`) until the
  verdict is applied, and renewed meanwhile by the settler's lease thread
  every third of a lease (two renewals can fail in a row, a network blip,
  before the lease is at risk);
* a success's ack, with its return value, is sent (at once, or batched:
  a worker's settler sends every pending ack within
  :data:`ACK_FLUSH_SECONDS`, in one call per queue, and keeps the lease
  renewed until the ack got through; :meth:`Settler.stop` sends what is
  left);
* a store that fails while settling leaves the task to its lease (it is
  delivered again), and a receipt gone stale changes nothing;
* each delivery's ending is logged, as one line with its fields as
  ``extra`` (for JSON logs).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from alligator import store_defaults
from alligator.backend import Backend, Reservation
from alligator.exceptions import BackendError
from alligator.leases import HeldLeases
from alligator.settling import Outcome
from alligator.text import printable
from alligator.verdicts import Acknowledge, Bury, HandBack, Leave, Retry, Verdict

if TYPE_CHECKING:  # pragma: no cover
    from alligator.delivery import Delivery

log = logging.getLogger("alligator.worker")

#: Longest a finished task's ack waits to be sent with others (a batching settler).
ACK_FLUSH_SECONDS = 0.05
#: Acks sent at once when this many are pending, whatever their age: a batch
#: of thousands of tiny tasks' acks would hold the store (one Redis script) for
#: milliseconds, while tasks' own calls to it wait, and swell the worker's memory.
ACK_BATCH_MAX = 256
#: Longest wait between retries when the store cannot be reached.
MAX_ERROR_BACKOFF = 5.0
#: The lease a settler renews when not told otherwise, in seconds.
DEFAULT_LEASE_SECONDS = 30.0

_OUTCOMES: dict[type[Verdict], Outcome] = {
    Acknowledge: Outcome.SUCCEEDED,
    Retry: Outcome.RETRYING,
    Bury: Outcome.DEAD,
    HandBack: Outcome.WAITING,
    Leave: Outcome.UNSETTLED,
}


class Settler:
    """Applies verdicts to one backend, and holds and renews the leases until then.

    Example:
        >>> from alligator import Gator
        >>> from alligator.verdicts import Acknowledge
        >>> gator = Gator("locmem://settler-example", allow=["builtins"])
        >>> task = gator.task(abs, -3)
        >>> [held] = gator.backend.reserve(gator.queue_name, 30.0)
        >>> Settler(gator.backend).apply(Acknowledge(gator.queue_name, held.task_id, held.receipt, "3", 60.0))
        True
        >>> gator.result(task.task_id)
        3

    Args:
        backend: The store the verdicts are applied to.
        lease_seconds: The lease length to renew held leases by.
        batch: Send a success's ack with others, within
            :data:`ACK_FLUSH_SECONDS` (a worker), rather than at once.
    """

    def __init__(
        self, backend: Backend, lease_seconds: float = DEFAULT_LEASE_SECONDS, batch: bool = False
    ) -> None:
        self.backend = backend
        self.lease_seconds = lease_seconds
        self.interval = max(lease_seconds / 3.0, 0.01)
        self.batch = batch
        self.leases = HeldLeases()
        # (interval in seconds, chore), see every()
        self._chores: list[tuple[float, Callable[[], None]]] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # The acks waiting to be sent, under one condition with their timer.
        self._cond = threading.Condition(threading.Lock())
        # The pending successes by queue; their Acks are built by the ack thread (off the task's).
        self._acks: dict[str, list[Acknowledge]] = {}
        self._acks_since: float | None = None
        self._pending_count = 0
        self._ack_errors = 0
        self._ack_retry_at = 0.0
        self._flush_lock = threading.Lock()

    # -- leases ------------------------------------------------------------

    @property
    def lost(self) -> set[str]:
        """Ids whose lease could not be extended (it ran out, so they may run twice)."""
        return self.leases.lost

    def hold(self, queue: str, reservation: Reservation, owner: threading.Thread | None = None) -> None:
        """Holds a reservation's lease, renewed until its verdict is applied or its owner thread ends.

        The owner is the calling thread unless given; holding it again from
        another thread makes that thread its owner.
        """
        self.leases.hold(queue, reservation, owner)

    def drop_thread(self, thread: threading.Thread) -> None:
        """Stops renewing every lease ``thread`` held (it failed; its tasks are left to their leases)."""
        self.leases.drop_thread(thread)

    def held(self, queue: str) -> list[tuple[str, str]]:
        """Returns the ``(task_id, receipt)`` pairs of ``queue`` held now by live threads."""
        return [(task_id, receipt) for q, task_id, receipt in self.leases.everywhere() if q == queue]

    def extend_now(self) -> None:
        """Extends every held lease once, now (one call per queue)."""
        by_queue: dict[str, list[tuple[str, str]]] = {}
        for queue, task_id, receipt in self.leases.everywhere():
            by_queue.setdefault(queue, []).append((task_id, receipt))
        for queue, held in by_queue.items():
            flags = self.backend.extend_many(queue, held, self.lease_seconds)
            for (task_id, receipt), kept in zip(held, flags, strict=True):
                if not kept and self.leases.receipt(queue, task_id) == receipt:
                    self.leases.lost.add(task_id)
                    log.warning("lease of task %s was lost; it may run twice", printable(task_id))

    # -- applying verdicts -------------------------------------------------

    def apply(self, verdict: Verdict) -> bool:
        """Writes one verdict to the store now, and drops its lease.

        An :class:`~alligator.verdicts.Acknowledge` is sent at once too,
        batching or not; a :class:`~alligator.verdicts.Leave` writes nothing.

        Returns:
            False when the receipt was stale (the lease ended first): the
            store changed nothing.

        Raises:
            Exception: Whatever the store raised; the lease is dropped all
                the same, so the task is delivered again once it ends.
        """
        queue, task_id, receipt = verdict.queue, verdict.task_id, verdict.receipt
        try:
            if isinstance(verdict, Acknowledge):
                return store_defaults.ack_results(self.backend, queue, [verdict.ack]) == 1
            if isinstance(verdict, Retry):
                return bool(self.backend.release(queue, task_id, receipt, verdict.delay))
            if isinstance(verdict, HandBack):
                return bool(self.backend.release(queue, task_id, receipt, verdict.delay, False))
            if isinstance(verdict, Bury):
                return bool(self.backend.dead_letter(queue, task_id, receipt, verdict.reason))
            if isinstance(verdict, Leave):
                return True
            raise TypeError(f"not a verdict: {verdict!r}")
        finally:
            self.leases.drop(queue, task_id)

    def settle(self, delivery: Delivery) -> Outcome:
        """Applies a decided delivery's verdict, sets its ``outcome`` and logs its one line.

        A success's ack joins the batch when batching (its lease renewed
        until it is sent), else goes at once. A store that fails on any
        other verdict leaves the task to its lease (``Outcome.UNSETTLED``).

        Returns:
            The delivery's outcome.

        Raises:
            Exception: An ack sent at once that the store refused: the
                caller learns its success was not recorded (the task runs
                again once its lease ends).
        """
        verdict = delivery.verdict
        assert verdict is not None, "decide the delivery first"
        outcome = delivery.outcome = _OUTCOMES[type(verdict)]
        if isinstance(verdict, Acknowledge):
            # At DEBUG: a line per success costs a busy worker a third of its
            # time; the worker's progress line counts them at INFO instead.
            _log(logging.DEBUG, delivery, "succeeded in %.3fs", delivery.duration)
            if self.batch:
                self._queue_ack(verdict)
            elif not self.apply(verdict):
                log.warning(
                    "task %s finished after its lease was lost; it may run again", printable(verdict.task_id)
                )
            return outcome
        try:
            applied = self.apply(verdict)
        except Exception as err:
            return self._unsettled(delivery, err)
        if isinstance(verdict, Leave):
            _log(
                logging.ERROR,
                delivery,
                "could not be settled (%s); it runs again once its lease ends",
                printable(delivery.reason or ""),
            )
        elif isinstance(verdict, Retry):
            _log(logging.WARNING, delivery, "%s", delivery.note)
        elif isinstance(verdict, Bury):
            lines = (delivery.reason or "").strip().splitlines() or [""]
            summary = lines[0] if len(lines) == 1 else f"{lines[0]} {lines[-1]}"
            # The traceback goes through the formatter (exc_info), so a JSON log
            # keeps it in one field; the text of the line itself is escaped.
            _log(
                logging.ERROR, delivery, "dead-lettered: %s", printable(summary, 500), exc_info=delivery.cause
            )
        if not applied:
            _log(logging.WARNING, delivery, "its lease had ended first; the store kept its other delivery")
        return outcome

    def _unsettled(self, delivery: Delivery, err: BaseException) -> Outcome:
        delivery.outcome = Outcome.UNSETTLED
        delivery.reason = f"{type(err).__name__}: {err}"
        _log(
            logging.ERROR,
            delivery,
            "could not be settled (%s); it runs again once its lease ends",
            printable(delivery.reason),
        )
        return Outcome.UNSETTLED

    # -- batched acks ------------------------------------------------------

    @property
    def pending(self) -> bool:
        """Whether acks are waiting to be sent."""
        return self._acks_since is not None

    def _queue_ack(self, verdict: Acknowledge) -> None:
        with self._cond:
            self._acks.setdefault(verdict.queue, []).append(verdict)
            self._pending_count += 1
            if self._acks_since is None:
                # The first pending ack: the ack thread sends it (and those
                # that join it) within ACK_FLUSH_SECONDS.
                self._acks_since = time.monotonic()
                self._cond.notify_all()
            elif self._pending_count == ACK_BATCH_MAX:
                self._cond.notify_all()

    def flush(self, final: bool = False) -> int:
        """Sends every pending ack now, one call per queue, and drops their leases.

        On a store error the acks are kept (their leases renewed) for a
        later try, after a backoff; with ``final`` (the settler stops) they
        are given up instead, and run again once their leases end.

        Returns:
            How many acks took effect (a stale receipt's does not).
        """
        done_total = 0
        with self._flush_lock:
            with self._cond:
                pending, self._acks, self._acks_since = self._acks, {}, None
                self._pending_count = 0
            for queue, verdicts in pending.items():
                try:
                    done = store_defaults.ack_results(self.backend, queue, [v.ack for v in verdicts])
                    self._ack_errors = 0
                except Exception as err:
                    if not final:
                        self._retry_later(queue, verdicts, err)
                        continue
                    log.error("could not acknowledge %d task(s): %s; they will run again", len(verdicts), err)
                else:
                    done_total += done
                    if done < len(verdicts):
                        log.warning("%d task(s) finished after their lease was lost", len(verdicts) - done)
                for verdict in verdicts:
                    self.leases.drop(queue, verdict.task_id)
        return done_total

    def _retry_later(self, queue: str, acks: list[Acknowledge], err: Exception) -> None:
        # The leases stay held (and renewed) until the acks get through.
        self._ack_errors += 1
        wait = min(MAX_ERROR_BACKOFF, 0.1 * 2**self._ack_errors)
        log.error("could not acknowledge %d task(s) yet: %s; retrying in %.1fs", len(acks), err, wait)
        with self._cond:
            self._acks[queue] = acks + self._acks.get(queue, [])
            self._pending_count += len(acks)
            self._acks_since = self._acks_since or time.monotonic()
            self._ack_retry_at = time.monotonic() + wait

    # -- the background threads --------------------------------------------

    def every(self, seconds: float, chore: Callable[[], None]) -> None:
        """Also calls ``chore()`` from the lease thread every ``seconds`` (first after ``seconds``).

        Call before :meth:`start` (a worker's heartbeat). Exceptions are
        logged; the chore runs again next time.
        """
        self._chores.append((seconds, chore))

    def start(self) -> None:
        """Starts renewing held leases (and running chores), and, batching, sending acks."""
        if self._threads:
            return
        self._stop.clear()
        self._threads = [threading.Thread(target=self._renew, name="alligator-leases", daemon=True)]
        if self.batch:
            self._threads.append(threading.Thread(target=self._send_acks, name="alligator-acks", daemon=True))
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Sends the pending acks (a last try), then stops the threads and waits for them."""
        self.flush(final=True)
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        for thread in self._threads:
            thread.join()
        self._threads = []

    def __enter__(self) -> Settler:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _send_acks(self) -> None:
        """The ack thread: sends pending acks within ACK_FLUSH_SECONDS, or after a failed try's backoff."""
        while True:
            with self._cond:
                while not self._stop.is_set():
                    if self._acks_since is None:
                        self._cond.wait()
                        continue
                    due = max(self._acks_since + ACK_FLUSH_SECONDS, self._ack_retry_at)
                    if self._pending_count >= ACK_BATCH_MAX and time.monotonic() >= self._ack_retry_at:
                        break
                    if time.monotonic() >= due:
                        break
                    self._cond.wait(due - time.monotonic())
            if self._stop.is_set():
                return
            try:
                self.flush()
            except Exception:
                log.exception("sending acks failed; trying again")
                self._stop.wait(0.1)

    def _renew(self) -> None:
        """The lease thread: extends held leases every ``interval``, and runs the chores."""
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
                except BackendError as err:
                    # The store may be briefly unreachable (restarting); the next round
                    # retries, and a lease is renewed three times per period for this reason.
                    log.error("could not extend leases: %s; trying again next round", err)
                except Exception:
                    log.exception("could not extend leases")


def _log(
    level: int, delivery: Delivery, message: str, *args: Any, exc_info: BaseException | None = None
) -> None:
    """Logs one line about a delivery, with its fields as ``extra`` for JSON logs."""
    if not log.isEnabledFor(level):
        return
    reservation = delivery.reservation
    outcome = delivery.outcome.value if delivery.outcome is not None else None
    log.log(
        level,
        "task %s [%s] on %s: " + message,
        delivery.function,
        printable(reservation.task_id),
        printable(delivery.queue),
        *args,
        exc_info=exc_info,
        extra={
            "task_id": reservation.task_id,
            "function": delivery.function,
            "queue": delivery.queue,
            "outcome": outcome,
            "attempt": reservation.attempts,
            "duration": round(delivery.duration, 6),
            "delay": round(delivery.delay, 3)
            if delivery.outcome in (Outcome.RETRYING, Outcome.WAITING)
            else None,
        },
    )
