"""The kit adopted by every broken variant; ``test_kit.py`` runs this in a pytest of its own.

Its name does not start with ``test_``, so a plain ``pytest`` run never
collects it: these classes are meant to fail.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

from alligator.testing import BackendContract, SharedStoreContract
from alligator.testing.contract import BackendFactory, PlantRawPayload
from alligator.testing.selftest.broken import BROKEN
from alligator.testing.selftest.reference import ReferenceBackend
from alligator.testing.selftest.shared_file import InProcessLockOnly


class _Adoption(BackendContract):
    backend_class: type[ReferenceBackend] = ReferenceBackend
    shares_store_across_processes = False

    @pytest.fixture
    def backend(self) -> Iterator[ReferenceBackend]:
        backend = self.backend_class()
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


# One adopting class per variant of the reference, named Test<Variant>.
for _variant in BROKEN:
    if not issubclass(_variant, ReferenceBackend):
        continue
    globals()[f"Test{_variant.__name__}"] = type(
        f"Test{_variant.__name__}", (_Adoption,), {"backend_class": _variant}
    )
