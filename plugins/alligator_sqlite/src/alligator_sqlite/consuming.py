"""The SQLite backend's producing and consuming: push, reserve, ack, release, extend, dead-letter, get.

Each is one short write transaction (see :class:`~alligator_sqlite.store.Store`);
a record that must not be handed out is dead-lettered in the very
transaction that met it, and the other tasks of that reserve are delivered
as usual.
"""

from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Sequence

from alligator import reasons, store_defaults
from alligator.backend import Ack, Reservation
from alligator.constants import SUCCESS
from alligator.priority_store import MAX_PRIORITY, MIN_PRIORITY, check_items
from alligator_sqlite import queries, records
from alligator_sqlite.store import Store

__all__ = ["Consuming"]

# Each reserve buries at most this many rows whose due is no finite number
# (and each ack deletes at most this many results whose expiry is no number).
_CORRUPT_PER_RESERVE = 8
# Each ack deletes at most this many expired results.
_TRIM_BATCH = 1000
# Reserve reads this many batches at most when bad records leave it short of
# its limit: the write lock is never held for a whole queue of bad rows.
_MAX_RESERVE_ROUNDS = 8


def _receipt() -> str:
    """A new lease's receipt: 128 random bits, as uuid4 has, at a fifth of its cost (one per task)."""
    return os.urandom(16).hex()


class Consuming(Store):
    """Pushing, reserving and settling tasks; mixed into :class:`~alligator_sqlite.SqliteBackend`."""

    # -- producing -------------------------------------------------------

    def push(self, queue: str, task_id: str, payload: str, delay: float = 0.0) -> bool:
        """Adds a task to the end of a queue; see :meth:`~alligator.backend.Backend.push`.

        The rows :meth:`push_many` of one task writes, in three statements
        between ``BEGIN IMMEDIATE`` and ``COMMIT``, each prepared once per
        connection (SQLite's statement cache). The task's ``seq`` is the
        counter as it stands, read inside the insert rather than drawn, so
        the counter's row is not written: one page fewer to the WAL per push
        (see ``push_one_task`` in ``sql/queries.sql``).

        Raises:
            ValueError: ``delay`` is NaN or infinite, or the payload or id
                cannot be encoded as UTF-8 (a lone surrogate); nothing is added.
        """
        _check_delay(delay)
        data = payload.encode("utf-8")
        due = max(delay, 0.0)
        return self._run(lambda conn: self._push_in(conn, queue, task_id, data, self.now() + due))

    def _push_in(self, conn: sqlite3.Connection, queue: str, task_id: str, data: bytes, due: float) -> bool:
        """Push's statements, inside the caller's write transaction (push, a unique push, a
        schedule's tick); ``due`` is absolute, on the store's clock. True if the task was added."""
        ids = {"queue": queue, "task_id": task_id}
        added = conn.execute(queries.PUSH_ONE_TASK, {**ids, "payload": data, "due": due}).rowcount == 1
        # As push_many: a re-pushed id forgets how it finished last time.
        conn.execute(queries.FORGET_FINISHED_UNLESS_DEAD, ids)
        conn.execute(queries.FORGET_RESULT_UNLESS_DEAD, ids)
        return added

    def push_prioritized(self, queue: str, items: Sequence[tuple[str, str, float, int]]) -> int:
        """Adds tasks with their priorities in one transaction; see :class:`~.priority_store.TaskPriority`.

        The transaction of :meth:`push_many`, each row with its priority.

        Raises:
            ValueError: A delay is NaN or infinite, a priority out of range,
                or a payload or id cannot be encoded as UTF-8; nothing is added.
            TypeError: A priority is not an int; nothing is added.
        """
        check_items(items)
        if not items:
            return 0
        rows: list[dict[str, object]] = [
            {"queue": queue, "task_id": task_id, "payload": payload.encode("utf-8"), "priority": priority}
            for task_id, payload, _, priority in items
        ]
        return self._push_rows(
            queue, rows, [delay for _, _, delay, _ in items], queries.PUSH_PRIORITIZED_TASK
        )

    def push_many(self, queue: str, items: Sequence[tuple[str, str, float]]) -> int:
        """Adds many tasks in one transaction; see :meth:`~alligator.backend.Backend.push_many`.

        Returns:
            How many were added (ids already in the queue, dead letters
            included, are skipped).

        Raises:
            ValueError: A delay is NaN or infinite, or a payload or id
                cannot be encoded as UTF-8 (a lone surrogate); nothing is
                added.
        """
        if not items:
            return 0
        for _, _, delay in items:
            _check_delay(delay)
        rows = task_rows(queue, items)
        return self._push_rows(queue, rows, [delay for _, _, delay in items], queries.PUSH_TASK)

    def _push_rows(
        self, queue: str, rows: list[dict[str, object]], delays: Sequence[float], push_query: str
    ) -> int:
        """Inserts checked rows in one transaction, each due after its delay; returns how many were added."""
        return self._run(lambda conn: self._insert_rows(conn, queue, rows, delays, push_query))

    def _insert_rows(
        self,
        conn: sqlite3.Connection,
        queue: str,
        rows: list[dict[str, object]],
        delays: Sequence[float],
        push_query: str,
    ) -> int:
        """Inserts checked rows inside the transaction ``conn`` has open (ours, or the caller's)."""
        now = self.now()
        first = self._next_seqs(conn, len(rows))
        for n, (row, delay) in enumerate(zip(rows, delays, strict=True)):
            row["due"] = now + max(delay, 0.0)
            row["seq"] = first + n
        # Ids are unique across live tasks and dead letters alike (see push_task).
        cursor = conn.executemany(push_query, rows)
        added = cursor.rowcount
        # A re-pushed id starts afresh: forget how it finished last time
        # (but keep FAILED for an id refused because it is a dead letter).
        forgotten = [{"queue": queue, "task_id": row["task_id"]} for row in rows]
        conn.executemany(queries.FORGET_FINISHED_UNLESS_DEAD, forgotten)
        # Its old result too: finished() must not hand out last time's value.
        conn.executemany(queries.FORGET_RESULT_UNLESS_DEAD, forgotten)
        return added

    # -- consuming -------------------------------------------------------

    def reserve(
        self, queue: str, lease_seconds: float, limit: int = 1, timeout: float = 0.0
    ) -> list[Reservation]:
        """Reserves up to ``limit`` due tasks in one transaction.

        See :meth:`~alligator.backend.Backend.reserve`.

        Returns at once (``blocking_reserve`` is False): ``timeout`` is ignored.
        A record over :attr:`~alligator.backend.Backend.max_payload_bytes`,
        or whose payload or id is not valid UTF-8, is dead-lettered in the
        same transaction instead; further due tasks are then read to fill
        ``limit``.
        """
        if limit < 1:
            return []
        return self._run(lambda conn: self._reserve_in(conn, queue, lease_seconds, limit, self.now()))

    def reserve_first(
        self, queues: Sequence[str], lease_seconds: float, limit: int = 1, timeout: float = 0.0
    ) -> tuple[str, list[Reservation]]:
        """Reserves from the first of ``queues`` with due work, in one transaction.

        See :meth:`~alligator.backend.Backend.reserve_first`. The queues are
        tried in priority order inside one write transaction, as
        :meth:`reserve` tries one (unreadable records of a queue tried on
        the way are dead-lettered as reserve would), so a worker with
        several queues takes the write lock once per call, not once per
        queue. When none has due work and ``timeout`` is positive, it naps
        (:meth:`~alligator.capabilities.Waking.wait_for_work`: SQLite cannot
        be woken by another process) and tries once more; one queue is
        simply :meth:`reserve`.

        Returns:
            The queue the tasks came from and the reservations; ``("", [])``
            when none had work.
        """
        if len(queues) == 1:
            return queues[0], self.reserve(queues[0], lease_seconds, limit, timeout)
        if limit < 1 or not queues:
            return "", []

        def body(conn: sqlite3.Connection) -> tuple[str, list[Reservation]]:
            now = self.now()
            for queue in queues:
                taken = self._reserve_in(conn, queue, lease_seconds, limit, now)
                if taken:
                    return queue, taken
            return "", []

        found = self._run(body)
        if found[1] or timeout <= 0:
            return found
        store_defaults.wait_for_work(self, queues, timeout)
        return self._run(body)

    def _reserve_in(
        self, conn: sqlite3.Connection, queue: str, lease_seconds: float, limit: int, now: float
    ) -> list[Reservation]:
        """Reserves up to ``limit`` due tasks of one queue inside the caller's write transaction.

        Priority by priority, from the highest the queue holds down: each is
        one seek for the priority (``top_priority``, then ``next_priority``)
        and one index range of its due tasks, so tasks of a higher priority
        that are not due cost nothing. A queue whose tasks all have priority 0
        reads one priority: one statement more than before priorities.
        """
        taken: list[Reservation] = []
        level = conn.execute(queries.TOP_PRIORITY, {"queue": queue}).fetchone()
        if level is not None and not _in_range(level[0]):
            # Text, a blob or a number over 100 sorts first: bury a few such
            # rows, and read on if that was all of them.
            self._bury_corrupt_priorities(conn, queue, now)
            level = conn.execute(queries.TOP_PRIORITY, {"queue": queue}).fetchone()
        while level is not None and len(taken) < limit:
            priority = level[0]
            if not _in_range(priority):
                if isinstance(priority, (int, float)) and priority < MIN_PRIORITY:
                    self._bury_corrupt_priorities(conn, queue, now)
                break
            taken += self._reserve_priority(conn, queue, priority, lease_seconds, limit - len(taken), now)
            if len(taken) < limit:
                level = conn.execute(queries.NEXT_PRIORITY, {"queue": queue, "below": priority}).fetchone()
        return taken

    def _bury_corrupt_priorities(self, conn: sqlite3.Connection, queue: str, now: float) -> None:
        """Dead-letters a few rows whose priority is out of range, text or a blob."""
        corrupt = conn.execute(
            queries.CORRUPT_PRIORITY_ROWS, {"queue": queue, "limit": _CORRUPT_PER_RESERVE}
        ).fetchall()
        self._bury(
            conn,
            queue,
            [(rowid, records.corrupt_reason(conn, rowid, field)) for rowid, field in corrupt],
            now,
            True,
        )

    def _reserve_priority(
        self,
        conn: sqlite3.Connection,
        queue: str,
        priority: float,
        lease_seconds: float,
        limit: int,
        now: float,
    ) -> list[Reservation]:
        """Reserves up to ``limit`` due tasks of one priority of a queue, oldest first."""
        max_bytes = self.max_payload_bytes
        max_id = self.max_task_id_bytes
        taken: list[Reservation] = []
        corrupt = conn.execute(
            queries.CORRUPT_DUE_ROWS,
            {"queue": queue, "priority": priority, "infinity": math.inf, "limit": _CORRUPT_PER_RESERVE},
        ).fetchall()
        self._bury(
            conn,
            queue,
            [(rowid, records.corrupt_reason(conn, rowid, field)) for rowid, field in corrupt],
            now,
            True,
        )
        for _ in range(_MAX_RESERVE_ROUNDS):
            wanted = limit - len(taken)
            # Waiting tasks whose time came and reserved ones whose lease
            # lapsed both have due <= now: one index range scan finds them.
            rows = conn.execute(
                queries.RESERVE_DUE,
                {
                    "max_id": max_id,
                    "max_bytes": max_bytes,
                    "queue": queue,
                    "priority": priority,
                    "now": now,
                    "limit": wanted,
                },
            ).fetchall()
            leases: list[dict[str, object]] = []
            unreadable: list[tuple[int, str]] = []
            for rowid, raw_id, attempts, failures, small, bad_field in rows:
                try:
                    if bad_field is not None:
                        raise reasons.Unreadable(records.corrupt_reason(conn, rowid, bad_field))
                    if raw_id is None:  # the query selects an id only within max_id bytes
                        size = records.id_size_and_head(conn, rowid, max_id)[0]
                        raise reasons.Unreadable(reasons.too_large(reasons.TASK_ID, size, max_id))
                    task_id = reasons.decode(reasons.TASK_ID, len(raw_id), raw_id, max_id)
                    size, raw = records.read_payload(conn, rowid, max_bytes, small)
                    payload = reasons.decode(reasons.PAYLOAD, size, raw, max_bytes)
                except reasons.Unreadable as unreadable_record:
                    unreadable.append((rowid, str(unreadable_record)))
                    continue
                reservation = Reservation(task_id, payload, _receipt(), attempts + 1, failures)
                taken.append(reservation)
                leases.append(
                    {
                        "due": now + lease_seconds,
                        "attempts": reservation.attempts,
                        "receipt": reservation.receipt,
                        "rowid": rowid,
                    }
                )
            conn.executemany(queries.TAKE_LEASE, leases)
            self._bury(conn, queue, unreadable, now, delivered=True)
            # Read on only to replace rows just dead-lettered, and only when
            # the leases just taken cannot come due again in this step.
            if not unreadable or len(rows) < wanted or len(taken) >= limit or lease_seconds <= 0:
                break
        return taken

    def ack(self, queue: str, task_id: str, receipt: str) -> bool:
        """Finishes a reserved task; see :meth:`~alligator.backend.Backend.ack`."""
        return self.ack_many(queue, [(task_id, receipt)]) == 1

    def ack_many(self, queue: str, items: Sequence[tuple[str, str]]) -> int:
        """Acks many ``(task_id, receipt)`` pairs in one transaction.

        See :meth:`~alligator.backend.Backend.ack_many`.

        Returns:
            How many acks took effect (stale receipts change nothing).
        """
        return self._ack(queue, [(task_id, receipt, None, 0.0) for task_id, receipt in items])

    def ack_results(self, queue: str, acks: Sequence[Ack]) -> int:
        """Acks many tasks and keeps their results, all in one transaction.

        See :meth:`~alligator.capabilities.Results.ack_results`. Each result is
        written in the transaction that acks its task (the same one
        :meth:`ack_many` would run: no transaction is added per task), as
        UTF-8 bytes, with the time it expires on the backend's clock. A
        result whose ``result_ttl`` is not positive is not kept (it would be
        expired at once). Results that expired are deleted by later acks.

        Raises:
            ValueError: A ``result_ttl`` is NaN; nothing is acked.

        Returns:
            How many acks took effect (a stale receipt keeps no result).
        """
        for ack in acks:
            if math.isnan(ack.result_ttl):
                raise ValueError(f"a result_ttl must be a number of seconds, not {ack.result_ttl!r}")
        return self._ack(
            queue,
            [
                # surrogatepass: a result that UTF-8 cannot encode is kept as
                # it comes, and finished() then says it is not valid UTF-8;
                # the task still succeeded, so its ack must not fail.
                (
                    a.task_id,
                    a.receipt,
                    None if a.result is None else a.result.encode("utf-8", "surrogatepass"),
                    a.result_ttl,
                )
                for a in acks
            ],
        )

    def _ack(self, queue: str, items: Sequence[tuple[str, str, bytes | None, float]]) -> int:
        """Acks ``(task_id, receipt, result, result_ttl)`` items in one transaction, keeping the results."""
        if not items:
            return 0

        def body(conn: sqlite3.Connection) -> int:
            now = self.now()
            done: list[tuple[str, str]] = []
            kept: list[dict[str, object]] = []
            for task_id, receipt, result, ttl in items:
                cursor = conn.execute(
                    queries.ACK_TASK, {"queue": queue, "task_id": task_id, "receipt": receipt, "now": now}
                )
                if cursor.rowcount:
                    done.append((queue, task_id))
                    if result is not None and ttl > 0:
                        kept.append(
                            {
                                "queue": queue,
                                "task_id": task_id,
                                "now": now,
                                "expires_at": now + ttl,
                                "result": result,
                            }
                        )
            if done:
                self._finish(conn, done, SUCCESS, now)
                self._trim_results(conn, now)
            if kept:
                conn.executemany(queries.KEEP_RESULT, kept)
            return len(done)

        return self._run(body)

    @staticmethod
    def _trim_results(conn: sqlite3.Connection, now: float) -> None:
        """Deletes some results that expired, and a few whose expiry is no number at all.

        Run by every ack that takes effect, results or not, so expired
        results go even once none are kept any more: a seek in the
        ``expires_at`` index, deleting at most ``_TRIM_BATCH`` rows, so a
        backlog (a burst of results expiring together) is spread over many
        acks instead of holding the write lock for one long delete.
        finished() checks the expiry itself, so this only saves space. A
        hand-written expiry that is not a number (text, a blob) sorts after
        every number: a seek to +inf finds such rows.
        """
        conn.execute(queries.TRIM_EXPIRED_RESULTS, {"now": now, "batch": _TRIM_BATCH})
        conn.execute(queries.TRIM_CORRUPT_RESULTS, {"infinity": math.inf, "batch": _CORRUPT_PER_RESERVE})

    def release(
        self, queue: str, task_id: str, receipt: str, delay: float = 0.0, attempted: bool = True
    ) -> bool:
        """Hands a reserved task back, due after ``delay``; see :meth:`~alligator.backend.Backend.release`.

        ``attempted=True`` adds one to the task's failures; ``False`` takes
        this delivery off its attempts instead.

        Raises:
            ValueError: ``delay`` is NaN or infinite; nothing changes.
        """
        _check_delay(delay)

        def body(conn: sqlite3.Connection) -> bool:
            now = self.now()
            seq = self._next_seqs(conn, 1)
            cursor = conn.execute(
                queries.RELEASE_TASK,
                {
                    "due": now + max(delay, 0.0),
                    "seq": seq,
                    "undelivered": int(not attempted),
                    "attempted": int(attempted),
                    "queue": queue,
                    "task_id": task_id,
                    "receipt": receipt,
                    "now": now,
                },
            )
            return cursor.rowcount == 1

        return self._run(body)

    def extend(self, queue: str, task_id: str, receipt: str, lease_seconds: float) -> bool:
        """Moves a held lease's end to ``now + lease_seconds``.

        See :meth:`~alligator.backend.Backend.extend`.
        """
        return self.extend_many(queue, [(task_id, receipt)], lease_seconds)[0]

    def extend_many(self, queue: str, items: Sequence[tuple[str, str]], lease_seconds: float) -> list[bool]:
        """Extends many leases in one transaction; see :meth:`~alligator.backend.Backend.extend_many`.

        Returns:
            One flag per item: False where the lease was lost or had run out.
        """
        if not items:
            return []

        def body(conn: sqlite3.Connection) -> list[bool]:
            now = self.now()
            flags = []
            for task_id, receipt in items:
                cursor = conn.execute(
                    queries.EXTEND_LEASE,
                    {
                        "due": now + lease_seconds,
                        "queue": queue,
                        "task_id": task_id,
                        "receipt": receipt,
                        "now": now,
                    },
                )
                flags.append(cursor.rowcount == 1)
            return flags

        return self._run(body)

    def dead_letter(self, queue: str, task_id: str, receipt: str, reason: str) -> bool:
        """Moves a reserved task to the dead letters; see :meth:`~alligator.backend.Backend.dead_letter`."""

        def body(conn: sqlite3.Connection) -> bool:
            now = self.now()
            row = conn.execute(
                queries.HELD_TASK_ROWID, {"queue": queue, "task_id": task_id, "receipt": receipt, "now": now}
            ).fetchone()
            if row is None:
                return False
            self._bury(conn, queue, [(row[0], reason)], now, delivered=False)
            return True

        return self._run(body)

    def get(self, queue: str, task_id: str, lease_seconds: float) -> Reservation | None:
        """Reserves one named waiting or delayed task; see :meth:`~alligator.backend.Backend.get`."""

        def body(conn: sqlite3.Connection) -> Reservation | None:
            now = self.now()
            max_bytes = self.max_payload_bytes
            row = conn.execute(
                queries.GET_TASK, {"max_bytes": max_bytes, "queue": queue, "task_id": task_id, "now": now}
            ).fetchone()
            if row is None:
                return None
            rowid, attempts, failures, small, bad_field = row
            try:
                if bad_field is not None:
                    raise reasons.Unreadable(records.corrupt_reason(conn, rowid, bad_field))
                id_size = len(task_id.encode("utf-8", "surrogatepass"))
                if id_size > self.max_task_id_bytes:
                    raise reasons.Unreadable(
                        reasons.too_large(reasons.TASK_ID, id_size, self.max_task_id_bytes)
                    )
                payload = reasons.decode(
                    reasons.PAYLOAD, *records.read_payload(conn, rowid, max_bytes, small), max_bytes
                )
            except reasons.Unreadable as unreadable:
                self._bury(conn, queue, [(rowid, str(unreadable))], now, delivered=True)
                return None
            reservation = Reservation(task_id, payload, _receipt(), attempts + 1, failures)
            conn.execute(
                queries.TAKE_LEASE,
                {
                    "due": now + lease_seconds,
                    "attempts": reservation.attempts,
                    "receipt": reservation.receipt,
                    "rowid": rowid,
                },
            )
            return reservation

        return self._run(body)


def _in_range(priority: object) -> bool:
    """Whether a stored priority is a level reserve reads (a non-integer among them is buried there)."""
    return isinstance(priority, (int, float)) and MIN_PRIORITY <= priority <= MAX_PRIORITY


def task_rows(queue: str, items: Sequence[tuple[str, str, float]]) -> list[dict[str, object]]:
    """The rows of ``(task_id, payload, delay)`` items, before their due times and sequence numbers."""
    return [
        {"queue": queue, "task_id": task_id, "payload": payload.encode("utf-8")}
        for task_id, payload, _ in items
    ]


def _check_delay(delay: float) -> None:
    if not math.isfinite(delay):
        raise ValueError(f"a delay must be a finite number of seconds, not {delay!r}")
