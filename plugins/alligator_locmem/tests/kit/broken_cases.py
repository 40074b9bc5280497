"""The kit adopted by every broken variant; ``test_kit.py`` runs this in a pytest of its own.

Its name does not start with ``test_``, so a plain ``pytest`` run never
collects it: these classes are meant to fail.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest
from broken_backends import BROKEN
from locmem_kit import LocmemFixtures
from shared_file import InProcessLockOnly

from alligator.testing import BackendContract, SharedStoreContract
from alligator.testing.fixtures import BackendFactory
from alligator_locmem import LocmemBackend


class _Adoption(LocmemFixtures, BackendContract):
    pass


class TestInProcessLockOnly(SharedStoreContract):
    @pytest.fixture
    def backend_factory(self, tmp_path: Path) -> BackendFactory:
        return functools.partial(InProcessLockOnly, str(tmp_path / "store.db"))

    @pytest.fixture
    def backend(self, backend_factory: BackendFactory) -> Iterator[InProcessLockOnly]:
        backend = backend_factory()
        assert isinstance(backend, InProcessLockOnly)
        yield backend
        backend.close()


# One adopting class per variant of locmem, named Test<Variant>.
for _variant in BROKEN:
    if not issubclass(_variant, LocmemBackend):
        continue
    globals()[f"Test{_variant.__name__}"] = type(
        f"Test{_variant.__name__}", (_Adoption,), {"backend_class": _variant}
    )
