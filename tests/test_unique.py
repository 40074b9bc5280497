"""Unique tasks through the Gator: the options, what the caller is told, and a store without the capability.

The store's rules are the kit's (:class:`alligator.testing.UniqueKeysContract`,
run against every backend); real processes on SQLite and Redis are in
``tests/reliability/test_unique_processes.py``.
"""

from __future__ import annotations

import uuid

import pytest
import sample_tasks

from alligator import Gator, capabilities
from alligator.capabilities import Unsupported
from alligator.constants import DELAYED
from alligator.testing.capable import without
from alligator.unique import key_of
from alligator.unique_store import MAX_UNIQUE_KEY_LENGTH, UniqueKeys, holds
from alligator_locmem import LocmemBackend


@pytest.fixture
def gator() -> Gator:
    return Gator(f"locmem://unique-{uuid.uuid4().hex}", allow=["sample_tasks"])


def test_a_second_task_of_the_same_call_is_not_queued_and_names_the_holder(gator: Gator) -> None:
    with gator.options(unique_for=60) as opts:
        first = opts.task(sample_tasks.add, 1, 2)
        second = opts.task(sample_tasks.add, 1, 2)
        other = opts.task(sample_tasks.add, 2, 2)
    assert (first.queued, first.held_by) == (True, None)
    assert (second.queued, second.held_by) == (False, first.task_id)
    assert other.queued is True
    assert gator.len() == 2


def test_the_default_key_is_the_function_and_its_arguments_whatever_their_order(gator: Gator) -> None:
    with gator.options(unique_for=60) as opts:
        a = opts.task(sample_tasks.add, a=1, b=2)
        b = opts.task(sample_tasks.add, b=2, a=1)
    assert key_of(a) == key_of(b)
    assert key_of(a).startswith("sample_tasks:add:")
    assert b.queued is False


def test_a_key_of_its_own_joins_different_calls(gator: Gator) -> None:
    with gator.options(unique_for=60, unique_key="report") as opts:
        assert opts.task(sample_tasks.add, 1, 2).queued is True
        assert opts.task(sample_tasks.add, 3, 4).queued is False


def test_the_key_is_free_once_the_task_ran(gator: Gator) -> None:
    assert gator.options(unique_for=60).task(sample_tasks.add, 1, 2).queued
    done = gator.pop()
    assert done is not None and done.result == 3
    assert gator.options(unique_for=60).task(sample_tasks.add, 1, 2).queued


def test_debounce_replaces_the_waiting_task_and_says_which(gator: Gator) -> None:
    with gator.options(unique_for=30, unique_mode="debounce") as opts:
        first = opts.task(sample_tasks.add, 1, 2)
        second = opts.task(sample_tasks.add, 1, 2)
    assert (second.queued, second.replaced) == (True, first.task_id)
    assert gator.status(first.task_id) is None
    assert gator.status(second.task_id) == DELAYED, "a debounced task waits its window"


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"unique_for": -1}, "unique_for must be above 0 and at most 2592000 seconds"),
        ({"unique_for": 0}, "unique_for must be above 0"),
        ({"unique_for": 10**9}, "at most 2592000 seconds"),
        ({"unique_for": float("nan")}, "unique_for must be above 0"),
        ({"unique_for": "60"}, "unique_for must be a number of seconds"),
        ({"unique_for": True}, "unique_for must be a number of seconds"),
        ({"unique_for": 60, "unique_key": "k" * (MAX_UNIQUE_KEY_LENGTH + 1)}, "over the limit of 200"),
        ({"unique_for": 60, "unique_key": ""}, "unique_key must be a non-empty string"),
        ({"unique_for": 60, "unique_key": "a\nb"}, "unprintable"),
        (
            {"unique_for": 60, "unique_mode": "debounse"},
            "unique_mode must be one of 'until_finished', 'until_started', 'throttle', "
            "'debounce'; not 'debounse'",
        ),
        ({"unique_key": "k"}, "unique_key and unique_mode need unique_for=SECONDS too"),
        ({"unique_mode": "throttle"}, "need unique_for"),
    ],
)
def test_options_refuse_bad_values_by_name(gator: Gator, options: dict[str, object], says: str) -> None:
    with pytest.raises((ValueError, TypeError), match=says.replace("(", r"\(").replace("?", r"\?")):
        gator.options(**options)


def test_a_batch_refuses_unique_tasks_and_queues_nothing(gator: Gator) -> None:
    with pytest.raises(ValueError, match="a batch cannot queue unique tasks"):
        with gator.batch(unique_for=60) as batch:
            batch.task(sample_tasks.add, 1, 2)
    assert gator.len() == 0


def test_a_store_without_the_capability_refuses_and_queues_nothing() -> None:
    lacking = without(LocmemBackend, UniqueKeys)
    gator = Gator(f"locmem://unique-{uuid.uuid4().hex}", backend_class=lacking, allow=["sample_tasks"])
    with pytest.raises(Unsupported, match=r"cannot keep unique keys .*LocmemBackendWithoutUniqueKeys"):
        gator.options(unique_for=60).task(sample_tasks.add, 1, 2)
    assert gator.len() == 0
    assert "UniqueKeys" not in capabilities.claimed(gator.backend)


def test_a_record_of_a_mode_nobody_wrote_or_a_nan_end_holds_nothing() -> None:
    assert not holds("forever", 0, now=1.0, until=100.0)
    assert not holds("throttle", None, now=1.0, until=float("nan"))
    assert holds("throttle", None, now=1.0, until=2.0)
