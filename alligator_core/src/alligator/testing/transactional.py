"""The kit's tests of enqueueing inside the caller's transaction: ``push_in()`` and its kin.

A backend that claims :class:`~alligator.transactional_store.TransactionalEnqueue`
adopts :class:`TransactionalEnqueueContract` (and, for the two capabilities
on top of it, :class:`TransactionalUniqueContract` and
:class:`TransactionalPriorityContract`) and provides one more fixture,
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
from alligator.transactional_store import (
    TransactionalEnqueue,
    TransactionalPriority,
    TransactionalUnique,
    transactional_priority,
    transactional_unique,
)
from alligator.unique_store import DEBOUNCE, UNTIL_FINISHED

#: ``open()``: a new connection to the store's database, in a transaction on first write.
CallerConnection = Callable[[], Any]


#: The window the unique tests push with.
WINDOW = 60.0


class CallerFixtures(ContractFixtures):
    """The caller's connection, for the three mixins of enqueueing in the caller's transaction."""

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


class TransactionalEnqueueContract(CallerFixtures):
    """Tasks written through the caller's connection exist exactly when its transaction commits."""

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


class TransactionalUniqueContract(CallerFixtures):
    """A unique task's key is claimed in the caller's transaction: committed with its task, or neither.

    The store's own pushes of a key run only once the caller's transaction
    has ended: until then they may wait for it (a store whose writers take
    one lock, SQLite; a lock on the key, PostgreSQL).
    """

    @staticmethod
    def _push(backend: Any, caller: Any, queue: str, task_id: str, mode: str = UNTIL_FINISHED) -> Any:
        return transactional_unique(backend).push_unique_in(
            caller,
            queue,
            task_id,
            f"payload-{task_id}",
            WINDOW if mode == DEBOUNCE else 0.0,
            "k",
            mode,
            WINDOW,
        )

    def test_the_backend_claims_transactional_unique(self, backend: Any) -> None:
        assert_claims(backend, TransactionalUnique, "TransactionalUniqueContract")

    def test_a_committed_claim_holds_the_key_for_its_task(
        self, backend: Any, caller: Any, queue: str
    ) -> None:
        assert self._push(backend, caller, queue, "t1") == (True, "")
        assert backend.status(queue, "t1") is None, "nobody sees the task before the commit"
        caller.commit()
        assert backend.status(queue, "t1") == WAITING
        assert backend.push_unique(queue, "t2", "x", 0.0, "k", UNTIL_FINISHED, WINDOW) == (False, "t1")
        assert [k.holder for k in backend.unique_keys(queue)] == ["t1"]

    def test_a_rolled_back_claim_leaves_no_task_and_the_key_free(
        self, backend: Any, caller: Any, queue: str
    ) -> None:
        assert self._push(backend, caller, queue, "t1") == (True, "")
        caller.rollback()
        assert backend.status(queue, "t1") is None
        assert backend.unique_keys(queue) == []
        assert backend.push_unique(queue, "t2", "x", 0.0, "k", UNTIL_FINISHED, WINDOW) == (True, "")

    def test_a_connection_closed_before_the_commit_leaves_the_key_free(
        self, backend: Any, caller_connection: CallerConnection, queue: str
    ) -> None:
        conn = caller_connection()
        assert self._push(backend, conn, queue, "t1") == (True, "")
        conn.close()
        assert backend.status(queue, "t1") is None
        assert backend.push_unique(queue, "t2", "x", 0.0, "k", UNTIL_FINISHED, WINDOW) == (True, "")

    def test_a_key_held_already_refuses_the_push_and_names_its_holder(
        self, backend: Any, caller: Any, queue: str
    ) -> None:
        assert backend.push_unique(queue, "held", "x", 0.0, "k", UNTIL_FINISHED, WINDOW) == (True, "")
        assert self._push(backend, caller, queue, "t1") == (False, "held")
        caller.commit()
        assert backend.status(queue, "t1") is None
        assert backend.len(queue) == 1

    def test_a_debounce_rolled_back_leaves_the_holder_queued(
        self, backend: Any, caller: Any, queue: str
    ) -> None:
        assert backend.push_unique(queue, "first", "x", WINDOW, "k", DEBOUNCE, WINDOW) == (True, "")
        assert self._push(backend, caller, queue, "second", DEBOUNCE) == (True, "first")
        caller.rollback()
        assert (backend.status(queue, "first"), backend.status(queue, "second")) == (DELAYED, None)
        assert [k.holder for k in backend.unique_keys(queue)] == ["first"]

    def test_a_delay_that_is_not_finite_is_refused_before_any_write(
        self, backend: Any, caller: Any, queue: str
    ) -> None:
        with pytest.raises(ValueError):
            transactional_unique(backend).push_unique_in(
                caller, queue, "t1", "x", math.nan, "k", UNTIL_FINISHED, WINDOW
            )
        caller.commit()
        assert backend.push_unique(queue, "t2", "x", 0.0, "k", UNTIL_FINISHED, WINDOW) == (True, "")

    def test_a_connection_of_another_kind_is_refused(self, backend: Any, queue: str) -> None:
        with pytest.raises(TypeError, match="connection"):
            self._push(backend, object(), queue, "t1")
        assert backend.status(queue, "t1") is None


class TransactionalPriorityContract(CallerFixtures):
    """Tasks with a priority written through the caller's connection: ranked, and only once committed."""

    def test_the_backend_claims_transactional_priority(self, backend: Any) -> None:
        assert_claims(backend, TransactionalPriority, "TransactionalPriorityContract")

    def test_committed_tasks_are_reserved_by_their_priority(
        self, backend: Any, caller: Any, queue: str
    ) -> None:
        assert backend.push(queue, "plain", "x")
        items = [("low", "l", 0.0, -5), ("high", "h", 0.0, 5), ("zero", "z", 0.0, 0)]
        assert transactional_priority(backend).push_prioritized_in(caller, queue, items) == 3
        assert backend.status(queue, "high") is None, "nobody sees the tasks before the commit"
        caller.commit()
        assert [r.task_id for r in backend.reserve(queue, LEASE, 10)] == ["high", "plain", "zero", "low"]

    def test_rolled_back_tasks_never_existed(self, backend: Any, caller: Any, queue: str) -> None:
        assert transactional_priority(backend).push_prioritized_in(caller, queue, [("t1", "x", 0.0, 9)]) == 1
        caller.rollback()
        assert backend.status(queue, "t1") is None
        assert backend.reserve(queue, LEASE) == []

    @pytest.mark.parametrize(("bad", "error"), [(101, ValueError), (True, TypeError), (1.0, TypeError)])
    def test_a_bad_priority_is_refused_before_any_write(
        self, backend: Any, caller: Any, queue: str, bad: Any, error: type
    ) -> None:
        with pytest.raises(error):
            transactional_priority(backend).push_prioritized_in(
                caller, queue, [("t1", "x", 0.0, 1), ("t2", "x", 0.0, bad)]
            )
        caller.commit()
        assert backend.len(queue) == 0

    def test_a_connection_of_another_kind_is_refused(self, backend: Any, queue: str) -> None:
        with pytest.raises(TypeError, match="connection"):
            transactional_priority(backend).push_prioritized_in(object(), queue, [("t1", "x", 0.0, 1)])
        assert backend.status(queue, "t1") is None
