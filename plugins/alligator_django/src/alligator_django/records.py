"""What the store keeps of a Django task, beyond what Alligator keeps of every task.

Alligator keeps a task's payload, status, attempts, return value and dead
letter; Django's ``TaskResult`` also wants when each attempt started, which
worker ran it, and every error with its traceback. A worker writes these as
the task's *run record*: a small JSON text kept, while the task is in
flight or failed, as a never-due entry of a side queue
(:func:`runs_queue`), read by id with the store's ``peek`` from any process.
A task that succeeds takes its run record into its stored return value (the
*envelope*: :func:`success_envelope`) and the side entry is removed, so a
finished task's facts expire with its result.

Anyone who can write to the store can plant a record. With a secret set
(``OPTIONS["SECRET"]``), a record is signed as Alligator signs results
(:meth:`TaskPolicy.seal_record <alligator.security.TaskPolicy.seal_record>`:
bound to its kind, the task's queue and id), and :func:`open_run` refuses one
whose signature does not check; with or without, :func:`parse_run` checks every
field and returns an empty record for what it cannot read.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from alligator.security import TaskPolicy

#: Marks a stored return value as this backend's envelope.
ENVELOPE_KEY = "alligator_django"
#: Version of the run record and the envelope.
FORMAT = 1
#: What a run record's signature names it (see TaskPolicy.seal_record).
RUN_RECORD_KIND = "django-run"
#: Seconds a run record is kept after its last write (a failed task's errors
#: are read from it; a task in flight writes it again at each attempt).
RUN_RECORD_SECONDS = 7 * 24 * 3600.0
#: Most characters of one traceback kept, and most errors kept (the last ones),
#: so a record stays far below a payload's size limit.
MAX_TRACEBACK_CHARS = 16_000
MAX_ERRORS = 10
#: Most attempts remembered (the last ones).
MAX_ATTEMPTS = 100


def runs_queue(queue: str) -> str:
    """The side queue holding the run records of ``queue``'s Django tasks (no worker consumes it)."""
    return f"{queue}.django-runs"


def new_result_id(queue: str) -> str:
    """A new result id: 12 hex digits of milliseconds since the epoch, 20 random ones, ``@`` and the queue.

    The time is the enqueue time, readable from the id alone (as a UUIDv7's);
    the queue tells any process where to look for the task.
    """
    millis = int(time.time() * 1000)
    return f"{millis:012x}{os.urandom(10).hex()}@{queue}"


def split_result_id(result_id: object) -> tuple[float, str] | None:
    """``(enqueued_at as a Unix time, queue)`` of an id :func:`new_result_id` made; None for any other."""
    if not isinstance(result_id, str):
        return None
    head, sep, queue = result_id.partition("@")
    if not sep or not queue or len(head) != 32 or len(result_id) > 200:
        return None
    try:
        millis = int(head[:12], 16)
        int(head[12:], 16)
    except ValueError:
        return None
    return millis / 1000.0, queue


@dataclass
class RunRecord:
    """The attempts and errors of one task.

    Attributes:
        attempts: ``(worker id, started at as a Unix time)`` per attempt, oldest first.
        errors: ``(exception class path, traceback)`` per failed attempt, oldest first.
        running: Whether the last attempt started and has not failed (its
            worker may have died since: the store's status says).
    """

    attempts: list[tuple[str, float]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    running: bool = False

    def start(self, worker_id: str, now: float) -> None:
        """Counts one more attempt, by ``worker_id``, started ``now``."""
        self.attempts = [*self.attempts, (worker_id, now)][-MAX_ATTEMPTS:]
        self.running = True

    def fail(self, class_path: str, traceback: str) -> None:
        """Keeps the error of the attempt that just failed."""
        if len(traceback) > MAX_TRACEBACK_CHARS:
            traceback = "...\n" + traceback[-MAX_TRACEBACK_CHARS:]
        self.errors = [*self.errors, (class_path, traceback)][-MAX_ERRORS:]
        self.running = False

    def to_json(self) -> dict[str, Any]:
        """The record as JSON values."""
        return {
            "v": FORMAT,
            "attempts": [[worker, started] for worker, started in self.attempts],
            "errors": [[path, text] for path, text in self.errors],
            "running": self.running,
        }

    def dumps(self) -> str:
        """The record as JSON text, as the side queue keeps it."""
        return json.dumps(self.to_json(), separators=(",", ":"))


def _pairs(value: object, kinds: tuple[type, type]) -> list[tuple[Any, Any]]:
    if not isinstance(value, list):
        return []
    pairs = []
    for item in value:
        if (
            isinstance(item, list)
            and len(item) == 2
            and isinstance(item[0], kinds[0])
            and isinstance(item[1], kinds[1])
            and not isinstance(item[1], bool)
        ):
            pairs.append((item[0], item[1]))
    return pairs


def parse_run(value: object) -> RunRecord:
    """A run record from JSON text or values; what cannot be read is left out (planted ones break nothing)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return RunRecord()
    if not isinstance(value, dict):
        return RunRecord()
    attempts = [(w, float(t)) for w, t in _pairs(value.get("attempts"), (str, (int, float)))]  # type: ignore[arg-type]
    errors = _pairs(value.get("errors"), (str, str))
    return RunRecord(attempts[-MAX_ATTEMPTS:], errors[-MAX_ERRORS:], value.get("running") is True)


def seal_run(policy: TaskPolicy, queue: str, task_id: str, run: RunRecord) -> str:
    """Task ``task_id``'s run record as the side queue keeps it: signed when a secret is set."""
    return policy.seal_record(RUN_RECORD_KIND, queue, task_id, run.dumps())


def open_run(policy: TaskPolicy, queue: str, task_id: str, stored: str) -> RunRecord:
    """The run record the side queue holds for task ``task_id`` of ``queue``.

    Raises:
        ResultSignatureError: A secret is set and the record is unsigned or
            its signature does not check (forged, or another task's): it is
            not to be trusted.
    """
    return parse_run(policy.open_record(RUN_RECORD_KIND, queue, task_id, stored))


def call_json(meta: dict[str, Any], args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The call a task was enqueued with, as an envelope keeps it."""
    return {"meta": meta, "args": args, "kwargs": kwargs}


def success_envelope(
    value: Any, run: RunRecord, meta: dict[str, Any], args: list[Any], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """What a task that succeeded stores as its Alligator result: the value, its run record and its call."""
    return {
        ENVELOPE_KEY: FORMAT,
        "return_value": value,
        "run": run.to_json(),
        "call": call_json(meta, args, kwargs),
    }


def parse_envelope(value: object) -> tuple[Any, RunRecord, dict[str, Any]] | None:
    """``(return value, run record, call)`` of a stored envelope; None when it is not one."""
    if not isinstance(value, dict) or value.get(ENVELOPE_KEY) != FORMAT:
        return None
    call = value.get("call")
    if not isinstance(call, dict):
        return None
    return value.get("return_value"), parse_run(value.get("run")), call


def worker_id() -> str:
    """This process's id in a result's ``worker_ids``: ``host:pid``."""
    return f"{os.uname().nodename}:{os.getpid()}"
