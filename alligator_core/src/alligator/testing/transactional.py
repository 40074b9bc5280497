"""The kit's tests of enqueueing inside the caller's transaction: ``push_in()``.

A backend that claims :class:`~alligator.transactional_store.TransactionalEnqueue`
adopts :class:`TransactionalEnqueueContract` and provides one more fixture,
``caller_connection``: a callable returning a new DB-API connection to the
store's database, *not* in autocommit mode, as the application would hold
(``sqlite3.connect(path)``, ``psycopg.connect(dsn)``). The kit commits,
rolls back and closes what it opens::

    class TestMyBackend(RequiredContract, TransactionalEnqueueContract):
        @pytest.fixture
        def caller_connection(self, backend):
            return lambda: psycopg.connect(backend.conn_string)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from alligator import capabilities
from alligator.constants import DELAYED, WAITING
from alligator.testing.fixtures import LEASE, ContractFixtures, assert_claims
from alligator.transactional_store import TransactionalEnqueue

#: ``open()``: a new connection to the store's database, in a transaction on first write.
CallerConnection = Callable[[], Any]


class TransactionalEnqueueContract(ContractFixtures):
    """Tasks written through the caller's connection exist exactly when its transaction commits."""

    @pytest.fixture
    def caller_connection(self) -> CallerConnection:
        """Returns ``open()``, a new DB-API connection to the store's database; override it."""
        raise NotImplementedError(
            "override the 'caller_connection' fixture: return a callable opening a new DB-API connection "
            "to your store's database (not in autocommit mode), as an application holds one"
        )

    @pytest.fixture
    def caller(self, caller_connection: CallerConnection) -> Iterator[Any]:
        """One connection of the caller's, rolled back and closed after the test."""
        conn = caller_connection()
        yield conn
        try:
            conn.rollback()
        finally:
            conn.close()

    @staticmethod
    def _store(backend: Any) -> TransactionalEnqueue:
        return capabilities.transactional(backend)

    def test_the_backend_claims_transactional_enqueue(self, backend: Any) -> None:
        assert_claims(backend, TransactionalEnqueue, "TransactionalEnqueueContract")

    def test_a_committed_push_is_a_task(self, backend: Any, caller: Any, queue: str) -> None:
        assert self._store(backend).push_in(caller, queue, [("t1", "payload \x00 é", 0.0)]) == 1
        caller.commit()
        assert backend.status(queue, "t1") == WAITING
        [got] = backend.reserve(queue, LEASE)
        assert (got.task_id, got.payload) == ("t1", "payload \x00 é")

    def test_nobody_sees_the_task_before_the_commit(self, backend: Any, caller: Any, queue: str) -> None:
        # Reads only: a store whose writers take one lock (SQLite) makes a
        # reserve wait for the caller's commit, which is fine and not tested here.
        assert self._store(backend).push_in(caller, queue, [("t1", "x", 0.0), ("t2", "y", 30.0)]) == 2
        assert (backend.status(queue, "t1"), backend.peek(queue, "t1"), backend.len(queue)) == (None, None, 0)
        caller.commit()
        assert (backend.status(queue, "t1"), backend.status(queue, "t2")) == (WAITING, DELAYED)

    def test_a_rolled_back_push_never_existed(self, backend: Any, caller: Any, queue: str) -> None:
        assert self._store(backend).push_in(caller, queue, [("t1", "x", 0.0)]) == 1
        caller.rollback()
        assert backend.status(queue, "t1") is None
        assert backend.reserve(queue, LEASE) == []
        assert backend.push(queue, "t1", "again") is True  # the id is free

    def test_a_connection_closed_before_the_commit_leaves_nothing(
        self, backend: Any, caller_connection: CallerConnection, queue: str
    ) -> None:
        conn = caller_connection()
        assert self._store(backend).push_in(conn, queue, [("t1", "x", 0.0)]) == 1
        conn.close()
        assert backend.status(queue, "t1") is None
        assert backend.len(queue) == 0

    def test_ids_stay_unique(self, backend: Any, caller: Any, queue: str) -> None:
        assert backend.push(queue, "live", "x")
        store = self._store(backend)
        assert (
            store.push_in(caller, queue, [("live", "other", 0.0), ("new", "y", 0.0), ("new", "z", 0.0)]) == 1
        )
        caller.commit()
        assert backend.peek(queue, "live") == "x"
        assert backend.peek(queue, "new") == "y"

    def test_a_delay_that_is_not_finite_is_refused_before_any_write(
        self, backend: Any, caller: Any, queue: str
    ) -> None:
        with pytest.raises(ValueError):
            self._store(backend).push_in(caller, queue, [("t1", "x", 0.0), ("t2", "x", math.nan)])
        caller.commit()
        assert backend.status(queue, "t1") is None

    def test_a_connection_of_another_kind_is_refused(self, backend: Any, queue: str) -> None:
        with pytest.raises(TypeError, match="connection"):
            self._store(backend).push_in(object(), queue, [("t1", "x", 0.0)])
        assert backend.status(queue, "t1") is None
