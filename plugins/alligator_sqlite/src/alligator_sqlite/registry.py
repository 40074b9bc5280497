"""The SQLite backend's registry of live workers and its pauses.

Live workers are rows with an expiry on the backend's clock; each heartbeat
deletes the expired ones and, beyond
:attr:`~alligator.backend.Backend.max_workers`, those with the oldest
heartbeats, so the registry stays bounded. Pauses are one set per file.
"""

from __future__ import annotations

import math
import sqlite3

from alligator.pausing import MAX_PAUSE_NAME_BYTES, check_target, listed
from alligator_sqlite import queries
from alligator_sqlite.store import Store

__all__ = ["Registry"]


class Registry(Store):
    """The live workers' records and the pauses; mixed into :class:`~alligator_sqlite.SqliteBackend`."""

    # -- live workers ----------------------------------------------------

    def heartbeat(self, worker_id: str, record: str, ttl: float) -> None:
        """Writes or refreshes a worker's record, in one transaction that also bounds the registry.

        See :meth:`~alligator.capabilities.WorkerRegistry.heartbeat`. The record expires
        ``ttl`` seconds from now on the backend's clock; in the same
        transaction the expired records are deleted (one range scan of the
        ``expires_at`` index), then, while more than
        :attr:`~alligator.backend.Backend.max_workers` remain, those with the
        oldest heartbeats (hand-written ones whose heartbeat is no number
        first).

        Raises:
            ValueError: ``ttl`` is NaN; nothing is written.
        """
        if math.isnan(ttl):
            raise ValueError(f"a ttl must be a number of seconds, not {ttl!r}")
        data = record.encode("utf-8", "surrogatepass")

        def body(conn: sqlite3.Connection) -> None:
            now = self.now()
            conn.execute(
                queries.WRITE_WORKER,
                {
                    "worker_id": worker_id,
                    "now": now,
                    "expires_at": now + ttl,
                    "seq": self._next_seqs(conn, 1),
                    "record": data,
                },
            )
            conn.execute(queries.DROP_EXPIRED_WORKERS, {"now": now})
            conn.execute(queries.DROP_CORRUPT_WORKERS, {"infinity": math.inf})
            (count,) = conn.execute(queries.COUNT_WORKERS).fetchone()
            if count > self.max_workers:
                conn.execute(queries.DROP_OLDEST_WORKERS, {"count": count - max(self.max_workers, 0)})

        self._run(body)

    def forget_worker(self, worker_id: str) -> bool:
        """Removes a worker's record; see :meth:`~alligator.capabilities.WorkerRegistry.forget_worker`.

        Returns:
            True if it had a live (unexpired) record.
        """

        def body(conn: sqlite3.Connection) -> bool:
            live = conn.execute(queries.WORKER_LIVE, {"now": self.now(), "worker_id": worker_id}).fetchone()
            conn.execute(queries.DELETE_WORKER, {"worker_id": worker_id})
            return bool(live is not None and live[0])

        return self._run(body)

    def worker_records(self) -> list[tuple[str, str]]:
        """Lists the live workers' records, oldest heartbeat first, in one read.

        See :meth:`~alligator.capabilities.WorkerRegistry.worker_records`. At most
        :attr:`~alligator.backend.Backend.max_workers`, those with the
        newest heartbeats. A row anyone could have written never makes it
        raise: one whose expiry or heartbeat is no finite number is not
        live; an id over :attr:`~alligator.backend.Backend.max_task_id_bytes`
        or a record over :attr:`~alligator.backend.Backend.max_payload_bytes`
        is measured in SQL and never read; either not valid UTF-8 is
        skipped.
        """

        def body(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            rows = conn.execute(
                queries.LIVE_WORKERS,
                {
                    "max_id": self.max_task_id_bytes,
                    "max_bytes": self.max_payload_bytes,
                    "now": self.now(),
                    "limit": max(self.max_workers, 0),
                },
            ).fetchall()
            found: list[tuple[str, str]] = []
            for raw_id, raw_record in rows:
                if raw_id is None or raw_record is None:
                    continue  # over a limit (or NULL)
                try:
                    found.append((bytes(raw_id).decode("utf-8"), bytes(raw_record).decode("utf-8")))
                except UnicodeDecodeError:
                    continue
            return found

        return self._run(body, write=False)

    # -- pausing ---------------------------------------------------------

    def set_paused(self, kind: str, name: str, paused: bool) -> bool:
        """Pauses or resumes one queue or function in one transaction.

        See :meth:`~.capabilities.Pausing.set_paused`.
        """
        check_target(kind, name)

        def body(conn: sqlite3.Connection) -> bool:
            target = {"kind": kind, "name": name}
            if not paused:
                return conn.execute(queries.RESUME, target).rowcount > 0
            if conn.execute(queries.PAUSE_EXISTS, target).fetchone():
                return False
            (count,) = conn.execute(queries.COUNT_PAUSES).fetchone()
            if count >= self.max_pauses:
                raise ValueError(f"this store keeps at most {self.max_pauses} pauses; resume some first")
            conn.execute(queries.ADD_PAUSE, target)
            return True

        return self._run(body)

    def paused(self) -> list[tuple[str, str]]:
        """Lists the pauses in one read; see :meth:`~alligator.capabilities.Pausing.paused`.

        A name over :data:`~alligator.pausing.MAX_PAUSE_NAME_BYTES` is
        measured in SQL and never read; rows of another kind are not read.
        """

        def body(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            rows = conn.execute(
                queries.LIST_PAUSES, {"max_name": MAX_PAUSE_NAME_BYTES, "limit": self.max_pauses}
            ).fetchall()
            found = []
            for kind, raw in rows:
                try:
                    found.append((kind, bytes(raw).decode("utf-8")))
                except (TypeError, UnicodeDecodeError):
                    continue  # over the limit (NULL), or not UTF-8
            return listed(found, self.max_pauses)

        return self._run(body, write=False)
