"""The kit fails every broken variant, in the tests named for the rule each breaks.

The variants are adopted in ``broken_cases.py``, which one pytest of its own
runs here (the classes there are meant to fail, so this run must not be
their runner); its JUnit report says which kit tests failed for which class.
That run leaves out the state machine, whose shrinking of each failure would
take minutes; it is run here on its own, without shrinking, against the
variants it catches in every run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from collections import Counter
from pathlib import Path

import pytest
from broken_backends import (
    BROKEN,
    ClientRaisesMidway,
    ExpiredLeaseDueAtPushTime,
    ExpiredLeaseNeverReturns,
    FailuresNotCounted,
    LeaseEndsAfterItsEnd,
    OrderByPushTime,
    RepeatingReceipts,
)
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test
from locmem_kit import new_store

import alligator
from alligator.backend import Backend
from alligator.testing import (
    BackendStateMachine,
    SharedStoreContract,
    required_shared,
    run_backend_state_machine,
)
from alligator.testing.stateful import PROFILE_VARIABLE, PROFILES
from alligator_locmem import LocmemBackend

CASES = Path(__file__).with_name("broken_cases.py")


#: Pytest processes the broken variants are shared among: the kit runs
#: against each of them in turn, which is the self-test's longest step.
KIT_PROCESSES = 2


@pytest.fixture(scope="module")
def kit_failures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Runs the kit against every broken variant; the kit tests that failed, per variant class name."""
    # The child imports this very copy of alligator, whichever way it was installed.
    source_root = str(Path(alligator.__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")])),
    }
    # Only the kit tests each variant must fail: the assertion looks at nothing
    # else, and the whole kit against every variant took most of the session.
    wanted = [
        f"{CASES}::Test{variant.__name__}::{test}" for variant, tests in BROKEN.items() for test in tests
    ]
    wanted = list(dict.fromkeys(wanted))
    runs = []
    for share in range(KIT_PROCESSES):
        workdir = tmp_path_factory.mktemp(f"broken-kit-{share}")
        report = workdir / "report.xml"
        nodes = wanted[share::KIT_PROCESSES]
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"),
                *(*nodes, "-k", "not test_matches_the_model"),
            ],
            cwd=workdir,  # the hypothesis database goes here, so no earlier run steers this one
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        runs.append((proc, report))
    failed: dict[str, set[str]] = {}
    for proc, report in runs:
        out, err = proc.communicate(timeout=900)
        assert report.exists(), f"the kit did not run:\n{out}\n{err}"
        for case in ElementTree.parse(report).getroot().iter("testcase"):
            variant = case.get("classname", "").rsplit(".", 1)[-1].removeprefix("Test")
            failed.setdefault(variant, set())
            if case.find("failure") is not None or case.find("error") is not None:
                failed[variant].add(case.get("name", ""))
    return failed


@pytest.mark.parametrize("variant", list(BROKEN), ids=lambda variant: variant.__name__)
def test_kit_fails_a_broken_backend(variant: type[Backend], kit_failures: dict[str, set[str]]) -> None:
    assert variant.__doc__
    failed = kit_failures.get(variant.__name__)
    assert failed is not None, f"the kit never ran against {variant.__name__}"
    missed = [test for test in BROKEN[variant] if test not in failed]
    assert not missed, f"{variant.__name__} ({variant.__doc__.strip()}) passed {missed}"


@pytest.mark.parametrize(
    "variant",
    [
        FailuresNotCounted,
        RepeatingReceipts,
        ExpiredLeaseDueAtPushTime,
        ExpiredLeaseNeverReturns,
        LeaseEndsAfterItsEnd,
        OrderByPushTime,
    ],
    ids=lambda variant: variant.__name__,
)
def test_state_machine_fails_a_broken_backend(variant: type[LocmemBackend]) -> None:
    examples, steps = PROFILES["default"]
    machine = type("Machine", (BackendStateMachine,), {"backend": variant(new_store()), "stats": Counter()})
    quick = settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],
        database=None,
        # The same examples every run: a random run could miss a variant's
        # bug now and then (ExpiredLeaseDueAtPushTime got through once), and a
        # flaky test is a bug.
        derandomize=True,
    )
    with pytest.raises(AssertionError):
        run_state_machine_as_test(machine, settings=quick)


#: The least a run of the default profile does of each thing (a run of
#: locmem, the reference backend, does about twice these at its quietest).
MINIMUMS = {
    "delivery": 100,
    "redelivery": 40,
    "expiry": 20,
    "clock at a lease's end": 10,
    "ack": 10,
    "release now": 15,
    "release with delay": 5,
    "dead letter": 5,
    "requeue": 4,
}


def test_a_default_run_exercises_every_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROFILE_VARIABLE, raising=False)
    # The same sequences every run: coverage of random ones varies (once in
    # about ten runs "delivery" fell short), and a flaky check proves nothing.
    stats = run_backend_state_machine(LocmemBackend(new_store()), derandomize=True)
    short = {name: stats[name] for name, least in MINIMUMS.items() if stats[name] < least}
    assert not short, f"the state machine did too little of {short} (all counts: {dict(stats)})"


def test_the_profile_variable_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROFILE_VARIABLE, "longer")
    with pytest.raises(ValueError, match="default, long"):
        run_backend_state_machine(LocmemBackend(new_store()))


def test_a_client_thread_that_raises_fails_the_test_at_once_with_its_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Generous, and far below the kit's own deadline: the other clients must
    # not wait on the barrier for a client that is gone.
    monkeypatch.setattr(required_shared, "SHARED_DEADLINE", 60.0)
    backend = ClientRaisesMidway(new_store())
    kit = SharedStoreContract()
    with pytest.raises(AssertionError, match=r"client [13] raised ConnectionError: the store went away"):
        kit.test_clients_in_threads_never_hold_a_task_at_once(backend, backend.another_client(), "q")
