"""The kit passes a backend that keeps every rule: its tests ask nothing the contract does not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from alligator.testing import BackendContract
from alligator.testing.contract import PlantRawPayload
from alligator.testing.selftest.reference import ReferenceBackend


class TestReferenceBackend(BackendContract):
    @pytest.fixture
    def backend(self) -> Iterator[ReferenceBackend]:
        backend = ReferenceBackend()
        yield backend
        backend.close()

    @pytest.fixture
    def plant_raw_payload(self, backend: ReferenceBackend) -> PlantRawPayload:
        return backend.plant
