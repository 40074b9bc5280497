"""The SQLite backend passes the backend contract kit, adopted as any third-party backend would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alligator.testing import BackendContract
from alligator_sqlite import SqliteBackend


class TestSqliteContract(BackendContract):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator[SqliteBackend]:
        backend = SqliteBackend(f"sqlite:///{tmp_path}/kit.db")
        yield backend
        backend.close()
