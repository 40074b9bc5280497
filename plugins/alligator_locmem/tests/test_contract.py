"""locmem passes the backend contract kit, adopted as any third-party backend would."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from alligator.testing import BackendContract
from alligator_locmem import LocmemBackend


class TestLocmemContract(BackendContract):
    @pytest.fixture
    def backend(self) -> Iterator[LocmemBackend]:
        backend = LocmemBackend(f"locmem://kit-{uuid.uuid4().hex}")
        yield backend
        backend.close()
