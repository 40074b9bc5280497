"""What the dashboard reads from the store and does to it; no web code here.

Everything goes through :class:`alligator.admin.Admin`, the facade the
``alligator`` command and ``doctor`` share, so the dashboard works on every
backend that passes the required kit: where a store lacks a capability the
page says what it cannot do, in the same words as the command.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from alligator import capabilities, presence
from alligator.admin import Admin
from alligator.backend import Backend, Finished, QueueCounts, TaskInfo
from alligator.capabilities import Inspection
from alligator.constants import status_name
from alligator.gator import Gator
from alligator.limit_store import Limiting, LimitState
from alligator.presence import WorkerInfo
from alligator.scheduling_store import Scheduling
from alligator.security import SIGNED_PREFIX
from alligator.text import redact_dsn
from alligator.unique_store import HeldKey, UniqueKeys

#: Most queues the overview lists (and the sampler follows); the page says how many more.
MAX_QUEUES = 100
#: Most live workers the overview lists; the page says how many more.
MAX_WORKERS = 50
#: Characters of a task's arguments shown in a list.
ARGS_CHARS = 80

#: What each action does, for its confirmation page and its log line: the
#: dead-letter actions, and cancelling a waiting or delayed task.
ACTIONS = {
    "requeue": "Requeue dead letter",
    "delete": "Delete dead letter",
    "requeue_all": "Requeue every dead letter",
    "purge": "Delete every dead letter",
    "cancel": "Cancel task",
}
#: The actions that need a task id.
ONE_TASK_ACTIONS = frozenset({"requeue", "delete", "cancel"})


@dataclass(frozen=True)
class PayloadView:
    """A payload as the dashboard shows it.

    Attributes:
        function: ``module:callable``, or "" when the payload is not a task.
        args: The arguments, shortened to :data:`ARGS_CHARS` characters.
        pretty: The whole payload, indented when it is JSON.
        signed: Whether it carries a signature.
    """

    function: str
    args: str
    pretty: str
    signed: bool = False


def view_payload(payload: str) -> PayloadView:
    """Reads a stored payload for display, never raising.

    Example:
        >>> view_payload('{"module": "m", "callable": "f", "args": [1, "<b>"], "kwargs": {}}').args
        '1, "<b>"'

    Args:
        payload: The stored text (possibly signed, possibly garbage).

    Returns:
        The :class:`PayloadView`; text is returned unescaped (templates escape it).
    """
    body, signed = payload, False
    if payload.startswith(SIGNED_PREFIX):
        _, _, body = payload.partition(".")
        signed = True
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return PayloadView("", _shorten(payload), payload, signed)
    if not isinstance(data, dict):
        return PayloadView("", _shorten(body), body, signed)
    module, name = data.get("module"), data.get("callable")
    function = f"{module}:{name}" if isinstance(module, str) and isinstance(name, str) else ""
    parts: list[str] = []
    args, kwargs = data.get("args"), data.get("kwargs")
    if isinstance(args, list):
        parts.extend(json.dumps(arg, ensure_ascii=False) for arg in args)
    if isinstance(kwargs, dict):
        parts.extend(f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in kwargs.items())
    try:
        pretty = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True)
    except (ValueError, RecursionError):  # pragma: no cover - it was just parsed
        pretty = body
    return PayloadView(function, _shorten(", ".join(parts)), pretty, signed)


def _shorten(text: str, limit: int = ARGS_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class TaskDetail:
    """One task as the task view shows it.

    Attributes:
        queue: Its queue.
        task_id: Its id.
        status: ``waiting``, ``delayed``, ``running``, ``success``,
            ``failed`` or ``unknown``.
        info: Its listing (attempts, due, reason), when found.
        payload: Its payload, when the store still has it.
        finished: What the store remembers of its end (result or reason).
    """

    queue: str
    task_id: str
    status: str
    info: TaskInfo | None
    payload: PayloadView | None
    finished: Finished | None


@dataclass(frozen=True)
class Overview:
    """What the overview shows, read in one pass.

    Attributes:
        counts: Each listed queue's counts (at most :data:`MAX_QUEUES`, by
            name); empty when the store cannot count per state.
        left_out: Queues past those.
        workers: The live workers; None when the store keeps no registry.
        consumed: The queues some live worker consumes.
        queued: Each listed queue's waiting and delayed tasks together
            (every store counts them).
        uncounted: What the store cannot do when it cannot count per state; None when it can.
    """

    counts: dict[str, QueueCounts]
    left_out: int
    workers: list[WorkerInfo] | None
    consumed: frozenset[str]
    queued: dict[str, int] = field(default_factory=dict)
    uncounted: str | None = None


class Store:
    """The dashboard's view of one queue store.

    Args:
        dsn: The store's DSN (its secrets never leave this object: see
            :attr:`shown_dsn`).
        gator: A gator on that store, to share (tests); by default one is made.
    """

    def __init__(self, dsn: str, gator: Gator | None = None) -> None:
        self.gator = gator if gator is not None else Gator(dsn)
        self.backend: Backend = self.gator.backend
        #: What operators do to the store (shared with the command and doctor).
        self.admin = Admin(self.backend)
        #: The DSN itself, for doctor's checks (never shown: see :attr:`shown_dsn`).
        self.dsn = dsn
        #: The DSN with its passwords hidden, for the page header.
        self.shown_dsn = redact_dsn(dsn)

    def describe(self) -> str:
        """Says which store this is, without secrets."""
        try:
            return self.backend.describe()
        except Exception:  # pragma: no cover - a backend's own description failed
            return self.shown_dsn

    def now(self) -> float:
        """The store's clock (due times and lease ends are on it)."""
        try:
            return self.backend.now()
        except Exception:  # pragma: no cover - the store is down; the page says so elsewhere
            return time.time()

    def overview(self) -> Overview:
        """Reads the live workers and the counts of every known queue.

        The queues are :meth:`alligator.admin.Admin.queues`: the store's
        and those live workers consume, the first :data:`MAX_QUEUES` by name.
        """
        workers = self.workers()
        names = self.admin.queues(workers or [])
        shown = names[:MAX_QUEUES]
        uncounted = self.admin.cannot(Inspection)
        return Overview(
            counts={} if uncounted else {queue: self.admin.counts(queue) for queue in shown},
            left_out=max(0, len(names) - MAX_QUEUES),
            workers=workers,
            # A stale record's worker is not consuming anything (see presence.is_stale).
            consumed=frozenset(
                queue
                for info in workers or []
                if not presence.is_stale(info, time.time())
                for queue in info.queues
            ),
            queued={queue: self.admin.queued(queue) for queue in shown},
            uncounted=uncounted,
        )

    def counts(self, queue: str) -> QueueCounts:
        """Counts per state of one queue.

        Raises:
            Unsupported: The store cannot count per state (the page says so).
        """
        return self.admin.counts(queue)

    def cannot(self, capability: type) -> str | None:
        """What the store cannot do for lack of ``capability``, as every tool says it; None if it can."""
        return self.admin.cannot(capability)

    def tasks(self, queue: str, state: str, offset: int, limit: int) -> list[TaskInfo]:
        """One page of a queue's tasks in one state.

        Raises:
            Unsupported: The store cannot list its tasks (the page says so).
        """
        return self.admin.tasks(queue, state, offset, limit)

    def paused(self) -> list[tuple[str, str]] | None:
        """What is paused, as ``(kind, name)``; None when this store cannot pause."""
        return self.admin.paused_or_none()

    def schedules(self) -> list[dict[str, Any]] | None:
        """The schedule records, as ``alligator schedules --json`` lists them; None if the store has none."""
        if self.admin.cannot(Scheduling) is not None:
            return None
        from alligator.schedules import describe_record

        now = time.time()
        return [
            describe_record(record, now)
            for record in capabilities.scheduling(self.admin.backend).schedule_records()
        ]

    def limits(self) -> list[LimitState] | None:
        """The limit keys holding something now; None when this store cannot keep limits."""
        if not self.admin.can(Limiting):
            return None
        return capabilities.limiting(self.admin.backend).limit_states()

    def set_paused(self, kind: str, name: str, paused: bool) -> bool:
        """Pauses or resumes a queue or a function (see :meth:`Backend.set_paused
        <alligator.capabilities.Pausing.set_paused>`); True if it changed anything.

        Raises:
            ValueError: A name the store cannot keep.
            Unsupported: The store cannot pause.
        """
        return self.admin.set_paused(kind, name, paused)

    def unique_keys(self, queue: str, limit: int) -> list[HeldKey] | None:
        """The unique keys held in a queue, sorted; None when this store keeps no unique keys."""
        if self.admin.cannot(UniqueKeys) is not None:
            return None
        return capabilities.unique_keys(self.backend).unique_keys(queue, limit)

    def workers(self) -> list[WorkerInfo] | None:
        """The live workers; None when this store keeps no registry of workers."""
        return self.admin.workers_or_none()

    def task(self, queue: str, task_id: str) -> TaskDetail:
        """Finds one task by id, changing nothing (reasons and results without signatures, unchecked)."""
        status, info, payload_text = self.admin.task(queue, task_id)
        name = status_name(status)
        finished = self.admin.finished(queue, task_id) if name in ("success", "failed") else None
        payload = view_payload(payload_text) if payload_text is not None else None
        return TaskDetail(queue, task_id, name, info, payload, finished)

    def act(self, action: str, queue: str, task_id: str = "") -> Any:
        """Does one action (a key of :data:`ACTIONS`).

        Returns:
            The backend's answer: True/False for one task, a count for all.
        """
        if action == "cancel":
            return self.admin.cancel(queue, task_id)
        if action == "requeue":
            return self.admin.requeue(queue, task_id)
        if action == "delete":
            return self.admin.delete_dead(queue, task_id)
        if action == "requeue_all":
            return self.admin.requeue_all(queue)
        if action == "purge":
            return self.admin.purge_dead(queue)
        raise ValueError(f"unknown action {action!r}")

    def close(self) -> None:
        """Closes the store's connections."""
        self.backend.close()
