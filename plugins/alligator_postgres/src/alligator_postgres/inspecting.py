"""The PostgreSQL backend's inspecting and managing operations: peek, status, results, listings, dead letters.

Each is one statement (one snapshot), except listing dead letters, which
applies retention first in the same transaction.
"""

from __future__ import annotations

from typing import Any

import psycopg

from alligator import reasons
from alligator.backend import DeadLetter, Finished, QueueCounts, TaskInfo, check_page, check_window
from alligator.constants import DELAYED, FAILED, RUNNING, SUCCESS, WAITING
from alligator_postgres import queries
from alligator_postgres.consuming import Consuming

__all__ = ["Inspecting"]

_STATE_PAGE = {
    "waiting": queries.WAITING_PAGE,
    "delayed": queries.DELAYED_PAGE,
    "running": queries.RUNNING_PAGE,
}


def live_status(later: bool, held: bool) -> int:
    """A live task's state from its row: ``later`` (due after now) and ``held`` (it has a receipt).

    A reserved task whose lease ended is due again: WAITING, like a waiting one.
    """
    if later:
        return RUNNING if held else DELAYED
    return WAITING


def lenient(value: bytes | None) -> str:
    """Stored bytes decoded for a listing: bad bytes become U+FFFD, NULL the empty string."""
    return "" if value is None else bytes(value).decode("utf-8", "replace")


class Inspecting(Consuming):
    """Looking at tasks, results and dead letters; mixed into :class:`~alligator_postgres.PostgresBackend`."""

    def peek(self, queue: str, task_id: str) -> str | None:
        """Reads a waiting, delayed or reserved task's payload.

        See :meth:`~alligator.backend.Backend.peek`.
        """
        row = self._one(
            queries.PEEK_TASK, {"queue": queue, "task_id": task_id, "max_bytes": self.max_payload_bytes}
        )
        if row is None:
            return None
        try:
            return reasons.decode(reasons.PAYLOAD, row[1], row[0], self.max_payload_bytes)
        except reasons.Unreadable:
            return None

    def cancel(self, queue: str, task_id: str) -> bool:
        """Removes a waiting or delayed task; see :meth:`~alligator.backend.Backend.cancel`."""
        params = {"queue": queue, "task_id": task_id, "now": self._now_arg()}
        return self._one_rowcount(queries.CANCEL_TASK, params) == 1

    def _horizons(self, now: float | None) -> tuple[float, float]:
        """The oldest finished time still remembered, and the oldest dead letter still kept."""
        at = self.now() if now is None else now
        return at - self.status_ttl, at - self.dead_letter_ttl

    def status(self, queue: str, task_id: str) -> int | None:
        """Tells where a task is, from one snapshot; see :meth:`~alligator.backend.Backend.status`."""
        now = self._now_arg()
        horizon, dead_horizon = self._horizons(now)
        live, letter_past, status, result_kept = self._one(
            queries.TASK_STATUS,
            {
                "queue": queue,
                "task_id": task_id,
                "now": now,
                "horizon": horizon,
                "dead_horizon": dead_horizon,
            },
        )
        if live is not None:
            later, held = live
            return live_status(bool(later), bool(held))
        if letter_past is not None:
            return None if letter_past else FAILED
        if result_kept:
            return SUCCESS
        return None if status is None else int(status)

    def finished(self, queue: str, task_id: str) -> Finished | None:
        """Reads what the store remembers of a finished task, from one snapshot.

        See :meth:`~alligator.capabilities.Results.finished`. A result is
        measured in SQL and selected only within
        :attr:`~alligator.backend.Backend.max_payload_bytes`.
        """
        now = self._now_arg()
        horizon, dead_horizon = self._horizons(now)
        row = self._one(
            queries.FINISHED_TASK,
            {
                "queue": queue,
                "task_id": task_id,
                "now": now,
                "horizon": horizon,
                "dead_horizon": dead_horizon,
                "success": SUCCESS,
                "max_bytes": self.max_payload_bytes,
            },
        )
        live, reason, failed_at, past, acked, kept_at, size, raw = row
        if live:
            return None
        if failed_at is not None:
            return None if past else Finished(task_id, FAILED, None, lenient(reason), failed_at)
        if size is None:
            return None if acked is None else Finished(task_id, SUCCESS, None, None, acked)
        finished_at = kept_at if kept_at is not None else acked
        try:
            result = reasons.decode(reasons.RESULT, size, raw, self.max_payload_bytes)
        except reasons.Unreadable as why:
            return Finished(task_id, SUCCESS, None, str(why), finished_at)
        return Finished(task_id, SUCCESS, result, None, finished_at)

    def succeeded(self, queue: str, offset: int = 0, limit: int = 100) -> list[Finished]:
        """Lists one page of a queue's succeeded tasks; see :meth:`~.capabilities.ResultListing.succeeded`."""
        check_window(offset, limit)
        if limit == 0:
            return []
        now = self._now_arg()
        rows = self._all(
            queries.SUCCEEDED_PAGE,
            {
                "queue": queue,
                "now": now,
                "horizon": self._horizons(now)[0],
                "success": SUCCESS,
                "max_bytes": self.max_payload_bytes,
                "limit": limit,
                "offset": offset,
            },
        )
        page = []
        for task_id, acked, kept, size, raw in rows:
            if not kept:
                page.append(Finished(task_id, SUCCESS, None, None, acked))
                continue
            try:
                result = reasons.decode(reasons.RESULT, size, raw, self.max_payload_bytes)
            except reasons.Unreadable as why:
                page.append(Finished(task_id, SUCCESS, None, str(why), acked))
                continue
            page.append(Finished(task_id, SUCCESS, result, None, acked))
        return page

    def len(self, queue: str) -> int:
        """Counts the waiting and delayed tasks of a queue; see :meth:`~alligator.backend.Backend.len`."""
        return int(self._one(queries.COUNT_PENDING, {"queue": queue, "now": self._now_arg()})[0])

    def _letters(self, queue: str, offset: int, limit: int) -> list[Any]:
        """A page of dead letters, after dropping those past their time, in one transaction."""
        now = self._now_arg()

        def body(conn: psycopg.Connection[Any]) -> list[Any]:
            self._retain(conn, queue, now)
            return conn.execute(
                queries.DEAD_LETTERS_PAGE,
                {"queue": queue, "max_bytes": self.max_payload_bytes, "limit": limit, "offset": offset},
            ).fetchall()

        return self._transaction(body)

    def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        """Lists up to ``limit`` dead letters, oldest first.

        See :meth:`~.capabilities.Administration.dead_letters`.
        """
        return [
            DeadLetter(task_id, lenient(payload), lenient(reason), attempts, failed_at)
            for task_id, payload, reason, attempts, failed_at, _ in self._letters(queue, 0, max(limit, 0))
        ]

    def requeue(self, queue: str, task_id: str) -> bool:
        """Moves a dead letter back to the end of its queue, due now.

        See :meth:`~.capabilities.Administration.requeue`.
        """
        row = self._one(queries.REQUEUE_LETTER, {"queue": queue, "task_id": task_id, "now": self._now_arg()})
        return bool(row[0])

    def requeue_all(self, queue: str) -> int:
        """Requeues every dead letter in one statement, in the order they failed.

        See :meth:`~.capabilities.Administration.requeue_all`: a letter whose id is live stays.
        """
        return int(self._one(queries.REQUEUE_ALL_LETTERS, {"queue": queue, "now": self._now_arg()})[0])

    def delete_dead(self, queue: str, task_id: str) -> bool:
        """Deletes one dead letter; see :meth:`~alligator.capabilities.Administration.delete_dead`."""
        row = self._one(queries.DELETE_LETTER, {"queue": queue, "task_id": task_id, "failed": FAILED})
        return bool(row[0])

    def purge_dead(self, queue: str) -> int:
        """Deletes a queue's dead letters in one statement.

        See :meth:`~.capabilities.Administration.purge_dead`.
        """
        return int(self._one(queries.PURGE_LETTERS, {"queue": queue, "failed": FAILED})[0])

    def queues(self) -> list[str]:
        """Lists the queues holding a task or dead letter; see :meth:`~.capabilities.Inspection.queues`."""
        return sorted(name for (name,) in self._all(queries.LIST_QUEUES, {}))

    def finished_queues(self) -> list[str]:
        """Lists the queues remembering a finished task.

        See :meth:`~.capabilities.ResultListing.finished_queues`.
        """
        return sorted(name for (name,) in self._all(queries.LIST_FINISHED_QUEUES, {}))

    def counts(self, queue: str) -> QueueCounts:
        """Counts a queue's tasks per state in one statement; see :meth:`~.capabilities.Inspection.counts`."""
        now = self._now_arg()
        waiting, delayed, running, dead = self._one(
            queries.COUNT_STATES, {"queue": queue, "now": now, "horizon": self._horizons(now)[1]}
        )
        return QueueCounts(int(waiting), int(delayed), int(running), int(dead))

    def tasks(self, queue: str, state: str, offset: int = 0, limit: int = 100) -> list[TaskInfo]:
        """Lists one page of a queue's tasks in one state; see :meth:`~.capabilities.Inspection.tasks`."""
        check_page(state, offset, limit)
        if state == "dead":
            return [
                TaskInfo(
                    task_id,
                    state,
                    lenient(payload),
                    int(attempts),
                    0,
                    None,
                    lenient(reason),
                    failed_at,
                    int(priority),
                )
                for task_id, payload, reason, attempts, failed_at, priority in self._letters(
                    queue, offset, limit
                )
            ]
        rows = self._all(
            _STATE_PAGE[state],
            {
                "queue": queue,
                "now": self._now_arg(),
                "max_bytes": self.max_payload_bytes,
                "limit": limit,
                "offset": offset,
            },
        )
        return [
            TaskInfo(task_id, state, lenient(payload), attempts, failures, float(due), priority=int(priority))
            for task_id, payload, attempts, failures, due, priority in rows
        ]
