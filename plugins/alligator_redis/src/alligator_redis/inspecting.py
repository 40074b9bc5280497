"""Inspecting and managing queues: peek, cancel, status, counts, task pages, dead letters."""

from __future__ import annotations

from collections.abc import Sequence

from alligator.backend import (
    DeadLetter,
    QueueCounts,
    TaskInfo,
    check_page,
)
from alligator.limits import MAX_PRIORITY, MIN_PRIORITY
from alligator_redis.base import (
    RedisBase,
    _number,
)
from alligator_redis.keys import SCHEDULE_QUEUES_KEY, queue_of, queue_pattern, schedules_key


class Inspecting(RedisBase):
    """Inspecting and managing queues: peek, cancel, status, counts, task pages, dead letters."""

    def peek(self, queue: str, task_id: str) -> str | None:
        """See :meth:`.Backend.peek`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        with self._translated("read task {} of {!r}", task_id, queue):
            payload = self._run(self._peek, queue, self._now_arg(), task_id, self.max_payload_bytes, raw=True)
        if payload is None:
            return None
        try:
            return str(payload.decode())
        except UnicodeDecodeError:
            return None

    def cancel(self, queue: str, task_id: str) -> bool:
        """See :meth:`.Backend.cancel`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        with self._translated("cancel task {} of {!r}", task_id, queue):
            return bool(self._run(self._cancel, queue, self._now_arg(), task_id))

    def status(self, queue: str, task_id: str) -> int | None:
        """See :meth:`.Backend.status`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        with self._translated("read the status of task {} of {!r}", task_id, queue):
            args = (self._now_arg(), self.status_ttl, task_id, self.dead_letter_ttl)
            found = int(self._run(self._status, queue, *args))
        return None if found < 0 else found

    def len(self, queue: str) -> int:
        """See :meth:`.Backend.len`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        with self._translated("count the tasks of {!r}", queue):
            return int(self._run(self._len, queue, self._now_arg()))

    def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        """See :meth:`~alligator.capabilities.Administration.dead_letters`.

        A payload over :attr:`~alligator.backend.Backend.max_payload_bytes`
        comes cut to that many bytes; bytes that are not UTF-8 (in any field)
        come as U+FFFD.

        Raises:
            BackendError: Redis cannot be reached.
        """
        if limit <= 0:
            return []
        with self._translated("list the dead letters of {!r}", queue):
            limits = (self.max_payload_bytes, self.max_task_id_bytes)
            args = (self._now_arg(), limit, *limits, *self._retention())
            reply = self._run(self._dead_letters, queue, *args, raw=True)

        def text(value: object) -> str:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else ""

        letters = []
        for i in range(0, len(reply) - len(reply) % 5, 5):
            task_id, payload, reason = text(reply[i]), text(reply[i + 1]), text(reply[i + 2])
            # The script checks both numbers; a field that is still none (a
            # fake server, a changed script) is listed as 0, never raised.
            attempts, failed_at = _number(reply[i + 3], int), _number(reply[i + 4], float)
            letters.append(DeadLetter(task_id, payload, reason, int(attempts), failed_at))
        return letters

    def requeue(self, queue: str, task_id: str) -> bool:
        """See :meth:`~alligator.capabilities.Administration.requeue`: never over a live task of the same id.

        Raises:
            BackendError: Redis cannot be reached.
        """
        with self._translated("requeue task {} of {!r}", task_id, queue):
            return bool(self._run(self._requeue, queue, self._now_arg(), task_id))

    def queues(self) -> list[str]:
        """Lists the queues holding a task or dead letter; see :meth:`~.capabilities.Inspection.queues`.

        Found with ``SCAN`` (on every primary of a cluster) for the keys that
        exist only while a queue holds a live task (``payloads``) or a dead
        letter (``dead_order``): no registry to keep, nothing to clean up. It
        walks the whole keyspace, so it is for operators, not for hot paths.

        Raises:
            BackendError: Redis cannot be reached.
        """
        return self._scan_queues(("payloads", "dead_order"), "list the queues")

    def finished_queues(self) -> list[str]:
        """Lists the queues remembering a finished task.

        See :meth:`~.capabilities.ResultListing.finished_queues`.


        ``SCAN`` for the ``succeeded``, ``failed`` and ``result_expiry`` keys,
        as :meth:`queues` scans for its own.

        Raises:
            BackendError: Redis cannot be reached.
        """
        return self._scan_queues(
            ("succeeded", "failed", "result_expiry"), "list the queues of finished tasks"
        )

    def _scan_queues(self, suffixes: Sequence[str], action: str) -> list[str]:
        """The queues that have a key of one of these kinds, found with ``SCAN``."""
        found: set[str] = set()
        with self._translated(action):
            for suffix in suffixes:
                for key in self.client.scan_iter(match=queue_pattern(suffix), count=1000):
                    name = queue_of(key, suffix)
                    if name is not None:
                        found.add(name)
        return sorted(found)

    def counts(self, queue: str) -> QueueCounts:
        """Counts a queue's tasks per state in one script; see :meth:`~.capabilities.Inspection.counts`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        with self._translated("count the tasks of {!r}", queue):
            reply = self._run(self._counts, queue, self._now_arg(), self.dead_letter_ttl)
        return QueueCounts(*(int(n) for n in reply))

    def tasks(self, queue: str, state: str, offset: int = 0, limit: int = 100) -> list[TaskInfo]:
        """Lists one page of a queue's tasks in one state; see :meth:`~.capabilities.Inspection.tasks`.

        One script; payloads are cut to the limit in it, so no more than
        that is sent, and bytes that are not UTF-8 come as U+FFFD.

        Raises:
            ValueError: An unknown state, or a negative offset or limit.
            BackendError: Redis cannot be reached.
        """
        check_page(state, offset, limit)
        if limit == 0:
            return []
        args = (self._now_arg(), state, offset, limit, self.max_payload_bytes, *self._retention())
        with self._translated("list the {} tasks of {!r}", state, queue):
            reply = self._run(self._tasks, queue, *args, raw=True)

        def text(value: bytes) -> str:
            return value.decode("utf-8", "replace")

        infos = []
        for i in range(0, len(reply), 7):
            # Stored counts, times and priorities are shown as 0 when a
            # hand-written record holds something else there: listing never
            # raises for a record.
            task_id, payload, at = text(reply[i]), text(reply[i + 1]), float(_number(reply[i + 4], float))
            attempts, failures = int(_number(reply[i + 2], int)), int(_number(reply[i + 3], int))
            priority = _priority(reply[i + 6])
            if state == "dead":
                infos.append(
                    TaskInfo(task_id, state, payload, attempts, 0, None, text(reply[i + 5]), at, priority)
                )
            else:
                infos.append(TaskInfo(task_id, state, payload, attempts, failures, at, priority=priority))
        return infos

    def delete_dead(self, queue: str, task_id: str) -> bool:
        """Deletes one dead letter in one script; see :meth:`~.capabilities.Administration.delete_dead`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        with self._translated("delete dead letter {} of {!r}", task_id, queue):
            return bool(self._run(self._delete_dead, queue, task_id))

    def purge_dead(self, queue: str) -> int:
        """Deletes every dead letter of a queue in one script.

        See :meth:`~.capabilities.Administration.purge_dead`.


        Raises:
            BackendError: Redis cannot be reached.
        """
        with self._translated("purge the dead letters of {!r}", queue):
            return int(self._run(self._purge_dead, queue))

    def requeue_all(self, queue: str) -> int:
        """Requeues every dead letter in one script; see :meth:`~.capabilities.Administration.requeue_all`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        with self._translated("requeue the dead letters of {!r}", queue):
            return int(self._run(self._requeue_all, queue, self._now_arg()))

    def drop_all(self, queue: str) -> None:
        """Deletes every key of the queue in one command; see :meth:`.Backend.drop_all`.

        Raises:
            BackendError: Redis cannot be reached.
        """
        with self._translated("drop the queue {!r}", queue):
            # Its schedule records too: the same hash tag, so one command still.
            self._execute("DEL", *self._queue(queue).all, schedules_key(queue))
            self._execute("SREM", SCHEDULE_QUEUES_KEY, queue)


def _priority(value: bytes) -> int:
    """A listed task's priority; 0 when the stored one is no priority (reserve buries it)."""
    try:
        priority = int(value)
    except ValueError:
        return 0
    return priority if MIN_PRIORITY <= priority <= MAX_PRIORITY else 0
