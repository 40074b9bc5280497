"""The backend contract as reusable tests: prove a backend the way ours are proven.

Every backend adopts :class:`~alligator.testing.contract.RequiredContract`,
the tests of the twelve required methods, in one class overriding three
fixtures: one that yields a fresh backend, one that makes another client of
the same store (a second worker's connection), and one that writes a raw
record straight into the store. For each optional capability of
:mod:`alligator.capabilities` it claims, it adds that capability's mixin
(``ResultsContract``, ``ResultListingContract``, ``ResultWaitingContract``,
``WakingContract``, ``InspectionContract``, ``AdministrationContract``,
``WorkerRegistryContract``, ``PauseContract``, ``UniqueKeysContract``, ``DiagnoseContract``,
``SchedulingContract``, ``LimitContract``, ``TaskPriorityContract``,
``TransactionalEnqueueContract``, ``TransactionalUniqueContract``,
``TransactionalPriorityContract``), each
beginning with a test that the backend claims it::

    import functools

    import pytest
    from alligator.testing import AdministrationContract, RequiredContract, ResultsContract

    from mypackage import MyBackend


    class TestMyBackend(RequiredContract, ResultsContract, AdministrationContract):
        @pytest.fixture
        def backend(self):
            backend = MyBackend("mine://...")
            yield backend
            backend.close()

        @pytest.fixture
        def backend_factory(self, backend):
            # Sent to other processes: it must pickle (no lambda, no closure).
            return functools.partial(MyBackend, backend.conn_string)

        @pytest.fixture
        def plant_raw_payload(self, backend):
            def plant(queue, task_id, data):
                ...  # store a waiting task, due at backend.now(), whose payload is exactly `data`
            return plant

:class:`~alligator.testing.contract.BackendContract` is the required
contract with every capability mixin, for a backend that claims them all.

Every test uses queues of its own (unique names), so the fixture may hand out
one shared store. The kit sets ``backend.clock`` to a :class:`~alligator.testing.clock.FakeClock` so
delays, leases and status lifetimes are checked without sleeping; a backend
must take every time-dependent decision from :meth:`~alligator.backend.Backend.now` (or, inside
a server, from the value it is passed) for the kit to pass. The
``plant_raw_payload`` fixture lets the kit write what a hostile writer would
(bytes that are not UTF-8, payloads over
:attr:`~alligator.backend.Backend.max_payload_bytes`); without it those tests
error, saying what to provide. The tests of several clients
(:class:`~alligator.testing.required_shared.SharedStoreContract`) run clients made by
``backend_factory`` in threads and in processes at once; a store that lives
in one process only (as locmem's does) sets
``shares_store_across_processes = False`` on the class, which leaves the
test with processes out of it (not collected, never skipped). One more
fixture is optional: ``plant_raw_result(queue, task_id, data)`` replaces a
kept result's stored bytes, and a class that provides it also gets the test
that a result that is not UTF-8 is never handed out (see
:class:`~alligator.testing.results.ResultLifetimeContract`). A test that does
not apply to a backend can be overridden in the subclass, as in any pytest class; needing to do so usually
means the backend breaks the contract.

For a task's own tests: :func:`~alligator.testing.roundtrip.assert_round_trips`
checks that a call reaches a worker exactly as it was made,
:func:`~alligator.testing.roundtrip.assert_result_round_trips`
the same for a return value, and :mod:`alligator.testing.strategies` draws
every value a task may take, for Hypothesis.

Needs ``pytest`` and ``hypothesis`` (``pip install './alligator_core[testing]'`` at the
top of a checkout of Alligator).
"""

from __future__ import annotations

from alligator.testing.administration import (
    AdministrationContract,
    DeadLetterListingContract,
    DeadLetterManagementContract,
    DeadLetterRetentionContract,
    RequeueContract,
)
from alligator.testing.clock import FakeClock
from alligator.testing.contract import BackendContract, RequiredContract
from alligator.testing.fixtures import ContractFixtures
from alligator.testing.inspection import (
    CountsContract,
    InspectionContract,
    QueueListingContract,
    TaskListingContract,
)
from alligator.testing.limiting import LimitContract
from alligator.testing.pausing import PauseContract
from alligator.testing.priority import PriorityContract, WakingContract
from alligator.testing.registry import DiagnoseContract, WorkerRegistryContract
from alligator.testing.required_delivery import (
    ConcurrencyContract,
    DeadLetterContract,
    DelayContract,
    DeliveryContract,
    GetAndCancelContract,
    LeaseContract,
    ModelContract,
    QueueIsolationContract,
)
from alligator.testing.required_order import (
    DueOrderContract,
    FailureCountContract,
    LeaseBoundaryContract,
    ReserveFirstContract,
)
from alligator.testing.required_records import (
    IdReuseContract,
    PayloadLimitContract,
    PeekContract,
    StringContract,
    UnreadableRecordContract,
)
from alligator.testing.required_shared import SharedStoreContract
from alligator.testing.result_listing import (
    FinishedQueuesContract,
    ResultListingContract,
    SucceededListingContract,
)
from alligator.testing.result_waiting import ResultWaitingContract, WaitFinishedContract
from alligator.testing.results import (
    AckResultsContract,
    FinishedContract,
    ResultLifetimeContract,
    ResultsContract,
)
from alligator.testing.roundtrip import assert_result_round_trips, assert_round_trips
from alligator.testing.scheduling import SchedulingContract
from alligator.testing.stateful import BackendStateMachine, run_backend_state_machine
from alligator.testing.task_priority import TaskPriorityContract
from alligator.testing.transactional import (
    TransactionalEnqueueContract,
    TransactionalPriorityContract,
    TransactionalUniqueContract,
)
from alligator.testing.unique import UniqueKeysContract

__all__ = [
    "AckResultsContract",
    "AdministrationContract",
    "BackendContract",
    "BackendStateMachine",
    "ConcurrencyContract",
    "ContractFixtures",
    "CountsContract",
    "DeadLetterContract",
    "DeadLetterListingContract",
    "DeadLetterManagementContract",
    "DeadLetterRetentionContract",
    "DelayContract",
    "DeliveryContract",
    "DiagnoseContract",
    "DueOrderContract",
    "FailureCountContract",
    "FakeClock",
    "FinishedContract",
    "FinishedQueuesContract",
    "GetAndCancelContract",
    "IdReuseContract",
    "InspectionContract",
    "LeaseBoundaryContract",
    "LeaseContract",
    "ModelContract",
    "PauseContract",
    "SchedulingContract",
    "LimitContract",
    "PayloadLimitContract",
    "PeekContract",
    "PriorityContract",
    "QueueIsolationContract",
    "QueueListingContract",
    "RequeueContract",
    "RequiredContract",
    "ReserveFirstContract",
    "ResultLifetimeContract",
    "ResultListingContract",
    "ResultWaitingContract",
    "ResultsContract",
    "SharedStoreContract",
    "StringContract",
    "SucceededListingContract",
    "UniqueKeysContract",
    "TaskListingContract",
    "TaskPriorityContract",
    "TransactionalEnqueueContract",
    "TransactionalPriorityContract",
    "TransactionalUniqueContract",
    "UnreadableRecordContract",
    "WaitFinishedContract",
    "WakingContract",
    "WorkerRegistryContract",
    "assert_result_round_trips",
    "assert_round_trips",
    "run_backend_state_machine",
]
