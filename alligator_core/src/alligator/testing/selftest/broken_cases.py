"""The kit adopted by every broken variant; ``test_kit.py`` runs this in a pytest of its own.

Its name does not start with ``test_``, so a plain ``pytest`` run never
collects it: these classes are meant to fail.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from alligator.testing import BackendContract
from alligator.testing.contract import PlantRawPayload
from alligator.testing.selftest.broken import BROKEN
from alligator.testing.selftest.reference import ReferenceBackend


class _Adoption(BackendContract):
    backend_class: type[ReferenceBackend] = ReferenceBackend

    @pytest.fixture
    def backend(self) -> Iterator[ReferenceBackend]:
        backend = self.backend_class()
        yield backend
        backend.close()

    @pytest.fixture
    def plant_raw_payload(self, backend: ReferenceBackend) -> PlantRawPayload:
        return backend.plant


# One adopting class per variant, named Test<Variant>.
for _variant in BROKEN:
    globals()[f"Test{_variant.__name__}"] = type(
        f"Test{_variant.__name__}", (_Adoption,), {"backend_class": _variant}
    )
