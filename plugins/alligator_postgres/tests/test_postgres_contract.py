"""The PostgreSQL backend passes the whole contract kit on a real server, adopted as any backend would.

Each test gets tables of its own (a schema of its own in the session's
database); the kit's several clients, in threads and in other processes,
open the same DSN.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import psycopg
import pytest

from alligator import capabilities
from alligator.testing import (
    BackendContract,
    TransactionalEnqueueContract,
    TransactionalPriorityContract,
    TransactionalUniqueContract,
)
from alligator_postgres import PostgresBackend

Plant = Callable[[str, str, bytes], None]


class TestPostgresContract(
    BackendContract, TransactionalEnqueueContract, TransactionalUniqueContract, TransactionalPriorityContract
):
    # Every capability: BackendContract has every mixin but those of
    # enqueueing in the caller's transaction, which only the SQL stores claim.
    @pytest.fixture
    def backend(self, schema_dsn: str) -> Iterator[PostgresBackend]:
        backend = PostgresBackend(schema_dsn)
        yield backend
        backend.close()

    @pytest.fixture
    def backend_factory(self, backend: PostgresBackend) -> Callable[[], PostgresBackend]:
        return functools.partial(PostgresBackend, backend.conn_string)

    @pytest.fixture
    def caller_connection(self, backend: PostgresBackend) -> Callable[[], psycopg.Connection]:
        """The application's own connection (psycopg 3, not in autocommit: a transaction on first use)."""
        return functools.partial(psycopg.connect, backend.conn_string)

    @pytest.fixture
    def plant_raw_payload(self, backend: PostgresBackend) -> Plant:
        """Writes a due-now waiting task with exactly these payload bytes."""

        def plant(queue: str, task_id: str, data: bytes) -> None:
            with psycopg.connect(backend.conn_string, autocommit=True) as conn:
                conn.execute(
                    "INSERT INTO alligator_tasks (queue, task_id, payload, due) VALUES (%s, %s, %s, %s)",
                    (queue, task_id, data, backend.now()),
                )

        return plant

    @pytest.fixture
    def plant_raw_result(self, backend: PostgresBackend) -> Plant:
        """Replaces a kept result's stored bytes with exactly ``data``, its expiry untouched."""

        def plant(queue: str, task_id: str, data: bytes) -> None:
            with psycopg.connect(backend.conn_string, autocommit=True) as conn:
                changed = conn.execute(
                    "UPDATE alligator_results SET result = %s WHERE queue = %s AND task_id = %s",
                    (data, queue, task_id),
                ).rowcount
            assert changed == 1, f"no result kept for {task_id!r} in {queue!r}"

        return plant

    def test_claims_every_capability(self, backend: PostgresBackend) -> None:
        every = [capability.__name__ for capability in capabilities.CAPABILITIES]
        assert capabilities.claimed(backend) == every
