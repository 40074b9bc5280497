"""The kit passes what keeps every rule: its tests ask nothing the contract does not.

locmem, the reference backend, passes the whole kit in
``test_locmem_contract.py``. Here: locmem with waits that do not wait (so
the kit's tests of blocking calls take their other branch), the store that
several processes share (for the tests of several clients), and locmem with
the bulk dead-letter steps taken from the protocol's defaults.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from locmem_kit import LocmemFixtures, plant
from shared_file import SqliteFileBackend

from alligator.backend import Backend, Reservation
from alligator.capabilities import Administration
from alligator.testing import BackendContract, DeadLetterManagementContract, SharedStoreContract
from alligator.testing.fixtures import BackendFactory
from alligator_locmem import LocmemBackend


class NonBlockingLocmem(LocmemBackend):
    """locmem whose reserve never waits, as a store that cannot block would be."""

    blocking_reserve = False

    def reserve(
        self, queue: str, lease_seconds: float, limit: int = 1, timeout: float = 0.0
    ) -> list[Reservation]:
        return super().reserve(queue, lease_seconds, limit, 0.0)

    def reserve_first(
        self, queues: Sequence[str], lease_seconds: float, limit: int = 1, timeout: float = 0.0
    ) -> tuple[str, list[Reservation]]:
        return super().reserve_first(queues, lease_seconds, limit, 0.0)

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> bool:
        # What the core does for a store that cannot wake: a short nap, then False.
        time.sleep(min(max(timeout, 0.0), 0.1))
        return False


class TestNonBlockingLocmem(LocmemFixtures, BackendContract):
    """The kit's tests of blocking calls take their other branch."""

    backend_class = NonBlockingLocmem


class TestSqliteFileBackend(SharedStoreContract):
    """The store shared by processes passes the tests of several clients (its broken variant does not)."""

    @pytest.fixture
    def backend_factory(self, tmp_path: Path) -> BackendFactory:
        return functools.partial(SqliteFileBackend, str(tmp_path / "store.db"))

    @pytest.fixture
    def backend(self, backend_factory: BackendFactory) -> Iterator[Backend]:
        backend = backend_factory()
        yield backend
        backend.close()


class _BaseClassDefaults(LocmemBackend):
    """locmem, with ``purge_dead`` and ``requeue_all`` taken from the protocol's defaults."""

    purge_dead = Administration.purge_dead
    requeue_all = Administration.requeue_all


class TestBaseClassDefaults(LocmemFixtures, DeadLetterManagementContract):
    """A backend that implements only ``delete_dead`` and ``requeue`` gets working bulk steps."""

    backend_class = _BaseClassDefaults

    def test_requeue_all_leaves_a_letter_requeue_refuses(self, backend: _BaseClassDefaults) -> None:
        # Hand-made: the same id live and dead, which requeue refuses.
        backend.push("q", "a", "x")
        backend.push("q", "b", "x")
        for task_id in ("a", "b"):
            held = backend.get("q", task_id, 30.0)
            assert held is not None and backend.dead_letter("q", task_id, held.receipt, "why")
        plant(backend, "q", "a", b"live")
        assert backend.requeue_all("q") == 1
        assert [d.task_id for d in backend.dead_letters("q")] == ["a"]
