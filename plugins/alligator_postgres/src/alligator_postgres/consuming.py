"""The PostgreSQL backend's producing and consuming operations.

Each operation is one statement where it can be (a push, a batch of pushes,
a reserve, a batch of acks with their results, a release, a batch of
extends): atomic on its own, one round trip. Reserve takes the first due
rows with ``FOR UPDATE SKIP LOCKED``, so concurrent workers never take the
same task and never wait on one another's locks. A record that cannot be
handed out (a payload over the limit or not UTF-8, an id over the limit:
only a hand-written row can be one) is leased by that statement like the
others, then moved to the dead letters by its receipt in a second statement
before reserve returns; were the worker killed in between, the lease ends
and the next reserve buries it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import psycopg

from alligator import reasons
from alligator.backend import Ack, Reservation
from alligator.constants import FAILED, SUCCESS
from alligator.priority_store import check_items
from alligator_postgres import queries
from alligator_postgres.waking import Waking

__all__ = ["Consuming"]

# Results that expired are deleted by acks, this many at a time.
_TRIM_BATCH = 100
# Reserve reads again to replace dead-lettered records at most this many times.
_MAX_RESERVE_ROUNDS = 8


class Consuming(Waking):
    """Pushing, reserving, acking, releasing, extending, dead-lettering; mixed into the backend."""

    # -- producing --------------------------------------------------------

    def push(self, queue: str, task_id: str, payload: str, delay: float = 0.0) -> bool:
        """Adds a task; see :meth:`~alligator.backend.Backend.push`.

        Raises:
            ValueError: ``delay`` is NaN or infinite, or the payload cannot be
                encoded as UTF-8; nothing changes.
        """
        return self.push_many(queue, [(task_id, payload, delay)]) == 1

    def push_many(self, queue: str, items: Sequence[tuple[str, str, float]]) -> int:
        """Adds many tasks in one statement, in order; see :meth:`~alligator.backend.Backend.push_many`.

        Returns:
            How many were added (an id already live or dead is skipped).
        """
        params = self.push_params(queue, items)
        if params is None:
            return 0
        return int(self._one(queries.PUSH_TASKS, params)[0])

    def push_prioritized(self, queue: str, items: Sequence[tuple[str, str, float, int]]) -> int:
        """Adds tasks with their priorities in one statement; see :class:`~.priority_store.TaskPriority`.

        The statement of :meth:`push_many`, each row with its priority.

        Raises:
            ValueError: A delay is NaN or infinite, a priority out of range,
                or a payload cannot be encoded as UTF-8; nothing is added.
            TypeError: A priority is not an int; nothing is added.
        """
        check_items(items)
        plain = [(task_id, payload, delay) for task_id, payload, delay, _ in items]
        params = self.push_params(queue, plain, [priority for _, _, _, priority in items])
        if params is None:
            return 0
        return int(self._one(queries.PUSH_TASKS, params)[0])

    def push_params(
        self, queue: str, items: Sequence[tuple[str, str, float]], priorities: Sequence[int] | None = None
    ) -> dict[str, Any] | None:
        """The parameters of ``push_tasks`` for ``items``, every one checked first; None for no items.

        ``priorities``: one per item (checked by the caller), or None for 0 each.

        Raises:
            ValueError: A delay is NaN or infinite, or a payload cannot be
                encoded as UTF-8.
        """
        for _, _, delay in items:
            _check_delay(delay)
        if not items:
            return None
        return {
            "queue": queue,
            "now": self._now_arg(),
            "task_ids": [task_id for task_id, _, _ in items],
            "payloads": [payload.encode("utf-8") for _, payload, _ in items],
            "delays": [float(delay) for _, _, delay in items],
            "priorities": [0] * len(items) if priorities is None else list(priorities),
        }

    # -- reserving --------------------------------------------------------

    def reserve(
        self, queue: str, lease_seconds: float, limit: int = 1, timeout: float = 0.0
    ) -> list[Reservation]:
        """Reserves up to ``limit`` due tasks; see :meth:`~alligator.backend.Backend.reserve`.

        With nothing due and a positive ``timeout``, waits on ``LISTEN``
        (:meth:`wait_for_work`) for a push, release or requeue, and tries once more.
        """
        if limit < 1:
            return []
        taken = self._reserve_once(queue, lease_seconds, limit)
        if taken or timeout <= 0:
            return taken
        if self.wait_for_work([queue], timeout):
            return self._reserve_once(queue, lease_seconds, limit)
        return []

    def reserve_first(
        self, queues: Sequence[str], lease_seconds: float, limit: int = 1, timeout: float = 0.0
    ) -> tuple[str, list[Reservation]]:
        """Reserves from the first of ``queues`` with due work.

        See :meth:`~alligator.backend.Backend.reserve_first`.

        When none has due work and ``timeout`` is positive, waits on one
        ``LISTEN`` for any of them (:meth:`wait_for_work`) and tries once more.
        """
        if limit < 1 or not queues:
            return "", []
        for attempt in range(2):
            for queue in queues:
                taken = self._reserve_once(queue, lease_seconds, limit)
                if taken:
                    return queue, taken
            if attempt or timeout <= 0 or not self.wait_for_work(queues, timeout):
                break
        return "", []

    def _reserve_once(self, queue: str, lease_seconds: float, limit: int) -> list[Reservation]:
        taken: list[Reservation] = []
        for _ in range(_MAX_RESERVE_ROUNDS):
            wanted = limit - len(taken)
            rows = self._all(
                queries.RESERVE_DUE,
                {
                    "queue": queue,
                    "now": self._now_arg(),
                    "lease": float(lease_seconds),
                    "limit": wanted,
                    "max_id": self.max_task_id_bytes,
                    "max_bytes": self.max_payload_bytes,
                },
            )
            # The order reserve_due took them in: the highest priority, then due time, then seq.
            rows.sort(key=lambda row: (-row[7], row[8], row[9]))
            unreadable: list[tuple[str, str]] = []
            for task_id, id_size, receipt, attempts, failures, payload, size, _, _, _ in rows:
                try:
                    if task_id is None:
                        raise reasons.Unreadable(
                            reasons.too_large(reasons.TASK_ID, id_size, self.max_task_id_bytes)
                        )
                    text = reasons.decode(reasons.PAYLOAD, size, payload, self.max_payload_bytes)
                except reasons.Unreadable as why:
                    unreadable.append((receipt, str(why)))
                    continue
                taken.append(Reservation(task_id, text, receipt, attempts, failures))
            for receipt, reason in unreadable:
                self._bury(queue, None, receipt, reason)
            # Read on only to replace rows just dead-lettered.
            if not unreadable or len(rows) < wanted or len(taken) >= limit:
                break
        return taken

    def get(self, queue: str, task_id: str, lease_seconds: float) -> Reservation | None:
        """Reserves one named waiting or delayed task; see :meth:`~alligator.backend.Backend.get`."""
        row = self._one(
            queries.GET_TASK,
            {
                "queue": queue,
                "task_id": task_id,
                "now": self._now_arg(),
                "lease": float(lease_seconds),
                "max_bytes": self.max_payload_bytes,
            },
        )
        if row is None:
            return None
        receipt, attempts, failures, payload, size = row
        try:
            id_size = len(task_id.encode("utf-8", "surrogatepass"))
            if id_size > self.max_task_id_bytes:
                raise reasons.Unreadable(reasons.too_large(reasons.TASK_ID, id_size, self.max_task_id_bytes))
            text = reasons.decode(reasons.PAYLOAD, size, payload, self.max_payload_bytes)
        except reasons.Unreadable as why:
            self._bury(queue, None, receipt, str(why))
            return None
        return Reservation(task_id, text, receipt, attempts, failures)

    # -- settling ---------------------------------------------------------

    def ack(self, queue: str, task_id: str, receipt: str) -> bool:
        """Finishes a reserved task; see :meth:`~alligator.backend.Backend.ack`."""
        return self._ack(queue, [(task_id, receipt, None, 0.0)]) == 1

    def ack_many(self, queue: str, items: Sequence[tuple[str, str]]) -> int:
        """Acks many ``(task_id, receipt)`` pairs in one statement.

        See :meth:`~alligator.backend.Backend.ack_many`.
        """
        return self._ack(queue, [(task_id, receipt, None, 0.0) for task_id, receipt in items])

    def ack_results(self, queue: str, acks: Sequence[Ack]) -> int:
        """Acks many tasks and keeps their results, in one statement.

        See :meth:`~alligator.capabilities.Results.ack_results`: each result
        is written by the statement that acks its task, so a task is never
        acked without its result nor the other way round. A result whose
        ``result_ttl`` is not positive is not kept.

        Raises:
            ValueError: A ``result_ttl`` is NaN; nothing is acked.
        """
        for ack in acks:
            if math.isnan(ack.result_ttl):
                raise ValueError(f"a result_ttl must be a number of seconds, not {ack.result_ttl!r}")
        return self._ack(
            queue,
            [
                # surrogatepass: a result UTF-8 cannot encode is kept as it
                # comes, and finished() then says it is not valid UTF-8.
                (
                    a.task_id,
                    a.receipt,
                    None if a.result is None else a.result.encode("utf-8", "surrogatepass"),
                    float(a.result_ttl),
                )
                for a in acks
            ],
        )

    def _ack(self, queue: str, items: Sequence[tuple[str, str, bytes | None, float]]) -> int:
        if not items:
            return 0
        now = self._now_arg()
        row = self._one(
            queries.ACK_TASKS,
            {
                "queue": queue,
                "now": now,
                "success": SUCCESS,
                "task_ids": [item[0] for item in items],
                "receipts": [item[1] for item in items],
                "results": [item[2] for item in items],
                "ttls": [item[3] for item in items],
            },
        )
        done = int(row[0])
        if done:
            self._tidy(now)
        return done

    def _tidy(self, now: float | None) -> None:
        """Now and then, deletes statuses past :attr:`status_ttl` and some expired results.

        status() and finished() check ages themselves: this only saves space.
        """
        at = self.now() if now is None else now
        interval = min(self.status_ttl / 10, 60.0)
        if self._last_purge is not None and abs(at - self._last_purge) < interval:
            return
        self._last_purge = at
        self._one_rowcount(queries.PURGE_FINISHED, {"horizon": at - self.status_ttl})
        self._one_rowcount(queries.TRIM_EXPIRED_RESULTS, {"now": now, "batch": _TRIM_BATCH})

    def _one_rowcount(self, query: str, params: dict[str, Any]) -> int:
        return self._retrying(lambda conn: conn.execute(query, params).rowcount)

    def release(
        self, queue: str, task_id: str, receipt: str, delay: float = 0.0, attempted: bool = True
    ) -> bool:
        """Hands a reserved task back, due after ``delay``; see :meth:`~alligator.backend.Backend.release`.

        Raises:
            ValueError: ``delay`` is NaN or infinite; nothing changes.
        """
        _check_delay(delay)
        changed = self._one_rowcount(
            queries.RELEASE_TASK,
            {
                "queue": queue,
                "task_id": task_id,
                "receipt": receipt,
                "now": self._now_arg(),
                "delay": float(delay),
                "undelivered": int(not attempted),
                "attempted": int(attempted),
            },
        )
        return changed == 1

    def extend(self, queue: str, task_id: str, receipt: str, lease_seconds: float) -> bool:
        """Moves a held lease's end; see :meth:`~alligator.backend.Backend.extend`."""
        return self.extend_many(queue, [(task_id, receipt)], lease_seconds)[0]

    def extend_many(self, queue: str, items: Sequence[tuple[str, str]], lease_seconds: float) -> list[bool]:
        """Extends many leases in one statement; see :meth:`~alligator.backend.Backend.extend_many`."""
        if not items:
            return []
        rows = self._all(
            queries.EXTEND_LEASES,
            {
                "queue": queue,
                "now": self._now_arg(),
                "lease": float(lease_seconds),
                "task_ids": [task_id for task_id, _ in items],
                "receipts": [receipt for _, receipt in items],
            },
        )
        held = {(task_id, receipt) for task_id, receipt in rows}
        return [item in held for item in items]

    def dead_letter(self, queue: str, task_id: str, receipt: str, reason: str) -> bool:
        """Moves a reserved task to the dead letters; see :meth:`~alligator.backend.Backend.dead_letter`."""
        return self._bury(queue, task_id, receipt, reason)

    def _bury(self, queue: str, task_id: str | None, receipt: str, reason: str) -> bool:
        """Moves the task this receipt holds to the dead letters, then applies retention, in one transaction.

        ``task_id``: the task, which must still hold its lease (a worker's
        dead_letter); None for a record this very call leased and found
        unreadable (its id may be too long to read).
        """
        now = self._now_arg()

        def body(conn: psycopg.Connection[Any]) -> bool:
            row = conn.execute(
                queries.BURY_TASK,
                {
                    "queue": queue,
                    "receipt": receipt,
                    "reason": reason.encode("utf-8", "surrogatepass"),
                    "now": now,
                    "task_id": task_id,
                    "held": int(task_id is not None),
                    "failed": FAILED,
                    "max_id": self.max_task_id_bytes,
                },
            ).fetchone()
            if not row or not row[0]:
                return False
            self._retain(conn, queue, now)
            return True

        return self._transaction(body)

    def _retain(self, conn: psycopg.Connection[Any], queue: str, now: float | None) -> None:
        """Drops the queue's dead letters past :attr:`dead_letter_ttl`, then the oldest over the cap."""
        at = conn.execute(queries.SERVER_NOW).fetchone()[0] if now is None else now  # type: ignore[index]
        conn.execute(
            queries.RETAIN_LETTERS,
            {
                "queue": queue,
                "horizon": at - self.dead_letter_ttl,
                "keep": max(self.max_dead_letters, 0),
                "failed": FAILED,
            },
        )


def _check_delay(delay: float) -> None:
    if not math.isfinite(delay):
        raise ValueError(f"a delay must be a finite number of seconds, not {delay!r}")
