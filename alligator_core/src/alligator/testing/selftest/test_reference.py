"""The kit passes a backend that keeps every rule: its tests ask nothing the contract does not."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

from alligator.backend import Backend
from alligator.testing import BackendContract, SharedStoreContract
from alligator.testing.contract import BackendFactory, PlantRawPayload
from alligator.testing.selftest.reference import ReferenceBackend
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
    def backend_factory(self, backend: ReferenceBackend) -> BackendFactory:
        return backend.another_client


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
