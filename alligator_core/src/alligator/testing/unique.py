"""The kit's tests of the optional unique-keys capability: ``push_unique()`` and ``unique_keys()``.

A backend that claims :class:`~alligator.unique_store.UniqueKeys` adopts
:class:`UniqueKeysContract` beside
:class:`~alligator.testing.contract.RequiredContract`
(:class:`~alligator.testing.contract.BackendContract` includes it)::

    class TestMyBackend(RequiredContract, UniqueKeysContract):
        ...  # the same fixtures

The central rule: a key is released however its holder ends (acked,
dead-lettered, cancelled, dropped), and never held past its window, with
nothing but the push itself looking.
"""

from __future__ import annotations

import threading

import pytest

from alligator import capabilities
from alligator.constants import DELAYED, WAITING
from alligator.testing.capable import CapableBackend
from alligator.testing.clock import FakeClock
from alligator.testing.fixtures import LEASE, ContractFixtures, assert_claims
from alligator.unique_store import DEBOUNCE, THROTTLE, UNTIL_FINISHED, UNTIL_STARTED

#: The window the tests push with.
WINDOW = 60.0


class UniqueKeysContract(ContractFixtures):
    """``push_unique`` takes a key with the push atomically; the key is free once its holder ended."""

    @staticmethod
    def _push_unique(
        backend: CapableBackend,
        queue: str,
        task_id: str,
        key: str = "k",
        mode: str = UNTIL_FINISHED,
        delay: float = 0.0,
    ) -> tuple[bool, str]:
        return backend.push_unique(queue, task_id, f"payload-{task_id}", delay, key, mode, WINDOW)

    def test_the_backend_says_it_keeps_unique_keys(self, backend: CapableBackend) -> None:
        assert capabilities.supports(backend, capabilities.UniqueKeys), (
            "a backend that adopts UniqueKeysContract writes push_unique and unique_keys"
        )
        assert_claims(backend, capabilities.UniqueKeys, "UniqueKeysContract")

    def test_a_second_push_of_a_held_key_queues_nothing_and_names_the_holder(
        self, backend: CapableBackend, queue: str
    ) -> None:
        assert self._push_unique(backend, queue, "a") == (True, "")
        assert self._push_unique(backend, queue, "b") == (False, "a")
        assert self._push_unique(backend, queue, "c", key="other") == (True, "")
        assert backend.status(queue, "b") is None, "a refused push queues nothing"
        assert backend.len(queue) == 2

    def test_keys_are_per_queue(self, backend: CapableBackend, queue: str) -> None:
        other = queue + "-other"
        try:
            assert self._push_unique(backend, queue, "a") == (True, "")
            assert self._push_unique(backend, other, "b") == (True, "")
        finally:
            backend.drop_all(other)

    def test_an_id_taken_already_is_refused_without_taking_the_key(
        self, backend: CapableBackend, queue: str
    ) -> None:
        assert backend.push(queue, "a", "x")
        assert self._push_unique(backend, queue, "a") == (False, "")
        assert self._push_unique(backend, queue, "b") == (True, ""), "the key was never taken"

    @pytest.mark.parametrize("mode", [UNTIL_FINISHED, UNTIL_STARTED, DEBOUNCE])
    def test_the_key_is_released_when_its_holder_is_acked(
        self, backend: CapableBackend, queue: str, mode: str
    ) -> None:
        assert self._push_unique(backend, queue, "a", mode=mode)[0]
        held = backend.get(queue, "a", LEASE)
        assert held is not None
        assert backend.ack(queue, "a", held.receipt)
        assert self._push_unique(backend, queue, "b", mode=mode) == (True, "")

    def test_the_key_is_released_when_its_holder_is_dead_lettered(
        self, backend: CapableBackend, queue: str
    ) -> None:
        assert self._push_unique(backend, queue, "a")[0]
        held = backend.get(queue, "a", LEASE)
        assert held is not None
        assert backend.dead_letter(queue, "a", held.receipt, "broken")
        assert self._push_unique(backend, queue, "b") == (True, "")

    def test_the_key_is_released_when_its_holder_is_cancelled_or_dropped(
        self, backend: CapableBackend, queue: str
    ) -> None:
        assert self._push_unique(backend, queue, "a")[0]
        assert backend.cancel(queue, "a")
        assert self._push_unique(backend, queue, "b") == (True, "")
        backend.drop_all(queue)
        assert self._push_unique(backend, queue, "c") == (True, "")

    def test_until_finished_holds_while_running_and_through_a_retry(
        self, backend: CapableBackend, queue: str
    ) -> None:
        assert self._push_unique(backend, queue, "a")[0]
        held = backend.get(queue, "a", LEASE)
        assert held is not None
        assert self._push_unique(backend, queue, "b") == (False, "a"), "a running holder holds"
        assert backend.release(queue, "a", held.receipt, 5.0)
        assert self._push_unique(backend, queue, "c") == (False, "a"), "a holder waiting for its retry holds"

    def test_until_started_is_free_once_its_holder_runs(self, backend: CapableBackend, queue: str) -> None:
        assert self._push_unique(backend, queue, "a", mode=UNTIL_STARTED)[0]
        assert self._push_unique(backend, queue, "b", mode=UNTIL_STARTED) == (False, "a")
        assert backend.get(queue, "a", LEASE) is not None
        assert self._push_unique(backend, queue, "c", mode=UNTIL_STARTED) == (True, "")

    def test_a_worker_that_died_leaves_the_key_held_until_the_redelivery_ends(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        assert self._push_unique(backend, queue, "a")[0]
        assert backend.get(queue, "a", LEASE) is not None  # its worker is killed: never acked
        clock.advance(LEASE + 1)
        assert self._push_unique(backend, queue, "b") == (False, "a"), "the task will be delivered again"
        again = backend.reserve(queue, LEASE, 1)
        assert [r.task_id for r in again] == ["a"]
        assert self._push_unique(backend, queue, "c") == (False, "a")
        assert backend.ack(queue, "a", again[0].receipt)
        assert self._push_unique(backend, queue, "d") == (True, "")

    def test_no_key_is_held_past_its_window(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        assert self._push_unique(backend, queue, "a")[0]
        clock.advance(WINDOW - 1)
        assert self._push_unique(backend, queue, "b") == (False, "a")
        clock.advance(2)
        assert self._push_unique(backend, queue, "c") == (True, ""), (
            "a waiting holder holds only for the window"
        )

    def test_the_window_starts_when_the_task_is_due(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        assert self._push_unique(backend, queue, "a", delay=100.0)[0]
        clock.advance(WINDOW + 10)
        assert self._push_unique(backend, queue, "b") == (False, "a")

    def test_throttle_holds_for_the_window_after_its_holder_finished(
        self, backend: CapableBackend, clock: FakeClock, queue: str
    ) -> None:
        assert self._push_unique(backend, queue, "a", mode=THROTTLE)[0]
        held = backend.get(queue, "a", LEASE)
        assert held is not None and backend.ack(queue, "a", held.receipt)
        assert self._push_unique(backend, queue, "b", mode=THROTTLE) == (False, "a")
        clock.advance(WINDOW)
        assert self._push_unique(backend, queue, "c", mode=THROTTLE) == (True, "")

    def test_debounce_replaces_the_waiting_holder(self, backend: CapableBackend, queue: str) -> None:
        assert self._push_unique(backend, queue, "a", mode=DEBOUNCE, delay=WINDOW) == (True, "")
        assert self._push_unique(backend, queue, "b", mode=DEBOUNCE, delay=WINDOW) == (True, "a")
        assert backend.status(queue, "a") is None, "the replaced task was cancelled"
        assert backend.status(queue, "b") == DELAYED
        assert backend.len(queue) == 1

    def test_debounce_queues_a_new_task_beside_a_running_one(
        self, backend: CapableBackend, queue: str
    ) -> None:
        assert self._push_unique(backend, queue, "a", mode=DEBOUNCE)[0]
        assert backend.get(queue, "a", LEASE) is not None
        assert self._push_unique(backend, queue, "b", mode=DEBOUNCE) == (True, "")
        assert backend.status(queue, "b") == WAITING

    def test_debounce_never_replaces_a_task_of_another_mode(
        self, backend: CapableBackend, queue: str
    ) -> None:
        assert self._push_unique(backend, queue, "a", delay=WINDOW)[0]
        assert self._push_unique(backend, queue, "b", mode=DEBOUNCE, delay=WINDOW) == (False, "a")
        assert backend.status(queue, "a") == DELAYED

    def test_the_held_keys_are_listed_and_the_released_ones_are_not(
        self, backend: CapableBackend, queue: str
    ) -> None:
        assert self._push_unique(backend, queue, "a", key="k2")[0]
        assert self._push_unique(backend, queue, "b", key="k1", mode=UNTIL_STARTED)[0]
        assert self._push_unique(backend, queue, "c", key="k3")[0]
        assert backend.cancel(queue, "c")
        listed = backend.unique_keys(queue)
        assert [(k.key, k.holder, k.mode) for k in listed] == [
            ("k1", "b", UNTIL_STARTED),
            ("k2", "a", UNTIL_FINISHED),
        ]
        assert all(k.until > backend.now() for k in listed)
        assert [k.key for k in backend.unique_keys(queue, limit=1)] == ["k1"]

    def test_pushes_racing_on_one_key_queue_one_task(self, backend: CapableBackend, queue: str) -> None:
        results: list[tuple[bool, str]] = []
        lock = threading.Lock()
        start = threading.Barrier(4)

        def push(n: int) -> None:
            start.wait(timeout=60)
            for i in range(10):
                outcome = self._push_unique(backend, queue, f"t{n}-{i}")
                with lock:
                    results.append(outcome)

        threads = [threading.Thread(target=push, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(1 for queued, _ in results if queued) == 1
        assert backend.len(queue) == 1
