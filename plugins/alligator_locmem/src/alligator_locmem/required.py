"""locmem's required part: every method of :class:`alligator.backend.Backend` a store must write.

:class:`RequiredLocmem` is a whole backend without any optional capability;
:class:`~alligator_locmem.backend.LocmemBackend` adds them all to it. Every step
runs under the store's one lock, so each is atomic for every client of the
store in this process.
"""

from __future__ import annotations

import heapq
import time
import uuid
from collections.abc import Sequence

from alligator import reasons
from alligator.backend import Backend, DeadLetter, Finished, Reservation
from alligator.constants import DELAYED, FAILED, RUNNING, SUCCESS, WAITING
from alligator_locmem.store import (
    _check_delay,
    _cut_id,
    _Entry,
    _id_size,
    _Queue,
    _store_of,
    _unreadable,
)


class RequiredLocmem(Backend):
    """The required part of locmem: queues in this process's memory (see :mod:`alligator_locmem`)."""

    blocking_reserve = True
    in_process = True

    def __init__(self, conn_string: str = "locmem://") -> None:
        super().__init__(conn_string)
        store = _store_of(conn_string)
        self._queues = store.queues
        self._seq = store.seq
        self._cond = store.cond
        self._done = store.done
        self._workers = store.workers
        self._paused = store.paused
        self._schedules = store.schedules
        self._limits = store.limits

    def _queue(self, name: str) -> _Queue:
        return self._queues.setdefault(name, _Queue())

    def _enqueue(self, q: _Queue, task_id: str, entry: _Entry, due: float) -> None:
        entry.due, entry.seq = due, next(self._seq)
        q.waiting[task_id] = entry
        heapq.heappush(q.heap, (due, entry.seq, task_id))
        self._cond.notify_all()

    def _finish(self, q: _Queue, task_id: str, status: int, now: float) -> None:
        q.finished[task_id] = (status, now)
        self._done.notify_all()
        # Forget statuses older than the TTL, oldest first (dicts keep order),
        # stopping at the first young one: not a copy of every status per
        # finish, which made a drain of n tasks take n * n steps.
        horizon = now - self.status_ttl
        finished = q.finished
        while finished:
            old_id = next(iter(finished))
            if finished[old_id][1] >= horizon:
                break
            del finished[old_id]

    def _held(self, q: _Queue, task_id: str, receipt: str) -> _Entry | None:
        self._reclaim_expired(q, self.now())
        entry = q.reserved.get(task_id)
        if entry is None or entry.receipt != receipt:
            return None
        return entry

    # -- producing -------------------------------------------------------

    # -- the rules of reading, one method each ---------------------------

    @staticmethod
    def _check_delay(delay: float) -> None:
        _check_delay(delay)

    def _refusal(self, payload: str) -> str | None:
        """Why a stored payload must not be handed out (the C1 reasons), or None when it may."""
        return _unreadable(payload, self.max_payload_bytes)

    def _result_refusal(self, result: str) -> str | None:
        """Why a kept result must not be handed out, or None when it may."""
        return _unreadable(result, self.max_payload_bytes, reasons.RESULT)

    @staticmethod
    def _new_receipt(task_id: str, entry: _Entry) -> str:
        """A receipt never handed out before."""
        return uuid.uuid4().hex

    def push(self, queue: str, task_id: str, payload: str, delay: float = 0.0) -> bool:
        self._check_delay(delay)
        if not payload.isascii():
            # Refused as the other stores refuse it: UTF-8 cannot encode it.
            payload.encode("utf-8")
        with self._cond:
            return self._push(queue, task_id, payload, delay, 0)

    def _push(self, queue: str, task_id: str, payload: str, delay: float, priority: int) -> bool:
        """Adds one checked task at its priority; the caller holds the lock."""
        q = self._queue(queue)
        if task_id in q.waiting or task_id in q.reserved or task_id in q.dead:
            return False
        # A pushed id's old status and result are forgotten together.
        q.finished.pop(task_id, None)
        q.results.pop(task_id, None)
        entry = _Entry(payload, 0.0, 0, priority=priority)
        self._enqueue(q, task_id, entry, self.now() + max(delay, 0.0))
        return True

    def push_many(self, queue: str, items: Sequence[tuple[str, str, float]]) -> int:
        # Everything is checked before the first task is added: all or nothing.
        for _, payload, delay in items:
            self._check_delay(delay)
            if not payload.isascii():
                payload.encode("utf-8")
        with self._cond:
            return super().push_many(queue, items)

    # -- consuming -------------------------------------------------------

    def _reclaim_expired(self, q: _Queue, now: float) -> None:
        for task_id, entry in list(q.reserved.items()):
            if entry.lease_end <= now:
                del q.reserved[task_id]
                self._enqueue(q, task_id, entry, entry.lease_end)

    @staticmethod
    def _promote(q: _Queue, now: float) -> None:
        """Moves the tasks that came due from the heap by due time to the heap by priority."""
        while q.heap and q.heap[0][0] <= now:
            due, seq, task_id = heapq.heappop(q.heap)
            entry = q.waiting.get(task_id)
            if entry is not None and entry.seq == seq:
                heapq.heappush(q.ready, (-entry.priority, due, seq, task_id))

    @staticmethod
    def _prune_ready(q: _Queue) -> None:
        """Drops the stale entries (cancelled, taken by get) off the top of the heap by priority."""
        while q.ready:
            _, _, seq, task_id = q.ready[0]
            entry = q.waiting.get(task_id)
            if entry is not None and entry.seq == seq:
                return
            heapq.heappop(q.ready)

    def _take_due(self, q: _Queue, lease_seconds: float, limit: int) -> list[Reservation]:
        now = self.now()
        self._reclaim_expired(q, now)
        self._promote(q, now)
        taken: list[Reservation] = []
        while q.ready and len(taken) < limit:
            _, _, seq, task_id = heapq.heappop(q.ready)
            entry = q.waiting.get(task_id)
            if entry is None or entry.seq != seq:
                continue
            del q.waiting[task_id]
            reservation = self._lease(q, task_id, entry, now + lease_seconds)
            if reservation is not None:
                taken.append(reservation)
        return taken

    def _lease(self, q: _Queue, task_id: str, entry: _Entry, lease_end: float) -> Reservation | None:
        """Delivers a task taken off the waiting ones, or dead-letters it if unreadable."""
        entry.attempts += 1
        max_id = self.max_task_id_bytes
        if len(task_id) * 4 > max_id and (id_size := _id_size(task_id)) > max_id:
            too_long = reasons.too_large(reasons.TASK_ID, id_size, max_id)
            self._bury(q, _cut_id(task_id, max_id), entry, too_long)
            return None
        reason = self._refusal(entry.payload)
        if reason is not None:
            self._bury(q, task_id, entry, reason)
            return None
        entry.receipt = self._new_receipt(task_id, entry)
        entry.lease_end = lease_end
        q.reserved[task_id] = entry
        return Reservation(task_id, entry.payload, entry.receipt, entry.attempts, entry.failures)

    def _bury(self, q: _Queue, task_id: str, entry: _Entry, reason: str) -> None:
        now = self.now()
        q.dead[task_id] = DeadLetter(task_id, entry.payload, reason, entry.attempts, now)
        if entry.priority:
            q.dead_priorities[task_id] = entry.priority
        self._finish(q, task_id, FAILED, now)
        self._retain(q, now)

    def _retain(self, q: _Queue, now: float) -> None:
        # Retention: the letters are in the order they failed, oldest first.
        horizon = now - self.dead_letter_ttl
        for old_id, letter in list(q.dead.items()):
            if letter.failed_at >= horizon and len(q.dead) <= self.max_dead_letters:
                break
            self._forget_dead(q, old_id)

    @staticmethod
    def _forget_dead(q: _Queue, task_id: str) -> bool:
        if q.dead.pop(task_id, None) is None:
            return False
        q.dead_priorities.pop(task_id, None)
        if q.finished.get(task_id, (None,))[0] == FAILED:
            del q.finished[task_id]
        return True

    def reserve(
        self, queue: str, lease_seconds: float, limit: int = 1, timeout: float = 0.0
    ) -> list[Reservation]:
        deadline = time.monotonic() + timeout
        with self._cond:
            q = self._queue(queue)
            while True:
                taken = self._take_due(q, lease_seconds, limit)
                remaining = deadline - time.monotonic()
                if taken or remaining <= 0:
                    return taken
                next_due = q.heap[0][0] - self.now() if q.heap else remaining
                self._cond.wait(min(remaining, max(next_due, 0.001)))

    def ack(self, queue: str, task_id: str, receipt: str) -> bool:
        with self._cond:
            q = self._queue(queue)
            if self._held(q, task_id, receipt) is None:
                return False
            del q.reserved[task_id]
            self._finish(q, task_id, SUCCESS, self.now())
            return True

    def _finished(self, q: _Queue, task_id: str) -> Finished | None:
        """What ``finished`` says; the caller holds the lock."""
        now = self.now()
        self._reclaim_expired(q, now)
        if task_id in q.waiting or task_id in q.reserved:
            return None
        letter = q.dead.get(task_id)
        if letter is not None:
            # Past its time a letter is gone for every reader, dropped yet or not.
            if letter.failed_at < now - self.dead_letter_ttl:
                return None
            return Finished(task_id, FAILED, None, letter.reason, letter.failed_at)
        kept = q.results.get(task_id)
        if kept is not None and kept[1] > now:
            reason = self._result_refusal(kept[0])
            if reason is not None:
                return Finished(task_id, SUCCESS, None, reason, kept[2])
            return Finished(task_id, SUCCESS, kept[0], None, kept[2])
        status = q.finished.get(task_id)
        if status is not None and status[0] == SUCCESS and status[1] >= now - self.status_ttl:
            return Finished(task_id, SUCCESS, None, None, status[1])
        return None

    def ack_many(self, queue: str, items: Sequence[tuple[str, str]]) -> int:
        with self._cond:
            return super().ack_many(queue, items)

    def release(
        self, queue: str, task_id: str, receipt: str, delay: float = 0.0, attempted: bool = True
    ) -> bool:
        self._check_delay(delay)
        with self._cond:
            q = self._queue(queue)
            entry = self._held(q, task_id, receipt)
            if entry is None:
                return False
            del q.reserved[task_id]
            if attempted:
                entry.failures += 1
            else:
                entry.attempts -= 1
            self._enqueue(q, task_id, entry, self.now() + max(delay, 0.0))
            return True

    def extend(self, queue: str, task_id: str, receipt: str, lease_seconds: float) -> bool:
        with self._cond:
            q = self._queue(queue)
            entry = self._held(q, task_id, receipt)
            if entry is None:
                return False
            entry.lease_end = self.now() + lease_seconds
            return True

    def dead_letter(self, queue: str, task_id: str, receipt: str, reason: str) -> bool:
        with self._cond:
            q = self._queue(queue)
            entry = self._held(q, task_id, receipt)
            if entry is None:
                return False
            del q.reserved[task_id]
            self._bury(q, task_id, entry, reason)
            return True

    # -- several queues --------------------------------------------------

    # -- by id, and counting ----------------------------------------------

    def get(self, queue: str, task_id: str, lease_seconds: float) -> Reservation | None:
        with self._cond:
            q = self._queue(queue)
            self._reclaim_expired(q, self.now())
            entry = q.waiting.pop(task_id, None)
            if entry is None:
                return None
            return self._lease(q, task_id, entry, self.now() + lease_seconds)

    def peek(self, queue: str, task_id: str) -> str | None:
        with self._cond:
            q = self._queue(queue)
            entry = q.waiting.get(task_id) or q.reserved.get(task_id)
            if entry is None or self._refusal(entry.payload) is not None:
                return None
            return entry.payload

    def cancel(self, queue: str, task_id: str) -> bool:
        with self._cond:
            q = self._queue(queue)
            self._reclaim_expired(q, self.now())
            return q.waiting.pop(task_id, None) is not None

    def status(self, queue: str, task_id: str) -> int | None:
        with self._cond:
            q = self._queue(queue)
            self._reclaim_expired(q, self.now())
            if task_id in q.reserved:
                return RUNNING
            if task_id in q.waiting:
                return DELAYED if q.waiting[task_id].due > self.now() else WAITING
            # What finished() says, so a kept result or a dead letter keeps its status.
            outcome = self._finished(q, task_id)
            if outcome is not None or task_id in q.dead:
                return None if outcome is None else outcome.status
            finished = q.finished.get(task_id)
            if finished is None or finished[1] < self.now() - self.status_ttl:
                return None
            return finished[0]

    def len(self, queue: str) -> int:
        with self._cond:
            q = self._queue(queue)
            self._reclaim_expired(q, self.now())
            return len(q.waiting)

    def drop_all(self, queue: str) -> None:
        with self._cond:
            self._queues.pop(queue, None)
            for key in [key for key in self._schedules if key[0] == queue]:
                del self._schedules[key]
