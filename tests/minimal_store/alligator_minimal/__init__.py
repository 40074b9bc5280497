"""A backend with only the required part of Alligator's contract, over one SQLite file.

It proves the promise of issue 19: a store that writes the twelve required
methods of :class:`alligator.backend.Backend` and no capability of
:mod:`alligator.capabilities` passes the required kit, runs real workers,
and the ``alligator`` command, the dashboard and ``doctor`` work against it,
saying plainly what it cannot do. Written from the docstrings of the
contract alone; every query is in ``queries.sql`` beside this module.

DSN: ``minimal:///absolute/path/to/tasks.db``.
"""

from __future__ import annotations

import math
import re
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from alligator import reasons
from alligator.backend import Backend, Reservation
from alligator.constants import DELAYED, FAILED, RUNNING, SUCCESS, WAITING

_NAME_LINE = re.compile(r"^-- name: ([a-z_]+)\s*$", re.MULTILINE)


def _load_queries() -> dict[str, str]:
    """Reads queries.sql: each query is the text under its ``-- name:`` line (SQLite skips the comments)."""
    text = resources.files(__package__).joinpath("queries.sql").read_text(encoding="utf-8")
    parts = _NAME_LINE.split(text)[1:]  # name, body, name, body...
    return {name: body.strip() for name, body in zip(parts[::2], parts[1::2], strict=True)}


_SQL = _load_queries()


def _finite(delay: float) -> float:
    if not math.isfinite(delay):
        raise ValueError(f"a delay must be a finite number of seconds, not {delay!r}")
    return max(delay, 0.0)


def _text(stored: str | bytes) -> str:
    """A payload as stored: text from push, or bytes a hostile writer planted (checked before)."""
    return stored.decode("utf-8") if isinstance(stored, bytes) else stored


class MinimalBackend(Backend):
    """The required part of the contract, nothing more: each method one SQLite transaction."""

    def __init__(self, conn_string: str) -> None:
        super().__init__(conn_string)
        self.path = urlsplit(conn_string).path
        # One connection per instance, shared by its threads under the lock.
        self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute(_SQL["journal"])
        with self._transaction() as db:
            db.execute(_SQL["schema"])

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute(_SQL["begin"])
            try:
                yield self._db
            except BaseException:
                self._db.execute(_SQL["rollback"])
                raise
            self._db.execute(_SQL["commit"])

    def _run(self, name: str, **params: Any) -> sqlite3.Cursor:
        """Runs one named query in the open transaction."""
        return self._db.execute(_SQL[name], params)

    def close(self) -> None:
        self._db.close()

    def push(self, queue: str, task_id: str, payload: str, delay: float = 0.0) -> bool:
        payload.encode("utf-8")  # a lone surrogate raises ValueError before any change
        due = self.now() + _finite(delay)
        with self._transaction():
            return self._run("push", queue=queue, id=task_id, payload=payload, due=due).rowcount == 1

    def reserve(
        self, queue: str, lease_seconds: float, limit: int = 1, timeout: float = 0.0
    ) -> list[Reservation]:
        with self._transaction():
            now = self.now()
            due = self._run("due", queue=queue, now=now, limit=limit).fetchall()
            taken = []
            for task_id, size in due:
                if self._readable(queue, task_id, size, now):
                    taken.append(self._lease("lease", queue, task_id, now, lease_seconds))
            return [reservation for reservation in taken if reservation is not None]

    def _readable(self, queue: str, task_id: str, size: int, now: float) -> bool:
        """Dead-letters (in the open transaction) a record it must not hand out (too long, not UTF-8).

        The size is measured in SQL first, so an oversized record is never read.
        """
        if len(task_id.encode("utf-8")) <= self.max_task_id_bytes:
            try:
                raw = (
                    b""
                    if size > self.max_payload_bytes
                    else self._run("raw", queue=queue, id=task_id).fetchone()[0]
                )
                reasons.decode(reasons.PAYLOAD, size, raw, self.max_payload_bytes)
                return True
            except reasons.Unreadable:
                pass
        self._run("unreadable", queue=queue, id=task_id, now=now)
        self._retain(queue, now)
        return False

    def _lease(
        self, query: str, queue: str, task_id: str, now: float, lease_seconds: float
    ) -> Reservation | None:
        receipt = uuid.uuid4().hex
        row = self._run(
            query, queue=queue, id=task_id, receipt=receipt, now=now, lease_end=now + lease_seconds
        ).fetchone()
        return None if row is None else Reservation(task_id, _text(row[0]), receipt, row[1], row[2])

    def ack(self, queue: str, task_id: str, receipt: str) -> bool:
        with self._transaction():
            now = self.now()
            done = self._run("ack", queue=queue, id=task_id, receipt=receipt, now=now).rowcount == 1
            self._run("forget_done", queue=queue, ttl=self.status_ttl, now=now)
            return done

    def release(
        self, queue: str, task_id: str, receipt: str, delay: float = 0.0, attempted: bool = True
    ) -> bool:
        delay = _finite(delay)
        with self._transaction():
            now = self.now()
            cursor = self._run(
                "release",
                queue=queue,
                id=task_id,
                receipt=receipt,
                now=now,
                due=now + delay,
                attempted=int(attempted),
                unattempted=int(not attempted),
            )
            return cursor.rowcount == 1

    def extend(self, queue: str, task_id: str, receipt: str, lease_seconds: float) -> bool:
        with self._transaction():
            now = self.now()
            cursor = self._run(
                "extend", queue=queue, id=task_id, receipt=receipt, now=now, lease_end=now + lease_seconds
            )
            return cursor.rowcount == 1

    def dead_letter(self, queue: str, task_id: str, receipt: str, reason: str) -> bool:
        with self._transaction():
            now = self.now()
            moved = self._run("dead_letter", queue=queue, id=task_id, receipt=receipt, now=now).rowcount == 1
            self._retain(queue, now)
            return moved

    def _retain(self, queue: str, now: float) -> None:
        self._run("drop_old_dead", queue=queue, ttl=self.dead_letter_ttl, now=now, keep=self.max_dead_letters)

    def get(self, queue: str, task_id: str, lease_seconds: float) -> Reservation | None:
        with self._transaction():
            now = self.now()
            row = self._run("size", queue=queue, id=task_id, now=now).fetchone()
            if row is None or not self._readable(queue, task_id, row[0], now):
                return None
            return self._lease("get", queue, task_id, now, lease_seconds)

    def peek(self, queue: str, task_id: str) -> str | None:
        with self._transaction():
            row = self._run("peek", queue=queue, id=task_id, most=self.max_payload_bytes).fetchone()
            if row is None:
                return None
            try:
                return _text(row[0])
            except UnicodeDecodeError:
                return None  # a record reserve would dead-letter

    def cancel(self, queue: str, task_id: str) -> bool:
        with self._transaction():
            return self._run("cancel", queue=queue, id=task_id, now=self.now()).rowcount == 1

    def status(self, queue: str, task_id: str) -> int | None:
        with self._transaction():
            now = self.now()
            row = self._run("status", queue=queue, id=task_id).fetchone()
        if row is None:
            return None
        state, due, receipt, finished_at = row
        if state == "done":
            return SUCCESS if finished_at + self.status_ttl > now else None
        if state == "dead":
            return FAILED if finished_at + self.dead_letter_ttl > now else None
        if due > now:
            return RUNNING if receipt is not None else DELAYED
        return WAITING

    def len(self, queue: str) -> int:
        with self._transaction():
            return int(self._run("len", queue=queue, now=self.now()).fetchone()[0])

    def drop_all(self, queue: str) -> None:
        with self._transaction():
            self._run("drop_all", queue=queue)
