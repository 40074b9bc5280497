"""Unique keys and priorities through the application's ``sqlite3`` connection, as a Gator user writes them.

The kit (TransactionalUniqueContract, TransactionalPriorityContract) proves
the store's methods; these tests go through ``gator.options(connection=...)``
and ``gator.batch(connection=...)``, and through a connection in autocommit
mode, which gets a transaction of its own for the key's read and write.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from alligator import Gator
from alligator.capabilities import Unsupported
from alligator.constants import WAITING
from alligator.testing.capable import without
from alligator.transactional_store import TransactionalPriority, TransactionalUnique
from alligator_sqlite import SqliteBackend


@pytest.fixture
def gator(tmp_path: Path) -> Iterator[Gator]:
    made = Gator(f"sqlite:///{tmp_path / 'tasks.db'}", queue_name="orders")
    yield made
    made.backend.close()


def _connect(gator: Gator, autocommit: bool = False) -> sqlite3.Connection:
    path = gator.backend.path  # type: ignore[attr-defined]
    return sqlite3.connect(path, isolation_level=None) if autocommit else sqlite3.connect(path)


def test_a_unique_task_is_claimed_in_the_application_s_transaction(gator: Gator) -> None:
    conn = _connect(gator)
    try:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
        conn.execute("INSERT INTO orders VALUES (1)")
        with gator.options(connection=conn, unique_for=60, unique_key="order-1") as opts:
            first = opts.task(abs, -1)
            again = opts.task(abs, -2)
        assert (first.queued, again.queued, again.held_by) == (True, False, first.task_id)
        conn.commit()
        conn.execute("INSERT INTO orders VALUES (2)")
        with gator.options(connection=conn, unique_for=60, unique_key="order-2") as opts:
            assert opts.task(abs, -3).queued is True
        conn.rollback()
    finally:
        conn.close()
    assert gator.backend.status("orders", first.task_id) == WAITING
    later = gator.options(unique_for=60, unique_key="order-1").task(abs, -4)
    assert (later.queued, later.held_by) == (False, first.task_id)
    assert gator.options(unique_for=60, unique_key="order-2").task(abs, -5).queued is True, (
        "the rolled-back claim left the key free"
    )
    assert gator.len() == 2


def test_a_batch_with_priorities_is_written_in_the_application_s_transaction(gator: Gator) -> None:
    plain = gator.task(abs, 0)
    conn = _connect(gator)
    try:
        with gator.batch(connection=conn, priority=5) as batch:
            high = batch.task(abs, 1)
        with gator.options(connection=conn, priority=-5) as opts:
            low = opts.task(abs, 2)
        conn.commit()
    finally:
        conn.close()
    reserved = [r.task_id for r in gator.backend.reserve("orders", 30.0, 10)]
    assert reserved == [high.task_id, plain.task_id, low.task_id]


def test_a_connection_in_autocommit_mode_claims_a_key_in_one_step(gator: Gator) -> None:
    conn = _connect(gator, autocommit=True)
    try:
        with gator.options(connection=conn, unique_for=60, unique_key="k") as opts:
            task = opts.task(abs, -1)
        assert not conn.in_transaction, "its own transaction was committed"
    finally:
        conn.close()
    assert gator.backend.status("orders", task.task_id) == WAITING
    assert [k.holder for k in gator.backend.unique_keys("orders")] == [task.task_id]  # type: ignore[attr-defined]


def test_a_store_without_the_capabilities_refuses_before_anything_is_written(tmp_path: Path) -> None:
    lacking = without(SqliteBackend, TransactionalUnique, TransactionalPriority)
    gator = Gator(f"sqlite:///{tmp_path / 'tasks.db'}", backend_class=lacking, queue_name="orders")
    conn = _connect(gator)
    try:
        with pytest.raises(Unsupported, match="TransactionalUnique"):
            gator.options(connection=conn, unique_for=60).task(abs, -1)
        with pytest.raises(Unsupported, match="TransactionalPriority"):
            gator.options(connection=conn, priority=3).task(abs, -1)
        with pytest.raises(Unsupported, match="TransactionalPriority"):
            with gator.batch(connection=conn, priority=3) as batch:
                batch.task(abs, -1)
        assert not conn.in_transaction, "nothing was written through the connection"
        assert gator.options(connection=conn).task(abs, -1).queued is True, "plain tasks still go through"
    finally:
        conn.close()
        gator.backend.close()
