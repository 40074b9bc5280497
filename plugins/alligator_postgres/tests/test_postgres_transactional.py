"""Unique keys and priorities through the application's connection, as a Gator user writes them.

The kit (TransactionalUniqueContract, TransactionalPriorityContract) proves
the store's methods; these tests go through ``gator.options(connection=...)``
and ``gator.batch(connection=...)``, and prove what is PostgreSQL's own: the
key's lock belongs to the caller's transaction (another producer of the key
waits for its commit), and a connection in autocommit mode still claims a
key in one atomic step.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from alligator import Gator
from alligator.constants import WAITING
from alligator_postgres import PostgresBackend

WAIT = 60.0


@pytest.fixture
def gator(schema_dsn: str) -> Iterator[Gator]:
    made = Gator(schema_dsn, queue_name="orders")
    yield made
    made.backend.close()


def test_a_unique_task_is_claimed_in_the_application_s_transaction(gator: Gator, schema_dsn: str) -> None:
    with psycopg.connect(schema_dsn) as conn:
        with gator.options(connection=conn, unique_for=60, unique_key="order-1") as opts:
            first = opts.task(abs, -1)
            again = opts.task(abs, -2)
        assert (first.queued, again.queued, again.held_by) == (True, False, first.task_id), (
            "the caller's own transaction sees its claim"
        )
        assert gator.backend.status("orders", first.task_id) is None, "not committed yet"
        conn.commit()
        with gator.options(connection=conn, unique_for=60, unique_key="order-2") as opts:
            dropped = opts.task(abs, -3)
        assert dropped.queued is True
        conn.rollback()
    assert gator.backend.status("orders", first.task_id) == WAITING
    later = gator.options(unique_for=60, unique_key="order-1").task(abs, -4)
    assert (later.queued, later.held_by) == (False, first.task_id)
    free = gator.options(unique_for=60, unique_key="order-2").task(abs, -5)
    assert free.queued is True, "the rolled-back claim left the key free"
    assert gator.len() == 2


def test_a_batch_with_priorities_is_written_in_the_application_s_transaction(
    gator: Gator, schema_dsn: str
) -> None:
    plain = gator.task(abs, 0)
    with psycopg.connect(schema_dsn) as conn:
        with gator.batch(connection=conn, priority=5) as batch:
            high = batch.task(abs, 1)
        with gator.options(connection=conn, priority=-5) as opts:
            low = opts.task(abs, 2)
        assert gator.len() == 1, "nothing is seen before the commit"
        conn.commit()
    reserved = [r.task_id for r in gator.backend.reserve("orders", 30.0, 10)]
    assert reserved == [high.task_id, plain.task_id, low.task_id]


def test_a_connection_in_autocommit_mode_claims_a_key_in_one_step(gator: Gator, schema_dsn: str) -> None:
    with psycopg.connect(schema_dsn, autocommit=True) as conn:
        with gator.options(connection=conn, unique_for=60, unique_key="k") as opts:
            task = opts.task(abs, -1)
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE, "its own transaction ended"
    assert gator.backend.status("orders", task.task_id) == WAITING
    assert [k.holder for k in gator.backend.unique_keys("orders")] == [task.task_id]  # type: ignore[attr-defined]


def _waiting_on_an_advisory_lock(dsn: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()
    return bool(row and row[0])


def test_another_producer_of_the_key_waits_for_the_caller_s_commit(schema_dsn: str) -> None:
    backend = PostgresBackend(schema_dsn)
    other = PostgresBackend(schema_dsn)
    got: list[tuple[bool, str]] = []
    try:
        with psycopg.connect(schema_dsn) as conn:
            assert backend.push_unique_in(conn, "q", "mine", "x", 0.0, "k", "until_finished", 60.0) == (
                True,
                "",
            )
            racer = threading.Thread(
                target=lambda: got.append(
                    other.push_unique("q", "theirs", "x", 0.0, "k", "until_finished", 60.0)
                )
            )
            racer.start()
            deadline = time.monotonic() + WAIT
            while not _waiting_on_an_advisory_lock(schema_dsn):
                assert time.monotonic() < deadline, "the other producer never waited for the key"
                time.sleep(0.05)
            assert got == [], "it waits while the caller's transaction is open"
            conn.commit()
            racer.join(WAIT)
        assert got == [(False, "mine")], "after the commit it finds the key held"
        assert backend.len("q") == 1
    finally:
        backend.close()
        other.close()
