"""locmem's optional capabilities, on top of its required part: every one of :mod:`alligator.capabilities`.

Results kept with the ack, listing them and waiting for them; waking on
several queues; inspection and dead-letter administration; the registry of
live workers; pauses; unique keys (:mod:`alligator_locmem.unique`); schedule
records (:mod:`alligator_locmem.scheduling`); rate limits and concurrency
slots per key (:mod:`alligator_locmem.limiting`); diagnosis; priority within
a queue (reserve moves the tasks that came due to a heap ordered by priority,
then due time).
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Sequence
from dataclasses import replace

from alligator.backend import (
    Ack,
    DeadLetter,
    Finished,
    QueueCounts,
    Reservation,
    TaskInfo,
    check_page,
    check_window,
)
from alligator.constants import SUCCESS
from alligator.pausing import check_target, listed
from alligator.priority_store import check_items
from alligator_locmem.limiting import LocmemLimiting
from alligator_locmem.scheduling import SchedulingLocmem
from alligator_locmem.store import _cut_id, _Entry, _listed, _Queue, _unreadable
from alligator_locmem.unique import UniqueLocmem


class LocmemBackend(LocmemLimiting, UniqueLocmem, SchedulingLocmem):
    """Queues in this process's memory, with every capability; see :mod:`alligator_locmem`."""

    # -- results ---------------------------------------------------------

    def ack_results(self, queue: str, acks: Sequence[Ack]) -> int:
        with self._cond:
            q = self._queue(queue)
            now = self.now()
            self._drop_old_results(q, now)
            done = 0
            for item in acks:
                if self._held(q, item.task_id, item.receipt) is None:
                    continue
                # The ack and its result in one step, under the store's lock.
                del q.reserved[item.task_id]
                if item.result is not None:
                    until = now + item.result_ttl
                    q.results[item.task_id] = (item.result, until, now)
                    heapq.heappush(q.result_ends, (until, item.task_id))
                self._finish(q, item.task_id, SUCCESS, now)
                done += 1
            return done

    @staticmethod
    def _drop_old_results(q: _Queue, now: float) -> None:
        while q.result_ends and q.result_ends[0][0] <= now:
            until, task_id = heapq.heappop(q.result_ends)
            kept = q.results.get(task_id)
            # A newer result of the same id has an end of its own.
            if kept is not None and kept[1] == until:
                del q.results[task_id]

    def finished(self, queue: str, task_id: str) -> Finished | None:
        with self._cond:
            return self._finished(self._queue(queue), task_id)

    def succeeded(self, queue: str, offset: int = 0, limit: int = 100) -> list[Finished]:
        check_window(offset, limit)
        with self._cond:
            q = self._queue(queue)
            now = self.now()
            self._reclaim_expired(q, now)
            horizon = now - self.status_ttl
            # What status() says SUCCESS for: acked within the TTL, not live again.
            done = sorted(
                (
                    (at, task_id.encode("utf-8", "surrogatepass"), task_id)
                    for task_id, (status, at) in q.finished.items()
                    if status == SUCCESS
                    and at >= horizon
                    and task_id not in q.waiting
                    and task_id not in q.reserved
                ),
                reverse=True,
            )
            page = [self._finished(q, task_id) for _, _, task_id in done[offset : offset + limit]]
        return [found for found in page if found is not None]

    def wait_finished(self, queue: str, task_id: str, timeout: float) -> Finished | None:
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._cond:
            while True:
                # finished(), not its insides: a subclass that overrides it is
                # waited for by it (the lock is reentrant).
                found = self.finished(queue, task_id)
                remaining = deadline - time.monotonic()
                if found is not None or remaining <= 0:
                    return found
                self._done.wait(remaining)

    # -- several queues --------------------------------------------------

    def _next_due(self, queues: Sequence[str], now: float) -> float | None:
        """The earliest due time among the queues' waiting and delayed tasks; the caller holds the lock."""
        ends = []
        for name in queues:
            q = self._queue(name)
            self._reclaim_expired(q, now)
            self._prune_ready(q)
            if q.ready:
                ends.append(q.ready[0][1])
            if q.heap:
                ends.append(q.heap[0][0])
        return min(ends, default=None)

    def reserve_first(
        self, queues: Sequence[str], lease_seconds: float, limit: int = 1, timeout: float = 0.0
    ) -> tuple[str, list[Reservation]]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for name in queues:
                    taken = self._take_due(self._queue(name), lease_seconds, limit)
                    if taken:
                        return name, taken
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return "", []
                self._wait_for_work(queues, remaining)

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                next_due = self._next_due(queues, self.now())
                if next_due is not None and next_due <= self.now():
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._wait_for_work(queues, remaining)

    def _wait_for_work(self, queues: Sequence[str], remaining: float) -> None:
        """Sleeps until a push, release or requeue, a delay's end, or ``remaining`` seconds; lock held."""
        next_due = self._next_due(queues, self.now())
        # A skipped heap entry (cancelled, taken by get) may wake it early: harmless.
        until_due = next_due - self.now() if next_due is not None else remaining
        self._cond.wait(min(remaining, max(until_due, 0.001)))

    # -- priority within a queue -----------------------------------------

    def push_prioritized(self, queue: str, items: Sequence[tuple[str, str, float, int]]) -> int:
        # Everything is checked before the first task is added, as push_many does.
        check_items(items)
        for _, payload, _, _ in items:
            if not payload.isascii():
                payload.encode("utf-8")
        with self._cond:
            return sum(
                1
                for task_id, payload, delay, priority in items
                if self._push(queue, task_id, payload, delay, priority)
            )

    # -- live workers ----------------------------------------------------

    def heartbeat(self, worker_id: str, record: str, ttl: float) -> None:
        with self._cond:
            now = self.now()
            self._workers.pop(worker_id, None)
            self._workers[worker_id] = (record, now, now + ttl)
            self._expire_workers(now)
            while len(self._workers) > self.max_workers:
                oldest = min(self._workers, key=lambda worker: self._workers[worker][1])
                del self._workers[oldest]

    def _expire_workers(self, now: float) -> None:
        for worker, (_, _, until) in list(self._workers.items()):
            if until <= now:
                del self._workers[worker]

    def forget_worker(self, worker_id: str) -> bool:
        with self._cond:
            return self._workers.pop(worker_id, None) is not None

    def worker_records(self) -> list[tuple[str, str]]:
        with self._cond:
            self._expire_workers(self.now())
            listed = sorted(self._workers.items(), key=lambda item: item[1][1])
        # A record too long or not UTF-8 is skipped, never handed out.
        limit = self.max_payload_bytes
        return [(worker, record) for worker, (record, _, _) in listed if _unreadable(record, limit) is None]

    # -- pausing ---------------------------------------------------------

    def set_paused(self, kind: str, name: str, paused: bool) -> bool:
        check_target(kind, name)
        with self._cond:
            entry = (kind, name)
            if paused == (entry in self._paused):
                return False
            if paused and len(self._paused) >= self.max_pauses:
                raise ValueError(f"this store keeps at most {self.max_pauses} pauses; resume some first")
            (self._paused.add if paused else self._paused.discard)(entry)
            return True

    def paused(self) -> list[tuple[str, str]]:
        with self._cond:
            entries = list(self._paused)
        return listed(entries, self.max_pauses)

    # -- deployment checks -----------------------------------------------

    def task_loss_risks(self) -> list[tuple[str, str]]:
        """None to report at enqueue: the store lives and dies with this process, as :meth:`diagnose` says."""
        return []

    def diagnose(self) -> list[tuple[str, str, str]]:
        """Always one warning: a locmem store is lost with its process and seen by no other."""
        return [
            (
                "warning",
                "locmem keeps tasks in this process's memory only: they are lost when it exits, "
                "and workers in other processes never see them",
                "use sqlite:// or redis:// for tasks that must survive a restart or reach other processes",
            )
        ]

    # -- inspecting and managing ----------------------------------------

    # -- inspecting and managing ----------------------------------------

    def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        with self._cond:
            q = self._queue(queue)
            self._retain(q, self.now())
            letters = list(q.dead.values())[: max(limit, 0)]
        return [
            replace(
                d,
                task_id=_cut_id(d.task_id, self.max_task_id_bytes),
                payload=_listed(d.payload, self.max_payload_bytes),
            )
            for d in letters
        ]

    def requeue(self, queue: str, task_id: str) -> bool:
        with self._cond:
            q = self._queue(queue)
            if task_id in q.waiting or task_id in q.reserved:
                # Only a hand-made store can hold an id live and dead at
                # once; keep both rather than overwrite or drop one.
                return False
            letter = q.dead.pop(task_id, None)
            if letter is None:
                return False
            q.finished.pop(task_id, None)
            q.results.pop(task_id, None)
            priority = q.dead_priorities.pop(task_id, 0)
            self._enqueue(q, task_id, _Entry(letter.payload, 0.0, 0, priority=priority), self.now())
            return True

    def queues(self) -> list[str]:
        with self._cond:
            return sorted(name for name, q in self._queues.items() if q.waiting or q.reserved or q.dead)

    def finished_queues(self) -> list[str]:
        with self._cond:
            return sorted(name for name, q in self._queues.items() if q.finished or q.results)

    def counts(self, queue: str) -> QueueCounts:
        with self._cond:
            q = self._queue(queue)
            now = self.now()
            self._reclaim_expired(q, now)
            delayed = sum(1 for entry in q.waiting.values() if entry.due > now)
            # Letters past their time are not counted: listing would drop them.
            horizon = now - self.dead_letter_ttl
            dead = sum(1 for letter in q.dead.values() if letter.failed_at >= horizon)
            return QueueCounts(len(q.waiting) - delayed, delayed, len(q.reserved), dead)

    def tasks(self, queue: str, state: str, offset: int = 0, limit: int = 100) -> list[TaskInfo]:
        check_page(state, offset, limit)
        max_bytes = self.max_payload_bytes
        with self._cond:
            q = self._queue(queue)
            now = self.now()
            self._reclaim_expired(q, now)
            if state == "dead":
                self._retain(q, now)
                letters = list(q.dead.values())[offset : offset + limit]
                return [
                    TaskInfo(
                        d.task_id,
                        state,
                        _listed(d.payload, max_bytes),
                        d.attempts,
                        0,
                        None,
                        d.reason,
                        d.failed_at,
                    )
                    for d in letters
                ]
            if state == "running":
                chosen = sorted(q.reserved.items(), key=lambda item: (item[1].lease_end, item[1].seq))
                due = [(task_id, entry, entry.lease_end) for task_id, entry in chosen]
            elif state == "delayed":
                chosen = sorted(q.waiting.items(), key=lambda item: (item[1].due, item[1].seq))
                due = [(i, e, e.due) for i, e in chosen if e.due > now]
            else:
                # As reserve takes them: the highest priority first, then by due time.
                chosen = sorted(
                    q.waiting.items(), key=lambda item: (-item[1].priority, item[1].due, item[1].seq)
                )
                due = [(i, e, e.due) for i, e in chosen if e.due <= now]
            return [
                TaskInfo(
                    task_id,
                    state,
                    _listed(entry.payload, max_bytes),
                    entry.attempts,
                    entry.failures,
                    at,
                    priority=entry.priority,
                )
                for task_id, entry, at in due[offset : offset + limit]
            ]

    def delete_dead(self, queue: str, task_id: str) -> bool:
        with self._cond:
            return self._forget_dead(self._queue(queue), task_id)

    def purge_dead(self, queue: str) -> int:
        with self._cond:
            q = self._queue(queue)
            return sum(1 for task_id in list(q.dead) if self._forget_dead(q, task_id))

    def requeue_all(self, queue: str) -> int:
        with self._cond:
            q = self._queue(queue)
            return sum(1 for task_id in list(q.dead) if self.requeue(queue, task_id))
