"""Broken variants of locmem's optional capabilities: results, waking, inspection, limits, priority...

The variants of the required part are in :mod:`broken_backends`, whose
``BROKEN`` names the kit tests that must fail for every one of them.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Sequence

from alligator import reasons
from alligator.backend import Ack, Finished, QueueCounts, Reservation, TaskInfo
from alligator_locmem import LocmemBackend, _Entry
from alligator_locmem.limiting import LimitTables
from alligator_locmem.store import _Queue, _stored_bytes


class RequeueOverwritesLiveTask(LocmemBackend):
    """``requeue`` puts a dead letter back even over a live task of its id, losing it (issue 8, finding 6)."""

    def requeue(self, queue: str, task_id: str) -> bool:
        with self._cond:
            q = self._queue(queue)
            letter = q.dead.pop(task_id, None)
            if letter is None:
                return False
            q.reserved.pop(task_id, None)
            self._enqueue(q, task_id, _Entry(letter.payload, 0.0, 0), self.now())
            return True


class PurgeLeavesOne(LocmemBackend):
    """``purge_dead`` stops one short, as an off-by-one page loop would."""

    def purge_dead(self, queue: str) -> int:
        with self._cond:
            q = self._queue(queue)
            return sum(1 for task_id in list(q.dead)[:-1] if self._forget_dead(q, task_id))


class RunningCountedAsWaiting(LocmemBackend):
    """``counts`` puts reserved tasks among the waiting ones, as a count of "not delayed" would."""

    def counts(self, queue: str) -> QueueCounts:
        counts = super().counts(queue)
        return QueueCounts(counts.waiting + counts.running, counts.delayed, 0, counts.dead)


class DeadLettersKeptForever(LocmemBackend):
    """Never drops a dead letter: a poison flood fills the store."""

    def _retain(self, q: _Queue, now: float) -> None:
        pass


class WaitingListedInPushOrder(LocmemBackend):
    """``tasks("waiting")`` lists by push order, not in the order reserve takes them."""

    def tasks(self, queue: str, state: str, offset: int = 0, limit: int = 100) -> list[TaskInfo]:
        listed = super().tasks(queue, state, 0, 1_000_000)
        if state == "waiting":
            pushed = list(self._queue(queue).waiting)  # insertion order: push order
            listed.sort(key=lambda info: pushed.index(info.task_id))
        return listed[offset : offset + limit]


class ResultKeptOnRefusedAck(LocmemBackend):
    """``ack_results`` keeps the result even when the ack is refused (a stale or forged receipt)."""

    def ack_results(self, queue: str, acks: Sequence[Ack]) -> int:
        with self._cond:
            done = super().ack_results(queue, acks)
            q, now = self._queue(queue), self.now()
            for item in acks:
                if item.result is not None:
                    q.results[item.task_id] = (item.result, now + item.result_ttl, now)
            return done


class ResultStoredAfterTheAck(LocmemBackend):
    """Acks, then keeps the result in a second step: a reader sees SUCCESS with no result in between.

    The sleep stands for the second round trip of a store that does not
    keep both in one script or transaction.
    """

    def ack_results(self, queue: str, acks: Sequence[Ack]) -> int:
        done = 0
        for item in acks:
            if self.ack(queue, item.task_id, item.receipt):
                done += 1
                time.sleep(0.01)
                if item.result is not None:
                    with self._cond:
                        now = self.now()
                        self._queue(queue).results[item.task_id] = (item.result, now + item.result_ttl, now)
        return done


class ResultNeverExpires(LocmemBackend):
    """Keeps every result for ever, whatever its ``result_ttl`` (a store's native TTL on the wrong clock)."""

    def ack_results(self, queue: str, acks: Sequence[Ack]) -> int:
        with self._cond:
            done = super().ack_results(queue, acks)
            results = self._queue(queue).results
            for item in acks:
                if item.task_id in results:
                    result, _, at = results[item.task_id]
                    results[item.task_id] = (result, float("inf"), at)
            return done


class OversizedResultHandedOut(LocmemBackend):
    """``finished`` hands out a stored result of any size."""

    def _result_refusal(self, result: str) -> str | None:
        return None


class NotUtf8ResultHandedOut(LocmemBackend):
    """``finished`` checks a stored result's size but hands out bytes that are not UTF-8."""

    def _result_refusal(self, result: str) -> str | None:
        size = len(_stored_bytes(result)[0])
        if size > self.max_payload_bytes:
            return reasons.too_large(reasons.RESULT, size, self.max_payload_bytes)
        return None


class FinishedIgnoresLiveTasks(LocmemBackend):
    """``finished`` reads the last result without looking whether the id was pushed again."""

    def finished(self, queue: str, task_id: str) -> Finished | None:
        with self._cond:
            q = self._queue(queue)
            waiting, reserved = q.waiting.pop(task_id, None), q.reserved.pop(task_id, None)
            try:
                return super().finished(queue, task_id)
            finally:
                if waiting is not None:
                    q.waiting[task_id] = waiting
                if reserved is not None:
                    q.reserved[task_id] = reserved

    def push(self, queue: str, task_id: str, payload: str, delay: float = 0.0) -> bool:
        with self._cond:
            q = self._queue(queue)
            kept = q.results.get(task_id)
            pushed = super().push(queue, task_id, payload, delay)
            if kept is not None:
                q.results[task_id] = kept
            return pushed


class WaitFinishedLooksOnce(LocmemBackend):
    """``wait_finished`` looks once and returns, never waiting for the task to finish."""

    def wait_finished(self, queue: str, task_id: str, timeout: float) -> Finished | None:
        return self.finished(queue, task_id)


class PriorityByAge(LocmemBackend):
    """``reserve_first`` takes from the queue whose due task is oldest, not from the first queue with work."""

    def reserve_first(
        self, queues: Sequence[str], lease_seconds: float, limit: int = 1, timeout: float = 0.0
    ) -> tuple[str, list[Reservation]]:
        with self._cond:
            now = self.now()
            oldest: list[tuple[float, int, str]] = []
            for queue in queues:
                q = self._queue(queue)
                self._reclaim_expired(q, now)
                oldest += sorted((e.due, e.seq, queue) for e in q.waiting.values() if e.due <= now)[:1]
            if not oldest:
                return "", []
            queue = min(oldest)[2]
            return queue, self.reserve(queue, lease_seconds, limit)


class PriorityIgnored(LocmemBackend):
    """Claims TaskPriority but pushes every task at priority 0: due tasks go in push order."""

    def push_prioritized(self, queue: str, items: Sequence[tuple[str, str, float, int]]) -> int:
        return super().push_prioritized(
            queue, [(task_id, payload, delay, 0) for task_id, payload, delay, _ in items]
        )


class DelayedPriorityJumpsAhead(LocmemBackend):
    """Ranks a delayed task with a priority among the due ones at once, before its delay ends."""

    @staticmethod
    def _promote(q: _Queue, now: float) -> None:
        LocmemBackend._promote(q, now)
        early = [(due, seq, task_id) for due, seq, task_id in q.heap if q.waiting[task_id].priority > 0]
        for due, seq, task_id in early:
            q.heap.remove((due, seq, task_id))
            heapq.heappush(q.ready, (-q.waiting[task_id].priority, due, seq, task_id))
        heapq.heapify(q.heap)


class WakeLooksAtTheFirstQueueOnly(LocmemBackend):
    """``wait_for_work`` wakes for work anywhere but reports it only when it is in the first queue."""

    def _has_due(self, queue: str) -> bool:
        next_due = self._next_due([queue], self.now())
        return next_due is not None and next_due <= self.now()

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._has_due(queues[0]):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._cond.wait(remaining):
                    return False
                if not self._has_due(queues[0]):
                    return False  # woken, but looked at the first queue only
            return True


class WorkersNeverExpire(LocmemBackend):
    """Keeps a worker's record until it is forgotten: a killed worker is listed for ever."""

    def _expire_workers(self, now: float) -> None:
        pass


class WorkersUnbounded(LocmemBackend):
    """Never drops a record for ``max_workers``: the registry grows without limit."""

    def heartbeat(self, worker_id: str, record: str, ttl: float) -> None:
        with self._cond:
            now = self.now()
            self._workers.pop(worker_id, None)
            self._workers[worker_id] = (record, now, now + ttl)


class ForgetAlwaysTrue(LocmemBackend):
    """``forget_worker`` says True whether or not there was a record."""

    def forget_worker(self, worker_id: str) -> bool:
        super().forget_worker(worker_id)
        return True


class DiagnoseUnknownLevel(LocmemBackend):
    """``diagnose`` reports a level the doctor does not know."""

    def diagnose(self) -> list[tuple[str, str, str]]:
        return [("info", "all fine", "")]


class UniqueKeyNeverReleased(LocmemBackend):
    """A unique key stays held until its window ends, however its holder ended (acked, dead, cancelled)."""

    def _holds(self, queue: str, record: tuple[str, str, float], now: float) -> bool:
        return now < record[2]


class UniqueKeyHeldPastItsWindow(LocmemBackend):
    """A unique key is held while its holder is live, however long: a stuck task holds it for ever."""

    def _holds(self, queue: str, record: tuple[str, str, float], now: float) -> bool:
        holder, mode, _ = record
        return super()._holds(queue, (holder, mode, float("inf")), now)


class UniquePushNotAtomic(LocmemBackend):
    """``push_unique`` reads the key, lets go of the lock, then pushes: racing pushes both queue."""

    def push_unique(
        self, queue: str, task_id: str, payload: str, delay: float, key: str, mode: str, window: float
    ) -> tuple[bool, str]:
        with self._cond:
            record = self._queue(queue).unique.get(key)
            if record is not None and self._holds(queue, record, self.now()):
                return False, record[0]
        time.sleep(0.01)  # another thread reads the same free key meanwhile
        with self._cond:
            if not self.push(queue, task_id, payload, delay):
                return False, ""
            self._queue(queue).unique[key] = (task_id, mode, self.now() + max(delay, 0.0) + window)
            return True, ""


class TickPushedTwice(LocmemBackend):
    """``push_tick`` trusts the derived task id alone: a tick that already ran is enqueued again."""

    def push_tick(
        self, queue: str, schedule: str, tick: float, task_id: str, payload: str, about: str
    ) -> bool:
        if not self.push(queue, task_id, payload):
            return False
        with self._cond:
            self._schedules[(queue, schedule)] = (tick, about)
        return True


class LimitCountedPerProcess(LocmemBackend):
    """Counts rates and slots in the client, not the store: each worker process allows the whole limit."""

    def __init__(self, conn_string: str = "locmem://") -> None:
        super().__init__(conn_string)
        self._limits = LimitTables()


class SlotNeverFreed(LocmemBackend):
    """Counts every holder of a slot until it is given back: a killed worker's slot never comes back."""

    def _live_slots(self, key: str, now: float) -> dict[str, float]:
        return self._limits.slots.setdefault(key, {})


class WaitWithoutBooking(LocmemBackend):
    """Says how long until the next free slot but books none: every waiting task comes back at once."""

    def take_rate(self, key: str, holder: str, count: int, per: float) -> float:
        with self._cond:
            before = self._limits.rates.get(key)
            wait = super().take_rate(key, holder, count, per)
            if wait > 0:
                self._limits.bookings.get(key, {}).pop(holder, None)
                if before is None:
                    self._limits.rates.pop(key, None)
                else:
                    self._limits.rates[key] = before
            return wait
