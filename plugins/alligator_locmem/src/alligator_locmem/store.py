"""The data of a locmem store, and the rules of reading a record: its bytes, and when it is refused.

One ``_Store`` per DSN in this process, shared by every
:class:`~alligator_locmem.backend.LocmemBackend` built from it; one ``_Queue``
in it per queue name.
"""

from __future__ import annotations

import itertools
import math
import threading
from dataclasses import dataclass, field

from alligator import reasons
from alligator.backend import DeadLetter
from alligator_locmem.limiting import LimitTables


@dataclass
class _Entry:
    payload: str
    due: float
    seq: int
    attempts: int = 0
    receipt: str = ""
    lease_end: float = 0.0
    failures: int = 0
    priority: int = 0


@dataclass
class _Queue:
    # (due, seq, task_id) for every waiting or delayed task; entries whose
    # seq no longer matches were cancelled or taken by get(), and are skipped.
    heap: list[tuple[float, int, str]] = field(default_factory=list)
    # (-priority, due, seq, task_id) for each task that came due: reserve
    # moves due tasks from the heap here, so a task competes by priority
    # only once due. Stale entries are skipped as in the heap.
    ready: list[tuple[int, float, int, str]] = field(default_factory=list)
    waiting: dict[str, _Entry] = field(default_factory=dict)
    reserved: dict[str, _Entry] = field(default_factory=dict)
    dead: dict[str, DeadLetter] = field(default_factory=dict)
    # The priority of each dead letter whose task had one, for requeue.
    dead_priorities: dict[str, int] = field(default_factory=dict)
    finished: dict[str, tuple[int, float]] = field(default_factory=dict)
    # task_id -> (result, kept until, acked at) for acks that kept a result,
    # and (kept until, task_id) for each, to drop the old ones without a scan.
    results: dict[str, tuple[str, float, float]] = field(default_factory=dict)
    result_ends: list[tuple[float, str]] = field(default_factory=list)
    # unique key -> (holder's id, mode, held until), see alligator.unique_store.
    unique: dict[str, tuple[str, str, float]] = field(default_factory=dict)


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
        # (queue, schedule name) -> (last tick enqueued, about); object: tests plant bad ticks.
        self.schedules: dict[tuple[str, str], tuple[object, str]] = {}
        # Rate limits and concurrency slots per key; one set per store.
        self.limits = LimitTables()


_STORES: dict[str, _Store] = {}
_STORES_LOCK = threading.Lock()


def _store_of(conn_string: str) -> _Store:
    """The store a DSN names in this process, made on first use."""
    with _STORES_LOCK:
        return _STORES.setdefault(conn_string.rstrip("/"), _Store())


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
