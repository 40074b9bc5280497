"""The fixtures every mixin of the kit builds on, and the helpers they share.

:class:`ContractFixtures` is what an adopting test class overrides (the
``backend``, ``plant_raw_payload`` and ``backend_factory`` fixtures). It
lives here, apart from the mixins of :mod:`alligator.testing.contract`, so
each module of mixins imports it without importing the others: the kit's
modules import one another in one direction only.
:mod:`alligator.testing.contract` re-exports every name of this module.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from alligator import capabilities
from alligator.backend import Backend
from alligator.testing.clock import FakeClock

__all__ = [
    "LEASE",
    "BackendFactory",
    "ContractFixtures",
    "InspectionFixtures",
    "PlantRawPayload",
    "assert_claims",
    "assert_reason",
    "bury",
    "hold",
]

#: The lease, in seconds, the tests reserve with.
LEASE = 30.0

#: A zero-argument callable that returns a new client of the store under test:
#: see :meth:`ContractFixtures.backend_factory`.
BackendFactory = Callable[[], Backend]

#: ``plant(queue, task_id, data)``: see :meth:`ContractFixtures.plant_raw_payload`.
PlantRawPayload = Callable[[str, str, bytes], None]


def assert_reason(actual: str, expected: str) -> None:
    """Checks a reason the backend wrote: exactly ``expected``, or it followed by ``": "`` and a detail."""
    assert actual == expected or actual.startswith(f"{expected}: "), (
        f"reason {actual!r}, expected {expected!r}"
    )


def assert_claims(backend: object, capability: type, mixin: str) -> None:
    """Checks that ``backend`` claims ``capability``, as every capability mixin does first.

    A backend that adopts a capability's mixin without writing its methods
    fails here, saying which, rather than with a ``TypeError`` in every test.
    """
    missing = [
        name for name in capabilities.methods_of(capability) if not callable(getattr(backend, name, None))
    ]
    assert capabilities.supports(backend, capability), (
        f"{type(backend).__name__} adopts {mixin} but does not claim the {capability.__name__} capability: "
        f"it lacks {', '.join(missing)} (write them, or leave {mixin} out of the test class)"
    )


def hold(backend: Backend, queue: str, task_id: str, payload: str = "x") -> str:
    """Pushes a task, reserves it by id and returns the receipt."""
    assert backend.push(queue, task_id, payload)
    held = backend.get(queue, task_id, LEASE)
    assert held is not None
    return held.receipt


def bury(backend: Backend, queue: str, task_id: str, reason: str = "broken", payload: str = "x") -> None:
    """Pushes a task and dead-letters it at once."""
    assert backend.push(queue, task_id, payload)
    held = backend.get(queue, task_id, LEASE)
    assert held is not None
    assert backend.dead_letter(queue, task_id, held.receipt, reason)


class ContractFixtures:
    """The fixtures the contract tests use; an adopting class overrides three of them.

    ``backend`` (a fresh backend instance) must be overridden, and
    ``plant_raw_payload`` (a raw write into the store) and ``backend_factory``
    (another client of the same store) should be: the tests of unreadable
    records need the first, the tests of several clients the second.
    """

    #: Whether clients made by ``backend_factory`` in other processes see the
    #: same store. An in-process store (locmem, or a server living inside the
    #: test process such as fakeredis) sets it to False, and the test with
    #: several processes is left out of its class: not collected, rather
    #: than skipped, so a CI that fails on any skip still passes.
    shares_store_across_processes: bool = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.shares_store_across_processes and hasattr(
            cls, "test_clients_in_processes_never_hold_a_task_at_once"
        ):
            # pytest collects only callables: None removes the inherited test.
            cls.test_clients_in_processes_never_hold_a_task_at_once = None

    @pytest.fixture
    def backend(self) -> Iterator[Backend]:
        """A backend instance; subclasses must override this fixture."""
        raise NotImplementedError("override the 'backend' fixture to test your backend")

    @pytest.fixture
    def clock(self, backend: Backend) -> Iterator[FakeClock]:
        """A fake clock, installed as the backend's clock for the test."""
        fake = FakeClock()
        backend.clock = fake
        yield fake
        backend.clock = None

    @pytest.fixture
    def clocked_backend(self, backend: Backend, clock: FakeClock) -> Backend:
        """The backend, with the fake clock installed."""
        return backend

    @pytest.fixture
    def queue(self, backend: Backend) -> Iterator[str]:
        """A queue name no other test uses, emptied afterwards."""
        name = f"kit-{uuid.uuid4().hex[:12]}"
        yield name
        backend.drop_all(name)

    @pytest.fixture
    def plant_raw_payload(self) -> Callable[[str, str, bytes], None]:
        """Writes a task record straight into the store, as a hostile writer would.

        Override it to return a callable ``plant(queue, task_id, data)`` that
        stores a waiting task, due now (on the backend's clock, so
        ``backend.now()``), whose payload is exactly the bytes ``data``,
        bypassing :meth:`~alligator.backend.Backend.push` and any check it
        makes. The kit plants bytes that are not UTF-8 and payloads over
        :attr:`~alligator.backend.Backend.max_payload_bytes` this way. A store
        that keeps text rather than bytes stores what it would hold for such
        bytes (locmem: ``data.decode("utf-8", "surrogateescape")``).
        """
        raise NotImplementedError(
            "override the 'plant_raw_payload' fixture: return plant(queue, task_id, data: bytes), "
            "which writes a waiting task, due now, whose stored payload is exactly `data`, "
            "straight into your store without calling push() (as anyone with write access could); "
            "see 'Proving it: the test kit' in docs/extending.md"
        )

    @pytest.fixture
    def backend_factory(self, backend: Backend) -> BackendFactory:
        """Makes another client of the store ``backend`` uses; override it.

        Return a callable taking no arguments that returns a new backend
        instance on the same store, as a second worker would open it (a new
        connection, its own locks and caches). The kit closes every instance
        it makes. Unless :attr:`shares_store_across_processes` is False, the
        callable is sent to other processes, so it must pickle: a
        ``functools.partial(MyBackend, dsn)`` or a function defined at module
        level, never a lambda or a closure.
        """
        raise NotImplementedError(
            "override the 'backend_factory' fixture: return a picklable callable with no arguments "
            "(e.g. functools.partial(MyBackend, dsn)) that opens another client of the same store "
            "as `backend`; set shares_store_across_processes = False on the test class if other "
            "processes cannot reach that store; see 'Proving it: the test kit' in docs/extending.md"
        )

    @pytest.fixture
    def other_backend(self, backend_factory: BackendFactory) -> Iterator[Backend]:
        """Another client of the same store as ``backend``, made by ``backend_factory``."""
        other = backend_factory()
        yield other
        other.close()

    @pytest.fixture
    def payload_limit(self, backend: Backend) -> Iterator[Callable[[int], None]]:
        """Sets :attr:`~alligator.backend.Backend.max_payload_bytes` on the instance, as a Gator does.

        Whatever the instance had is put back after the test, so a fixture
        that hands out one shared instance stays unchanged.
        """
        own = vars(backend)
        saved = own.get("max_payload_bytes")
        had_own = "max_payload_bytes" in own

        def set_limit(limit: int) -> None:
            backend.max_payload_bytes = limit

        yield set_limit
        if had_own:
            own["max_payload_bytes"] = saved
        else:
            own.pop("max_payload_bytes", None)


class InspectionFixtures(ContractFixtures):
    """One more fixture: extra queue names, emptied after the test."""

    @pytest.fixture
    def other_queue(self, backend: Backend, queue: str) -> Iterator[Callable[[str], str]]:
        """``other_queue(suffix)``: a second queue name unique to this test, dropped afterwards."""
        made: list[str] = []

        def name(suffix: str) -> str:
            made.append(f"{queue}-{suffix}")
            return made[-1]

        yield name
        for made_name in made:
            backend.drop_all(made_name)
