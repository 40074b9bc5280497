"""The PostgreSQL backend's registry of live workers and its pauses.

Live workers are rows with an expiry on the backend's clock; each heartbeat
deletes the expired ones and, beyond
:attr:`~alligator.backend.Backend.max_workers`, those with the oldest
heartbeats, so the registry stays bounded. Pauses are one set per database.
"""

from __future__ import annotations

import math
from typing import Any

import psycopg

from alligator.pausing import MAX_PAUSE_NAME_BYTES, check_target, listed
from alligator_postgres import queries
from alligator_postgres.store import Store

__all__ = ["Registry"]


class Registry(Store):
    """The live workers' records and the pauses; mixed into :class:`~alligator_postgres.PostgresBackend`."""

    # -- live workers ----------------------------------------------------

    def heartbeat(self, worker_id: str, record: str, ttl: float) -> None:
        """Writes or refreshes a worker's record, in one transaction that also bounds the registry.

        See :meth:`~alligator.capabilities.WorkerRegistry.heartbeat`.

        Raises:
            ValueError: ``ttl`` is NaN; nothing is written.
        """
        if math.isnan(ttl):
            raise ValueError(f"a ttl must be a number of seconds, not {ttl!r}")
        params = {
            "worker_id": worker_id,
            "now": self._now_arg(),
            "ttl": float(ttl),
            "record": record.encode("utf-8", "surrogatepass"),
            "keep": max(self.max_workers, 0),
        }

        def body(conn: psycopg.Connection[Any]) -> None:
            conn.execute(queries.WRITE_WORKER, params)
            conn.execute(queries.BOUND_WORKERS, params)

        self._transaction(body)

    def forget_worker(self, worker_id: str) -> bool:
        """Removes a worker's record; see :meth:`~alligator.capabilities.WorkerRegistry.forget_worker`.

        Returns:
            True if it had a live (unexpired) record.
        """
        row = self._one(queries.FORGET_WORKER, {"worker_id": worker_id, "now": self._now_arg()})
        return bool(row is not None and row[0])

    def worker_records(self) -> list[tuple[str, str]]:
        """Lists the live workers' records, oldest heartbeat first, in one read.

        See :meth:`~alligator.capabilities.WorkerRegistry.worker_records`: a
        record over :attr:`~alligator.backend.Backend.max_payload_bytes` is
        measured in SQL and never read, one not valid UTF-8 is skipped.
        """
        rows = self._all(
            queries.LIVE_WORKERS,
            {
                "max_id": self.max_task_id_bytes,
                "max_bytes": self.max_payload_bytes,
                "now": self._now_arg(),
                "limit": max(self.max_workers, 0),
            },
        )
        found: list[tuple[str, str]] = []
        for worker_id, raw_record in rows:
            if raw_record is None:
                continue  # over the limit
            try:
                found.append((worker_id, bytes(raw_record).decode("utf-8")))
            except UnicodeDecodeError:
                continue
        return found

    # -- pausing ---------------------------------------------------------

    def set_paused(self, kind: str, name: str, paused: bool) -> bool:
        """Pauses or resumes one queue or function in one transaction.

        See :meth:`~.capabilities.Pausing.set_paused`.
        """
        check_target(kind, name)
        target = {"kind": kind, "name": name}

        def body(conn: psycopg.Connection[Any]) -> bool:
            if not paused:
                return conn.execute(queries.RESUME, target).rowcount > 0
            conn.execute(queries.PAUSE_LOCK)
            if conn.execute(queries.PAUSE_EXISTS, target).fetchone():
                return False
            (count,) = conn.execute(queries.COUNT_PAUSES).fetchone() or (0,)
            if count >= self.max_pauses:
                raise ValueError(f"this store keeps at most {self.max_pauses} pauses; resume some first")
            conn.execute(queries.ADD_PAUSE, target)
            return True

        return self._transaction(body)

    def paused(self) -> list[tuple[str, str]]:
        """Lists the pauses in one read; see :meth:`~alligator.capabilities.Pausing.paused`."""
        rows = self._all(queries.LIST_PAUSES, {"max_name": MAX_PAUSE_NAME_BYTES, "limit": self.max_pauses})
        return listed([(kind, name) for kind, name in rows if name is not None], self.max_pauses)
