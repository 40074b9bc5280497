"""The kit's two whole classes: :class:`RequiredContract` and :class:`BackendContract`.

:class:`RequiredContract` tests the required part of
:class:`alligator.backend.Backend` (the twelve methods and the batch steps
that have defaults) and nothing else: every backend adopts it. Each optional
capability of :mod:`alligator.capabilities` has one mixin of its own, which a
backend adopts beside it when it claims that capability:

* :class:`~alligator.capabilities.Results`:
  :class:`~alligator.testing.results.ResultsContract`
* :class:`~alligator.capabilities.ResultListing`:
  :class:`~alligator.testing.result_listing.ResultListingContract`
* :class:`~alligator.capabilities.ResultWaiting`:
  :class:`~alligator.testing.result_waiting.ResultWaitingContract`
* :class:`~alligator.capabilities.Waking`:
  :class:`~alligator.testing.priority.WakingContract`
* :class:`~alligator.capabilities.Inspection`:
  :class:`~alligator.testing.inspection.InspectionContract`
* :class:`~alligator.capabilities.Administration`:
  :class:`~alligator.testing.administration.AdministrationContract`
* :class:`~alligator.capabilities.WorkerRegistry`:
  :class:`~alligator.testing.registry.WorkerRegistryContract`
* :class:`~alligator.capabilities.Pausing`:
  :class:`~alligator.testing.pausing.PauseContract`
* :class:`~alligator.unique_store.UniqueKeys`:
  :class:`~alligator.testing.unique.UniqueKeysContract`
* :class:`~alligator.capabilities.Diagnosis`:
  :class:`~alligator.testing.registry.DiagnoseContract`
* :class:`~alligator.scheduling_store.Scheduling`:
  :class:`~alligator.testing.scheduling.SchedulingContract`
* :class:`~alligator.limit_store.Limiting`:
  :class:`~alligator.testing.limiting.LimitContract`
* :class:`~alligator.priority_store.TaskPriority`:
  :class:`~alligator.testing.task_priority.TaskPriorityContract`

Each capability mixin begins with a test that the backend claims its
capability, so adopting one for a capability the backend lacks fails loudly
there. :class:`BackendContract` is the required contract and every
capability mixin, for a backend that has them all (ours do).

The mixins of the required part live in ``required_*`` modules, by concern;
every name they had here is importable from here still, as are
``ContractFixtures``, ``LEASE`` and ``assert_reason`` (from
:mod:`alligator.testing.fixtures`).
"""

from __future__ import annotations

# Re-exported (``X as X``): these were first defined here, and adopters import them from here.
from alligator.testing.administration import AdministrationContract
from alligator.testing.administration import RequeueContract as RequeueContract
from alligator.testing.fixtures import LEASE as LEASE
from alligator.testing.fixtures import BackendFactory as BackendFactory
from alligator.testing.fixtures import ContractFixtures as ContractFixtures
from alligator.testing.fixtures import PlantRawPayload as PlantRawPayload
from alligator.testing.fixtures import assert_reason as assert_reason
from alligator.testing.inspection import InspectionContract
from alligator.testing.limiting import LimitContract
from alligator.testing.pausing import PauseContract
from alligator.testing.priority import PriorityContract as PriorityContract
from alligator.testing.priority import WakingContract
from alligator.testing.registry import DiagnoseContract, WorkerRegistryContract
from alligator.testing.required_delivery import ConcurrencyContract as ConcurrencyContract
from alligator.testing.required_delivery import DeadLetterContract as DeadLetterContract
from alligator.testing.required_delivery import DelayContract as DelayContract
from alligator.testing.required_delivery import DeliveryContract as DeliveryContract
from alligator.testing.required_delivery import GetAndCancelContract as GetAndCancelContract
from alligator.testing.required_delivery import LeaseContract as LeaseContract
from alligator.testing.required_delivery import ModelContract as ModelContract
from alligator.testing.required_delivery import QueueIsolationContract as QueueIsolationContract
from alligator.testing.required_order import DueOrderContract as DueOrderContract
from alligator.testing.required_order import FailureCountContract as FailureCountContract
from alligator.testing.required_order import LeaseBoundaryContract as LeaseBoundaryContract
from alligator.testing.required_order import ReserveFirstContract as ReserveFirstContract
from alligator.testing.required_records import HARD_STRINGS as HARD_STRINGS
from alligator.testing.required_records import NOT_UTF8_REASON as NOT_UTF8_REASON
from alligator.testing.required_records import IdReuseContract as IdReuseContract
from alligator.testing.required_records import PayloadLimitContract as PayloadLimitContract
from alligator.testing.required_records import PeekContract as PeekContract
from alligator.testing.required_records import StringContract as StringContract
from alligator.testing.required_records import UnreadableRecordContract as UnreadableRecordContract
from alligator.testing.required_records import oversized_reason as oversized_reason
from alligator.testing.required_shared import SharedStoreContract as SharedStoreContract
from alligator.testing.result_listing import ResultListingContract
from alligator.testing.result_listing import SucceededListingContract as SucceededListingContract
from alligator.testing.result_waiting import ResultWaitingContract
from alligator.testing.result_waiting import WaitFinishedContract as WaitFinishedContract
from alligator.testing.results import FinishedContract as FinishedContract
from alligator.testing.results import ResultLifetimeContract as ResultLifetimeContract
from alligator.testing.results import ResultsContract
from alligator.testing.scheduling import SchedulingContract
from alligator.testing.task_priority import TaskPriorityContract
from alligator.testing.unique import UniqueKeysContract


class RequiredContract(
    DeliveryContract,
    LeaseContract,
    DelayContract,
    DeadLetterContract,
    GetAndCancelContract,
    QueueIsolationContract,
    ConcurrencyContract,
    ModelContract,
    SharedStoreContract,
    DueOrderContract,
    LeaseBoundaryContract,
    FailureCountContract,
    ReserveFirstContract,
    IdReuseContract,
    StringContract,
    UnreadableRecordContract,
    PayloadLimitContract,
    PeekContract,
):
    """Tests every rule of the required part of :class:`alligator.backend.Backend`, and nothing more.

    Subclasses provide the ``backend``, ``plant_raw_payload`` and
    ``backend_factory`` fixtures (see :class:`~alligator.testing.fixtures.ContractFixtures` and
    :mod:`alligator.testing`). Every test uses the required methods only, so
    a backend with no optional capability passes it whole.
    """


class BackendContract(
    RequiredContract,
    ResultsContract,
    ResultListingContract,
    ResultWaitingContract,
    WakingContract,
    InspectionContract,
    AdministrationContract,
    WorkerRegistryContract,
    PauseContract,
    UniqueKeysContract,
    DiagnoseContract,
    SchedulingContract,
    LimitContract,
    TaskPriorityContract,
):
    """Tests the required part and every capability: for a backend that claims them all.

    A backend that lacks some adopts :class:`RequiredContract` and the mixins
    of the capabilities it claims instead.
    """
