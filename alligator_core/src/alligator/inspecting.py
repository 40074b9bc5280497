"""Looking into a gator's store: its queues, counts, tasks, dead letters and live workers.

They read the store without taking anything from it, and manage dead
letters (delete, purge, requeue all), through the same facade as
``alligator info``, ``alligator tasks``, the dashboard and ``doctor``
(:class:`alligator.admin.Admin`), so a store that lacks a capability is
refused with the same words everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alligator.admin import Admin

if TYPE_CHECKING:  # pragma: no cover
    from alligator.backend import Backend, QueueCounts, TaskInfo
    from alligator.presence import WorkerInfo
    from alligator.security import TaskPolicy


class Inspecting:
    """The inspecting part of :class:`~alligator.gator.Gator` (a mixin: the state is the gator's)."""

    backend: Backend
    queue_name: str
    policy: TaskPolicy

    @property
    def admin(self) -> Admin:
        """The operator's view of this gator's store (:class:`~alligator.admin.Admin`), with its policy."""
        return Admin(self.backend, self.policy)

    def workers(self) -> list[WorkerInfo]:
        """Lists the live workers of this gator's store, whatever queues they consume.

        Each running worker keeps a record in the store, refreshed every few
        seconds; one that stops cleanly removes it, and a killed one's
        vanishes about 30 seconds after its last heartbeat. Records the
        core cannot read (written by something else) are left out.

        Example:
            >>> from alligator import Gator
            >>> gator = Gator("locmem://example-workers")
            >>> gator.workers()
            []

        Returns:
            :class:`~alligator.presence.WorkerInfo` for each, oldest
            heartbeat first.

        Raises:
            Unsupported: The store keeps no registry of workers (a
                ``NotImplementedError``: see :class:`~alligator.capabilities.Unsupported`),
                as :meth:`queues` and :meth:`counts` raise for what a store
                cannot do.
        """
        return self.admin.workers()

    def queues(self) -> list[str]:
        """Lists every queue of this gator's store that holds a task or a dead letter.

        Example:
            >>> from alligator import Gator
            >>> gator = Gator("locmem://doc-queues", queue_name="emails", allow=["builtins"])
            >>> task = gator.task(abs, -1)
            >>> gator.queues()
            ['emails']

        Returns:
            The queue names, sorted; a queue holding only finished tasks is
            left out.

        Raises:
            Unsupported: The store cannot list its queues.
        """
        return self.admin.stored_queues()

    def counts(self) -> QueueCounts:
        """Counts this gator's tasks per state: waiting, delayed, running and dead.

        Example:
            >>> from alligator import Gator
            >>> gator = Gator("locmem://doc-counts", allow=["builtins"])
            >>> task = gator.task(abs, -1)
            >>> later = gator.options(delay_by=60).task(abs, -2)
            >>> gator.counts()
            QueueCounts(waiting=1, delayed=1, running=0, dead=0)

        Returns:
            A :class:`~alligator.store_values.QueueCounts`, counted in one step.

        Raises:
            Unsupported: The store cannot count its tasks per state
                (:meth:`~alligator.gator.Gator.len` counts those waiting or delayed on every store).
        """
        return self.admin.counts(self.queue_name)

    def tasks(self, state: str = "waiting", offset: int = 0, limit: int = 100) -> list[TaskInfo]:
        """Lists one page of this gator's tasks in one state, changing nothing.

        Example:
            >>> from alligator import Gator
            >>> gator = Gator("locmem://doc-tasks", allow=["builtins"])
            >>> for n in range(3):
            ...     task = gator.options(task_id=f"t{n}").task(abs, -n)
            >>> [info.task_id for info in gator.tasks("waiting", offset=1, limit=5)]
            ['t1', 't2']

        Args:
            state: ``"waiting"`` (in the order workers take them),
                ``"delayed"`` (by due time), ``"running"`` (by the end of
                their lease) or ``"dead"`` (in the order they failed, each
                with its reason and time).
            offset: How many to skip.
            limit: The most to return.

        Returns:
            :class:`~alligator.store_values.TaskInfo` snapshots; their payloads
            are the stored JSON, cut to ``max_payload_bytes``; a dead
            letter's reason is shown without its signature, unchecked.

        Raises:
            ValueError: An unknown state, or a negative offset or limit.
            Unsupported: The store cannot list its tasks.
        """
        return self.admin.tasks(self.queue_name, state, offset, limit)

    def delete_dead(self, task_id: str) -> bool:
        """Deletes one dead letter of this gator's queue for good.

        Example:
            >>> from alligator import Gator
            >>> gator = Gator("locmem://doc-delete", allow=["builtins"])
            >>> task = gator.options(task_id="bad", retries=0).task(int, "x")
            >>> gator.pop().task_id
            'bad'
            >>> [d.task_id for d in gator.dead_letters()]
            ['bad']
            >>> gator.delete_dead("bad"), gator.dead_letters()
            (True, [])

        Returns:
            True if it was deleted; False if no dead letter has that id.
        """
        return self.admin.delete_dead(self.queue_name, task_id)

    def purge_dead(self) -> int:
        """Deletes every dead letter of this gator's queue; live tasks stay.

        Example:
            >>> from alligator import Gator
            >>> gator = Gator("locmem://doc-purge", allow=["builtins"])
            >>> for n in range(2):
            ...     task = gator.options(retries=0).task(int, "x")
            ...     done = gator.pop()
            >>> gator.purge_dead()
            2

        Returns:
            How many were deleted.
        """
        return self.admin.purge_dead(self.queue_name)

    def requeue_all(self) -> int:
        """Puts every dead letter back at the end of the queue, in the order they failed.

        Each is requeued as :meth:`~alligator.gator.Gator.requeue` does: due now, its deliveries
        counted from 0 again.

        Example:
            >>> from alligator import Gator
            >>> gator = Gator("locmem://doc-requeue-all", allow=["builtins"])
            >>> for n in range(2):
            ...     task = gator.options(retries=0).task(int, "x")
            ...     done = gator.pop()
            >>> gator.requeue_all(), gator.counts().waiting
            (2, 2)

        Returns:
            How many were requeued.
        """
        return self.admin.requeue_all(self.queue_name)
