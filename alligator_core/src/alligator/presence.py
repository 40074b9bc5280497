"""Live workers: the record each worker keeps in the store while it runs.

A worker writes its :class:`WorkerInfo` with :meth:`Backend.heartbeat
<alligator.capabilities.WorkerRegistry.heartbeat>` every :data:`HEARTBEAT_SECONDS`, kept
for :data:`WORKER_TTL` seconds: a worker that stops cleanly removes it, a
killed one vanishes when it expires. Until then its record is still listed:
:func:`is_stale` tells a record whose heartbeats stopped (the worker was
killed, hangs, or cannot write to the store) from a live one. Anyone who can
write to the store can write a record, so :func:`decode` checks every field,
within bounds a real worker never reaches (:data:`MAX_TIME`, :data:`MAX_COUNT`,
:data:`MAX_NAME_CHARS`, ...), and turns what it cannot read into None instead
of raising: one planted record cannot overflow a page, a chart or a sum.

:func:`known_queues` is the one list of queues the ``alligator info``
command, the dashboard and its ``/metrics`` show: the store's queues and the
queues live workers consume, so an empty queue a worker waits on stays listed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alligator.backend import Backend

#: Seconds between a worker's heartbeats.
HEARTBEAT_SECONDS = 5.0
#: Seconds a worker's record outlives its last heartbeat.
WORKER_TTL = 30.0
#: Seconds without a heartbeat after which a record is stale (three beats
#: missed), so a busy machine's late beat is not taken for a dead worker, while
#: a killed one is seen as such well before its record expires.
STALE_SECONDS = 3 * HEARTBEAT_SECONDS
#: Most running tasks one record lists (a worker's concurrency may be larger).
MAX_CURRENT = 100
#: Longest record read at all, in characters (a real one is a few kilobytes).
MAX_RECORD_CHARS = 256 * 1024
#: Longest worker id, host name and supervisor id (host names have at most 253).
MAX_NAME_CHARS = 300
#: Longest queue name, function name or task id in a record.
MAX_TEXT_CHARS = 1000
#: Latest time a record may hold, in seconds since the epoch (the year 2286).
MAX_TIME = 1e10
#: Largest count a record may hold (tasks handled, pid, concurrency).
MAX_COUNT = 10**15
#: Most queues :func:`known_queues` adds from the workers' records (the first by name).
MAX_WORKER_QUEUES = 500


@dataclass(frozen=True)
class RunningTask:
    """A task a worker is running now.

    Attributes:
        task_id: Its id.
        function: ``module:callable``, as the payload names it.
        queue: The queue it came from.
        since: When it started, in seconds since the epoch (the worker's clock).
    """

    task_id: str
    function: str
    queue: str
    since: float


@dataclass(frozen=True)
class WorkerInfo:
    """One live worker, as its last heartbeat described it.

    Attributes:
        worker_id: Unique per worker process (``host:pid:random``).
        host: The machine's name.
        pid: The worker process's id.
        queues: The queues it consumes, in priority order.
        concurrency: Threads running tasks.
        started_at: When it started (seconds since the epoch).
        heartbeat_at: When it last wrote this record.
        tasks_handled: Tasks it has finished (run, retried or dead-lettered).
        current: The tasks it is running now.
        supervisor: The supervisor's worker id when it runs under
            ``--processes``, else "".
    """

    worker_id: str
    host: str
    pid: int
    queues: tuple[str, ...]
    concurrency: int
    started_at: float
    heartbeat_at: float
    tasks_handled: int = 0
    current: tuple[RunningTask, ...] = field(default_factory=tuple)
    supervisor: str = ""


def encode(info: WorkerInfo) -> str:
    """Returns the record's JSON text, as stored."""
    data: dict[str, Any] = asdict(info)
    data["current"] = [asdict(task) for task in info.current[:MAX_CURRENT]]
    data["queues"] = list(info.queues)
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def _text(value: Any, limit: int = MAX_TEXT_CHARS) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError("not a short string")
    return value


def _time(value: Any) -> float:
    # Within [0, MAX_TIME] only (NaN and infinities fail the comparison):
    # 1e300 is finite, but no page can show it as a date and no worker wrote it.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_TIME:
        raise ValueError("not a time")
    return float(value)


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise ValueError("not a count")
    return value


def decode(worker_id: str, record: str) -> WorkerInfo | None:
    """Reads a stored record; None when it is not one (hostile or corrupt).

    The id the store lists it under wins over the one inside the record, so
    one record cannot pose as another worker. A record with a field out of
    its bounds (a time past :data:`MAX_TIME`, a count past :data:`MAX_COUNT`,
    a name longer than :data:`MAX_NAME_CHARS` or :data:`MAX_TEXT_CHARS`) is
    no worker's: it is refused whole rather than shown cut.
    """
    if not isinstance(worker_id, str) or len(worker_id) > MAX_NAME_CHARS or len(record) > MAX_RECORD_CHARS:
        return None
    try:
        data = json.loads(record)
        if not isinstance(data, dict):
            return None
        queues = data.get("queues")
        current = data.get("current", [])
        if not isinstance(queues, list) or not isinstance(current, list):
            return None
        return WorkerInfo(
            worker_id=worker_id,
            host=_text(data.get("host"), MAX_NAME_CHARS),
            pid=_count(data.get("pid")),
            queues=tuple(_text(q) for q in queues[:MAX_CURRENT]),
            concurrency=_count(data.get("concurrency")),
            started_at=_time(data.get("started_at")),
            heartbeat_at=_time(data.get("heartbeat_at")),
            tasks_handled=_count(data.get("tasks_handled", 0)),
            current=tuple(
                RunningTask(
                    task_id=_text(t.get("task_id")),
                    function=_text(t.get("function")),
                    queue=_text(t.get("queue")),
                    since=_time(t.get("since")),
                )
                for t in current[:MAX_CURRENT]
                if isinstance(t, dict)
            ),
            supervisor=_text(data.get("supervisor", ""), MAX_NAME_CHARS),
        )
    except (ValueError, TypeError, AttributeError, RecursionError):
        return None


def read_workers(backend: Backend) -> list[WorkerInfo]:
    """Reads the live workers' records; hostile or corrupt ones are left out.

    As :meth:`alligator.admin.Admin.workers`, kept here for callers that have a backend.

    Raises:
        Unsupported: The store keeps no registry of workers (a ``NotImplementedError``).
    """
    from alligator.admin import Admin  # the facade builds on this module

    return Admin(backend).workers()


def known_queues(backend: Backend, workers: Sequence[WorkerInfo] | None = None) -> list[str]:
    """Lists the queues worth showing: the store's, and those live workers consume.

    A store lists a queue only while it holds a task, so an empty queue would
    vanish from every view while workers wait on it; the workers' records
    keep it listed. ``alligator info``, the dashboard and its ``/metrics``
    all list queues this way, through :meth:`alligator.admin.Admin.queues`.

    Example:
        >>> from alligator import Gator
        >>> gator = Gator("locmem://doc-known-queues", allow=["builtins"])
        >>> worker = WorkerInfo("w1", "host", 1, ("emails",), 1, 0.0, 0.0)
        >>> known_queues(gator.backend, [worker])
        ['emails']

    Args:
        backend: The store.
        workers: The live workers, when the caller has read them already;
            by default they are read here (none when the store keeps no
            registry).

    Returns:
        The queue names, sorted, each once: every queue of the store, and
        at most :data:`MAX_WORKER_QUEUES` more from the workers' records.
    """
    from alligator.admin import Admin

    return Admin(backend).queues(workers)


def is_stale(info: WorkerInfo, now: float) -> bool:
    """Whether a record's last heartbeat is more than :data:`STALE_SECONDS` old.

    A stale record's worker was killed (its record outlives it by up to
    :data:`WORKER_TTL` seconds), hangs, or cannot write to the store: it is
    not counted as a live worker.

    Args:
        info: The record.
        now: The current time, in seconds since the epoch (heartbeats are
            written on the workers' clocks).

    Example:
        >>> info = WorkerInfo("h:1:x", "h", 1, ("all",), 1, started_at=0.0, heartbeat_at=100.0)
        >>> is_stale(info, 110.0), is_stale(info, 100.0 + STALE_SECONDS + 1)
        (False, True)
    """
    return now - info.heartbeat_at > STALE_SECONDS
