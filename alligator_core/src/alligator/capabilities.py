"""The optional capabilities of a store, each a protocol a backend claims by writing its methods.

The required part of a backend (:class:`alligator.backend.Backend`) is what
a queue cannot work without. Everything else a store may offer is one of
the capabilities below. A backend claims one by implementing all of its
methods (subclassing the protocol too is optional; it adds the defaults some
protocols carry, and makes a missing method an error at instantiation). The
core asks :func:`supports` before it uses one, and reaches the methods through
:func:`require`, which raises :class:`Unsupported` (a ``NotImplementedError``)
saying in plain words what the store cannot do. :func:`check` runs when a
backend is loaded: a backend that writes part of a capability's methods is
refused with the names of the missing ones, so a typo cannot silently switch
a capability off.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Protocol, cast, runtime_checkable

from alligator.limit_store import Limiting
from alligator.priority_store import TaskPriority
from alligator.scheduling_store import Scheduling
from alligator.store_values import Ack, DeadLetter, Finished, QueueCounts, TaskInfo
from alligator.transactional_store import TransactionalEnqueue, TransactionalPriority, TransactionalUnique
from alligator.unique_store import UniqueKeys as UniqueKeys


class Unsupported(NotImplementedError):
    """The store lacks a capability; the message says which and what to do instead."""


@runtime_checkable
class Results(Protocol):
    """Keeps what happened to finished tasks: their outcome and return values.

    Without it results are dropped at the ack, ``Gator.result`` and
    ``alligator show`` say "this store keeps no results", and a task's
    ``depends_on`` can still wait on :meth:`~alligator.backend.Backend.status`.
    Attribute :attr:`~alligator.backend.Backend.status_ttl` says how long a
    finished status is remembered. Kit mixin:
    :class:`~alligator.testing.results.ResultsContract`.
    """

    @abc.abstractmethod
    def finished(self, queue: str, task_id: str) -> Finished | None:
        """Reads what the store remembers of a finished task, changing nothing.

        SUCCESS while its result is kept or its status remembered (see
        :attr:`~alligator.backend.Backend.status_ttl`), whichever lasts longer; FAILED while it is a dead
        letter (with the dead letter's reason), until the letter is dropped or
        past :attr:`~.Backend.dead_letter_ttl`. :meth:`~.Backend.status` says the same. A push of
        the same id forgets the old outcome at once (None while it is live). A stored result over
        :attr:`~alligator.backend.Backend.max_payload_bytes` or not valid UTF-8 is never transferred:
        ``result`` is None and ``reason`` says why.

        Returns:
            What it knows; None when the task is waiting, delayed, running,
            unknown, or forgotten.
        """

    @abc.abstractmethod
    def ack_results(self, queue: str, acks: Sequence[Ack]) -> int:
        """Acks many tasks, keeping each one's result, in one round trip or transaction.

        Each item is acked as :meth:`~alligator.backend.Backend.ack` would, and, when the ack takes
        effect and ``result`` is not None, its result is kept for
        ``result_ttl`` seconds *in the same atomic step* (a stale receipt
        keeps no result). A result replaces any older one of the same id.
        Atomic item by item, like :meth:`~alligator.backend.Backend.ack_many`. For a store without
        this capability the core acks with :meth:`~alligator.backend.Backend.ack_many` and keeps nothing.

        Returns:
            How many acks took effect.
        """


@runtime_checkable
class ResultListing(Protocol):
    """Lists finished tasks: the succeeded ones of a queue, and the queues that remember any.

    For the dashboard's "succeeded" page and ``alligator show DSN ID`` without
    a queue. Needs :class:`Results`. Kit mixin:
    :class:`~alligator.testing.result_listing.ResultListingContract`.
    """

    @abc.abstractmethod
    def succeeded(self, queue: str, offset: int = 0, limit: int = 100) -> list[Finished]:
        """Lists one page of a queue's succeeded tasks, the most recently acked first, changing nothing.

        A task is
        listed exactly while :meth:`~alligator.backend.Backend.status` says SUCCESS for it: acked within
        :attr:`~alligator.backend.Backend.status_ttl` and not pushed again since (a result kept longer
        than that is still handed out by :meth:`~alligator.capabilities.Results.finished`, but no longer
        listed). Each comes as :meth:`~alligator.capabilities.Results.finished` reads it: ``result`` the kept
        return value, or None (none kept, past its TTL, or withheld, with
        ``reason`` saying why, as :meth:`~alligator.capabilities.Results.finished` says it); ``finished_at``
        when it was acked. Tasks acked at the same instant are listed by
        task id, the greater (in UTF-8 bytes) first, so pages never overlap.
        Failed tasks are the dead letters: :meth:`~alligator.capabilities.Inspection.tasks` of ``"dead"``.

        Args:
            queue: The queue's name.
            offset: How many tasks of that order to skip.
            limit: The most tasks to return.

        Raises:
            ValueError: A negative offset or limit.

        Returns:
            The page, in that order; empty past the end.
        """

    @abc.abstractmethod
    def finished_queues(self) -> list[str]:
        """Lists the queues that remember a finished task: a SUCCESS or FAILED status, or a kept result.

        For finding a task by id alone (``alligator show DSN ID``): a queue
        whose tasks have all finished is not in :meth:`~alligator.capabilities.Inspection.queues`, yet still
        answers :meth:`~.Backend.status` and :meth:`~.capabilities.Results.finished` for them. It may list a
        queue whose statuses have just expired. This default lists none
        (the lookup then asks the queues it knows otherwise).

        Returns:
            The names, sorted.
        """


@runtime_checkable
class ResultWaiting(Protocol):
    """Wakes whoever waits for a task's result as soon as it finishes, without polling.

    Without it (and with :class:`Results`), :func:`alligator.store_defaults.wait_finished`
    polls :meth:`Results.finished`, from 10 ms backing off to 250 ms. Kit
    mixin: :class:`~alligator.testing.result_waiting.ResultWaitingContract`.
    """

    @abc.abstractmethod
    def wait_finished(self, queue: str, task_id: str, timeout: float) -> Finished | None:
        """Waits up to ``timeout`` seconds (wall clock) for a task to finish.

        A backend with this capability is woken by the ack or dead letter
        itself; for a store without it the core polls
        (:func:`alligator.store_defaults.wait_finished`).

        Returns:
            As :meth:`~.capabilities.Results.finished`, as soon as it is not None; None at the timeout.
        """


@runtime_checkable
class Waking(Protocol):
    """Wakes an idle worker the moment work arrives on any of several queues.

    Without it a worker that consumes several queues naps (at most 0.1 s)
    between looks. Kit mixin:
    :class:`~alligator.testing.priority.WakingContract`.
    """

    @abc.abstractmethod
    def wait_for_work(self, queues: Sequence[str], timeout: float) -> bool:
        """Waits until a task may be due in one of ``queues``, or ``timeout`` passes.

        Backends that can block (:attr:`~alligator.backend.Backend.blocking_reserve`) override it to be
        woken by any push, release or requeue on any of the queues, without
        polling; and when work is already due in one of them as it is called
        (pushed, released or requeued before, or a lease that ended), they
        return True at once: a wait never sleeps through work it could take.
        This default does not look: it sleeps a short nap (at most 0.1 s)
        and returns False, and its caller reserves again.

        Returns:
            True when woken by work (it may be gone already); False otherwise.
        """


@runtime_checkable
class Inspection(Protocol):
    """Lists and counts a queue's tasks per state, for the command, the dashboard and ``doctor``.

    Without it they show what the required part can tell (the number
    waiting, :meth:`~alligator.backend.Backend.len`) and say the store cannot
    list its tasks. Kit mixin:
    :class:`~alligator.testing.inspection.InspectionContract`.
    """

    @abc.abstractmethod
    def queues(self) -> list[str]:
        """Lists the queues the store holds anything for, sorted by name.

        A queue is listed while it has a task waiting, delayed, reserved or
        dead; one holding only statuses of finished tasks is not.

        Returns:
            The names, sorted.
        """

    @abc.abstractmethod
    def counts(self, queue: str) -> QueueCounts:
        """Counts a queue's tasks per state, in one atomic step, changing nothing.

        A task whose lease ended counts as waiting (see the rules above). A
        dead letter past :attr:`~alligator.backend.Backend.dead_letter_ttl` is not counted, dropped yet
        or not: the counts agree with what listing shows.
        """

    @abc.abstractmethod
    def tasks(self, queue: str, state: str, offset: int = 0, limit: int = 100) -> list[TaskInfo]:
        """Lists one page of a queue's tasks in one state, changing no task.

        The order is the one the tasks leave that state in: waiting in FIFO
        order (as :meth:`~alligator.backend.Backend.reserve` takes them),
        delayed by due time, running by the end of their lease, dead in the
        order they failed (as :meth:`Administration.dead_letters` lists
        them). Payloads are listed as that lists them: never more than
        :attr:`~alligator.backend.Backend.max_payload_bytes` each. Listing
        dead letters applies retention first, as it does.

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


@runtime_checkable
class Administration(Protocol):
    """Lists, requeues and deletes dead letters.

    A backend that subclasses this protocol gets :meth:`~alligator.capabilities.Administration.purge_dead` and
    :meth:`~.capabilities.Administration.requeue_all` built on the other three; it overrides them to do it
    in one step. Kit mixin:
    :class:`~alligator.testing.administration.AdministrationContract`.
    """

    @abc.abstractmethod
    def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        """Lists up to ``limit`` of a queue's dead letters, oldest first.

        A payload is listed as stored, except one over :attr:`~alligator.backend.Backend.max_payload_bytes`
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

    @abc.abstractmethod
    def delete_dead(self, queue: str, task_id: str) -> bool:
        """Deletes one dead letter for good; its FAILED status is forgotten too.

        Returns:
            True if it was deleted; False if no dead letter has that id
            (live tasks are never touched).
        """

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

        A letter :meth:`~.capabilities.Administration.requeue` refuses (its id is live: a hand-written
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


@runtime_checkable
class WorkerRegistry(Protocol):
    """Keeps a bounded registry of live workers, for ``alligator workers``, the dashboard and ``doctor``.

    Without it workers run as usual and the tools say the store keeps no
    registry of workers. Kit mixin:
    :class:`~alligator.testing.registry.WorkerRegistryContract`.
    """

    @abc.abstractmethod
    def heartbeat(self, worker_id: str, record: str, ttl: float) -> None:
        """Writes (or refreshes) a live worker's record, kept ``ttl`` seconds.

        The registry is bounded: a record is gone ``ttl`` seconds after its
        last heartbeat, and when more than :attr:`~alligator.backend.Backend.max_workers` are live the
        ones with the oldest heartbeats are dropped. ``record`` is opaque
        text (the core's JSON); ``worker_id`` at most 200 characters.
        """

    @abc.abstractmethod
    def forget_worker(self, worker_id: str) -> bool:
        """Removes a worker's record (it stopped cleanly).

        Returns:
            True if there was one.
        """

    @abc.abstractmethod
    def worker_records(self) -> list[tuple[str, str]]:
        """Lists the live workers' ``(worker_id, record)``, oldest heartbeat first.

        Expired records are never listed (and may be dropped by this call).
        A record over :attr:`~alligator.backend.Backend.max_payload_bytes` or not valid UTF-8 is never
        transferred; it is skipped (the core treats what it cannot parse as
        absent, so a hostile record cannot break a listing).
        """


@runtime_checkable
class Pausing(Protocol):
    """Keeps pauses of queues and functions in the store, for every worker.

    Without it workers never pause and ``alligator pause`` says the store
    cannot pause. Kit mixin: :class:`~alligator.testing.pausing.PauseContract`.
    """

    @abc.abstractmethod
    def set_paused(self, kind: str, name: str, paused: bool) -> bool:
        """Pauses or resumes one queue or one function, for every worker of the store.

        Workers read :meth:`~alligator.capabilities.Pausing.paused` about once a second and leave a paused
        queue's tasks waiting, untouched, and hand a paused function's tasks
        back unstarted (see :mod:`alligator.pausing`). Pauses are one set
        per store, not per queue: a paused function is paused in every
        queue. Idempotent: pausing what is paused, or resuming what is not,
        changes nothing and returns False. Call
        :func:`alligator.pausing.check_target` first, before any write; at
        most :attr:`~alligator.backend.Backend.max_pauses` pauses are kept.

        Args:
            kind: ``"queue"`` or ``"function"``.
            name: The queue's name, or the function as ``module:name``.
            paused: True to pause, False to resume.

        Raises:
            ValueError: ``kind`` or ``name`` is refused by
                :func:`~alligator.pausing.check_target`, or pausing one
                more would keep more than :attr:`~alligator.backend.Backend.max_pauses`; nothing
                changes.

        Returns:
            True if something changed.
        """

    @abc.abstractmethod
    def paused(self) -> list[tuple[str, str]]:
        """Lists the pauses in force as ``(kind, name)``, sorted by kind then name.

        One read, at most :attr:`~alligator.backend.Backend.max_pauses` entries. A
        record that :func:`~alligator.pausing.readable` refuses (a name too
        long, not UTF-8, a function not ``module:name``: anyone who can
        write to the store can plant one) is skipped, never handed out;
        :func:`alligator.pausing.listed` does the checking and sorting.
        """


@runtime_checkable
class Diagnosis(Protocol):
    """Checks the store's own settings for what would lose or stall tasks.

    Without it ``doctor`` says the store cannot check itself, and a producer
    assumes no task-loss risk. Kit mixin:
    :class:`~alligator.testing.registry.DiagnoseContract`.
    """

    @abc.abstractmethod
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

    @abc.abstractmethod
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
        read (a refused INFO) is not a risk; :meth:`~alligator.capabilities.Diagnosis.diagnose` reports it.

        Returns:
            The risks found; this default finds none.

        Raises:
            BackendError: The store cannot be reached.
        """


#: Every capability, in the order tools list them, with what a store without it cannot do.
CAPABILITIES: dict[type, str] = {
    Results: "keeps no results",
    ResultListing: "keeps no results it can list (succeeded tasks, queues that remember them)",
    ResultWaiting: "cannot wake a waiter when a task finishes (waiters poll)",
    Waking: "cannot wake a worker on several queues (workers nap between looks)",
    Inspection: "cannot list or count its tasks per state",
    Administration: "cannot list, requeue or delete dead letters",
    WorkerRegistry: "keeps no registry of workers",
    Pausing: "cannot pause queues or functions",
    UniqueKeys: "cannot keep unique keys (for unique_for=...)",
    Diagnosis: "cannot check its own settings",
    Scheduling: "cannot enqueue schedule ticks once per tick (no schedules)",
    Limiting: "cannot keep rate limits or concurrency limits per key",
    TaskPriority: "cannot order tasks by priority within a queue (priority 0 only)",
    TransactionalEnqueue: "cannot enqueue inside the caller's transaction (options(connection=...))",
    TransactionalUnique: "cannot take a unique key inside the caller's transaction",
    TransactionalPriority: "cannot queue a task with a priority inside the caller's transaction",
}

_SUPPORTED: dict[tuple[type, type], bool] = {}


def methods_of(capability: type) -> tuple[str, ...]:
    """Names the methods a backend writes to claim ``capability``, in the order the protocol declares them."""
    return tuple(
        name for name, value in vars(capability).items() if not name.startswith("_") and callable(value)
    )


def supports(backend: object, capability: type) -> bool:
    """Tells whether ``backend`` claims ``capability``: it has every one of its methods.

    The answer is kept per class, so asking on a hot path costs one
    dictionary look-up.
    """
    key = (type(backend), capability)
    known = _SUPPORTED.get(key)
    if known is None:
        known = _SUPPORTED[key] = all(
            callable(getattr(backend, name, None)) for name in methods_of(capability)
        )
    return known


def claimed(backend: object) -> list[str]:
    """Names the capabilities ``backend`` claims, for ``doctor`` and the dashboard."""
    return [capability.__name__ for capability in CAPABILITIES if supports(backend, capability)]


def lacking(backend: object, capability: type) -> str:
    """Says in plain words that ``backend``'s store lacks ``capability``, and where to look further."""
    return (
        f"this store {CAPABILITIES[capability]} ({type(backend).__name__} has no {capability.__name__} "
        "capability); docs/backends.md says which stores have it"
    )


def require(backend: object, capability: type) -> object:
    """Checks that ``backend`` claims ``capability``, and returns it; the accessors below return it typed.

    Raises:
        Unsupported: The store lacks it; the message says so plainly.
    """
    if not supports(backend, capability):
        raise Unsupported(lacking(backend, capability))
    return backend


def check(backend_class: type) -> None:
    """Refuses a backend class that writes part of a capability's methods and not the rest.

    Called when a backend is loaded from its DSN, so a misspelt method name fails
    at once, naming what is missing, instead of silently switching it off.

    Raises:
        TypeError: Some methods of a capability are written and others are not.
    """
    for capability in CAPABILITIES:
        names = methods_of(capability)
        present = [name for name in names if callable(getattr(backend_class, name, None))]
        if present and len(present) < len(names):
            missing = ", ".join(name for name in names if name not in present)
            raise TypeError(
                f"{backend_class.__name__} writes part of the {capability.__name__} capability "
                f"({', '.join(present)}) but not {missing}: write the rest, or remove what is there "
                "to leave the capability out (see docs/extending.md)"
            )


def results(backend: object) -> Results:
    """``backend`` as :class:`Results`; raises :class:`Unsupported` when the store lacks it."""
    return cast(Results, require(backend, Results))


def result_listing(backend: object) -> ResultListing:
    """``backend`` as :class:`ResultListing`; raises :class:`Unsupported` when the store lacks it."""
    return cast(ResultListing, require(backend, ResultListing))


def inspection(backend: object) -> Inspection:
    """``backend`` as :class:`Inspection`; raises :class:`Unsupported` when the store lacks it."""
    return cast(Inspection, require(backend, Inspection))


def administration(backend: object) -> Administration:
    """``backend`` as :class:`Administration`; raises :class:`Unsupported` when the store lacks it."""
    return cast(Administration, require(backend, Administration))


def registry(backend: object) -> WorkerRegistry:
    """``backend`` as :class:`WorkerRegistry`; raises :class:`Unsupported` when the store lacks it."""
    return cast(WorkerRegistry, require(backend, WorkerRegistry))


def pausing(backend: object) -> Pausing:
    """``backend`` as :class:`Pausing`; raises :class:`Unsupported` when the store lacks it."""
    return cast(Pausing, require(backend, Pausing))


def unique_keys(backend: object) -> UniqueKeys:
    """``backend`` as :class:`~.unique_store.UniqueKeys`; raises :class:`Unsupported` when it lacks it."""
    return cast(UniqueKeys, require(backend, UniqueKeys))


def scheduling(backend: object) -> Scheduling:
    """``backend`` as :class:`~.scheduling_store.Scheduling`; raises :class:`Unsupported` if it lacks it."""
    return cast(Scheduling, require(backend, Scheduling))


def transactional(backend: object) -> TransactionalEnqueue:
    """``backend`` as :class:`~.transactional_store.TransactionalEnqueue` (or :class:`Unsupported`)."""
    return cast(TransactionalEnqueue, require(backend, TransactionalEnqueue))


def diagnosis(backend: object) -> Diagnosis:
    """``backend`` as :class:`Diagnosis`; raises :class:`Unsupported` when the store lacks it."""
    return cast(Diagnosis, require(backend, Diagnosis))


def limiting(backend: object) -> Limiting:
    """``backend`` as :class:`~.limit_store.Limiting`; raises :class:`Unsupported` when the store lacks it."""
    return cast(Limiting, require(backend, Limiting))
