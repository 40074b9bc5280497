"""Raw reads of an alligator PostgreSQL database, for the reliability proofs.

Follows the schema of ``alligator_postgres`` (version 2): a waiting task
has ``receipt`` NULL; a reserved one has ``receipt`` set and ``due`` = the
end of its lease, on the server's clock (Unix time).
"""

from __future__ import annotations

import psycopg

_TABLES = (
    "alligator_tasks",
    "alligator_dead",
    "alligator_finished",
    "alligator_results",
    "alligator_unique_keys",
    "alligator_schedule_ticks",
)


class Leases:
    """The store's view of every lease of a queue, read again on each call (see raw_sqlite.Leases)."""

    def __init__(self, dsn: str, queue: str) -> None:
        self.dsn = dsn
        self.queue = queue
        self.conn: psycopg.Connection | None = None

    def __call__(self) -> dict[tuple[str, str], float]:
        if self.conn is None or self.conn.closed:
            self.conn = psycopg.connect(self.dsn, autocommit=True)
        rows = self.conn.execute(
            "SELECT task_id, receipt, due FROM alligator_tasks WHERE queue = %s AND receipt IS NOT NULL",
            (self.queue,),
        ).fetchall()
        return {(task_id, str(receipt)): float(due) for task_id, receipt, due in rows}

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def drop(dsn: str, queue: str) -> None:
    """Deletes every row of the queue."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in _TABLES:
            conn.execute(f"DELETE FROM {table} WHERE queue = %s", (queue,))
