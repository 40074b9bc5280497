"""A plainly correct backend of the whole contract, and variants that each break one rule.

:class:`ReferenceBackend` keeps every rule of :class:`alligator.backend.Backend`
in the most direct way (a lock, three dicts per queue, a scan for the next
due task), so a reader can check it against the docstrings line by line. It
is slow on long queues and keeps nothing across processes: it exists so the
kit can be proven against something known to be right, and against the
broken variants below, each of which reproduces one bug a real backend had
or could have.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from alligator import reasons
from alligator.backend import (
    Ack,
    Backend,
    DeadLetter,
    Finished,
    QueueCounts,
    Reservation,
    TaskInfo,
    check_page,
    check_window,
)
from alligator.constants import DELAYED, FAILED, RUNNING, SUCCESS, WAITING


@dataclass
class _Task:
    payload: str
    due: float
    seq: int
    attempts: int = 0
    failures: int = 0
    receipt: str = ""
    # None while waiting or delayed; the lease's end while reserved.
    lease_end: float | None = None


@dataclass
class _Queue:
    live: dict[str, _Task] = field(default_factory=dict)
    dead: dict[str, DeadLetter] = field(default_factory=dict)
    finished: dict[str, tuple[int, float]] = field(default_factory=dict)
    # task_id -> (result, kept until, acked at), for acks that kept a result.
    results: dict[str, tuple[str, float, float]] = field(default_factory=dict)


@dataclass
class _Store:
    lock: threading.RLock = field(default_factory=threading.RLock)
    queues: dict[str, _Queue] = field(default_factory=dict)
    seq: itertools.count[int] = field(default_factory=itertools.count)
    # worker_id -> (record, last heartbeat, kept until): one registry per store.
    workers: dict[str, tuple[str, float, float]] = field(default_factory=dict)
    # Notified on the store's lock wherever work appears (push, release, requeue).
    work: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.work = threading.Condition(self.lock)


class ReferenceBackend(Backend):
    """Every rule of the contract, kept in the plainest way; a store of its own, or ``store``'s."""

    def __init__(self, conn_string: str = "reference://", store: _Store | None = None) -> None:
        super().__init__(conn_string)
        self._store = store if store is not None else _Store()
        # The store's lock, which every client of the store takes.
        self._lock = self._store.lock
        self._queues = self._store.queues
        self._seq = self._store.seq

    def another_client(self) -> ReferenceBackend:
        """A new instance of this class on the same store, as a second worker in this process opens it."""
        return type(self)(self.conn_string, self._store)

    # -- helpers ---------------------------------------------------------

    def _queue(self, name: str) -> _Queue:
        q = self._queues.setdefault(name, _Queue())
        now = self.now()
        for task in q.live.values():
            # An ended lease makes the task due again, at the lease's end.
            if task.lease_end is not None and task.lease_end <= now:
                task.due, task.seq = task.lease_end, next(self._seq)
                task.lease_end = None
        return q

    def _held(self, q: _Queue, task_id: str, receipt: str) -> _Task | None:
        task = q.live.get(task_id)
        if task is None or task.lease_end is None or task.receipt != receipt:
            return None
        return task

    def _finish(self, q: _Queue, task_id: str, status: int) -> None:
        now = self.now()
        q.finished.pop(task_id, None)
        q.finished[task_id] = (status, now)
        for old_id, (_, at) in list(q.finished.items()):
            if at >= now - self.status_ttl:
                break
            del q.finished[old_id]

    def _check_delay(self, delay: float) -> None:
        if not math.isfinite(delay):
            raise ValueError(f"a delay must be a finite number of seconds, not {delay!r}")

    def _stored(self, payload: str) -> bytes:
        # Planted records hold undecodable bytes as surrogate escapes, as locmem's do.
        return payload.encode("utf-8", "surrogateescape")

    def _refusal(self, payload: str, what: str = reasons.PAYLOAD) -> str | None:
        """Why a stored payload (or ``what``) cannot be handed out, or None when it can."""
        size = len(self._stored(payload))
        if size > self.max_payload_bytes:
            return reasons.too_large(what, size, self.max_payload_bytes)
        try:
            payload.encode("utf-8")
        except UnicodeEncodeError:
            return reasons.not_utf8(what)
        return None

    def _deliver(self, q: _Queue, task_id: str, lease_seconds: float) -> Reservation | None:
        task = q.live[task_id]
        task.attempts += 1
        refusal = self._refusal(task.payload)
        if refusal is not None:
            del q.live[task_id]
            self._bury(q, task_id, task, refusal)
            return None
        task.receipt = self._new_receipt(task_id, task)
        task.lease_end = self.now() + lease_seconds
        return Reservation(task_id, task.payload, task.receipt, task.attempts, task.failures)

    def _bury(self, q: _Queue, task_id: str, task: _Task, reason: str) -> None:
        now = self.now()
        q.dead[task_id] = DeadLetter(task_id, task.payload, reason, task.attempts, now)
        self._finish(q, task_id, FAILED)
        self._retain(q, now)

    def _retain(self, q: _Queue, now: float) -> None:
        # Retention: first every letter past its time, then the oldest over the cap.
        for old_id, letter in list(q.dead.items()):
            if letter.failed_at < now - self.dead_letter_ttl:
                self._forget_dead(q, old_id)
        while len(q.dead) > self.max_dead_letters:
            self._forget_dead(q, next(iter(q.dead)))

    def _forget_dead(self, q: _Queue, task_id: str) -> bool:
        if q.dead.pop(task_id, None) is None:
            return False
        if q.finished.get(task_id, (None,))[0] == FAILED:
            del q.finished[task_id]
        return True

    def _new_receipt(self, task_id: str, task: _Task) -> str:
        return uuid.uuid4().hex

    def _add(self, q: _Queue, task_id: str, payload: str, due: float) -> None:
        # A pushed id's old status and result are forgotten together.
        q.finished.pop(task_id, None)
        q.results.pop(task_id, None)
        q.live[task_id] = _Task(payload, due, next(self._seq))

    def plant(self, queue: str, task_id: str, data: bytes) -> None:
        """Writes a waiting task with these exact payload bytes, bypassing :meth:`push`'s checks."""
        with self._lock:
            q = self._queue(queue)
            q.live.pop(task_id, None)
            self._add(q, task_id, data.decode("utf-8", "surrogateescape"), self.now())

    def plant_result(self, queue: str, task_id: str, data: bytes) -> None:
        """Replaces a kept result by these exact bytes, leaving its TTL alone."""
        with self._lock:
            q = self._queue(queue)
            _, until, at = q.results[task_id]
            q.results[task_id] = (data.decode("utf-8", "surrogateescape"), until, at)

    # -- producing -------------------------------------------------------

    def push(self, queue: str, task_id: str, payload: str, delay: float = 0.0) -> bool:
        self._check_delay(delay)
        payload.encode("utf-8")  # a lone surrogate raises UnicodeEncodeError, a ValueError
        with self._lock:
            q = self._queue(queue)
            if task_id in q.live or task_id in q.dead:
                return False
            self._add(q, task_id, payload, self.now() + max(delay, 0.0))
            return True

    def push_many(self, queue: str, items: Sequence[tuple[str, str, float]]) -> int:
        for _, payload, delay in items:
            self._check_delay(delay)
            payload.encode("utf-8")
        with self._lock:
            return sum(1 for task_id, payload, delay in items if self.push(queue, task_id, payload, delay))

    # -- consuming -------------------------------------------------------

    def reserve(
        self, queue: str, lease_seconds: float, limit: int = 1, timeout: float = 0.0
    ) -> list[Reservation]:
        with self._lock:
            q = self._queue(queue)
            now = self.now()
            due = sorted(
                (task.due, task.seq, task_id)
                for task_id, task in q.live.items()
                if task.lease_end is None and task.due <= now
            )
            taken: list[Reservation] = []
            for _, _, task_id in due:
                if len(taken) == limit:
                    break
                reservation = self._deliver(q, task_id, lease_seconds)
                if reservation is not None:
                    taken.append(reservation)
            return taken

    def ack(self, queue: str, task_id: str, receipt: str) -> bool:
        with self._lock:
            q = self._queue(queue)
            if self._held(q, task_id, receipt) is None:
                return False
            del q.live[task_id]
            self._finish(q, task_id, SUCCESS)
            return True

    def ack_results(self, queue: str, acks: Sequence[Ack]) -> int:
        with self._lock:
            return sum(1 for item in acks if self._ack_result(queue, item))

    def _ack_result(self, queue: str, item: Ack) -> bool:
        """One ack and its result, in one step under the store's lock."""
        if not self.ack(queue, item.task_id, item.receipt):
            return False
        self._keep_result(self._queue(queue), item)
        return True

    def _keep_result(self, q: _Queue, item: Ack) -> None:
        now = self.now()
        for old_id, (_, until, _) in list(q.results.items()):
            if until <= now:
                del q.results[old_id]
        if item.result is not None:
            q.results[item.task_id] = (item.result, now + item.result_ttl, now)

    def _result_refusal(self, result: str) -> str | None:
        """Why a stored result cannot be handed out, or None when it can."""
        return self._refusal(result, reasons.RESULT)

    def finished(self, queue: str, task_id: str) -> Finished | None:
        with self._lock:
            q = self._queue(queue)
            now = self.now()
            if task_id in q.live:
                return None
            letter = q.dead.get(task_id)
            if letter is not None:
                # Past its time a letter is gone for every reader, dropped yet or not.
                if letter.failed_at < now - self.dead_letter_ttl:
                    return None
                return Finished(task_id, FAILED, None, letter.reason, letter.failed_at)
            kept = q.results.get(task_id)
            if kept is not None and kept[1] > now:
                refusal = self._result_refusal(kept[0])
                return Finished(task_id, SUCCESS, None if refusal else kept[0], refusal, kept[2])
            status = q.finished.get(task_id)
            if status is not None and status[0] == SUCCESS and status[1] >= now - self.status_ttl:
                return Finished(task_id, SUCCESS, None, None, status[1])
            return None

    def finished_queues(self) -> list[str]:
        with self._lock:
            return sorted(name for name, q in self._queues.items() if q.finished or q.results)

    def succeeded(self, queue: str, offset: int = 0, limit: int = 100) -> list[Finished]:
        check_window(offset, limit)
        with self._lock:
            q = self._queue(queue)
            # Exactly what status() calls SUCCESS, newest first, the greater id first on a tie.
            listed = sorted(
                (
                    (at, task_id.encode("utf-8", "surrogatepass"), task_id)
                    for task_id, (_, at) in q.finished.items()
                ),
                reverse=True,
            )
            chosen = [task_id for _, _, task_id in listed if self.status(queue, task_id) == SUCCESS]
            page = [self.finished(queue, task_id) for task_id in chosen[offset : offset + limit]]
        return [found for found in page if found is not None]

    def release(
        self, queue: str, task_id: str, receipt: str, delay: float = 0.0, attempted: bool = True
    ) -> bool:
        self._check_delay(delay)
        with self._lock:
            q = self._queue(queue)
            task = self._held(q, task_id, receipt)
            if task is None:
                return False
            self._count_release(task, attempted)
            task.lease_end, task.receipt = None, ""
            task.due, task.seq = self.now() + max(delay, 0.0), next(self._seq)
            return True

    def _count_release(self, task: _Task, attempted: bool) -> None:
        if attempted:
            task.failures += 1
        else:
            task.attempts -= 1

    def extend(self, queue: str, task_id: str, receipt: str, lease_seconds: float) -> bool:
        with self._lock:
            task = self._held(self._queue(queue), task_id, receipt)
            if task is None:
                return False
            task.lease_end = self.now() + lease_seconds
            return True

    def dead_letter(self, queue: str, task_id: str, receipt: str, reason: str) -> bool:
        with self._lock:
            q = self._queue(queue)
            task = self._held(q, task_id, receipt)
            if task is None:
                return False
            del q.live[task_id]
            self._bury(q, task_id, task, reason)
            return True

    # -- inspecting and managing ----------------------------------------

    def get(self, queue: str, task_id: str, lease_seconds: float) -> Reservation | None:
        with self._lock:
            q = self._queue(queue)
            task = q.live.get(task_id)
            if task is None or task.lease_end is not None:
                return None
            return self._deliver(q, task_id, lease_seconds)

    def peek(self, queue: str, task_id: str) -> str | None:
        with self._lock:
            task = self._queue(queue).live.get(task_id)
            if task is None or self._refusal(task.payload) is not None:
                return None
            return task.payload

    def cancel(self, queue: str, task_id: str) -> bool:
        with self._lock:
            q = self._queue(queue)
            task = q.live.get(task_id)
            if task is None or task.lease_end is not None:
                return False
            del q.live[task_id]
            return True

    def status(self, queue: str, task_id: str) -> int | None:
        with self._lock:
            q = self._queue(queue)
            task = q.live.get(task_id)
            if task is not None:
                if task.lease_end is not None:
                    return RUNNING
                return DELAYED if task.due > self.now() else WAITING
            # What finished() says: a dead letter or a kept result keeps its status.
            found = self.finished(queue, task_id)
            if found is not None or task_id in q.dead:
                return None if found is None else found.status
            finished = q.finished.get(task_id)
            if finished is None or finished[1] < self.now() - self.status_ttl:
                return None
            return finished[0]

    def len(self, queue: str) -> int:
        with self._lock:
            return sum(1 for task in self._queue(queue).live.values() if task.lease_end is None)

    def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        with self._lock:
            q = self._queue(queue)
            self._retain(q, self.now())
            letters = list(q.dead.values())[:limit]
            return [self._listed(letter) for letter in letters]

    def _listed(self, letter: DeadLetter) -> DeadLetter:
        stored = self._stored(letter.payload)[: self.max_payload_bytes]
        payload = stored.decode("utf-8", "replace")
        return DeadLetter(letter.task_id, payload, letter.reason, letter.attempts, letter.failed_at)

    def requeue(self, queue: str, task_id: str) -> bool:
        with self._lock:
            q = self._queue(queue)
            if task_id not in q.dead or task_id in q.live:
                return False
            letter = q.dead.pop(task_id)
            self._add(q, task_id, letter.payload, self.now())
            return True

    def queues(self) -> list[str]:
        with self._lock:
            return sorted(name for name, q in self._queues.items() if q.live or q.dead)

    def counts(self, queue: str) -> QueueCounts:
        with self._lock:
            return QueueCounts(
                *(len(self._in_state(queue, state)) for state in ("waiting", "delayed", "running", "dead"))
            )

    def _in_state(self, queue: str, state: str) -> list[TaskInfo]:
        """Every task of the queue in that state, in the order the contract lists them."""
        q = self._queue(queue)
        now = self.now()
        if state == "dead":
            self._retain(q, now)
            return [
                TaskInfo(
                    d.task_id, state, self._listed(d).payload, d.attempts, 0, None, d.reason, d.failed_at
                )
                for d in q.dead.values()
            ]
        found = []
        for task_id, task in q.live.items():
            if task.lease_end is not None:
                key, at, here = (task.lease_end, task.seq), task.lease_end, "running"
            else:
                key, at, here = (task.due, task.seq), task.due, "delayed" if task.due > now else "waiting"
            if here == state:
                payload = self._stored(task.payload)[: self.max_payload_bytes].decode("utf-8", "replace")
                found.append((key, TaskInfo(task_id, state, payload, task.attempts, task.failures, at)))
        return [info for _, info in sorted(found, key=lambda pair: pair[0])]

    def tasks(self, queue: str, state: str, offset: int = 0, limit: int = 100) -> list[TaskInfo]:
        check_page(state, offset, limit)
        with self._lock:
            return self._in_state(queue, state)[offset : offset + limit]

    def delete_dead(self, queue: str, task_id: str) -> bool:
        with self._lock:
            return self._forget_dead(self._queue(queue), task_id)

    def purge_dead(self, queue: str) -> int:
        with self._lock:
            q = self._queue(queue)
            return sum(1 for task_id in list(q.dead) if self._forget_dead(q, task_id))

    def requeue_all(self, queue: str) -> int:
        with self._lock:
            return sum(1 for task_id in list(self._queue(queue).dead) if self.requeue(queue, task_id))

    # -- live workers ----------------------------------------------------

    def heartbeat(self, worker_id: str, record: str, ttl: float) -> None:
        with self._lock:
            now = self.now()
            workers = self._store.workers
            workers.pop(worker_id, None)
            workers[worker_id] = (record, now, now + ttl)
            self._expire_workers(now)
            while len(workers) > self.max_workers:
                oldest = min(workers, key=lambda worker: workers[worker][1])
                del workers[oldest]

    def _expire_workers(self, now: float) -> None:
        workers = self._store.workers
        for worker, (_, _, until) in list(workers.items()):
            if until <= now:
                del workers[worker]

    def forget_worker(self, worker_id: str) -> bool:
        with self._lock:
            return self._store.workers.pop(worker_id, None) is not None

    def worker_records(self) -> list[tuple[str, str]]:
        with self._lock:
            self._expire_workers(self.now())
            listed = sorted(self._store.workers.items(), key=lambda item: item[1][1])
            return [(worker, record) for worker, (record, _, _) in listed if self._refusal(record) is None]

    def diagnose(self) -> list[tuple[str, str, str]]:
        return [("ok", "the reference store lives in this process only", "nothing: it proves the kit")]

    def drop_all(self, queue: str) -> None:
        with self._lock:
            self._queues.pop(queue, None)


class BlockingReferenceBackend(ReferenceBackend):
    """The reference, whose ``reserve`` and ``wait_for_work`` wait for work instead of returning at once.

    A condition on the store's lock is notified wherever work appears (a
    push, a release, a requeue), so a waiting call wakes for any client's
    work, in any queue.
    """

    blocking_reserve = True

    def _add(self, q: _Queue, task_id: str, payload: str, due: float) -> None:
        super()._add(q, task_id, payload, due)
        self._notify_work()

    def release(
        self, queue: str, task_id: str, receipt: str, delay: float = 0.0, attempted: bool = True
    ) -> bool:
        with self._lock:
            released = super().release(queue, task_id, receipt, delay, attempted)
            if released:
                self._notify_work()
            return released

    def _notify_work(self) -> None:
        with self._store.work:
            self._store.work.notify_all()

    def _has_due(self, queue: str) -> bool:
        q, now = self._queue(queue), self.now()
        return any(task.lease_end is None and task.due <= now for task in q.live.values())

    def reserve(
        self, queue: str, lease_seconds: float, limit: int = 1, timeout: float = 0.0
    ) -> list[Reservation]:
        deadline = time.monotonic() + timeout
        with self._store.work:
            while True:
                taken = super().reserve(queue, lease_seconds, limit)
                remaining = deadline - time.monotonic()
                if taken or remaining <= 0:
                    return taken
                # Short naps too: a delay or a lease may end meanwhile.
                self._store.work.wait(min(remaining, 0.05))

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._store.work:
            while True:
                if any(self._has_due(queue) for queue in queues):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._store.work.wait(min(remaining, 0.05))
