"""The SQLite backend's inspecting and managing operations: peek, status, results, listings, dead letters.

Reads run in one read transaction each (WAL: they never wait for the
writer); listing dead letters, and the dead-letter administration, write.
"""

from __future__ import annotations

import sqlite3
import time

from alligator import reasons
from alligator.backend import DeadLetter, Finished, QueueCounts, TaskInfo, check_page, check_window
from alligator.constants import DELAYED, FAILED, RUNNING, SUCCESS, WAITING
from alligator_sqlite import queries, records
from alligator_sqlite.store import Store

__all__ = ["Inspecting"]

# The query listing a page of the tasks in each state that tasks() reads
# from alligator_tasks (dead letters have their own).
_STATE_PAGE = {
    "waiting": queries.WAITING_PAGE,
    "delayed": queries.DELAYED_PAGE,
    "running": queries.RUNNING_PAGE,
}


class Inspecting(Store):
    """Looking at tasks, results and dead letters; mixed into :class:`~alligator_sqlite.SqliteBackend`."""

    def peek(self, queue: str, task_id: str) -> str | None:
        """Reads a waiting, delayed or reserved task's payload; see :meth:`~alligator.backend.Backend.peek`.

        Returns:
            The payload, or None when the id is not in the queue's tasks or
            its payload is over the limit or not UTF-8 (such a payload is
            not read into Python).
        """

        def body(conn: sqlite3.Connection) -> str | None:
            max_bytes = self.max_payload_bytes
            row = conn.execute(
                queries.PEEK_TASK, {"max_bytes": max_bytes, "queue": queue, "task_id": task_id}
            ).fetchone()
            if row is None:
                return None
            try:
                return reasons.decode(
                    reasons.PAYLOAD, *records.read_payload(conn, row[0], max_bytes, row[1]), max_bytes
                )
            except reasons.Unreadable:
                return None

        return self._run(body, write=False)

    def cancel(self, queue: str, task_id: str) -> bool:
        """Removes a waiting or delayed task; see :meth:`~alligator.backend.Backend.cancel`."""

        def body(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                queries.CANCEL_TASK, {"queue": queue, "task_id": task_id, "now": self.now()}
            )
            return cursor.rowcount == 1

        return self._run(body)

    @staticmethod
    def _live_status(conn: sqlite3.Connection, queue: str, task_id: str, now: float) -> int | None:
        """WAITING, DELAYED or RUNNING for a live task, as :meth:`status` says it; None for any other."""
        # Compared in SQL, as a number only when it is one (C9).
        row = conn.execute(queries.TASK_STATUS, {"now": now, "queue": queue, "task_id": task_id}).fetchone()
        if row is None:
            return None
        later, receipt = row
        if later:
            return RUNNING if receipt is not None else DELAYED
        # A lapsed lease is due again, exactly like a waiting task.
        return WAITING

    def status(self, queue: str, task_id: str) -> int | None:
        """Tells where a task is; see :meth:`~alligator.backend.Backend.status`."""

        def body(conn: sqlite3.Connection) -> int | None:
            now = self.now()
            live = self._live_status(conn, queue, task_id, now)
            if live is not None:
                return live
            # What finished() says, so a kept result or a dead letter keeps its status.
            found = self._finished_in(conn, queue, task_id, now)
            if found is not None:
                return found.status
            if conn.execute(queries.LETTER_EXISTS, {"queue": queue, "task_id": task_id}).fetchone():
                return None  # a dead letter past its time, not dropped yet
            row = conn.execute(
                queries.RECENT_STATUS, {"queue": queue, "task_id": task_id, "horizon": now - self.status_ttl}
            ).fetchone()
            return None if row is None else int(row[0])

        # A read transaction: the lookups see the same snapshot, so a task
        # moving from one table to another in between is never missed.
        return self._run(body, write=False)

    def finished(self, queue: str, task_id: str) -> Finished | None:
        """Reads what the file remembers of a finished task, in one read transaction.

        See :meth:`~alligator.capabilities.Results.finished`. A result is measured
        in SQL (``length()``) and selected only when within
        :attr:`~alligator.backend.Backend.max_payload_bytes`, so a huge one
        never reaches Python. Rows anyone could have written cannot make it
        raise: a time that is not a finite number is taken as unknown (an
        expiry as already past), a result that is not valid UTF-8 or too long
        is withheld with the reason.
        """

        return self._run(lambda conn: self._finished_in(conn, queue, task_id, self.now()), write=False)

    def _finished_in(self, conn: sqlite3.Connection, queue: str, task_id: str, now: float) -> Finished | None:
        """What :meth:`finished` says, read in the caller's transaction."""
        key = {"queue": queue, "task_id": task_id}
        if conn.execute(queries.TASK_EXISTS, key).fetchone():
            return None  # waiting, delayed or running (again)
        dead = conn.execute(
            queries.FINISHED_LETTER,
            {**key, "max_bytes": self.max_payload_bytes, "horizon": now - self.dead_letter_ttl},
        ).fetchone()
        if dead is not None:
            # Past its time a letter is gone for every reader, dropped yet or not.
            return None if dead[2] else Finished(task_id, FAILED, None, records.lenient(dead[0]), dead[1])
        status = conn.execute(
            queries.FINISHED_SUCCESS, {**key, "success": SUCCESS, "horizon": now - self.status_ttl}
        ).fetchone()
        kept = conn.execute(
            queries.FINISHED_RESULT, {**key, "max_bytes": self.max_payload_bytes, "now": now}
        ).fetchone()
        if kept is None:
            return None if status is None else Finished(task_id, SUCCESS, None, None, status[0])
        finished_at, size, raw = kept
        if finished_at is None and status is not None:
            finished_at = status[0]
        try:
            result = reasons.decode(reasons.RESULT, size, raw, self.max_payload_bytes)
        except reasons.Unreadable as unreadable:
            return Finished(task_id, SUCCESS, None, str(unreadable), finished_at)
        return Finished(task_id, SUCCESS, result, None, finished_at)

    def succeeded(self, queue: str, offset: int = 0, limit: int = 100) -> list[Finished]:
        """Lists one page of a queue's succeeded tasks in one read.

        See :meth:`~.capabilities.ResultListing.succeeded`.


        The SUCCESS statuses of ``alligator_finished`` (a push of the same id
        deletes its row, so a listed task is never live), newest first, each
        with its live result, measured in SQL as :meth:`finished` measures it.
        """
        check_window(offset, limit)
        if limit == 0:
            return []

        def body(conn: sqlite3.Connection) -> list[Finished]:
            now = self.now()
            rows = conn.execute(
                queries.SUCCEEDED_PAGE,
                {
                    "max_id": self.max_task_id_bytes,
                    "max_bytes": self.max_payload_bytes,
                    "now": now,
                    "queue": queue,
                    "success": SUCCESS,
                    "horizon": now - self.status_ttl,
                    "limit": limit,
                    "offset": offset,
                },
            ).fetchall()
            return [self._succeeded_row(*row) for row in rows]

        return self._run(body, write=False)

    def _succeeded_row(
        self, task_id: bytes, acked: float, kept: int, size: int, raw: bytes | None
    ) -> Finished:
        """One row of :meth:`succeeded`: the result handed out, or withheld with the reason."""
        if not kept:
            return Finished(records.lenient(task_id), SUCCESS, None, None, acked)
        try:
            result = reasons.decode(reasons.RESULT, size, raw, self.max_payload_bytes)
        except reasons.Unreadable as unreadable:
            return Finished(records.lenient(task_id), SUCCESS, None, str(unreadable), acked)
        return Finished(records.lenient(task_id), SUCCESS, result, None, acked)

    def wait_finished(self, queue: str, task_id: str, timeout: float) -> Finished | None:
        """Waits up to ``timeout`` seconds (wall clock) for a task to finish, reading only after commits.

        See :meth:`~alligator.capabilities.ResultWaiting.wait_finished`. SQLite cannot
        wake a process when another one commits, so this polls, but cheaply: every few milliseconds (backing
        off to 50 ms) it asks ``PRAGMA data_version``, which changes only
        when another connection committed, and reads :meth:`finished` only
        then. A task can only become finished through a commit (an ack or a
        dead letter), so nothing is missed, and an idle wait costs no read
        transactions.

        Returns:
            As :meth:`finished`, as soon as it is not None; None at the timeout.
        """
        deadline = time.monotonic() + max(timeout, 0.0)
        pause = 0.005
        seen: int | None = None
        while True:
            version = self._run(
                lambda conn: int(conn.execute(queries.DATA_VERSION).fetchone()[0]), write=False
            )
            if version != seen:
                # Read the version first: a commit landing between the two
                # reads changes it again, so the next look reads once more.
                seen = version
                found = self.finished(queue, task_id)
                if found is not None:
                    return found
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.05)

    def len(self, queue: str) -> int:
        """Counts the waiting and delayed tasks of a queue; see :meth:`~alligator.backend.Backend.len`."""

        def body(conn: sqlite3.Connection) -> int:
            row = conn.execute(queries.COUNT_PENDING, {"queue": queue, "now": self.now()}).fetchone()
            return int(row[0])

        return self._run(body, write=False)

    def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        """Lists up to ``limit`` dead letters, oldest first.

        See :meth:`~alligator.capabilities.Administration.dead_letters`.
        """

        def body(conn: sqlite3.Connection) -> list[DeadLetter]:
            self._retain(conn, queue, self.now())
            # Bytes, cut to the limit, decoded leniently: a letter dead-lettered
            # for being huge or not UTF-8 can still be listed.
            rows = conn.execute(
                queries.DEAD_LETTERS_PAGE,
                {"max_id": self.max_task_id_bytes, "queue": queue, "limit": max(limit, 0)},
            ).fetchall()
            return [
                DeadLetter(
                    records.lenient(task_id),
                    records.lenient(records.letter_payload(conn, rowid, self.max_payload_bytes)),
                    records.lenient(reason),
                    attempts,
                    failed_at,
                )
                for rowid, task_id, reason, attempts, failed_at in rows
            ]

        return self._run(body)  # a write: letters past their time are dropped first

    def requeue(self, queue: str, task_id: str) -> bool:
        """Moves a dead letter back to the end of its queue, due now, its counts reset.

        See :meth:`~alligator.capabilities.Administration.requeue`.

        Returns:
            True if requeued; False, changing nothing, if there is no such
            dead letter or the id is live in the queue.
        """

        def body(conn: sqlite3.Connection) -> bool:
            key = {"queue": queue, "task_id": task_id}
            dead = conn.execute(queries.LETTER_EXISTS, key)
            if dead.fetchone() is None:
                return False
            live = conn.execute(queries.TASK_EXISTS, key)
            if live.fetchone() is not None:
                # Only a hand-written row can be live and dead at once (push
                # refuses a dead letter's id). Keep both: overwriting the
                # live task or dropping the letter would lose one.
                return False
            # Copied in SQL: the payload stays exactly as stored.
            conn.execute(queries.REQUEUE_LETTER, {**key, "now": self.now(), "seq": self._next_seqs(conn, 1)})
            conn.execute(queries.FORGET_DEAD_PRIORITY, key)
            conn.execute(queries.DELETE_LETTER, key)
            conn.execute(queries.FORGET_FINISHED, key)
            conn.execute(queries.FORGET_RESULT, key)
            return True

        return self._run(body)

    def queues(self) -> list[str]:
        """Lists the queues holding a task or dead letter; see :meth:`~.capabilities.Inspection.queues`."""

        def body(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(queries.LIST_QUEUES).fetchall()
            return sorted(records.lenient(name) for (name,) in rows)

        return self._run(body, write=False)

    def finished_queues(self) -> list[str]:
        """Lists the queues remembering a finished task.

        See :meth:`~.capabilities.ResultListing.finished_queues`.
        """

        def body(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(queries.LIST_FINISHED_QUEUES).fetchall()
            return sorted(records.lenient(name) for (name,) in rows)

        return self._run(body, write=False)

    def counts(self, queue: str) -> QueueCounts:
        """Counts a queue's tasks per state in one read; see :meth:`~.capabilities.Inspection.counts`."""

        def body(conn: sqlite3.Connection) -> QueueCounts:
            now = self.now()
            waiting, delayed, running = conn.execute(
                queries.COUNT_STATES, {"now": now, "queue": queue}
            ).fetchone()
            (dead,) = conn.execute(
                queries.COUNT_LIVE_LETTERS, {"queue": queue, "horizon": now - self.dead_letter_ttl}
            ).fetchone()
            return QueueCounts(int(waiting), int(delayed), int(running), int(dead))

        return self._run(body, write=False)

    def tasks(self, queue: str, state: str, offset: int = 0, limit: int = 100) -> list[TaskInfo]:
        """Lists one page of a queue's tasks in one state; see :meth:`~.capabilities.Inspection.tasks`.

        Payloads are cut to the limit in SQL, so no more than that reaches Python.
        """
        check_page(state, offset, limit)
        max_bytes = self.max_payload_bytes

        def body(conn: sqlite3.Connection) -> list[TaskInfo]:
            if state == "dead":
                self._retain(conn, queue, self.now())
                rows = conn.execute(
                    queries.DEAD_PAGE, {"queue": queue, "limit": limit, "offset": offset}
                ).fetchall()
                return [
                    TaskInfo(
                        records.lenient(task_id),
                        state,
                        records.lenient(records.letter_payload(conn, rowid, max_bytes)),
                        int(attempts),
                        0,
                        None,
                        records.lenient(reason),
                        float(failed_at),
                    )
                    for rowid, task_id, attempts, reason, failed_at in rows
                ]
            rows = conn.execute(
                _STATE_PAGE[state],
                {"max_bytes": max_bytes, "queue": queue, "now": self.now(), "limit": limit, "offset": offset},
            ).fetchall()
            return [
                TaskInfo(
                    records.lenient(task_id),
                    state,
                    records.lenient(payload),
                    attempts,
                    failures,
                    float(due),
                    priority=priority,
                )
                for task_id, payload, attempts, failures, priority, due in rows
            ]

        # Listing dead letters drops those past their time first: a write.
        return self._run(body, write=state == "dead")

    def delete_dead(self, queue: str, task_id: str) -> bool:
        """Deletes one dead letter; see :meth:`~alligator.capabilities.Administration.delete_dead`."""

        def body(conn: sqlite3.Connection) -> bool:
            rows = conn.execute(queries.LETTER_ROWIDS, {"queue": queue, "task_id": task_id}).fetchall()
            return self._drop_dead(conn, [rowid for (rowid,) in rows]) == 1

        return self._run(body)

    def purge_dead(self, queue: str) -> int:
        """Deletes a queue's dead letters in one transaction.

        See :meth:`~alligator.capabilities.Administration.purge_dead`.
        """

        def body(conn: sqlite3.Connection) -> int:
            conn.execute(queries.FORGET_FAILED_OF_QUEUE, {"queue": queue, "failed": FAILED})
            conn.execute(queries.FORGET_QUEUE_DEAD_PRIORITIES, {"queue": queue})
            return conn.execute(queries.PURGE_LETTERS, {"queue": queue}).rowcount

        return self._run(body)

    def requeue_all(self, queue: str) -> int:
        """Requeues every dead letter in one transaction, in the order they failed.

        See :meth:`~alligator.capabilities.Administration.requeue_all`: a letter whose id
        is live (a hand-written row) stays.
        """

        def body(conn: sqlite3.Connection) -> int:
            rows = [
                {"rowid": rowid} for (rowid,) in conn.execute(queries.REQUEUEABLE_LETTERS, {"queue": queue})
            ]
            if not rows:
                return 0
            now, first = self.now(), self._next_seqs(conn, len(rows))
            # Copied in SQL, as requeue() does: each payload stays exactly as stored.
            conn.executemany(
                queries.REQUEUE_LETTER_ROW,
                [{"now": now, "seq": first + n, **row} for n, row in enumerate(rows)],
            )
            conn.executemany(queries.FORGET_LETTER_FINISHED, rows)
            conn.executemany(queries.FORGET_LETTER_PRIORITY, rows)
            conn.executemany(queries.DELETE_LETTER_ROW, rows)
            return len(rows)

        return self._run(body)
