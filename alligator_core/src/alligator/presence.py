"""Live workers: the record each worker keeps in the store while it runs.

A worker writes its :class:`WorkerInfo` with :meth:`Backend.heartbeat
<alligator.backend.Backend.heartbeat>` every :data:`HEARTBEAT_SECONDS`, kept
for :data:`WORKER_TTL` seconds: a worker that stops cleanly removes it, a
killed one vanishes when it expires. Anyone who can write to the store can
write a record, so :func:`decode` checks every field and turns what it cannot
read into None instead of raising.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

#: Seconds between a worker's heartbeats.
HEARTBEAT_SECONDS = 5.0
#: Seconds a worker's record outlives its last heartbeat.
WORKER_TTL = 30.0
#: Most running tasks one record lists (a worker's concurrency may be larger).
MAX_CURRENT = 100


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


def _text(value: Any, limit: int = 1000) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError("not a short string")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError("not a finite number")
    return float(value)


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("not a count")
    return value


def decode(worker_id: str, record: str) -> WorkerInfo | None:
    """Reads a stored record; None when it is not one (hostile or corrupt).

    The id the store lists it under wins over the one inside the record, so
    one record cannot pose as another worker.
    """
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
            host=_text(data.get("host")),
            pid=_count(data.get("pid")),
            queues=tuple(_text(q) for q in queues[:MAX_CURRENT]),
            concurrency=_count(data.get("concurrency")),
            started_at=_number(data.get("started_at")),
            heartbeat_at=_number(data.get("heartbeat_at")),
            tasks_handled=_count(data.get("tasks_handled", 0)),
            current=tuple(
                RunningTask(
                    task_id=_text(t.get("task_id")),
                    function=_text(t.get("function")),
                    queue=_text(t.get("queue")),
                    since=_number(t.get("since")),
                )
                for t in current[:MAX_CURRENT]
                if isinstance(t, dict)
            ),
            supervisor=_text(data.get("supervisor", "")),
        )
    except (ValueError, TypeError, AttributeError, RecursionError):
        return None
