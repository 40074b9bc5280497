"""A backend with the required part only passes the required kit; each capability mixin says what it lacks.

The backend is locmem with every capability taken away
(:func:`alligator.testing.capable.without`): nothing but the twelve required
methods and the batch steps with defaults.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from locmem_kit import LocmemFixtures, new_store

from alligator import capabilities
from alligator.testing import (
    AdministrationContract,
    BackendContract,
    ContractFixtures,
    DiagnoseContract,
    InspectionContract,
    LimitContract,
    PauseContract,
    RequiredContract,
    ResultListingContract,
    ResultsContract,
    ResultWaitingContract,
    SchedulingContract,
    TaskPriorityContract,
    UniqueKeysContract,
    WakingContract,
    WorkerRegistryContract,
)
from alligator.testing.capable import without
from alligator.testing.transactional import (
    TransactionalEnqueueContract,
    TransactionalPriorityContract,
    TransactionalUniqueContract,
)
from alligator_locmem import LocmemBackend

#: locmem without a single optional capability.
REQUIRED_ONLY = without(LocmemBackend, *capabilities.CAPABILITIES)

#: Each capability's mixin and the test it begins with, checking the claim.
CLAIMS = {
    ResultsContract: "test_the_backend_claims_results",
    ResultListingContract: "test_the_backend_claims_result_listing",
    ResultWaitingContract: "test_the_backend_claims_result_waiting",
    WakingContract: "test_the_backend_claims_waking",
    InspectionContract: "test_the_backend_claims_inspection",
    AdministrationContract: "test_the_backend_claims_administration",
    WorkerRegistryContract: "test_the_backend_claims_a_worker_registry",
    PauseContract: "test_the_backend_says_it_can_pause",
    UniqueKeysContract: "test_the_backend_says_it_keeps_unique_keys",
    DiagnoseContract: "test_the_backend_claims_diagnosis",
    SchedulingContract: "test_the_backend_claims_scheduling",
    LimitContract: "test_the_backend_claims_limiting",
    TaskPriorityContract: "test_the_backend_claims_task_priority",
    TransactionalEnqueueContract: "test_the_backend_claims_transactional_enqueue",
    TransactionalUniqueContract: "test_the_backend_claims_transactional_unique",
    TransactionalPriorityContract: "test_the_backend_claims_transactional_priority",
}


#: The required kit and every capability mixin.
EveryMixin = BackendContract


CASES = Path(__file__).with_name("required_only_cases.py")


class TestRequiredOnlyLocmem(LocmemFixtures, RequiredContract):
    """Every test of the required kit passes; none is skipped (the run fails on a skip: see below)."""

    backend_class = REQUIRED_ONLY

    def test_the_backend_claims_no_capability(self, backend: LocmemBackend) -> None:
        assert capabilities.claimed(backend) == []
        capabilities.check(type(backend))  # no capability half-written


def test_every_capability_has_a_mixin_checked_here() -> None:
    claimed = {mixin: name for mixin, name in CLAIMS.items() if callable(getattr(mixin, name, None))}
    assert claimed == CLAIMS
    assert len(CLAIMS) == len(capabilities.CAPABILITIES)


@pytest.mark.parametrize("mixin", list(CLAIMS), ids=lambda mixin: mixin.__name__)
def test_a_capability_mixin_fails_at_its_claim(mixin: type[ContractFixtures]) -> None:
    backend = REQUIRED_ONLY(new_store())
    with pytest.raises(
        AssertionError,
        match=r"does not claim|writes set_paused and paused|writes push_unique and unique_keys",
    ):
        getattr(mixin(), CLAIMS[mixin])(backend)


@pytest.fixture(scope="module")
def whole_kit_outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Runs BackendContract's capability tests against the required-only backend in a pytest of its own.

    The outcome of each test. The required kit's own tests are left out of
    that run: TestRequiredOnlyLocmem above runs every one of them against
    the same backend, and the whole kit twice took most of this module's time.
    """
    workdir = tmp_path_factory.mktemp("required-only")
    report = workdir / "report.xml"
    cls = "TestEveryMixinOnARequiredOnlyBackend"
    capability_tests = sorted(_tests_of(EveryMixin) - _tests_of(RequiredContract))
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"),
            *(f"{CASES}::{cls}::{name}" for name in capability_tests),
        ],
        cwd=workdir,
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert report.exists(), f"the kit did not run:\n{proc.stdout}\n{proc.stderr}"
    outcomes = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        outcome = "passed"
        for kind in ("skipped", "failure", "error"):
            if case.find(kind) is not None:
                outcome = kind
        outcomes[case.get("name", "")] = outcome
    return outcomes


def _tests_of(cls: type) -> set[str]:
    return {name for name in dir(cls) if name.startswith("test_") and callable(getattr(cls, name))}


def test_the_whole_kit_fails_loudly_at_each_claim_and_skips_nothing(
    whole_kit_outcomes: dict[str, str],
) -> None:
    assert whole_kit_outcomes, "no test ran"
    skipped = [name for name, outcome in whole_kit_outcomes.items() if outcome == "skipped"]
    assert not skipped, f"a capability the backend lacks must fail, not skip: {skipped}"
    for mixin, claim in CLAIMS.items():
        if not issubclass(BackendContract, mixin):
            # Outside BackendContract (a database connection of the caller's):
            # test_a_capability_mixin_fails_at_its_claim checks its claim.
            continue
        assert whole_kit_outcomes.get(claim) == "failure", f"{mixin.__name__}'s {claim}"
    ran = {name.split("[")[0] for name in whole_kit_outcomes}
    assert ran == _tests_of(EveryMixin) - _tests_of(RequiredContract), "every capability test ran"
