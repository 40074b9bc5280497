"""The kit's tests of the TaskPriority capability: due tasks are reserved highest priority first.

A backend that claims :class:`~alligator.priority_store.TaskPriority` adopts
:class:`TaskPriorityContract` beside
:class:`~alligator.testing.contract.RequiredContract`::

    class TestMyBackend(RequiredContract, TaskPriorityContract):
        ...  # the same fixtures

Every rule of the protocol's docstring has a test here, and a property test
(Hypothesis) checks reserve against a model of the rule on random mixes of
priorities and delays. The tests of listing and requeueing run their
listing and requeue parts only on a store that claims
:class:`~alligator.capabilities.Inspection` or
:class:`~alligator.capabilities.Administration` (never skipped).
"""

from __future__ import annotations

import math
import uuid
from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alligator import capabilities
from alligator.backend import Backend
from alligator.limits import MAX_PRIORITY, MIN_PRIORITY
from alligator.priority_store import TaskPriority
from alligator.testing.capable import CapableBackend
from alligator.testing.clock import FakeClock
from alligator.testing.fixtures import LEASE, ContractFixtures, assert_claims


def _push(backend: Backend, queue: str, task_id: str, priority: int, delay: float = 0.0) -> None:
    # The mixin runs only on a store that claims the capability.
    store = cast(TaskPriority, backend)
    assert store.push_prioritized(queue, [(task_id, f"payload of {task_id}", delay, priority)]) == 1


def _take(backend: Backend, queue: str, limit: int = 1) -> list[str]:
    return [held.task_id for held in backend.reserve(queue, LEASE, limit)]


def _drain(backend: Backend, queue: str) -> list[str]:
    taken: list[str] = []
    while batch := _take(backend, queue):
        taken += batch
    return taken


class TaskPriorityContract(ContractFixtures):
    """Every rule of :class:`~alligator.priority_store.TaskPriority`: priority first among due tasks."""

    def test_the_backend_claims_task_priority(self, backend: Backend) -> None:
        assert_claims(backend, TaskPriority, "TaskPriorityContract")

    def test_a_higher_priority_goes_before_older_due_tasks(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "plain", "x")
        clock.advance(1.0)
        _push(backend, queue, "low", -5)
        clock.advance(1.0)
        _push(backend, queue, "high", 7)
        clock.advance(1.0)
        _push(backend, queue, "highest", MAX_PRIORITY)
        _push(backend, queue, "lowest", MIN_PRIORITY)
        assert _drain(backend, queue) == ["highest", "high", "plain", "low", "lowest"]

    def test_one_reserve_of_several_takes_them_in_priority_order(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        for n, priority in enumerate([0, 3, -1, 3, 9]):
            _push(backend, queue, f"t{n}", priority)
            clock.advance(0.5)
        assert _take(backend, queue, limit=4) == ["t4", "t1", "t3", "t0"]
        assert _take(backend, queue, limit=4) == ["t2"]

    def test_equal_priorities_stay_in_fifo_order_by_due_time(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        _push(backend, queue, "due-last", 4, delay=20.0)
        _push(backend, queue, "first", 4)
        clock.advance(1.0)
        _push(backend, queue, "due-second", 4, delay=5.0)
        _push(backend, queue, "third", 4)
        backend.push(queue, "plain", "x")
        _push(backend, queue, "zero", 0)
        clock.advance(30.0)
        assert _drain(backend, queue) == ["first", "third", "due-second", "due-last", "plain", "zero"]

    def test_priority_zero_is_the_required_push(self, backend: Backend, clock: FakeClock, queue: str) -> None:
        _push(backend, queue, "a", 0)
        backend.push(queue, "b", "x")
        _push(backend, queue, "c", 0)
        assert _drain(backend, queue) == ["a", "b", "c"]

    def test_a_delayed_task_competes_only_once_it_is_due(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        _push(backend, queue, "urgent-later", MAX_PRIORITY, delay=10.0)
        backend.push(queue, "plain-1", "x")
        backend.push(queue, "plain-2", "x")
        backend.push(queue, "plain-3", "x")
        assert _take(backend, queue) == ["plain-1"], "a task that is not due is ahead of nothing"
        clock.advance(9.0)
        assert _take(backend, queue, limit=1) == ["plain-2"]
        clock.advance(1.0)
        assert _take(backend, queue, limit=2) == ["urgent-later", "plain-3"], (
            "once due, a higher priority goes before older due tasks"
        )

    def test_a_released_task_keeps_its_priority(self, backend: Backend, clock: FakeClock, queue: str) -> None:
        backend.push(queue, "plain-1", "x")
        clock.advance(1.0)
        _push(backend, queue, "high", 5)
        [held] = backend.reserve(queue, LEASE)
        assert held.task_id == "high"
        clock.advance(1.0)
        backend.push(queue, "plain-2", "x")
        clock.advance(1.0)
        assert backend.release(queue, "high", held.receipt)
        assert _drain(backend, queue) == ["high", "plain-1", "plain-2"], (
            "released with no delay, it is due last, and goes first at its priority"
        )

    def test_a_task_released_with_a_delay_goes_first_once_due(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        _push(backend, queue, "high", 5)
        [held] = backend.reserve(queue, LEASE)
        assert backend.release(queue, "high", held.receipt, delay=10.0, attempted=True)
        backend.push(queue, "plain-1", "x")
        backend.push(queue, "plain-2", "x")
        assert _take(backend, queue) == ["plain-1"]
        clock.advance(10.0)
        [again] = backend.reserve(queue, LEASE)
        assert (again.task_id, again.attempts, again.failures) == ("high", 2, 1)
        assert _take(backend, queue) == ["plain-2"]

    def test_a_task_handed_back_unstarted_keeps_its_priority(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "plain", "x")
        clock.advance(1.0)
        _push(backend, queue, "high", 1)
        [held] = backend.reserve(queue, LEASE)
        assert held.task_id == "high"
        assert backend.release(queue, "high", held.receipt, attempted=False)
        assert _drain(backend, queue) == ["high", "plain"]

    def test_priority_survives_a_lease_that_ended(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        _push(backend, queue, "high", 50)
        assert _take(backend, queue) == ["high"]
        backend.push(queue, "plain-1", "x")
        backend.push(queue, "plain-2", "x")
        clock.advance(LEASE)
        [again] = backend.reserve(queue, LEASE)
        assert (again.task_id, again.attempts) == ("high", 2), (
            "a task whose lease ended is due again at its priority"
        )
        clock.advance(LEASE)
        assert _take(backend, queue, limit=3) == ["high", "plain-1", "plain-2"], (
            "and keeps it on every delivery"
        )

    def test_get_and_cancel_work_on_a_prioritized_task(
        self, backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        _push(backend, queue, "a", 3)
        _push(backend, queue, "b", 3)
        _push(backend, queue, "c", 2, delay=5.0)
        assert backend.len(queue) == 3
        assert backend.cancel(queue, "a")
        held = backend.get(queue, "c", LEASE)
        assert held is not None and held.payload == "payload of c"
        assert _drain(backend, queue) == ["b"]
        assert backend.len(queue) == 0

    def test_ids_stay_unique_and_the_count_says_how_many_were_added(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "plain", "x")
        added = backend.push_prioritized(
            queue, [("a", "1", 0.0, 9), ("plain", "2", 0.0, 9), ("a", "3", 0.0, 1), ("b", "4", 5.0, -9)]
        )
        assert added == 2
        assert backend.peek(queue, "a") == "1"
        assert backend.push_prioritized(queue, []) == 0

    @pytest.mark.parametrize(
        ("bad", "error"),
        [
            (("z", "p", math.nan, 1), ValueError),
            (("z", "p", math.inf, 1), ValueError),
            (("z", "p", 0.0, MAX_PRIORITY + 1), ValueError),
            (("z", "p", 0.0, MIN_PRIORITY - 1), ValueError),
            (("z", "p", 0.0, True), TypeError),
            (("z", "p", 0.0, 1.0), TypeError),
        ],
    )
    def test_a_bad_item_is_refused_before_any_is_added(
        self,
        backend: CapableBackend,
        clock: FakeClock,
        queue: str,
        bad: tuple[str, str, float, int],
        error: type,
    ) -> None:
        with pytest.raises(error):
            backend.push_prioritized(queue, [("first", "p", 0.0, 1), bad])
        assert backend.len(queue) == 0

    def test_waiting_tasks_are_listed_in_reservation_order_with_their_priority(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        backend.push(queue, "plain", "x")
        _push(backend, queue, "low", -3)
        _push(backend, queue, "high", 3)
        _push(backend, queue, "later", 90, delay=10.0)
        if not capabilities.supports(backend, capabilities.Inspection):
            return
        waiting = backend.tasks(queue, "waiting")
        assert [(t.task_id, t.priority) for t in waiting] == [("high", 3), ("plain", 0), ("low", -3)]
        assert [(t.task_id, t.priority) for t in backend.tasks(queue, "waiting", 1, 1)] == [("plain", 0)]
        assert [(t.task_id, t.priority) for t in backend.tasks(queue, "delayed")] == [("later", 90)]
        [held] = backend.reserve(queue, LEASE)
        assert [(t.task_id, t.priority) for t in backend.tasks(queue, "running")] == [(held.task_id, 3)]
        assert backend.counts(queue).waiting == 2

    def test_a_requeued_dead_letter_keeps_its_priority(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        _push(backend, queue, "high", 8)
        [held] = backend.reserve(queue, LEASE)
        assert backend.dead_letter(queue, "high", held.receipt, "broken")
        if not capabilities.supports(backend, capabilities.Administration):
            return
        backend.push(queue, "plain", "x")
        clock.advance(1.0)
        assert backend.requeue(queue, "high")
        assert _drain(backend, queue) == ["high", "plain"]

    def test_another_client_reserves_by_priority_too(
        self, backend: Backend, other_backend: Backend, clock: FakeClock, queue: str
    ) -> None:
        other_backend.clock = clock
        try:
            backend.push(queue, "plain", "x")
            _push(backend, queue, "high", 2)
            assert _take(other_backend, queue) == ["high"]
        finally:
            other_backend.clock = None

    @settings(
        max_examples=40,
        deadline=None,
        # Each adopting class runs it with its own backend: a different executor is expected.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.differing_executors,
        ],
    )
    @given(
        st.lists(
            st.tuples(
                st.integers(MIN_PRIORITY, MAX_PRIORITY) | st.sampled_from([-1, 0, 1]),
                st.sampled_from([0.0, 0.0, 1.0, 2.0, 3.5]),
            ),
            min_size=1,
            max_size=12,
        ),
        st.integers(1, 3),
    )
    def test_reserve_matches_the_model_of_priority_then_due_time(
        self,
        backend: CapableBackend,
        clock: FakeClock,
        tasks: list[tuple[int, float]],
        limit: int,
    ) -> None:
        queue = f"kit-{uuid.uuid4().hex[:12]}"
        try:
            pushed_at = clock()
            items = [(f"t{n}", "x", delay, priority) for n, (priority, delay) in enumerate(tasks)]
            assert backend.push_prioritized(queue, items) == len(items)
            due = {task_id: pushed_at + delay for task_id, _, delay, _ in items}
            rank = {
                task_id: (-priority, due[task_id], n) for n, (task_id, _, _, priority) in enumerate(items)
            }
            left = set(rank)
            for _ in range(5):
                while True:
                    ready = sorted((rank[t], t) for t in left if due[t] <= clock())
                    expected = [t for _, t in ready[:limit]]
                    assert _take(backend, queue, limit) == expected
                    left -= set(expected)
                    if not expected:
                        break
                clock.advance(1.0)
            assert not left
        finally:
            backend.drop_all(queue)
