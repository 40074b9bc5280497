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

from alligator import store_defaults

# The values that cross the seam, importable from here as they always were.
from alligator.store_values import TASK_STATES as TASK_STATES
from alligator.store_values import Ack as Ack
from alligator.store_values import DeadLetter as DeadLetter
from alligator.store_values import Finished as Finished
from alligator.store_values import QueueCounts as QueueCounts
from alligator.store_values import Reservation as Reservation
from alligator.store_values import TaskInfo as TaskInfo
from alligator.store_values import check_page as check_page
from alligator.store_values import check_window as check_window


class Backend(abc.ABC):
    """The abstract queue store every backend implements.

    A backend is built from a DSN (``Backend("sqlite:///tasks.db")``). One
    instance serves any number of queues, each named by the ``queue`` argument
    of every method. Rules every implementation keeps:

    * **Thread-safe.** A worker calls one instance from several threads: at
      most ``concurrency + 4`` calls at once (the task threads, the thread
      that keeps leases alive and beats the heartbeat, the thread that sends
      batched acks, the one that hands back stale prefetched tasks, and the
      main thread as it starts and stops), one more when it runs schedules
      (``latergator --schedules``: the scheduler's thread). A backend with a pool of
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

    **The required part is twelve methods**, the ones a queue cannot work
    without: :meth:`push`, :meth:`reserve`, :meth:`ack`, :meth:`release`,
    :meth:`extend`, :meth:`dead_letter`, :meth:`get`, :meth:`peek`,
    :meth:`cancel`, :meth:`status`, :meth:`len` and :meth:`drop_all`, all
    abstract (and :meth:`close`, which does nothing unless the store holds
    connections). Call ``super().__init__(conn_string)`` first in
    ``__init__``: the kit and the tools read ``conn_string``.
    :meth:`push_many`, :meth:`ack_many`, :meth:`extend_many` and
    :meth:`reserve_first` have correct defaults built on them; a backend
    overrides them only to save round trips. Everything else is an optional
    *capability* (results, inspection, dead-letter administration, the
    worker registry, pausing, diagnosis, waking): a backend claims one by
    writing its methods, as :mod:`alligator.capabilities` lists them, and
    the core, the ``alligator`` command, the dashboard and ``doctor`` ask
    :func:`alligator.capabilities.supports` before using it, saying plainly
    what a store cannot do instead of failing.

    Attributes:
        blocking_reserve: True when :meth:`reserve` honours ``timeout`` by
            waiting for work; otherwise it returns at once and the worker naps.
        status_ttl: Seconds :meth:`status` keeps reporting SUCCESS or
            FAILED after a task was acked or dead-lettered: for at least that
            long, and longer while :meth:`~alligator.capabilities.Results.finished` still reports it (a
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
            dropped yet: :meth:`~alligator.capabilities.Inspection.counts` does not count it, :meth:`status`
            and :meth:`~alligator.capabilities.Results.finished` say None, listing drops it.
        max_workers: The most live workers :meth:`~alligator.capabilities.WorkerRegistry.heartbeat` keeps.
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
        max_pauses: The most pauses :meth:`~alligator.capabilities.Pausing.set_paused` keeps and
            :meth:`~alligator.capabilities.Pausing.paused` lists.
        in_process: True for a store only the process holding it can see
            (locmem): ``latergator`` then runs one worker process by default,
            never several that would each see a store of their own.
    """

    blocking_reserve: bool = False
    status_ttl: float = 3600.0
    clock: Callable[[], float] | None = None
    max_payload_bytes: int = 256 * 1024
    max_dead_letters: int = 10_000
    dead_letter_ttl: float = 7 * 24 * 3600.0
    max_task_id_bytes: int = 1024
    max_workers: int = 1000
    max_pauses: int = 1000
    created: bool = False
    in_process: bool = False

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

    # -- several queues --------------------------------------------------

    def reserve_first(
        self, queues: Sequence[str], lease_seconds: float, limit: int = 1, timeout: float = 0.0
    ) -> tuple[str, list[Reservation]]:
        """Reserves from the first of ``queues`` (in priority order) that has due work.

        Each queue is asked as :meth:`reserve` would; the first non-empty
        answer wins, so a due task of an earlier queue always goes before any
        task of a later one. When none has due work and ``timeout`` is
        positive, waits (see :meth:`~alligator.capabilities.Waking.wait_for_work`) and asks once more.

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
            store_defaults.wait_for_work(self, queues, timeout)
        return "", []

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
        one to the task's ``failures`` (see :class:`~alligator.store_values.Reservation`); with
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
        (:meth:`~.capabilities.Administration.dead_letters`,
        :meth:`~.capabilities.Inspection.tasks` of ``"dead"``) drops those
        past their time first, so a queue nothing fails on any more empties
        too. A dropped letter is gone as if
        :meth:`~.capabilities.Administration.delete_dead` had removed it.

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

        It agrees with :meth:`~alligator.capabilities.Results.finished` for a finished task: ``SUCCESS``
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
    def drop_all(self, queue: str) -> None:
        """Deletes everything a queue holds: waiting, delayed, reserved, dead, statuses, schedule records."""

    def close(self) -> None:  # noqa: B027 - optional: most backends have nothing to close
        """Releases connections and files; the instance is not used afterwards."""
