"""The kit's fixtures for locmem and its variants: a fresh store per test, raw records planted by hand.

Shared by the self-test's classes (:mod:`broken_cases`, ``test_reference.py``,
``test_required_only.py``); locmem's own adoption
(``test_locmem_contract.py``) has the same fixtures of its own, as a
third-party backend would.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterator

import pytest

from alligator.testing.fixtures import BackendFactory, ContractFixtures, PlantRawPayload
from alligator_locmem import LocmemBackend, _Entry
from alligator_locmem.required import RequiredLocmem


def plant(backend: RequiredLocmem, queue: str, task_id: str, data: bytes) -> None:
    """Puts a waiting, due-now task straight into the store, as the str locmem would hold for ``data``."""
    with backend._cond:
        q = backend._queue(queue)
        backend._enqueue(q, task_id, _Entry(data.decode("utf-8", "surrogateescape"), 0.0, 0), backend.now())


def plant_result(backend: RequiredLocmem, queue: str, task_id: str, data: bytes) -> None:
    """Replaces a kept result by the str locmem would hold for ``data``, keeping its TTL."""
    with backend._cond:
        q = backend._queue(queue)
        _, until, at = q.results[task_id]
        q.results[task_id] = (data.decode("utf-8", "surrogateescape"), until, at)


def new_store() -> str:
    """A DSN of a locmem store no other test uses."""
    return f"locmem://kit-selftest-{uuid.uuid4().hex}"


class LocmemFixtures(ContractFixtures):
    """The kit's fixtures for ``backend_class``, a locmem class or a variant of one."""

    backend_class: Callable[[str], RequiredLocmem] = LocmemBackend
    # A locmem store lives in one process; its clients there share it by name.
    shares_store_across_processes = False

    @pytest.fixture
    def backend(self) -> Iterator[RequiredLocmem]:
        backend = self.backend_class(new_store())
        yield backend
        backend.close()

    @pytest.fixture
    def backend_factory(self, backend: RequiredLocmem) -> BackendFactory:
        return functools.partial(self.backend_class, backend.conn_string)

    @pytest.fixture
    def plant_raw_payload(self, backend: RequiredLocmem) -> PlantRawPayload:
        return functools.partial(plant, backend)

    @pytest.fixture
    def plant_raw_result(self, backend: RequiredLocmem) -> PlantRawPayload:
        return functools.partial(plant_result, backend)
