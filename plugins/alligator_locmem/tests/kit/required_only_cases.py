"""The whole kit adopted by a backend with the required part only; ``test_required_only.py`` runs it.

Its name does not start with ``test_``, so a plain ``pytest`` run never
collects it: every capability mixin's tests are meant to fail here.
"""

from __future__ import annotations

from locmem_kit import LocmemFixtures
from test_required_only import REQUIRED_ONLY, EveryMixin


class TestEveryMixinOnARequiredOnlyBackend(LocmemFixtures, EveryMixin):
    backend_class = REQUIRED_ONLY
