"""The :class:`Worker`: takes tasks off its queues and runs them, until told to stop.

How work moves through a worker (``concurrency`` threads)::

    store ──reserve_first──► buffer ──► idle thread runs it ──► verdict ──settler──► store
             (one thread at a time,        (any thread)                 (acks batched, sent
              a batch sized to ~50 ms)                                   within 50 ms)

* **Fair dispatch.** Threads share one small in-process buffer. A thread
  with nothing to run takes the next buffered task; only when the buffer is
  empty does one thread (one at a time) reserve a new batch, sized so the
  batch runs in about :data:`~alligator.dispatching.TARGET_BATCH_SECONDS` by the measured speed of
  recent tasks (never more than ``prefetch``, never less than the threads
  waiting for work). So no buffered task waits while a thread is idle, and
  slow tasks are reserved one at a time.
* **Truthful status.** A buffered task is reserved (the store says
  RUNNING), so it may stay buffered only :data:`~alligator.dispatching.BUFFER_HOLD_SECONDS`: a
  batch that turned out slower than measured (a slow task among tiny ones,
  every thread busy) hands the rest back, unstarted, and they say WAITING
  again (and other workers can have them). ``prefetch=1`` reserves only what
  a free thread starts at once.
* **Settling.** Each delivery's verdict goes to the worker's one
  :class:`~alligator.settler.Settler` (:attr:`Worker.settler`), which holds
  and renews the leases, and applies the verdicts: a success's ack (with
  its result) joins a batch its ack thread sends within
  :data:`~alligator.settler.ACK_FLUSH_SECONDS`, whatever the task threads
  are running; a retry, a dead letter or a hand-back goes at once.
* **Priority.** ``queues`` are asked in order at every reservation
  (``Backend.reserve_first``): due work of an earlier queue always goes
  first; an idle worker waits with the backend's blocking wait, not a loop.
* **Pauses.** A paused queue is left out of every reservation; a task of a
  paused function is handed back unstarted and uncounted, due again a few
  seconds later. The pauses are read at most once a second, for all threads
  (:class:`~alligator.pausing.PauseWatch`).

The worker is written in parts, each in a module of its own: the buffer
and the reservations in :mod:`alligator.dispatching`; settling and leases
in :mod:`alligator.settler`; the
live-worker record in :mod:`alligator.heartbeats`; stopping (signals, the
shutdown timeout) in :mod:`alligator.stopping`. This module holds the
worker's settings, its hooks and its threads' loop, and runs one task.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from alligator import events, loss_risks, pausing, presence
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
from alligator.dispatching import BUFFER_HOLD_SECONDS as BUFFER_HOLD_SECONDS
from alligator.dispatching import TARGET_BATCH_SECONDS as TARGET_BATCH_SECONDS
from alligator.dispatching import Dispatching
from alligator.exceptions import ConfigurationError, PermanentBackendError
from alligator.gator import Gator
from alligator.heartbeats import Heartbeats
from alligator.limiting import LimitGate, limits_of
from alligator.progress import PROGRESS_SECONDS, Progress
from alligator.security import NOTHING_ALLOWED
from alligator.settler import ACK_FLUSH_SECONDS as ACK_FLUSH_SECONDS
from alligator.settler import MAX_ERROR_BACKOFF as MAX_ERROR_BACKOFF
from alligator.settler import Settler
from alligator.stopping import TICK_SECONDS, Stopping
from alligator.tasks import check_time_limit

log = logging.getLogger("alligator.worker")

#: The most tasks a worker reserves in one call (``--prefetch``). Batches are
#: sized by speed (see TARGET_BATCH_SECONDS): only tiny tasks fill one. It is
#: this large so the next batch of tiny tasks is reserved while the last
#: runs, however late the GIL lets the dispatch thread send the call.
DEFAULT_PREFETCH = 128
#: The interpreter's thread switch interval while a worker runs (seconds;
#: CPython's default is 0.005). The dispatch and ack threads need the GIL
#: only briefly, to send a call and read its reply; at 5 ms a busy task
#: thread would keep them waiting longer than a whole batch of tiny tasks
#: takes to run.
SWITCH_INTERVAL = 0.001
#: Seconds a stopping worker lets its running tasks finish before it hands
#: them back to the queue and exits: under Kubernetes' default grace of 30 s
#: and systemd's 90 s, as Sidekiq's 25 s is.
DEFAULT_SHUTDOWN_TIMEOUT = 25.0


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


# Stopping comes last: its stand-ins for the methods the other parts define
# (_hand_back_buffered) must not hide them.
class Worker(Dispatching, Heartbeats, Stopping):
    """Consumes queues: reserves tasks, runs them, settles each.

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
    See the module's documentation for how tasks move through the threads.

    Args:
        gator: The :class:`~alligator.gator.Gator` whose backend to consume.
        max_tasks: Stop after this many tasks (0: never).
        to_consume: The queue to consume; the default, ``ALL``, means the
            gator's own queue. Ignored when ``queues`` is given.
        nap_time: Seconds to sleep when the queue is empty (backends that
            can wait for work do that instead).
        concurrency: How many tasks run at once, each in its own thread.
            Threads suit the I/O-bound work tasks usually do; run more
            processes (``latergator --processes``) for CPU-bound work.
        lease_seconds: Length of the lease on a task; a crashed worker's tasks
            are handed out again this long after it last renewed them.
        max_deliveries: Deliveries without a finished run after which a task
            is dead-lettered (its worker kept dying). A hard cap: runs that
            failed do not count, and a task's ``retries`` do not raise it.
        prefetch: The most tasks reserved in one call (at least 1). Batches
            are sized by the tasks' speed, so only tiny tasks fill it.
        allow: Modules to allow besides the gator's (see :class:`~alligator.gator.Gator`).
        queues: Queues to consume, in strict priority order: due work of the
            first queue that has some is always taken first. Default:
            ``[to_consume]``.
        time_limit: Seconds a task may run when it sets no limit of its own
            (``gator.options(time_limit=...)``); None (the default): no limit.
            See :mod:`alligator.timelimits` for what a thread can enforce.
        shutdown_timeout: Seconds a stopping worker lets the tasks in hand
            finish; those still running then are handed back to the queue
            (due at once, not counted as a delivery) and the worker stops
            without them. None waits for them however long they take.
    """

    #: Seconds between heartbeats (the live-worker record); see :mod:`alligator.presence`.
    heartbeat_seconds: float = presence.HEARTBEAT_SECONDS

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
        queues: Sequence[str] | None = None,
        time_limit: float | None = None,
        shutdown_timeout: float | None = DEFAULT_SHUTDOWN_TIMEOUT,
    ) -> None:
        if shutdown_timeout is not None and not (
            isinstance(shutdown_timeout, (int, float))
            and not isinstance(shutdown_timeout, bool)
            and 0 <= shutdown_timeout < math.inf
        ):
            raise ValueError(f"shutdown_timeout must be None or seconds from 0 up, not {shutdown_timeout!r}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency!r}")
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be positive, not {lease_seconds!r}")
        if max_tasks < 0:
            raise ValueError(f"max_tasks must be 0 (no limit) or more, not {max_tasks!r}")
        try:
            checked_limit = check_time_limit(time_limit)  # the one rule a task's own limit keeps
        except TypeError as err:
            raise ValueError(str(err)) from None  # every bad argument of a Worker is a ValueError
        if queues is not None:
            if isinstance(queues, str) or not queues:
                raise ValueError(f"queues must be a non-empty list of queue names, not {queues!r}")
            for name in queues:
                if not isinstance(name, str) or not name:
                    raise ValueError(f"a queue name must be a non-empty string, not {name!r}")
            if len(set(queues)) != len(queues):
                raise ValueError(f"queues names a queue twice: {list(queues)!r}")
        self.gator = gator
        self.max_tasks = max_tasks
        self.queues: tuple[str, ...] = (
            tuple(queues) if queues else (gator.queue_name if to_consume == ALL else to_consume,)
        )
        #: The first (highest-priority) queue.
        self.to_consume = self.queues[0]
        self.nap_time = nap_time
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.max_deliveries = max_deliveries
        self.prefetch = max(1, prefetch)
        self.time_limit = checked_limit
        self.shutdown_timeout = None if shutdown_timeout is None else float(shutdown_timeout)
        #: The supervisor's pid when one started this worker, else None. The
        #: worker stops when the supervisor is no longer its parent (it died, and
        #: nobody enforces hard time limits any more).
        self.parent_pid: int | None = None
        #: The exit status ``latergator`` gives: 0, or 128 + the signal's number
        #: when a second signal (or SIGQUIT) made it hand back its tasks at once.
        self.exit_status = 0
        #: Whether it stopped without tasks still running in its threads (handed back).
        self.abandoned = False
        self.policy = gator.policy.with_allowed(allow)
        rules = DeliveryRules(self.policy, max_deliveries, gator.task_class, gator.result_ttl)
        self._steps: dict[str, DeliverySteps] = {}
        for queue in self.queues:
            steps = DeliverySteps(gator.backend, queue, rules)
            steps.time_limit = self.time_limit
            steps.before_run = self._starting_task
            self._steps[queue] = steps
        #: Unique id of this worker (``host:pid:random``), its key in the live-worker registry.
        self.worker_id = _worker_id()
        #: The supervisor's worker id when one runs this worker (``--processes``), else "".
        self.supervisor = ""
        #: Tasks handled so far (run, retried or dead-lettered).
        self.tasks_complete = 0
        #: Deliveries by outcome since the last progress line (logged at INFO once a minute).
        self.progress = Progress()
        self._claimed = 0
        self._count_lock = threading.Lock()
        self._stopping = threading.Event()
        #: The one owner of this worker's settlement. It holds and renews the
        #: leases of the tasks in hand, and applies every verdict (acks batched).
        self.settler = Settler(gator.backend, lease_seconds, batch=True)
        #: The store's paused queues and functions, read at most once a second.
        self._pauses = pausing.PauseWatch(gator.backend)
        #: The rate limits and concurrency slots of the tasks it runs (see :mod:`alligator.limiting`).
        self._limits = LimitGate(gator.backend, lease_seconds)
        self._listeners: list[Callable[[events.TaskEvent], None]] = []
        # The dispatch state, under one condition: the buffer of reserved,
        # unstarted tasks; whether a thread is reserving.
        self._cond = threading.Condition(threading.Lock())
        self._buffer: collections.deque[tuple[str, Reservation, float]] = collections.deque()
        self._reserving = False
        self._ahead = threading.Event()
        self._ahead_dry = False
        self._idle = 0
        self._seconds_per_task = TARGET_BATCH_SECONDS
        self._reserve_errors = 0
        self._housekeeping_done = threading.Event()
        self._dispatcher: threading.Thread | None = None
        # Thread ident -> the task it runs now, for heartbeats.
        self._running: dict[int, presence.RunningTask] = {}
        # Thread ident -> the reservation it runs now (queue, reservation, monotonic start),
        # for handing it back when the worker stops without waiting for it.
        self._in_hand: dict[int, tuple[str, Reservation, float]] = {}
        self._signals: list[int] = []
        self._signals_seen = 0
        self._stop_began: float | None = None
        self._waiting_logged = 0.0
        self._registry = True
        self._beating = False
        self._started_at = time.time()
        #: The error that stopped the worker, one the store would repeat however long it waited.
        self.fatal: PermanentBackendError | None = None

    # -- the 0.5.0 hooks ---------------------------------------------------

    def ident(self) -> str:
        """Returns a string that identifies this worker in logs: host, pid, queue."""
        queues = ", ".join(repr(q) for q in self.queues)
        return f"Alligator Worker ({socket.gethostname()} #{os.getpid()}) on {queues}"

    def starting(self) -> None:
        """Logs the start line: the store, the allowed modules, whether signing is on.

        A store whose settings lose accepted tasks (see :mod:`alligator.loss_risks`)
        is flagged in the start line, and each setting logged as a WARNING; so
        is a store this worker's backend just created (see
        :attr:`Backend.created <alligator.backend.Backend.created>`).
        """
        risks = loss_risks.worker_notices(self.gator.backend)
        log.info(
            "%s starting (store %s%s, concurrency %d, prefetch %d, lease %.0fs, max deliveries %d, "
            "time limit %s)",
            self.ident(),
            self.gator.backend.describe(),
            f" WHICH MAY LOSE TASKS ({len(risks)} setting{'s' if len(risks) != 1 else ''}: see below)"
            if risks
            else "",
            self.concurrency,
            self.prefetch,
            self.lease_seconds,
            self.max_deliveries,
            "none" if self.time_limit is None else f"{self.time_limit:g}s",
        )
        log.info(
            "allowed task modules: %s; payload signing %s",
            ", ".join(self.policy.allow),
            "on (unsigned payloads are refused)" if self.policy.secrets else "off",
        )
        for notice in risks:
            log.warning("the store may lose tasks: %s", notice)
        if self.gator.backend.created:
            log.warning(
                "the store %s is new and empty: if the producers use another one (a relative DSN "
                "resolved in another directory, a typo), this worker waits for tasks that never come "
                "here: give it the producers' DSN, with an absolute path",
                self.gator.backend.describe(),
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
        log.info("%s stopping after %d task(s)%s", self.ident(), self.tasks_complete, self._limits.summary())
        if self.abandoned:
            log.warning("tasks that were handed back may still be running in this process's threads")

    def result(self, result: Any) -> None:
        """Receives the result of each task that succeeded (logged at DEBUG)."""
        log.debug("result: %r", result)

    # -- listening ---------------------------------------------------------

    def add_listener(self, listener: Callable[[events.TaskEvent], None]) -> None:
        """Calls ``listener(event)`` with a :class:`~alligator.events.TaskEvent` as tasks run.

        STARTED comes just before a task's function is called (with its
        receipt and effective time limit); FINISHED once its delivery ended
        (with the outcome and the seconds it ran), also for a delivery that
        never ran (an unreadable payload: no STARTED before it). Listeners
        run in the task's thread and must be quick; an exception in one is
        logged and ignored.
        """
        self._listeners.append(listener)

    def _emit(self, event: events.TaskEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("a worker listener raised on %s of task %s; ignored", event.kind, event.task_id)

    def _starting_task(self, delivery: Delivery) -> None:
        """The run step's call just before the function runs: note it, tell the listeners."""
        reservation = delivery.reservation
        function = delivery.function if delivery.task is not None and delivery.task.callable else ""
        with self._cond:
            self._running[threading.get_ident()] = presence.RunningTask(
                reservation.task_id, function, delivery.queue, time.time()
            )
        if self._listeners:
            self._emit(
                events.TaskEvent(
                    events.STARTED,
                    delivery.queue,
                    reservation.task_id,
                    function,
                    reservation.attempts,
                    reservation.receipt,
                    delivery.time_limit,
                )
            )

    # -- running -----------------------------------------------------------

    def stop(self) -> None:
        """Asks the worker to stop: the tasks in hand finish, the rest go back.

        Tasks still running ``shutdown_timeout`` seconds later are handed
        back too (see :mod:`alligator.stopping`).
        """
        self._stopping.set()
        # Called from a signal handler too, maybe while this very thread
        # holds the (non-reentrant) lock: never block on it. Waiters that
        # miss the wake-up see the flag within their wait's timeout.
        if self._cond.acquire(blocking=False):
            try:
                self._cond.notify_all()
            finally:
                self._cond.release()

    def run_forever(self) -> int:
        """Consumes until :meth:`stop`, a SIGTERM/SIGINT, or ``max_tasks``.

        Returns:
            How many tasks were handled.

        Raises:
            ConfigurationError: See :meth:`check`; raised before anything is reserved.
            PermanentBackendError: The store refused for a reason retrying
                cannot fix (no such database, bad credentials); raised once
                the tasks in hand are settled. An outage is retried instead.
        """
        self.check()
        self._housekeeping_done.clear()
        # Handlers first: a signal sent as soon as the start line shows must
        # still mean "finish and exit 0".
        restore = self._install_signal_handlers()
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(switch_interval, SWITCH_INTERVAL))
        self.starting()
        # The first record is written before any task is taken, so the
        # worker is listed as soon as it works.
        self._safe_heartbeat()
        if not self._beating:
            self._beating = True
            self.settler.every(self.heartbeat_seconds, self._safe_heartbeat)
            self.settler.every(PROGRESS_SECONDS, self._log_progress)
            self.settler.every(self.settler.interval, self._limits.extend_now)
        self.settler.start()
        housekeeper = self._dispatcher = threading.Thread(
            target=self._housekeep, name="alligator-dispatch", daemon=True
        )
        housekeeper.start()
        try:
            # Tasks run in threads of their own, even one at a time: the
            # calling thread watches signals, the shutdown timeout and the
            # supervisor, and can stop the worker while a task hangs.
            threads = [
                threading.Thread(target=self._consume_guarded, name=f"alligator-task-{n}", daemon=True)
                for n in range(self.concurrency)
            ]
            for thread in threads:
                thread.start()
            while not self.abandoned:
                alive = [thread for thread in threads if thread.is_alive()]
                if not alive:
                    break
                alive[0].join(TICK_SECONDS)
                self._tick()
        finally:
            self._end_housekeeping()
            with self._cond:
                self._cond.notify_all()
            housekeeper.join()
            self._await_reservation_in_flight()
            self._hand_back_buffered()
            # Sends the acks still pending, then stops renewing leases.
            self.settler.stop()
            self._forget()
            restore()
            sys.setswitchinterval(switch_interval)
            self.stopping()
        if self.fatal is not None:
            raise self.fatal
        return self.tasks_complete

    def _log_progress(self) -> None:
        line = self.progress.line()
        if line is not None:
            log.info("%s", line)

    def _install_signal_handlers(self) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)}

        def on_signal(signum: int, frame: FrameType | None) -> None:
            # Only noted here (the main thread may hold any lock now): the
            # main thread's tick acts on it, within TICK_SECONDS.
            self._signals.append(signum)
            self.stop()

        for sig in previous:
            signal.signal(sig, on_signal)

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore

    def _consume_guarded(self) -> None:
        """Consumes until told to stop; an error of ours is logged, never fatal to the thread.

        A task's own exceptions never get here (the delivery steps settle
        them). An ``Exception`` that does is a fault of the store or of ours:
        logged, and consuming goes on after a pause. Anything else (an
        interrupt aimed at the process) stops the whole worker, loudly.
        """
        failures = 0
        thread = threading.current_thread()
        try:
            while not self._stopping.is_set() and not self._finished():
                try:
                    self._consume()
                    return
                except Exception:
                    failures += 1
                    wait = min(MAX_ERROR_BACKOFF, 0.1 * 2**failures)
                    # Stop renewing what it held: those tasks are delivered
                    # again once their leases end.
                    self.settler.drop_thread(thread)
                    log.exception("worker thread %s failed; going on in %.1fs", thread.name, wait)
                    self._stopping.wait(wait)
                except BaseException:
                    self.settler.drop_thread(thread)
                    log.critical("worker thread %s was interrupted; stopping the worker", thread.name)
                    self.stop()
                    raise
        finally:
            # A thread that ran an async task has an event loop, closed here; aio is loaded
            # then (importing it here would load it, and ctypes, into every worker process).
            if (aio := sys.modules.get("alligator.aio")) is not None:
                aio.close_thread_loop()

    def _consume(self) -> None:
        while not self._stopping.is_set() and not self._finished():
            job = self._next_job()
            if job is None:
                continue
            queue, reservation = job
            started = time.monotonic()
            handled = 0
            try:
                handled = self._execute(queue, reservation)
            finally:
                self._settle_claims(1, handled)
                with self._cond:
                    self._running.pop(threading.get_ident(), None)
                    self._in_hand.pop(threading.get_ident(), None)
                    elapsed = time.monotonic() - started
                    self._seconds_per_task = 0.7 * self._seconds_per_task + 0.3 * elapsed

    # -- one task ------------------------------------------------------------

    def _execute(self, queue: str, reservation: Reservation) -> int:
        """Runs one reservation through the delivery steps; returns 1 if it was handled."""
        # This thread runs it now: renew its lease for as long as this thread lives.
        self.settler.hold(queue, reservation)
        with self._cond:
            self._in_hand[threading.get_ident()] = (queue, reservation, time.monotonic())
        if reservation.attempts > 1:
            # A redelivery may be what killed the last worker: send the acks
            # of everything finished before it, and hand back what is
            # buffered, so a second crash costs only its own delivery.
            self.settler.flush()
            self._hand_back_buffered()
        steps = self._steps[queue]
        delivery = steps.open(reservation)
        if not delivery.decided and self._set_aside_if_paused(queue, delivery):
            return 0
        limits = None if delivery.task is None or delivery.decided else limits_of(delivery.task)
        if limits is not None and self._set_aside_if_limited(queue, delivery, limits):
            return 0
        try:
            if not delivery.decided:
                assert delivery.task is not None
                if delivery.task.depends_on:
                    # A dependency may be among the tasks finished but not acked yet.
                    self.settler.flush()
                steps.complete(delivery)
            # A success's ack joins the settler's batch (its lease renewed until
            # sent); any other verdict is applied now.
            self.settler.settle(delivery)
        finally:
            if limits is not None:
                self._limits.done(queue, reservation.task_id)
        if delivery.outcome is Outcome.SUCCEEDED:
            assert delivery.task is not None
            try:
                self.result(delivery.task.result)
            except Exception:
                log.exception("Worker.result() raised; the task's success stands")
        if delivery.outcome is not None:
            self.progress.count(delivery.outcome.value)
        if self._listeners:
            outcome = delivery.outcome.value if delivery.outcome is not None else None
            self._emit(
                events.TaskEvent(
                    events.FINISHED,
                    queue,
                    reservation.task_id,
                    delivery.function if delivery.function != "?" else "",
                    reservation.attempts,
                    reservation.receipt,
                    delivery.time_limit,
                    outcome,
                    delivery.duration,
                )
            )
        return 0 if delivery.outcome is Outcome.WAITING else 1
