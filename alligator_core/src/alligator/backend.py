"""The backend contract: the one seam between Alligator's core and a queue store.

Everything a task queue has to decide (serialization, retries, backoff, hooks,
dependencies, when to dead-letter) lives in the core, once. A backend only
stores opaque strings under ids and keeps time; only ``str``, ``int`` and
``float`` cross this seam, so a backend can be written for any store in an
afternoon and proven with :mod:`alligator.testing`.

The life of a task in a backend::

    push ──► waiting ──reserve──► reserved (leased) ──ack──► done (forgotten later)
      │         ▲                      │   │
      └─delay─► delayed                │   └─dead_letter──► dead letters ──requeue──► waiting
                ▲                      │
                └────release(delay)────┘   (an expired lease is due again)

A *reservation* hides a task from every other worker until its lease ends.
The worker that holds it either acks it (gone for good), releases it (back to
the queue, possibly delayed, for a retry) or dead-letters it. If the worker
dies, nobody acks; when the lease ends the task is due again and another
worker gets it. That is the whole of at-least-once delivery: no task is lost
when a worker is killed at any instant.

Every delivery carries a *receipt*, an opaque string the backend makes up. A
worker whose lease ran out (it stalled, the task was handed to someone else)
still holds the old receipt, so its late ack or release is refused instead of
clobbering the new delivery.
"""

from __future__ import annotations

import abc
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Reservation:
    """One delivery of a task to a worker.

    Attributes:
        task_id: The id the task was pushed with.
        payload: The string that was pushed, unchanged.
        receipt: Opaque token of this delivery; ``ack``, ``release``,
            ``extend`` and ``dead_letter`` must present it.
        attempts: Deliveries so far, this one included (1 on the first).
        failures: How many earlier deliveries ran and failed: those released
            with ``attempted=True``. ``attempts - 1 - failures`` earlier
            deliveries never finished (their worker died, or stalled past
            its lease); the core caps those with ``max_deliveries``.
    """

    task_id: str
    payload: str
    receipt: str
    attempts: int
    failures: int = 0


@dataclass(frozen=True)
class DeadLetter:
    """A task that failed for good, kept with the reason until requeued.

    Attributes:
        task_id: The id the task was pushed with.
        payload: The payload as it was pushed (possibly unreadable: that may
            be why it is here).
        reason: Why it was dead-lettered, for a human.
        attempts: Deliveries it had.
        failed_at: When it was dead-lettered, on the backend's clock.
    """

    task_id: str
    payload: str
    reason: str
    attempts: int
    failed_at: float


#: The states :meth:`Backend.tasks` lists, in the order a task passes them.
TASK_STATES = ("waiting", "delayed", "running", "dead")


@dataclass(frozen=True)
class QueueCounts:
    """How many tasks a queue holds in each state, counted in one atomic step.

    Attributes:
        waiting: Due now (pushed, a delay ended, or a lease ran out).
        delayed: Not due yet.
        running: Reserved by a worker whose lease has not ended.
        dead: Dead letters.
    """

    waiting: int = 0
    delayed: int = 0
    running: int = 0
    dead: int = 0

    @property
    def total(self) -> int:
        """Every task the queue holds, dead letters included."""
        return self.waiting + self.delayed + self.running + self.dead


@dataclass(frozen=True)
class TaskInfo:
    """One task as :meth:`Backend.tasks` lists it; a snapshot, changing nothing.

    Attributes:
        task_id: The id the task was pushed with.
        state: ``"waiting"``, ``"delayed"``, ``"running"`` or ``"dead"``.
        payload: The payload as stored, cut to
            :attr:`Backend.max_payload_bytes` and with bytes that are not
            UTF-8 shown as U+FFFD, as :meth:`Backend.dead_letters` lists it
            (a character the cut splits is one U+FFFD).
        attempts: Deliveries so far.
        failures: Deliveries that ran and failed (0 for a dead letter: the
            count is not kept there).
        due: When a waiting or delayed task is (or became) due; for a
            running task, when its lease ends; None for a dead letter.
        reason: Why a dead letter failed; None for the other states.
        failed_at: When a dead letter was dead-lettered; None otherwise.
    """

    task_id: str
    state: str
    payload: str
    attempts: int
    failures: int = 0
    due: float | None = None
    reason: str | None = None
    failed_at: float | None = None


@dataclass(frozen=True)
class Ack:
    """One finished task to acknowledge, with the return value to keep.

    Attributes:
        task_id: The reserved task.
        receipt: The receipt of the delivery being acked.
        result: The task's return value as JSON text, to keep for
            ``result_ttl`` seconds in the same atomic step as the ack; None
            keeps nothing (results are off for this task).
        result_ttl: Seconds to keep ``result``, on the backend's clock.
    """

    task_id: str
    receipt: str
    result: str | None = None
    result_ttl: float = 3600.0


@dataclass(frozen=True)
class Finished:
    """What the store remembers of a task that finished, as :meth:`Backend.finished` reads it.

    Attributes:
        task_id: The task's id.
        status: ``SUCCESS`` (acked) or ``FAILED`` (a dead letter).
        result: For SUCCESS, the JSON text stored with the ack, or None when
            none was kept (results off, past its TTL, or unreadable: see
            ``reason``). Always None for FAILED.
        reason: For FAILED, the dead letter's reason. For SUCCESS, None, or
            why a stored result cannot be handed out (too large, or not
            valid UTF-8: the texts of :mod:`alligator.reasons`).
        finished_at: When it was acked or dead-lettered, on the backend's
            clock; None when the store did not keep it.
    """

    task_id: str
    status: int
    result: str | None = None
    reason: str | None = None
    finished_at: float | None = None


#: What a store without :attr:`Backend.supports_pause` says when asked to pause.
_CANNOT_PAUSE = (
    "this store cannot pause queues or functions ({} has no supports_pause); "
    "use a store that can (sqlite, redis, locmem), or stop the workers of what must wait"
)


def check_page(state: str, offset: int, limit: int) -> None:
    """Refuses a state :meth:`Backend.tasks` does not know, or a negative page.

    Raises:
        ValueError: ``state`` is not one of :data:`TASK_STATES`, or
            ``offset`` or ``limit`` is negative.
    """
    if state not in TASK_STATES:
        raise ValueError(f"state must be one of {', '.join(TASK_STATES)}, not {state!r}")
    check_window(offset, limit)


def check_window(offset: int, limit: int) -> None:
    """Refuses a negative page (:meth:`Backend.tasks`, :meth:`Backend.succeeded`).

    Raises:
        ValueError: ``offset`` or ``limit`` is negative.
    """
    if offset < 0 or limit < 0:
        raise ValueError(f"offset and limit must be >= 0, not {offset!r} and {limit!r}")


class Backend(abc.ABC):
    """The abstract queue store every backend implements.

    A backend is built from a DSN (``Backend("sqlite:///tasks.db")``). One
    instance serves any number of queues, each named by the ``queue`` argument
    of every method. Rules every implementation keeps:

    * **Thread-safe.** A worker calls one instance from several threads (its
      task threads and the thread that keeps leases alive): at most
      ``concurrency + 2`` calls at once (the task threads, the lease keeper,
      and the main thread as it starts and stops). A backend with a pool of
      connections lets it hold that many, so a worker never waits on its own
      pool; several workers, in threads or processes, may use one store at
      once, each with instances of its own.
    * **Atomic.** Each method is one atomic step: no other client ever sees a
      task half-moved, and a crash of the caller between two methods loses
      nothing. The batch methods (:meth:`push_many`, :meth:`ack_many`,
      :meth:`extend_many`) are atomic item by item, not as a whole: each item
      is pushed, acked or extended entirely or not at all, but a batch cut
      short (a lost connection) may have applied the items before the cut.
      Only the checks of :meth:`push_many`'s arguments come before any item.
      Atomicity holds across every client of the store, in every process:
      a lock inside one process is not enough.
    * **One clock.** Due times and lease deadlines are compared against one
      clock per store (Redis: the server's ``TIME``; SQLite: the machine's),
      never against the clocks of several callers. When :attr:`clock` is set
      (the test kit does it to make time deterministic) that callable *is* the
      clock and must be used for every decision: take every time-dependent
      decision from :meth:`now` (or, inside a server-side script, from the
      value of :meth:`now` the call passes in), never from ``time.time()`` or
      the store's own clock directly. Every duration in this contract (delays,
      leases, :attr:`status_ttl`) is measured on that clock, except
      :meth:`reserve`'s ``timeout``, which is the caller's wall-clock time.
    * **FIFO among due tasks.** Tasks that are due are reserved in the order
      they became due, whatever order they were pushed in: a pushed task at
      its push time plus its delay, a released task at its release time
      plus its delay (so a task released with no delay goes behind every
      task that was due before it), a task whose lease ended at the lease's
      end. A delay ends once ``now >= push time + delay``.
    * **An ended lease is ended everywhere.** A lease taken at ``t`` for
      ``s`` seconds ends at ``t + s``, and is ended once ``now >= t + s``
      (that instant included). From then on every method treats the task as
      due again, due since the lease's end (``status`` says WAITING, ``len``
      counts it, :meth:`reserve` hands it out in its turn), and refuses the
      old receipt, whether or not another worker has reserved it yet.
    * **Ids are unique within a queue.** Pushing an id that is already in the
      queue (waiting, delayed, reserved, or a dead letter) changes nothing and
      returns False. An id that finished (acked) may be pushed again; the
      push forgets its old status and its kept result at once (cancelled, or
      run again without a result, the id never hands out the old value). So
      an id is never live and dead at once, and two dead letters never share
      an id.
    * **Strings cross unchanged.** Payloads and reasons are any ``str`` that
      UTF-8 can encode, ``"\\x00"`` (NUL) and every other code point included;
      a backend returns them exactly as given (a store whose text type
      cannot hold NUL must encode them). The core never passes a reason with a
      lone surrogate; a payload with one may be refused by :meth:`push` with
      ``ValueError``, changing nothing. A delay that is NaN or infinite is
      refused with ``ValueError`` before anything changes.
    * **What cannot be read is dead-lettered, alone.** Anyone who can write to
      the store can plant a record. :meth:`reserve` and :meth:`get` never hand
      out a record whose stored payload is longer than
      :attr:`max_payload_bytes` bytes, or is not valid UTF-8: in the same call
      each such record goes to the dead letters (its delivery counted, status
      FAILED) with the reason :mod:`alligator.reasons` words for it
      (:func:`~alligator.reasons.too_large`, :func:`~alligator.reasons.not_utf8`;
      :func:`~alligator.reasons.decode` decodes stored bytes by these rules),
      an oversized payload without being transferred to the caller, and the
      other records are reserved as usual. The same goes for a task id over
      :attr:`max_task_id_bytes`, and for a record whose stored delivery
      count, failures or due time is not a valid number
      (:func:`~alligator.reasons.corrupt`): no method raises for it, and no
      step is left half done. The texts are the core's, written once; a
      store that checks inside its own language formats the templates of
      :mod:`alligator.reasons`.

    Optional capabilities are class attributes, so callers check a flag
    instead of guessing:

    Attributes:
        blocking_reserve: True when :meth:`reserve` honours ``timeout`` by
            waiting for work; otherwise it returns at once and the worker naps.
        stores_results: True when :meth:`ack_results` keeps return values
            (and :meth:`finished` hands them back); otherwise results are
            dropped and ``Gator.result`` says the store cannot keep them.
        waits_for_finish: True when :meth:`wait_finished` is woken by the
            ack or dead letter it waits for instead of polling.
        status_ttl: Seconds :meth:`status` keeps reporting SUCCESS or
            FAILED after a task was acked or dead-lettered: for at least that
            long, and longer while :meth:`finished` still reports it (a
            result kept longer, a dead letter not yet past
            :attr:`dead_letter_ttl`): the two always agree. An acked
            task's SUCCESS with no result kept is forgotten (None) by 1.5
            times that long, at the latest once another task of the queue
            finished after that (a backend may tidy lazily, on a later ack).
            The kit checks both ends: SUCCESS at half the TTL, None after 1.5
            times it and another ack.
        clock: When not None, the time source that replaces the store's own.
        max_payload_bytes: The longest payload :meth:`reserve`, :meth:`get`
            and :meth:`peek` hand out; longer records are dead-lettered in the
            store (see the rules above), so a worker's memory stays bounded
            whatever was written there. A :class:`~alligator.gator.Gator`
            sets it from its own limit.
        max_dead_letters: The most dead letters a queue keeps; writing one
            more drops the oldest (see :meth:`dead_letter`).
        dead_letter_ttl: Seconds a dead letter is kept; older ones are
            dropped when the next one is written (see :meth:`dead_letter`).
            Past it a letter is gone for every reader whether or not it was
            dropped yet: :meth:`counts` does not count it, :meth:`status`
            and :meth:`finished` say None, listing drops it.
        max_workers: The most live workers :meth:`heartbeat` keeps.
        created: True when building this instance created the store (SQLite:
            the file did not exist), so it is new and empty. A worker
            warns then: a relative path or a mistyped DSN opens a store
            nobody pushes to. Stores that cannot tell leave it False.
        max_task_id_bytes: The longest task id :meth:`reserve` and :meth:`get`
            hand out. A longer id is planted, never pushed (the core makes
            ids of at most 200 characters): its record is dead-lettered in the
            same call with the reason
            ``reasons.too_large(reasons.TASK_ID, N, M)``, under the id cut
            to that many bytes, without the id being transferred to the caller.
        supports_pause: True when :meth:`set_paused` and :meth:`paused`
            keep pauses in the store (an optional capability: the defaults
            raise ``NotImplementedError``, and workers then never pause).
        max_pauses: The most pauses :meth:`set_paused` keeps and
            :meth:`paused` lists.
    """

    blocking_reserve: bool = False
    stores_results: bool = False
    waits_for_finish: bool = False
    status_ttl: float = 3600.0
    clock: Callable[[], float] | None = None
    max_payload_bytes: int = 256 * 1024
    max_dead_letters: int = 10_000
    dead_letter_ttl: float = 7 * 24 * 3600.0
    max_task_id_bytes: int = 1024
    max_workers: int = 1000
    supports_pause: bool = False
    max_pauses: int = 1000
    created: bool = False

    def __init__(self, conn_string: str) -> None:
        """Connects (lazily, if it likes) to the store the DSN names.

        Args:
            conn_string: The DSN, e.g. ``"locmem://"``.

        Raises:
            InvalidDSNError: The DSN cannot be used by this backend.
        """
        self.conn_string = conn_string

    def describe(self) -> str:
        """Says which store this is, for a worker's start line and error messages.

        Never shows a secret. Backends override it to say more (SQLite: the
        absolute path of the file, and whether it was just created).

        Returns:
            One line of text, e.g. ``"redis://:***@cache:6379/0"``.
        """
        from alligator.text import redact_dsn

        return redact_dsn(self.conn_string)

    # -- time ------------------------------------------------------------

    def now(self) -> float:
        """Returns the current time on this backend's one clock.

        Returns:
            Seconds since the epoch. Backends whose store keeps its own time
            override this, but must still return ``self.clock()`` when
            :attr:`clock` is set.
        """
        if self.clock is not None:
            return self.clock()
        return time.time()

    # -- producing -------------------------------------------------------

    @abc.abstractmethod
    def push(self, queue: str, task_id: str, payload: str, delay: float = 0.0) -> bool:
        """Adds a task to the end of a queue.

        Args:
            queue: The queue's name.
            task_id: The task's id, unique within the queue.
            payload: The string to store; never parsed by the backend. It is
                text that UTF-8 can encode (what ``json.dumps`` makes); for a
                string that cannot be (a lone surrogate), a backend may raise
                ``ValueError``, changing nothing.
            delay: Seconds from now (the backend's clock) before the task is
                due. ``0`` makes it due at once.

        Raises:
            ValueError: ``delay`` is NaN or infinite (nothing changes), or the
                payload cannot be encoded as UTF-8 (a backend may refuse it).

        Returns:
            True if it was added; False if that id is already in the queue,
            or is a dead letter's (nothing changes).
        """

    def push_many(self, queue: str, items: Sequence[tuple[str, str, float]]) -> int:
        """Adds many tasks at once, in order, as :meth:`push` would one by one.

        Backends override this to do it in one round trip. A NaN or
        infinite delay in any item is refused with ``ValueError`` before any
        item is added; this default checks them all, then pushes one at a time;
        an override checks every delay first too.

        Args:
            queue: The queue's name.
            items: ``(task_id, payload, delay)`` tuples.

        Returns:
            How many were added.
        """
        for _, _, delay in items:
            if not math.isfinite(delay):
                raise ValueError(f"a delay must be a finite number of seconds, not {delay!r}")
        return sum(1 for task_id, payload, delay in items if self.push(queue, task_id, payload, delay))

    # -- consuming -------------------------------------------------------

    @abc.abstractmethod
    def reserve(
        self, queue: str, lease_seconds: float, limit: int = 1, timeout: float = 0.0
    ) -> list[Reservation]:
        """Takes up to ``limit`` due tasks off the front of a queue, under a lease.

        Atomically: tasks whose delay has ended and tasks whose lease expired
        become due; then the first ``limit`` due tasks, in FIFO order, are
        reserved until ``now + lease_seconds``, each with a fresh receipt and
        its delivery count increased by one. Nobody else can reserve them
        until the lease ends.

        Args:
            queue: The queue's name.
            lease_seconds: How long the caller may hold each task.
            limit: The most tasks to return.
            timeout: When the queue has nothing due, how long the call may
                wait for a task before returning empty, in seconds of the
                caller's wall clock (not :meth:`now`: a fake clock neither
                shortens nor stretches the wait). A waiting call must wake
                for a task any client pushes, releases or requeues; it need
                not wake when a delay or a lease ends during the wait (it
                may return empty at the timeout, and the worker calls
                again). Backends without :attr:`blocking_reserve` return at
                once.

        Returns:
            The reservations, oldest first; empty when nothing is due.
        """

    @abc.abstractmethod
    def ack(self, queue: str, task_id: str, receipt: str) -> bool:
        """Finishes a reserved task for good; :meth:`status` then says SUCCESS.

        Must be idempotent: a second ack of the same delivery returns False.

        Returns:
            True if that delivery was still held; False if the receipt is
            stale (the lease ran out and the task went to someone else, or it
            was already finished): nothing changes then.
        """

    def ack_many(self, queue: str, items: Sequence[tuple[str, str]]) -> int:
        """Acks many ``(task_id, receipt)`` pairs; backends make it one round trip.

        Returns:
            How many acks took effect.
        """
        return sum(1 for task_id, receipt in items if self.ack(queue, task_id, receipt))

    def ack_results(self, queue: str, acks: Sequence[Ack]) -> int:
        """Acks many tasks, keeping each one's result, in one round trip or transaction.

        Each item is acked as :meth:`ack` would, and, when the ack takes
        effect and ``result`` is not None, its result is kept for
        ``result_ttl`` seconds *in the same atomic step* (a stale receipt
        keeps no result). A result replaces any older one of the same id.
        Atomic item by item, like :meth:`ack_many`. This default, for
        backends without :attr:`stores_results`, acks and keeps nothing.

        Returns:
            How many acks took effect.
        """
        return self.ack_many(queue, [(a.task_id, a.receipt) for a in acks])

    def finished(self, queue: str, task_id: str) -> Finished | None:
        """Reads what the store remembers of a finished task, changing nothing.

        SUCCESS while its result is kept or its status remembered (see
        :attr:`status_ttl`), whichever lasts longer; FAILED while it is a dead
        letter (with the dead letter's reason), until the letter is dropped or
        past :attr:`dead_letter_ttl`. :meth:`status` says the same. A push of
        the same id forgets the old outcome at once (None while it is live). A stored result over
        :attr:`max_payload_bytes` or not valid UTF-8 is never transferred:
        ``result`` is None and ``reason`` says why.

        Returns:
            What it knows; None when the task is waiting, delayed, running,
            unknown, or forgotten.
        """
        from alligator.constants import FAILED, SUCCESS

        status = self.status(queue, task_id)
        if status == SUCCESS:
            return Finished(task_id, SUCCESS)
        if status == FAILED:
            offset = 0
            while True:
                page = self.tasks(queue, "dead", offset, 1000)
                for info in page:
                    if info.task_id == task_id:
                        return Finished(task_id, FAILED, None, info.reason, info.failed_at)
                if len(page) < 1000:
                    return None
                offset += len(page)
        return None

    def succeeded(self, queue: str, offset: int = 0, limit: int = 100) -> list[Finished]:
        """Lists one page of a queue's succeeded tasks, the most recently acked first, changing nothing.

        Part of the results capability (:attr:`stores_results`). A task is
        listed exactly while :meth:`status` says SUCCESS for it: acked within
        :attr:`status_ttl` and not pushed again since (a result kept longer
        than that is still handed out by :meth:`finished`, but no longer
        listed). Each comes as :meth:`finished` reads it: ``result`` the kept
        return value, or None (none kept, past its TTL, or withheld, with
        ``reason`` saying why, as :meth:`finished` says it); ``finished_at``
        when it was acked. Tasks acked at the same instant are listed by
        task id, the greater (in UTF-8 bytes) first, so pages never overlap.
        Failed tasks are the dead letters: :meth:`tasks` of ``"dead"``.

        Args:
            queue: The queue's name.
            offset: How many tasks of that order to skip.
            limit: The most tasks to return.

        Raises:
            ValueError: A negative offset or limit.
            NotImplementedError: The store keeps no results (this default).

        Returns:
            The page, in that order; empty past the end.
        """
        check_window(offset, limit)
        raise NotImplementedError(f"{type(self).__name__} keeps no results: it cannot list succeeded tasks")

    def wait_finished(self, queue: str, task_id: str, timeout: float) -> Finished | None:
        """Waits up to ``timeout`` seconds (wall clock) for a task to finish.

        Backends with :attr:`waits_for_finish` are woken by the ack or dead
        letter itself; this default polls :meth:`finished`, starting at 10 ms
        and backing off to 250 ms between looks.

        Returns:
            As :meth:`finished`, as soon as it is not None; None at the timeout.
        """
        deadline = time.monotonic() + max(timeout, 0.0)
        pause = 0.01
        while True:
            found = self.finished(queue, task_id)
            left = deadline - time.monotonic()
            if found is not None or left <= 0:
                return found
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.25)

    # -- several queues --------------------------------------------------

    def reserve_first(
        self, queues: Sequence[str], lease_seconds: float, limit: int = 1, timeout: float = 0.0
    ) -> tuple[str, list[Reservation]]:
        """Reserves from the first of ``queues`` (in priority order) that has due work.

        Each queue is asked as :meth:`reserve` would; the first non-empty
        answer wins, so a due task of an earlier queue always goes before any
        task of a later one. When none has due work and ``timeout`` is
        positive, waits (see :meth:`wait_for_work`) and asks once more.

        Returns:
            The queue the tasks came from and the reservations; ``("", [])``
            when none had work.
        """
        if len(queues) == 1:
            return queues[0], self.reserve(queues[0], lease_seconds, limit, timeout)
        for attempt in range(2):
            for queue in queues:
                batch = self.reserve(queue, lease_seconds, limit, 0.0)
                if batch:
                    return queue, batch
            if attempt or timeout <= 0:
                break
            self.wait_for_work(queues, timeout)
        return "", []

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> bool:
        """Waits until a task may be due in one of ``queues``, or ``timeout`` passes.

        Backends that can block (:attr:`blocking_reserve`) override it to be
        woken by any push, release or requeue on any of the queues, without
        polling; and when work is already due in one of them as it is called
        (pushed, released or requeued before, or a lease that ended), they
        return True at once: a wait never sleeps through work it could take.
        This default does not look: it sleeps a short nap (at most 0.1 s)
        and returns False, and its caller reserves again.

        Returns:
            True when woken by work (it may be gone already); False otherwise.
        """
        time.sleep(min(max(timeout, 0.0), 0.1))
        return False

    # -- live workers ----------------------------------------------------

    def heartbeat(self, worker_id: str, record: str, ttl: float) -> None:
        """Writes (or refreshes) a live worker's record, kept ``ttl`` seconds.

        The registry is bounded: a record is gone ``ttl`` seconds after its
        last heartbeat, and when more than :attr:`max_workers` are live the
        ones with the oldest heartbeats are dropped. ``record`` is opaque
        text (the core's JSON); ``worker_id`` at most 200 characters.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot keep a registry of workers")

    def forget_worker(self, worker_id: str) -> bool:
        """Removes a worker's record (it stopped cleanly).

        Returns:
            True if there was one.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot keep a registry of workers")

    def worker_records(self) -> list[tuple[str, str]]:
        """Lists the live workers' ``(worker_id, record)``, oldest heartbeat first.

        Expired records are never listed (and may be dropped by this call).
        A record over :attr:`max_payload_bytes` or not valid UTF-8 is never
        transferred; it is skipped (the core treats what it cannot parse as
        absent, so a hostile record cannot break a listing).
        """
        raise NotImplementedError(f"{type(self).__name__} cannot keep a registry of workers")

    # -- pausing (optional: supports_pause) ------------------------------

    def set_paused(self, kind: str, name: str, paused: bool) -> bool:
        """Pauses or resumes one queue or one function, for every worker of the store.

        Workers read :meth:`paused` about once a second and leave a paused
        queue's tasks waiting, untouched, and hand a paused function's tasks
        back unstarted (see :mod:`alligator.pausing`). Pauses are one set
        per store, not per queue: a paused function is paused in every
        queue. Idempotent: pausing what is paused, or resuming what is not,
        changes nothing and returns False. Call
        :func:`alligator.pausing.check_target` first, before any write; at
        most :attr:`max_pauses` pauses are kept.

        Args:
            kind: ``"queue"`` or ``"function"``.
            name: The queue's name, or the function as ``module:name``.
            paused: True to pause, False to resume.

        Raises:
            ValueError: ``kind`` or ``name`` is refused by
                :func:`~alligator.pausing.check_target`, or pausing one
                more would keep more than :attr:`max_pauses`; nothing
                changes.
            NotImplementedError: The store cannot pause (:attr:`supports_pause`
                is False).

        Returns:
            True if something changed.
        """
        raise NotImplementedError(_CANNOT_PAUSE.format(type(self).__name__))

    def paused(self) -> list[tuple[str, str]]:
        """Lists the pauses in force as ``(kind, name)``, sorted by kind then name.

        One read, at most :attr:`max_pauses` entries. A
        record that :func:`~alligator.pausing.readable` refuses (a name too
        long, not UTF-8, a function not ``module:name``: anyone who can
        write to the store can plant one) is skipped, never handed out;
        :func:`alligator.pausing.listed` does the checking and sorting.

        Raises:
            NotImplementedError: The store cannot pause.
        """
        raise NotImplementedError(_CANNOT_PAUSE.format(type(self).__name__))

    # -- deployment checks -----------------------------------------------

    def diagnose(self) -> list[tuple[str, str, str]]:
        """Checks the store's own settings and health for what would lose or stall tasks.

        Used by ``alligator doctor``. Each finding is ``(level, problem,
        what_to_do)`` with level ``"error"``, ``"warning"`` or ``"ok"``. A
        backend checks at least that the store accepts a write
        (and leaves nothing behind: a write rolled back, or a probe key
        deleted at once and expiring on its own), and what it knows can fail:
        Redis reports its persistence, ``maxmemory-policy``, memory used
        against ``maxmemory`` and, on a Cluster, its state, failed nodes and
        masters without a replica; SQLite its journal mode, file system and
        the free disk space. The store being unreachable raises (the caller
        reports it).

        Returns:
            The findings; this default has none.
        """
        return []

    def task_loss_risks(self) -> list[tuple[str, str]]:
        """Says which of the store's settings lose tasks it accepted, in one quick look.

        A producer asks once per store before its first task, a worker as it
        starts; neither asks again. Each risk is ``(kind, problem)``, where
        ``kind`` is ``"eviction"`` (the store may drop queued tasks to make
        room, e.g. Redis ``maxmemory-policy allkeys-lru``: a
        :class:`~alligator.gator.Gator` refuses to enqueue there unless
        built with ``allow_eviction=True``) or ``"no-persistence"`` (a
        restart of the store loses every queued task: a warning), and
        ``problem`` says what was found, naming the server. What cannot be
        read (a refused INFO) is not a risk; :meth:`diagnose` reports it.

        Returns:
            The risks found; this default finds none.

        Raises:
            BackendError: The store cannot be reached.
        """
        return []

    @abc.abstractmethod
    def release(
        self, queue: str, task_id: str, receipt: str, delay: float = 0.0, attempted: bool = True
    ) -> bool:
        """Hands a reserved task back to the queue, due after ``delay`` seconds.

        Args:
            queue: The queue's name.
            task_id: The reserved task.
            receipt: The receipt of the delivery being released.
            delay: Seconds from now before it is due again.
            attempted: False when the task was handed back without being
                started (a worker stopping, prefetched work set aside); the
                backend then takes this delivery off the delivery count.

        With ``attempted=True`` (the task ran and failed) the backend adds
        one to the task's ``failures`` (see :class:`Reservation`); with
        ``attempted=False`` it leaves ``failures`` alone.

        Raises:
            ValueError: ``delay`` is NaN or infinite; the task stays held,
                nothing changes.

        Returns:
            True if released; False if the receipt is stale (nothing changes).
        """

    @abc.abstractmethod
    def extend(self, queue: str, task_id: str, receipt: str, lease_seconds: float) -> bool:
        """Moves a held lease's end to ``now + lease_seconds``.

        Returns:
            True if the lease was still held; False if it was lost (the task
            may be running elsewhere now).
        """

    def extend_many(self, queue: str, items: Sequence[tuple[str, str]], lease_seconds: float) -> list[bool]:
        """Extends many ``(task_id, receipt)`` leases; one round trip where possible.

        Returns:
            One flag per item, as :meth:`extend` returns.
        """
        return [self.extend(queue, task_id, receipt, lease_seconds) for task_id, receipt in items]

    @abc.abstractmethod
    def dead_letter(self, queue: str, task_id: str, receipt: str, reason: str) -> bool:
        """Moves a reserved task to the queue's dead letters, with the reason.

        Its payload and delivery count are kept; :meth:`status` then says
        FAILED.

        Retention: in the same step, wherever a task becomes a dead letter
        (here, and in :meth:`reserve` and :meth:`get` for an unreadable
        record), the queue's dead letters older than :attr:`dead_letter_ttl`
        are dropped, then the oldest beyond :attr:`max_dead_letters`, so a
        flood of failing tasks cannot fill the store. Listing dead letters
        (:meth:`dead_letters`, :meth:`tasks` of ``"dead"``) drops those past
        their time first, so a queue nothing fails on any more empties too. A
        dropped letter is gone as if :meth:`delete_dead` had removed it.

        Returns:
            True if moved; False if the receipt is stale (nothing changes).
        """

    # -- inspecting and managing ----------------------------------------

    @abc.abstractmethod
    def get(self, queue: str, task_id: str, lease_seconds: float) -> Reservation | None:
        """Reserves one named task, waiting or delayed, ahead of its turn.

        Returns:
            Its reservation, or None when it is not waiting or delayed in the
            queue (unknown, reserved by someone else, finished, dead).
        """

    @abc.abstractmethod
    def peek(self, queue: str, task_id: str) -> str | None:
        """Reads the payload of a waiting, delayed or reserved task, changing nothing.

        Returns:
            The payload as pushed; None when the id is not waiting, delayed or
            reserved in the queue, or its payload is one :meth:`reserve` would
            dead-letter (over :attr:`max_payload_bytes`, not UTF-8).
        """

    @abc.abstractmethod
    def cancel(self, queue: str, task_id: str) -> bool:
        """Removes a waiting or delayed task; it will never run.

        Returns:
            True if removed; False if it was not waiting or delayed (a worker
            holds it, it finished, or the id is unknown).
        """

    @abc.abstractmethod
    def status(self, queue: str, task_id: str) -> int | None:
        """Tells where a task is.

        It agrees with :meth:`finished` for a finished task: ``SUCCESS``
        while its status is remembered (:attr:`status_ttl`) or its result
        kept, whichever lasts longer; ``FAILED`` while it is a dead letter
        (until dropped or past :attr:`dead_letter_ttl`).

        Returns:
            ``WAITING``, ``DELAYED``, ``RUNNING`` (reserved), ``SUCCESS``
            (acked, for at least :attr:`status_ttl` seconds), ``FAILED``
            (dead-lettered), or None when the id is unknown (never pushed,
            cancelled, or finished longer ago than it remembers).
        """

    @abc.abstractmethod
    def len(self, queue: str) -> int:
        """Counts the tasks waiting or delayed in a queue (not reserved, not dead)."""

    @abc.abstractmethod
    def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        """Lists up to ``limit`` of a queue's dead letters, oldest first.

        A payload is listed as stored, except one over :attr:`max_payload_bytes`
        (cut to that many bytes) or not valid UTF-8 (its bad bytes replaced
        by U+FFFD): listing never transfers more than the limit per letter.
        A character the cut splits is listed as one U+FFFD, after the whole
        characters before it (so the text, encoded again, may be up to two
        bytes longer than the limit).
        """

    @abc.abstractmethod
    def requeue(self, queue: str, task_id: str) -> bool:
        """Moves a dead letter back to the end of its queue, due now.

        Its ``attempts`` and ``failures`` start again from 0, and it keeps
        its payload. Since a dead letter's id cannot be pushed again (ids are
        unique, dead letters included), requeueing never meets a live task of
        the same id; should it anyway (a record written by hand), nothing
        changes and it returns False: no task is ever overwritten or lost.

        Returns:
            True if requeued; False if no dead letter has that id (or the id
            is live), changing nothing.
        """

    def queues(self) -> list[str]:
        """Lists the queues the store holds anything for, sorted by name.

        A queue is listed while it has a task waiting, delayed, reserved or
        dead; one holding only statuses of finished tasks is not.

        Returns:
            The names, sorted.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot list its queues")

    def finished_queues(self) -> list[str]:
        """Lists the queues that remember a finished task: a SUCCESS or FAILED status, or a kept result.

        For finding a task by id alone (``alligator show DSN ID``): a queue
        whose tasks have all finished is not in :meth:`queues`, yet still
        answers :meth:`status` and :meth:`finished` for them. It may list a
        queue whose statuses have just expired. This default lists none
        (the lookup then asks the queues it knows otherwise).

        Returns:
            The names, sorted.
        """
        return []

    def counts(self, queue: str) -> QueueCounts:
        """Counts a queue's tasks per state, in one atomic step, changing nothing.

        A task whose lease ended counts as waiting (see the rules above). A
        dead letter past :attr:`dead_letter_ttl` is not counted, dropped yet
        or not: the counts agree with what listing shows.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot count tasks per state")

    def tasks(self, queue: str, state: str, offset: int = 0, limit: int = 100) -> list[TaskInfo]:
        """Lists one page of a queue's tasks in one state, changing no task.

        The order is the one the tasks leave that state in: waiting in FIFO
        order (as :meth:`reserve` takes them), delayed by due time, running
        by the end of their lease, dead in the order they failed (as
        :meth:`dead_letters`). Payloads are listed as :meth:`dead_letters`
        lists them: never more than :attr:`max_payload_bytes` each. Listing
        dead letters applies retention first, as :meth:`dead_letters` does.

        Args:
            queue: The queue's name.
            state: ``"waiting"``, ``"delayed"``, ``"running"`` or ``"dead"``.
            offset: How many tasks of that order to skip.
            limit: The most tasks to return.

        Raises:
            ValueError: An unknown state, or a negative offset or limit.

        Returns:
            The page, in that order; empty past the end.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot list tasks per state")

    def delete_dead(self, queue: str, task_id: str) -> bool:
        """Deletes one dead letter for good; its FAILED status is forgotten too.

        Returns:
            True if it was deleted; False if no dead letter has that id
            (live tasks are never touched).
        """
        raise NotImplementedError(f"{type(self).__name__} cannot delete one dead letter")

    def purge_dead(self, queue: str) -> int:
        """Deletes every dead letter of a queue, as :meth:`delete_dead` does each.

        Live tasks are untouched. This default deletes them page by page;
        backends override it to do it in one step.

        Returns:
            How many were deleted.
        """
        deleted = 0
        while True:
            letters = self.dead_letters(queue, limit=1000)
            gone = sum(1 for letter in letters if self.delete_dead(queue, letter.task_id))
            deleted += gone
            if not letters or not gone:
                return deleted

    def requeue_all(self, queue: str) -> int:
        """Requeues every dead letter of a queue in the order they failed, each as :meth:`requeue` does.

        A letter :meth:`requeue` refuses (its id is live: a hand-written
        record) stays a dead letter. This default requeues one page at a
        time; backends may override it to do it in one step.

        Returns:
            How many were requeued.
        """
        requeued = 0
        refused: set[str] = set()
        while True:
            letters = [
                d for d in self.dead_letters(queue, limit=1000 + len(refused)) if d.task_id not in refused
            ]
            if not letters:
                return requeued
            for letter in letters:
                if self.requeue(queue, letter.task_id):
                    requeued += 1
                else:
                    refused.add(letter.task_id)

    @abc.abstractmethod
    def drop_all(self, queue: str) -> None:
        """Deletes everything a queue holds: waiting, delayed, reserved, dead, statuses."""

    def close(self) -> None:  # noqa: B027 - optional: most backends have nothing to close
        """Releases connections and files; the instance is not used afterwards."""
