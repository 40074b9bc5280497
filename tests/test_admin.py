"""The admin facade and the one vocabulary of task states (issue 19, point 5)."""

from __future__ import annotations

import uuid

import pytest
import sample_tasks

from alligator import Gator, backend, capabilities, constants, store_values
from alligator.admin import Admin
from alligator.capabilities import Unsupported
from alligator.constants import DELAYED, FAILED, RUNNING, SUCCESS, WAITING
from alligator.presence import WorkerInfo
from alligator.settling import Outcome
from alligator.testing.capable import without
from alligator_locmem import LocmemBackend


def test_every_name_of_a_state_comes_from_one_table() -> None:
    assert constants.TASK_STATES == ("waiting", "delayed", "running", "dead")
    assert store_values.TASK_STATES is constants.TASK_STATES
    assert backend.TASK_STATES is constants.TASK_STATES
    assert constants.LISTED_STATES == {
        WAITING: "waiting",
        DELAYED: "delayed",
        RUNNING: "running",
        FAILED: "dead",
    }
    assert Outcome.WAITING.value == constants.STATUS_NAMES[WAITING] == "waiting"
    assert Outcome.RETRYING.value == constants.STATUS_NAMES[constants.RETRYING]
    assert [constants.status_name(s) for s in (WAITING, SUCCESS, FAILED, None, 99)] == [
        "waiting",
        "success",
        "failed",
        "unknown",
        "99",
    ]
    assert constants.STATE_ALIASES == {"failed": "dead"}


#: A store with only the required part of the contract.
_Bare = without(LocmemBackend, *capabilities.CAPABILITIES)


@pytest.fixture
def bare() -> Gator:
    gator = Gator(f"locmem://{uuid.uuid4().hex}", backend_class=_Bare, allow=["sample_tasks"])
    gator.task(sample_tasks.noop)
    gator.options(delay_by=60).task(sample_tasks.noop)
    return gator


def test_admin_falls_back_on_the_required_part(bare: Gator) -> None:
    admin = Admin(bare.backend)
    assert admin.claimed() == []
    worker = WorkerInfo("w", "h", 1, ("emails",), 1, 0.0, 0.0)
    assert admin.queues([worker], also=["extra"]) == ["all", "emails", "extra"]
    assert admin.queued("all") == 2
    assert admin.counts_or_none("all") is None
    assert admin.workers_or_none() is None and admin.paused_or_none() is None
    assert admin.find("all", "waiting", "x") is None


@pytest.mark.parametrize(
    ("step", "says"),
    [
        (lambda a: a.counts("all"), "this store cannot list or count its tasks per state"),
        (lambda a: a.tasks("all", "waiting"), "this store cannot list or count its tasks per state"),
        (lambda a: a.succeeded("all"), "this store keeps no results it can list"),
        (lambda a: a.requeue("all", "x"), "this store cannot list, requeue or delete dead letters"),
        (lambda a: a.workers(), "this store keeps no registry of workers"),
        (lambda a: a.paused(), "this store cannot pause queues or functions"),
        (lambda a: a.diagnose(), "this store cannot check its own settings"),
    ],
)
def test_what_the_store_cannot_do_is_one_sentence_everywhere(bare: Gator, step: object, says: str) -> None:
    admin = Admin(bare.backend)
    with pytest.raises(Unsupported, match=says):
        step(admin)  # type: ignore[operator]


def test_gators_management_methods_go_through_the_facade(bare: Gator) -> None:
    with pytest.raises(Unsupported, match="keeps no registry of workers"):
        bare.workers()
    with pytest.raises(Unsupported, match="cannot list or count"):
        bare.counts()
    with pytest.raises(Unsupported, match="cannot list, requeue or delete dead letters"):
        bare.dead_letters()
    assert bare.admin.policy is bare.policy
