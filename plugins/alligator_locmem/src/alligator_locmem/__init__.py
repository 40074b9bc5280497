"""An in-process, thread-safe backend: the reference implementation of the contract.

``Gator("locmem://")`` keeps every queue in a dict of this process; every
backend built from the same DSN in one process shares it (``locmem://`` is
one store, ``locmem://other`` another). Nothing survives the process and
nothing crosses to another one, so it serves
development, tests and single-process scripts. It is also the backend to read
first when writing one of your own: every rule of
:class:`alligator.backend.Backend` is kept here in the plainest way.

It stores ``str`` payloads, so "bytes" mean UTF-8 bytes here: a payload's
size is its length in UTF-8, and one UTF-8 cannot encode (a lone surrogate)
is not valid UTF-8 (every reason's text is in :mod:`alligator.reasons`).
:meth:`~alligator.backend.Backend.push` refuses such a payload with
``ValueError``; one planted in the store by hand (as a test does) is
dead-lettered by :meth:`~alligator.backend.Backend.reserve`, like a
record of bad bytes in any other store. Likewise a task id is measured in
UTF-8 bytes against :attr:`~alligator.backend.Backend.max_task_id_bytes`: one over it
(only a hand-planted one can be) is dead-lettered under its id cut to the
limit, as every backend does (C8).

Results are kept with the ack, under the store's lock, for their
``result_ttl`` on the backend's clock; :meth:`~alligator.capabilities.ResultWaiting.wait_finished`
and :meth:`~alligator.capabilities.Waking.wait_for_work` are woken by a condition the acks,
dead letters, pushes, releases and requeues notify, so neither polls. The
registry of live workers is one per store, bounded by its TTLs and by
:attr:`~alligator.backend.Backend.max_workers`, and so is the set of pauses. :meth:`LocmemBackend.diagnose`
always warns: what a locmem store holds is gone when its process exits.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

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
from alligator.pausing import check_target, listed

__all__ = ["LocmemBackend"]
__version__ = "1.0.0"


@dataclass
class _Entry:
    payload: str
    due: float
    seq: int
    attempts: int = 0
    receipt: str = ""
    lease_end: float = 0.0
    failures: int = 0


@dataclass
class _Queue:
    # (due, seq, task_id) for every waiting or delayed task; entries whose
    # seq no longer matches were cancelled or taken by get(), and are skipped.
    heap: list[tuple[float, int, str]] = field(default_factory=list)
    waiting: dict[str, _Entry] = field(default_factory=dict)
    reserved: dict[str, _Entry] = field(default_factory=dict)
    dead: dict[str, DeadLetter] = field(default_factory=dict)
    finished: dict[str, tuple[int, float]] = field(default_factory=dict)
    # task_id -> (result, kept until, acked at) for acks that kept a result,
    # and (kept until, task_id) for each, to drop the old ones without a scan.
    results: dict[str, tuple[str, float, float]] = field(default_factory=dict)
    result_ends: list[tuple[float, str]] = field(default_factory=list)


class _Store:
    def __init__(self) -> None:
        self.queues: dict[str, _Queue] = {}
        self.seq = itertools.count()
        # One lock guards everything: simple, and the work under it is tiny.
        # Two conditions on it, so an ack wakes those waiting for a finish
        # and a push those waiting for work, not every waiter each time.
        lock = threading.RLock()
        self.cond = threading.Condition(lock)
        self.done = threading.Condition(lock)
        # worker_id -> (record, last heartbeat, kept until); one per store.
        self.workers: dict[str, tuple[str, float, float]] = {}
        # The paused (kind, name) pairs; one set per store.
        self.paused: set[tuple[str, str]] = set()


_STORES: dict[str, _Store] = {}
_STORES_LOCK = threading.Lock()


def _check_delay(delay: float) -> None:
    if not math.isfinite(delay):
        raise ValueError(f"a delay must be a finite number of seconds, not {delay!r}")


def _stored_bytes(payload: str) -> tuple[bytes, bool]:
    """The bytes a payload stands for, and whether it is valid UTF-8.

    A lone surrogate that ``decode("utf-8", "surrogateescape")`` made of a
    bad byte stands for that byte; any other stands for its own encoding.
    """
    if payload.isascii():
        return payload.encode("ascii"), True
    try:
        return payload.encode("utf-8"), True
    except UnicodeEncodeError:
        pass
    try:
        return payload.encode("utf-8", "surrogateescape"), False
    except UnicodeEncodeError:
        return payload.encode("utf-8", "surrogatepass"), False


def _unreadable(payload: str, max_bytes: int, what: str = reasons.PAYLOAD) -> str | None:
    """Why reserve must not hand this text out (the C1 reasons), or None when it may."""
    if payload.isascii() and len(payload) <= max_bytes:
        return None  # the common case, without encoding anything
    data, valid = _stored_bytes(payload)
    # A text UTF-8 cannot encode is read as its surrogates' own bytes, which
    # strict UTF-8 refuses (escaped bytes could happen to form a valid sequence).
    raw = data if valid else payload.encode("utf-8", "surrogatepass")
    try:
        reasons.decode(what, len(data), raw, max_bytes)
    except reasons.Unreadable as unreadable:
        return str(unreadable)
    return None


def _id_size(task_id: str) -> int:
    """A task id's size in UTF-8 bytes (the bytes it stands for, as for payloads)."""
    return len(task_id) if task_id.isascii() else len(_stored_bytes(task_id)[0])


def _cut_id(task_id: str, max_bytes: int) -> str:
    """An id as a dead letter keeps and lists it: its first ``max_bytes`` bytes, decoded leniently (C8)."""
    # A char takes at most 4 bytes: a short id needs no encoding at all.
    if len(task_id) * 4 <= max_bytes or _id_size(task_id) <= max_bytes:
        return task_id
    return _stored_bytes(task_id)[0][:max_bytes].decode("utf-8", "replace")


def _listed(payload: str, max_bytes: int) -> str:
    """A dead letter's payload as listed: cut to the limit, bad bytes as U+FFFD."""
    if payload.isascii() and len(payload) <= max_bytes:
        return payload
    return _stored_bytes(payload)[0][:max_bytes].decode("utf-8", "replace")


class LocmemBackend(Backend):
    """Queues in this process's memory; see the module docstring."""

    blocking_reserve = True

    def __init__(self, conn_string: str = "locmem://") -> None:
        super().__init__(conn_string)
        with _STORES_LOCK:
            store = _STORES.setdefault(conn_string.rstrip("/"), _Store())
        self._queues = store.queues
        self._seq = store.seq
        self._cond = store.cond
        self._done = store.done
        self._workers = store.workers
        self._paused = store.paused

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
        # Forget statuses older than the TTL, oldest first (dicts keep order).
        horizon = now - self.status_ttl
        for old_id, (_, at) in list(q.finished.items()):
            if at >= horizon:
                break
            del q.finished[old_id]

    def _held(self, q: _Queue, task_id: str, receipt: str) -> _Entry | None:
        self._reclaim_expired(q, self.now())
        entry = q.reserved.get(task_id)
        if entry is None or entry.receipt != receipt:
            return None
        return entry

    # -- producing -------------------------------------------------------

    def push(self, queue: str, task_id: str, payload: str, delay: float = 0.0) -> bool:
        _check_delay(delay)
        if not payload.isascii():
            # Refused as the other stores refuse it: UTF-8 cannot encode it.
            payload.encode("utf-8")
        with self._cond:
            q = self._queue(queue)
            if task_id in q.waiting or task_id in q.reserved or task_id in q.dead:
                return False
            # A pushed id's old status and result are forgotten together.
            q.finished.pop(task_id, None)
            q.results.pop(task_id, None)
            self._enqueue(q, task_id, _Entry(payload, 0.0, 0), self.now() + max(delay, 0.0))
            return True

    def push_many(self, queue: str, items: Sequence[tuple[str, str, float]]) -> int:
        # Everything is checked before the first task is added: all or nothing.
        for _, payload, delay in items:
            _check_delay(delay)
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

    def _take_due(self, q: _Queue, lease_seconds: float, limit: int) -> list[Reservation]:
        now = self.now()
        self._reclaim_expired(q, now)
        taken: list[Reservation] = []
        while q.heap and len(taken) < limit and q.heap[0][0] <= now:
            _, seq, task_id = heapq.heappop(q.heap)
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
        reason = _unreadable(entry.payload, self.max_payload_bytes)
        if reason is not None:
            self._bury(q, task_id, entry, reason)
            return None
        entry.receipt = uuid.uuid4().hex
        entry.lease_end = lease_end
        q.reserved[task_id] = entry
        return Reservation(task_id, entry.payload, entry.receipt, entry.attempts, entry.failures)

    def _bury(self, q: _Queue, task_id: str, entry: _Entry, reason: str) -> None:
        now = self.now()
        q.dead[task_id] = DeadLetter(task_id, entry.payload, reason, entry.attempts, now)
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
            reason = _unreadable(kept[0], self.max_payload_bytes, reasons.RESULT)
            if reason is not None:
                return Finished(task_id, SUCCESS, None, reason, kept[2])
            return Finished(task_id, SUCCESS, kept[0], None, kept[2])
        status = q.finished.get(task_id)
        if status is not None and status[0] == SUCCESS and status[1] >= now - self.status_ttl:
            return Finished(task_id, SUCCESS, None, None, status[1])
        return None

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

    def ack_many(self, queue: str, items: Sequence[tuple[str, str]]) -> int:
        with self._cond:
            return super().ack_many(queue, items)

    def release(
        self, queue: str, task_id: str, receipt: str, delay: float = 0.0, attempted: bool = True
    ) -> bool:
        _check_delay(delay)
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

    def _next_due(self, queues: Sequence[str], now: float) -> float | None:
        """The earliest due time among the queues' waiting and delayed tasks; the caller holds the lock."""
        ends = []
        for name in queues:
            q = self._queue(name)
            self._reclaim_expired(q, now)
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
            if entry is None or _unreadable(entry.payload, self.max_payload_bytes) is not None:
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
            self._enqueue(q, task_id, _Entry(letter.payload, 0.0, 0), self.now())
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
            else:
                chosen = sorted(q.waiting.items(), key=lambda item: (item[1].due, item[1].seq))
                due = [(i, e, e.due) for i, e in chosen if (e.due > now) == (state == "delayed")]
            return [
                TaskInfo(
                    task_id, state, _listed(entry.payload, max_bytes), entry.attempts, entry.failures, at
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

    def drop_all(self, queue: str) -> None:
        with self._cond:
            self._queues.pop(queue, None)
