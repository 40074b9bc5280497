"""The kit passes a backend that keeps every rule: its tests ask nothing the contract does not."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

from alligator.backend import Backend
from alligator.capabilities import Administration
from alligator.testing import BackendContract, SharedStoreContract
from alligator.testing.contract import BackendFactory, PlantRawPayload
from alligator.testing.inspection import DeadLetterManagementContract
from alligator.testing.selftest.reference import BlockingReferenceBackend, ReferenceBackend
from alligator.testing.selftest.shared_file import SqliteFileBackend


class TestReferenceBackend(BackendContract):
    # Each store lives in this process only.
    shares_store_across_processes = False

    @pytest.fixture
    def backend(self) -> Iterator[ReferenceBackend]:
        backend = ReferenceBackend()
        yield backend
        backend.close()

    @pytest.fixture
    def plant_raw_payload(self, backend: ReferenceBackend) -> PlantRawPayload:
        return backend.plant

    @pytest.fixture
    def plant_raw_result(self, backend: ReferenceBackend) -> PlantRawPayload:
        return backend.plant_result

    @pytest.fixture
    def backend_factory(self, backend: ReferenceBackend) -> BackendFactory:
        return backend.another_client


class TestBlockingReferenceBackend(TestReferenceBackend):
    """The reference whose waits wait: the kit's tests of blocking calls take their other branch."""

    @pytest.fixture
    def backend(self) -> Iterator[ReferenceBackend]:
        backend = BlockingReferenceBackend()
        yield backend
        backend.close()


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


class _BaseClassDefaults(ReferenceBackend):
    """The reference, with ``purge_dead`` and ``requeue_all`` taken from the protocol's defaults."""

    purge_dead = Administration.purge_dead
    requeue_all = Administration.requeue_all


class TestBaseClassDefaults(DeadLetterManagementContract):
    """A backend that implements only ``delete_dead`` and ``requeue`` gets working bulk steps."""

    @pytest.fixture
    def backend(self) -> Iterator[ReferenceBackend]:
        backend = _BaseClassDefaults()
        yield backend
        backend.close()

    def test_requeue_all_leaves_a_letter_requeue_refuses(self, backend: ReferenceBackend) -> None:
        # Hand-made: the same id live and dead, which requeue refuses.
        backend.push("q", "a", "x")
        backend.push("q", "b", "x")
        for task_id in ("a", "b"):
            held = backend.get("q", task_id, 30.0)
            assert held is not None and backend.dead_letter("q", task_id, held.receipt, "why")
        backend.plant("q", "a", b"live")
        assert backend.requeue_all("q") == 1
        assert [d.task_id for d in backend.dead_letters("q")] == ["a"]
