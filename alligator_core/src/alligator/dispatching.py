"""How a :class:`~alligator.workers.Worker` hands tasks to its threads.

The worker's threads share one small in-process buffer of reserved,
unstarted tasks (see :mod:`alligator.workers` for the whole picture):

* A thread with nothing to run takes the next buffered task; only when the
  buffer is empty does one thread (one at a time) reserve a new batch, sized
  so the batch runs in about :data:`TARGET_BATCH_SECONDS` by the measured
  speed of recent tasks (never more than ``prefetch``, never less than the
  threads waiting for work).
* A buffered task is reserved (the store says RUNNING), so it may stay
  buffered only :data:`BUFFER_HOLD_SECONDS`; then it is handed back,
  unstarted and uncounted, and says WAITING again.
* Every reservation's lease is held by the worker's
  :class:`~alligator.settler.Settler` from the moment it is reserved; a
  task handed back goes to the same settler as a
  :class:`~alligator.verdicts.HandBack` verdict (it sends a finished task's
  ack too, batched).
* A paused queue is left out of every reservation; a task of a paused
  function (or one reserved before its queue's pause was seen) is handed
  back unstarted and uncounted.
* Reservations are claimed against ``max_tasks`` before they are made, so
  the threads together never take more than the worker may handle.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from alligator import capabilities, events, pausing
from alligator.backend import Reservation
from alligator.exceptions import PermanentBackendError
from alligator.limiting import LimitGate, Limits
from alligator.settler import MAX_ERROR_BACKOFF, Settler
from alligator.text import printable
from alligator.verdicts import HandBack

if TYPE_CHECKING:  # pragma: no cover
    from alligator.delivery import Delivery, DeliverySteps
    from alligator.gator import Gator

log = logging.getLogger("alligator.worker")

#: Batches are sized so a batch runs in about this long; many tiny tasks are
#: fetched together, slow ones one at a time (so other workers can have them).
TARGET_BATCH_SECONDS = 0.05
#: Longest a reserved task waits in the buffer unstarted before it is handed
#: back to the queue (where it says WAITING again).
BUFFER_HOLD_SECONDS = 0.25
#: Tasks are read ahead (the next batch reserved while the last runs) only
#: when a batch holds at least this many per thread: tasks of under ~6 ms.
#: Longer ones gain little (the round trip is a small part of their time),
#: and each task fetched ahead by a worker that is then killed waits a lease.
AHEAD_MIN_TASKS = 8
#: How much longer than the reserve's own timeout a stopping worker waits
#: for a reservation in flight (the store's round trip on a busy machine).
IN_FLIGHT_GRACE_SECONDS = 5.0


class Dispatching:
    """The dispatching part of :class:`~alligator.workers.Worker` (a mixin: the state is the worker's).

    The worker's ``__init__`` sets up the state declared here; the worker's
    task threads call ``_next_job``, its housekeeping thread runs
    ``_housekeep`` (handing back what stayed buffered too long).
    """

    gator: Gator
    queues: tuple[str, ...]
    concurrency: int
    prefetch: int
    nap_time: float
    lease_seconds: float
    max_tasks: int
    tasks_complete: int
    fatal: PermanentBackendError | None
    _claimed: int
    _count_lock: threading.Lock
    _stopping: threading.Event
    settler: Settler
    _pauses: pausing.PauseWatch
    _limits: LimitGate
    _listeners: list[Callable[[events.TaskEvent], None]]
    _steps: dict[str, DeliverySteps]
    # The dispatch state, under one condition: the buffer of reserved,
    # unstarted tasks (queue, reservation, monotonic time buffered); whether
    # a thread is reserving.
    _cond: threading.Condition
    _buffer: collections.deque[tuple[str, Reservation, float]]
    _reserving: bool
    #: Set by a thread to ask the dispatch thread to reserve ahead (and to
    #: wake it when the worker stops): once a batch, not a ``notify_all`` on
    #: ``_cond`` at every task taken.
    _ahead: threading.Event
    #: The last look ahead found the queues empty (no more until a thread finds work).
    _ahead_dry: bool
    _idle: int
    _seconds_per_task: float
    _reserve_errors: int
    _housekeeping_done: threading.Event
    _dispatcher: threading.Thread | None

    def stop(self) -> None:  # pragma: no cover - the worker's
        raise NotImplementedError

    def _emit(self, event: events.TaskEvent) -> None:  # pragma: no cover - the worker's
        raise NotImplementedError

    # -- claims against max_tasks --------------------------------------------

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

    # -- dispatch ------------------------------------------------------------

    def _next_job(self) -> tuple[str, Reservation] | None:
        """The next task this thread runs: a buffered one, else the first of a new batch.

        Returns:
            ``(queue, reservation)``; None when there is nothing yet (the
            caller checks whether to stop and asks again).
        """
        with self._cond:
            while True:
                if self._stopping.is_set() or self._finished():
                    return None
                if self._buffer:
                    queue, reservation, _ = self._buffer.popleft()
                    if (
                        not self._ahead.is_set()
                        and not self._reserving
                        and not self._ahead_dry
                        and self._ahead_wanted()
                    ):
                        # Tiny tasks: the dispatch thread reserves the next
                        # batch while this one runs, so no thread waits on
                        # the store's round trip.
                        self._ahead.set()
                    return queue, reservation
                if not self._reserving:
                    self._reserving = True
                    break
                # Another thread is reserving; it will share what it gets.
                self._idle += 1
                self._cond.wait(0.2)
                self._idle -= 1
        try:
            return self._reserve_batch()
        finally:
            with self._cond:
                self._reserving = False
                self._ahead_dry = False
                if self._idle or self._stopping.is_set():
                    # A stopping worker waits for this (_await_reservation_in_flight).
                    self._cond.notify_all()

    def _by_speed(self) -> int:
        """Tasks the threads run in about TARGET_BATCH_SECONDS at the measured speed (at most prefetch)."""
        per_task = max(self._seconds_per_task, 1e-6)
        return min(self.prefetch, int(TARGET_BATCH_SECONDS * self.concurrency / per_task))

    def _batch_size(self) -> int:
        with self._cond:
            return max(1, min(self.prefetch, max(self._by_speed(), self._idle + 1)))

    def _ahead_wanted(self) -> bool:
        """Whether to reserve ahead (called under the condition): tasks are tiny and a batch or less is left.

        The next batch is asked for while a whole one is still buffered: the
        dispatch thread may wait for the GIL a millisecond or more, twice,
        around the store's round trip, and the buffer must not run dry
        meanwhile. At most two batches are buffered, about 100 ms of work,
        well within BUFFER_HOLD_SECONDS. Only tiny tasks are read ahead (a
        batch holds AHEAD_MIN_TASKS or more per thread: the store's round trip
        is a real part of their time); others (and ``prefetch=1``) are reserved
        only for a thread that is free, so other workers can have them, and a
        worker killed holds fewer tasks that it never started.
        """
        by_speed = self._by_speed()
        return by_speed >= AHEAD_MIN_TASKS * self.concurrency and len(self._buffer) <= by_speed

    def _reserve_ahead(self) -> None:
        """The dispatch thread's reservation: tops the buffer up to two batches, without waiting for work."""
        if self._pauses.current().queues.issuperset(self.queues):
            return  # nothing to read ahead; this thread must not wait (it watches the buffer's age)
        with self._cond:
            wanted = min(self._by_speed(), 2 * self._by_speed() - len(self._buffer))
        claimed = self._claim(wanted) if wanted > 0 else 0
        if not claimed:
            return
        got = self._reserve_claimed(claimed, 0.0)
        if got is None:
            return
        queue, batch = got
        if not batch:
            # The queues are dry: no more looks ahead until a thread finds work again.
            with self._cond:
                self._ahead_dry = True
            return
        for reservation in batch:
            self.settler.hold(queue, reservation, owner=self._dispatcher)
        self._buffer_batch(queue, batch)

    def _reserve_claimed(self, claimed: int, timeout: float) -> tuple[str, list[Reservation]] | None:
        """Reserves up to ``claimed`` (already claimed) tasks; None after a store error (logged, waited)."""
        backend = self.gator.backend
        paused = self._pauses.current().queues
        queues = [queue for queue in self.queues if queue not in paused] if paused else self.queues
        if not queues:
            self._settle_claims(claimed, 0)
            # Every queue is paused: look again when the pauses are next read.
            self._stopping.wait(self._pauses.refresh)
            return None
        try:
            queue, batch = backend.reserve_first(queues, self.lease_seconds, claimed, timeout)
            self._reserve_errors = 0
        except Exception as err:
            self._settle_claims(claimed, 0)
            if isinstance(err, PermanentBackendError):
                # Waiting cannot fix a wrong database or password: stop, and say why.
                log.critical("the store refuses, and retrying cannot help: %s; stopping", err)
                self.fatal = err
                self.stop()
                return None
            self._reserve_errors += 1
            wait = min(MAX_ERROR_BACKOFF, 0.1 * 2**self._reserve_errors)
            log.error("backend error: %s; retrying in %.1fs", err, wait)
            self._stopping.wait(wait)
            return None
        if len(batch) < claimed:
            self._settle_claims(claimed - len(batch), 0)
        return queue, batch

    def _buffer_batch(self, queue: str, batch: list[Reservation]) -> None:
        """Buffers reservations (their leases held already) for the threads; hands them back if stopping."""
        if self._stopping.is_set():
            self._hand_back([(queue, r) for r in batch])
            return
        now = time.monotonic()
        with self._cond:
            self._buffer.extend((queue, reservation, now) for reservation in batch)
            # Idle threads take them; the housekeeper watches their age.
            self._cond.notify_all()

    def _reserve_batch(self) -> tuple[str, Reservation] | None:
        backend = self.gator.backend
        if self._pauses.current().queues.issuperset(self.queues):
            # Every queue is paused: look again when the pauses are next read.
            self._stopping.wait(self._pauses.refresh)
            return None
        claimed = self._claim(self._batch_size())
        if not claimed:
            # Other threads hold the rest of max_tasks; wait for them.
            self._stopping.wait(0.01)
            return None
        if self.settler.pending:
            # The buffer ran dry: send what finished now rather than
            # after the wait for more work (a producer may be waiting on
            # a result). A store error keeps them for a later try (flush
            # does not raise for it).
            self.settler.flush()
        timeout = max(self.nap_time, 1.0) if backend.blocking_reserve else 0.0
        got = self._reserve_claimed(claimed, timeout)
        if got is None:
            return None
        queue, batch = got
        if not batch:
            if not backend.blocking_reserve:
                self._stopping.wait(self.nap_time)
            return None
        self.settler.hold(queue, batch[0])
        for reservation in batch[1:]:
            # Buffered: kept alive on the worker's behalf (the dispatch
            # thread lives as long as the worker) until a thread starts it.
            self.settler.hold(queue, reservation, owner=self._dispatcher)
        if self._stopping.is_set():
            self._hand_back([(queue, r) for r in batch])
            return None
        if len(batch) > 1:
            self._buffer_batch(queue, batch[1:])
        return queue, batch[0]

    def _await_reservation_in_flight(self) -> None:
        """Waits, when the worker stops, for a thread's reservation still in flight to return.

        A thread may be waiting in the store's blocking reserve when the
        worker stops; what it gets then (a task the worker just handed back,
        say) it hands back itself, since the worker is stopping. Returning
        before it does would leave that task leased to a process about to
        exit, unseen until its lease ends. The wait is bounded by the
        reserve's own timeout, and a little more for a busy machine.
        """
        deadline = time.monotonic() + max(self.nap_time, 1.0) + IN_FLIGHT_GRACE_SECONDS
        with self._cond:
            while self._reserving:
                left = deadline - time.monotonic()
                if left <= 0:
                    log.warning(
                        "a reservation was still in flight when the worker stopped; "
                        "what it took is delivered again once its lease ends"
                    )
                    return
                self._cond.wait(left)

    def _hand_back_buffered(self, older_than: float | None = None) -> int:
        """Hands back buffered tasks (those buffered before ``older_than``, or all)."""
        with self._cond:
            if older_than is None:
                items = [(queue, reservation) for queue, reservation, _ in self._buffer]
                self._buffer.clear()
            else:
                items = []
                while self._buffer and self._buffer[0][2] < older_than:
                    queue, reservation, _ = self._buffer.popleft()
                    items.append((queue, reservation))
        if items:
            self._hand_back(items)
        return len(items)

    def _hand_back(self, items: list[tuple[str, Reservation]]) -> None:
        """Releases unstarted reservations, uncounted (``attempted=False``); they are due at once."""
        for queue, reservation in items:
            try:
                self.settler.apply(HandBack(queue, reservation.task_id, reservation.receipt))
            except Exception as err:
                log.error("could not hand back task %s: %s", printable(reservation.task_id), err)
        self._settle_claims(len(items), 0)

    def _set_aside_if_paused(self, queue: str, delivery: Delivery) -> bool:
        """Hands a task of a paused queue or function back unstarted and uncounted.

        A paused queue's task (reserved before the pause was seen) is due
        again at once: nothing reserves from that queue meanwhile. A paused
        function's is due again after :data:`~alligator.pausing.SET_ASIDE_SECONDS`,
        so the worker meets it again only that often (not a busy loop).

        Returns:
            True if it was handed back.
        """
        paused = self._pauses.current()
        task = delivery.task
        if queue in paused.queues:
            delay = 0.0
        elif task is not None and f"{task.module}:{task.callable}" in paused.functions:
            delay = pausing.SET_ASIDE_SECONDS
        else:
            return False
        reservation = delivery.reservation
        try:
            self.settler.apply(HandBack(queue, reservation.task_id, reservation.receipt, delay))
        except Exception as err:
            log.error("could not hand back paused task %s: %s", printable(reservation.task_id), err)
        log.debug(
            "task %s of paused %s set aside for %gs", printable(reservation.task_id), delivery.function, delay
        )
        return True

    def _set_aside_if_limited(self, queue: str, delivery: Delivery, limits: Limits) -> bool:
        """Takes what a limited task needs to run now, or hands it back unstarted and uncounted.

        See :mod:`alligator.limiting`: over a rate, it is due again at the
        slot the store booked for it; with every concurrency slot taken,
        after a short wait. A store without the capability (a payload
        written by hand: producers refuse such tasks) dead-letters it,
        saying why.

        Returns:
            True if it was handed back or dead-lettered (the caller settles
            a decided delivery).
        """
        task = delivery.task
        assert task is not None
        try:
            delay = self._limits.admit(queue, task, limits)
        except capabilities.Unsupported as err:
            self._steps[queue].refuse(delivery, f"refused: it asks for a limit, but {err}")
            return False
        if not delay:
            return False
        reservation = delivery.reservation
        try:
            self.settler.apply(HandBack(queue, reservation.task_id, reservation.receipt, delay))
        except Exception as err:
            log.error("could not hand back limited task %s: %s", printable(reservation.task_id), err)
        if self._listeners:
            self._emit(
                events.TaskEvent(
                    events.LIMITED, queue, reservation.task_id, delivery.function, reservation.attempts
                )
            )
        log.debug(
            "task %s of %s waits %.3gs on limit key %s",
            printable(reservation.task_id),
            delivery.function,
            delay,
            printable(limits.key),
        )
        return True

    # -- housekeeping: the buffer ---------------------------------------------

    def _end_housekeeping(self) -> None:
        """Tells the dispatch thread to end, and wakes it to see so."""
        self._housekeeping_done.set()
        self._ahead.set()

    def _housekeep(self) -> None:
        """The dispatch thread: reserves ahead for tiny tasks; hands back those buffered too long."""
        while True:
            with self._cond:
                now = time.monotonic()
                wake = now + 1.0
                if self._buffer:
                    wake = min(wake, self._buffer[0][2] + BUFFER_HOLD_SECONDS)
            if wake > now and not self._housekeeping_done.is_set():
                self._ahead.wait(wake - now)
            # A request that comes after this is seen at the next round: a
            # thread asks again at each task it takes while the flag is clear.
            asked = self._ahead.is_set()
            self._ahead.clear()
            ahead = False
            if asked:
                with self._cond:
                    if not self._reserving and not self._stopping.is_set():
                        self._reserving = ahead = True
            if self._housekeeping_done.is_set():
                if ahead:
                    with self._cond:
                        self._reserving = False
                        self._cond.notify_all()
                return
            try:
                if ahead:
                    self._reserve_ahead()
                self._hand_back_buffered(older_than=time.monotonic() - BUFFER_HOLD_SECONDS)
            except Exception:
                log.exception("worker housekeeping failed; trying again")
                self._housekeeping_done.wait(0.1)
            finally:
                if ahead:
                    with self._cond:
                        self._reserving = False
                        self._cond.notify_all()
