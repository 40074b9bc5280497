"""What operators do to a store, in one place, for the ``alligator`` command, the dashboard, ``doctor``.

:class:`Admin` lists queues and counts, lists tasks per state (succeeded
ones included), shows one task, requeues and deletes dead letters, drops a
queue, pauses and resumes, and lists workers. It is the one place that
knows which capability of :mod:`alligator.capabilities` each of those needs.
Where the required part of the contract can stand in, it does: the queues
are known from the live workers and the default queue when the store cannot
list them, and :meth:`Admin.queued` counts a queue's waiting and delayed
tasks (:meth:`~alligator.backend.Backend.len`) on every store. Otherwise it
raises :class:`~alligator.capabilities.Unsupported`, whose message says in
the same words everywhere what the store cannot do ("this store keeps no
registry of workers ..."): the command prints it and exits 1, the dashboard
shows it on the page, ``doctor`` reports it as a finding.

Example:
    >>> from alligator import Gator
    >>> gator = Gator("locmem://doc-admin", queue_name="emails", allow=["builtins"])
    >>> task = gator.task(abs, -1)
    >>> admin = Admin(gator.backend)
    >>> admin.queues([]), admin.counts("emails").waiting, admin.queued("emails")
    (['emails'], 1, 1)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from alligator import capabilities, presence, store_defaults
from alligator.constants import ALL, FAILED, STATE_ALIASES, SUCCESS, listed_state
from alligator.exceptions import ResultSignatureError
from alligator.security import without_signatures
from alligator.store_values import DeadLetter, Finished, QueueCounts, TaskInfo

if TYPE_CHECKING:  # pragma: no cover
    from alligator.backend import Backend
    from alligator.presence import WorkerInfo
    from alligator.security import TaskPolicy

Unsupported = capabilities.Unsupported

#: Most tasks :meth:`Admin.find` reads through one state's listing by default (pages of 1000).
FIND_SCAN = 20_000


class Admin:
    """The operator's view of one store, and what an operator may change in it.

    Args:
        backend: The store.
        policy: The signing policy of this machine (``ALLIGATOR_SECRET``):
            with one, :meth:`finished` checks a result's or reason's
            signature as ``Gator.result`` does. Without one, signatures
            are taken off unchecked, for display.
    """

    def __init__(self, backend: Backend, policy: TaskPolicy | None = None) -> None:
        self.backend = backend
        self.policy = policy

    # -- what the store can do --------------------------------------------

    def can(self, capability: type) -> bool:
        """Whether the store has ``capability`` (see :func:`alligator.capabilities.supports`)."""
        return capabilities.supports(self.backend, capability)

    def cannot(self, capability: type) -> str | None:
        """What the store cannot do for lack of ``capability``, as every tool says it; None if it can."""
        return None if self.can(capability) else capabilities.lacking(self.backend, capability)

    def require(self, capability: type) -> None:
        """Checks the store has ``capability`` before a step that needs it (before asking anyone to confirm).

        Raises:
            Unsupported: It lacks it; the message says what the store cannot do.
        """
        capabilities.require(self.backend, capability)

    def claimed(self) -> list[str]:
        """The names of the capabilities the store has."""
        return capabilities.claimed(self.backend)

    # -- queues and counts --------------------------------------------------

    def queues(self, workers: Sequence[WorkerInfo] | None = None, also: Iterable[str] = ()) -> list[str]:
        """Lists the queues worth showing: the store's, those live workers consume, and ``also``.

        A store lists a queue only while it holds a task, so an empty queue
        would vanish from every view while workers wait on it; the workers'
        records keep it listed. A store that cannot list its queues
        (no :class:`~alligator.capabilities.Inspection`) is asked about the
        default queue ``all`` and those of ``also`` (the command line's
        ``--queue``) instead.

        Args:
            workers: The live workers, when the caller has read them already;
                by default they are read here (none when the store keeps no
                registry).
            also: Queues to list besides.

        Returns:
            The names, sorted, each once; at most
            :data:`~alligator.presence.MAX_WORKER_QUEUES` come from the
            workers' records.
        """
        if workers is None:
            workers = self.workers_or_none() or []
        if self.can(capabilities.Inspection):
            stored = set(self.stored_queues())
        else:
            stored = {ALL}
        stored.update(also)
        # Records are anyone's to write: at most MAX_WORKER_QUEUES names come
        # from them, or planted ones could make every view count 100,000 queues.
        consumed = sorted({queue for info in workers for queue in info.queues} - stored)
        return sorted(stored.union(consumed[: presence.MAX_WORKER_QUEUES]))

    def stored_queues(self) -> list[str]:
        """The queues the store holds a task or a dead letter in, sorted.

        Raises:
            Unsupported: The store cannot list its queues (:meth:`queues`
                falls back on what the workers and the caller know).
        """
        return capabilities.inspection(self.backend).queues()

    def counts(self, queue: str) -> QueueCounts:
        """Counts a queue's tasks per state, in one step.

        Raises:
            Unsupported: The store cannot count per state (:meth:`queued` can
                still count the waiting and delayed tasks together).
        """
        return capabilities.inspection(self.backend).counts(queue)

    def counts_or_none(self, queue: str) -> QueueCounts | None:
        """As :meth:`counts`; None when the store cannot count per state."""
        return self.counts(queue) if self.can(capabilities.Inspection) else None

    def queued(self, queue: str) -> int:
        """The tasks waiting or delayed in a queue (:meth:`~alligator.backend.Backend.len`, on any store)."""
        return self.backend.len(queue)

    # -- tasks --------------------------------------------------------------

    def tasks(self, queue: str, state: str, offset: int = 0, limit: int = 100) -> list[TaskInfo]:
        """Lists one page of a queue's tasks in one listed state, without their signatures (unchecked).

        Args:
            queue: The queue.
            state: One of :data:`~alligator.constants.TASK_STATES`, or an
                alias (``"failed"`` is ``"dead"``).
            offset: How many to skip.
            limit: The most to return.

        Raises:
            ValueError: An unknown state, or a negative offset or limit.
            Unsupported: The store cannot list its tasks.
        """
        state = STATE_ALIASES.get(state, state)
        listed = capabilities.inspection(self.backend).tasks(queue, state, offset, limit)
        return [without_signatures(info) for info in listed]

    def succeeded(self, queue: str, offset: int = 0, limit: int = 100) -> list[Finished]:
        """Lists one page of a queue's succeeded tasks, newest first, with their results (signatures off).

        Raises:
            Unsupported: The store keeps no results it can list.
        """
        listed = capabilities.result_listing(self.backend).succeeded(queue, offset, limit)
        return [without_signatures(found) for found in listed]

    def find(self, queue: str, state: str, task_id: str, most: int | None = FIND_SCAN) -> TaskInfo | None:
        """Finds one task in a state's listing (its attempts and times are only there), in pages of 1000.

        Reads at most ``most`` tasks (None: all, for the dead letters, which
        are bounded by :attr:`~alligator.backend.Backend.max_dead_letters`);
        None when not found in them, or when the store cannot list its tasks.
        """
        if not self.can(capabilities.Inspection):
            return None
        offset, page = 0, 1000
        while most is None or offset < most:
            infos = self.tasks(queue, state, offset, page)
            for info in infos:
                if info.task_id == task_id:
                    return info
            if len(infos) < page:
                return None
            offset += len(infos)
        return None

    def task(self, queue: str, task_id: str) -> tuple[int | None, TaskInfo | None, str | None]:
        """Everything the required part and the listings tell of one live task, changing nothing.

        Returns:
            ``(status, info, payload)``: the status (None: unknown); its
            listing when the store can list tasks and it is live or dead
            (None otherwise); its payload, from the listing or
            :meth:`~alligator.backend.Backend.peek` (None when finished or gone).
        """
        status = self.backend.status(queue, task_id)
        state = listed_state(status)
        info = None
        if state is not None:
            # Dead letters are bounded by max_dead_letters: read them all.
            info = self.find(queue, state, task_id, None if status == FAILED else FIND_SCAN)
        payload = info.payload if info is not None else None
        if payload is None and state is not None:
            payload = self.backend.peek(queue, task_id)
        return status, info, payload

    def finished(self, queue: str, task_id: str, wait: float = 0.0) -> Finished | None:
        """What the store remembers of a finished task: its result or reason, waiting up to ``wait`` seconds.

        Works on every store (:func:`alligator.store_defaults.finished`):
        one without results tells success from failure. With a signing
        ``policy``, a result or reason whose signature fails the check
        is not handed out: the refusal takes the reason's place; without
        one, signatures are taken off unchecked.
        """
        found = store_defaults.finished(self.backend, queue, task_id)
        if found is None and wait > 0 and self.backend.status(queue, task_id) is not None:
            found = store_defaults.wait_finished(self.backend, queue, task_id, wait)
        if found is None or self.policy is None:
            return without_signatures(found)
        try:
            if found.status == SUCCESS and found.result is not None:
                return replace(found, result=self.policy.open_result(queue, found.task_id, found.result))
            if found.status == FAILED:
                reason = self.policy.open_reason(queue, found.task_id, found.reason or "")
                return replace(found, reason=reason)
        except ResultSignatureError as err:
            return replace(found, result=None, reason=str(err))
        return found

    def cancel(self, queue: str, task_id: str) -> bool:
        """Removes a waiting or delayed task so it never runs (every store can)."""
        return self.backend.cancel(queue, task_id)

    # -- dead letters and dropping -------------------------------------------

    def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        """Lists up to ``limit`` dead letters, oldest first, without their signatures (unchecked).

        Raises:
            Unsupported: The store cannot list dead letters.
        """
        letters = capabilities.administration(self.backend).dead_letters(queue, limit)
        return [without_signatures(letter) for letter in letters]

    def requeue(self, queue: str, task_id: str) -> bool:
        """Moves one dead letter back to the end of its queue; False if there is none of that id."""
        return capabilities.administration(self.backend).requeue(queue, task_id)

    def requeue_all(self, queue: str) -> int:
        """Requeues every dead letter of a queue in the order they failed; how many."""
        return capabilities.administration(self.backend).requeue_all(queue)

    def delete_dead(self, queue: str, task_id: str) -> bool:
        """Deletes one dead letter for good; False if there is none of that id."""
        return capabilities.administration(self.backend).delete_dead(queue, task_id)

    def purge_dead(self, queue: str) -> int:
        """Deletes every dead letter of a queue, live tasks untouched; how many."""
        return capabilities.administration(self.backend).purge_dead(queue)

    def drop(self, queue: str) -> None:
        """Deletes everything a queue holds, dead letters included (every store can)."""
        self.backend.drop_all(queue)

    # -- pauses ---------------------------------------------------------------

    def paused(self) -> list[tuple[str, str]]:
        """What is paused, as ``(kind, name)`` sorted.

        Raises:
            Unsupported: The store cannot pause.
        """
        return capabilities.pausing(self.backend).paused()

    def paused_or_none(self) -> list[tuple[str, str]] | None:
        """As :meth:`paused`; None when the store cannot pause."""
        return self.paused() if self.can(capabilities.Pausing) else None

    def set_paused(self, kind: str, name: str, paused: bool) -> bool:
        """Pauses or resumes a queue or a function for every worker; True if it changed anything.

        Raises:
            ValueError: A name the store cannot keep (nothing changes).
            Unsupported: The store cannot pause.
        """
        return capabilities.pausing(self.backend).set_paused(kind, name, paused)

    # -- workers --------------------------------------------------------------

    def workers(self) -> list[WorkerInfo]:
        """The live workers' records, oldest heartbeat first; hostile or corrupt ones are left out.

        Raises:
            Unsupported: The store keeps no registry of workers.
        """
        records = capabilities.registry(self.backend).worker_records()
        listed = (presence.decode(worker_id, record) for worker_id, record in records)
        return [info for info in listed if info is not None]

    def workers_or_none(self) -> list[WorkerInfo] | None:
        """As :meth:`workers`; None when the store keeps no registry of workers."""
        return self.workers() if self.can(capabilities.WorkerRegistry) else None

    # -- the store's own checks -------------------------------------------------

    def diagnose(self) -> list[tuple[str, str, str]]:
        """The store's own findings on its settings, as ``(level, problem, what_to_do)``.

        Raises:
            Unsupported: The store cannot check its own settings.
        """
        return list(capabilities.diagnosis(self.backend).diagnose())
