"""The backend contract as reusable tests: prove a backend the way ours are proven.

Adopt it in one class, overriding one fixture that yields a fresh backend::

    import pytest
    from alligator.testing import BackendContract

    from mypackage import MyBackend


    class TestMyBackend(BackendContract):
        @pytest.fixture
        def backend(self):
            backend = MyBackend("mine://...")
            yield backend
            backend.close()

Every test uses queues of its own (unique names), so the fixture may hand out
one shared store. The kit sets ``backend.clock`` to a :class:`~alligator.testing.clock.FakeClock` so
delays, leases and status lifetimes are checked without sleeping; a backend
must take every time-dependent decision from :meth:`~alligator.backend.Backend.now` (or, inside
a server, from the value it is passed) for the kit to pass. A test that does
not apply to a backend can be overridden in the subclass, as in any pytest
class; needing to do so usually means the backend breaks the contract.

Needs ``pytest`` and ``hypothesis`` (``pip install alligator-core[testing]``).
"""

from __future__ import annotations

from alligator.testing.clock import FakeClock
from alligator.testing.contract import BackendContract
from alligator.testing.stateful import BackendStateMachine, run_backend_state_machine

__all__ = ["BackendContract", "BackendStateMachine", "FakeClock", "run_backend_state_machine"]
