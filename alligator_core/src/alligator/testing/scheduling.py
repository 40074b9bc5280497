"""The kit's tests of the optional schedules capability: ``push_tick()`` and ``schedule_records()``.

A backend that claims :class:`~alligator.scheduling_store.Scheduling`
adopts :class:`SchedulingContract` (:class:`~alligator.testing.contract.BackendContract`
includes it). A store the kit shares with other tests (one Redis server)
may hold others' records: these tests look only at schedule names of their
own.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable

import pytest

from alligator.backend import Backend
from alligator.constants import WAITING
from alligator.scheduling_store import MAX_SCHEDULE_NAME_BYTES, ScheduleRecord, Scheduling
from alligator.testing.capable import CapableBackend
from alligator.testing.fixtures import BackendFactory, ContractFixtures, assert_claims

ABOUT = json.dumps({"every": 2, "missed": "last", "timezone": "UTC"})


def _name() -> str:
    return f"kit-{uuid.uuid4().hex[:12]}"


def _tick_id(name: str, tick: float) -> str:
    return f"schedule:{name}:{int(tick)}"


def _records(backend: CapableBackend, name: str) -> list[ScheduleRecord]:
    return [record for record in backend.schedule_records() if record.name == name]


class SchedulingContract(ContractFixtures):
    """``push_tick`` enqueues and records a tick in one step, never twice; ``schedule_records`` lists them."""

    def _push_tick(
        self, backend: CapableBackend, queue: str, name: str, tick: float, about: str = ABOUT
    ) -> bool:
        return backend.push_tick(queue, name, tick, _tick_id(name, tick), f'{{"tick": {tick}}}', about)

    def test_the_backend_claims_scheduling(self, backend: CapableBackend) -> None:
        assert_claims(backend, Scheduling, "SchedulingContract")

    def test_a_tick_is_pushed_and_recorded_once(self, backend: CapableBackend, queue: str) -> None:
        name = _name()
        assert self._push_tick(backend, queue, name, 10.0) is True
        assert backend.status(queue, _tick_id(name, 10.0)) == WAITING
        assert self._push_tick(backend, queue, name, 10.0) is False, "the same tick is enqueued once"
        assert backend.push_tick(queue, name, 10.0, "another-id", "{}", ABOUT) is False, (
            "a tick at the recorded one is refused whatever its id"
        )
        assert self._push_tick(backend, queue, name, 8.0) is False, (
            "a tick before the recorded one is refused"
        )
        assert backend.len(queue) == 1
        assert _records(backend, name) == [ScheduleRecord(name, queue, 10.0, ABOUT)]

    def test_a_tick_that_already_ran_is_not_enqueued_again(self, backend: CapableBackend, queue: str) -> None:
        # The derived id alone would let it through: an acked id may be pushed again.
        name = _name()
        assert self._push_tick(backend, queue, name, 20.0) is True
        [held] = backend.reserve(queue, 30.0)
        assert held.task_id == _tick_id(name, 20.0)
        assert backend.ack(queue, held.task_id, held.receipt) is True
        assert self._push_tick(backend, queue, name, 20.0) is False, "a late scheduler enqueued a tick twice"
        assert backend.len(queue) == 0

    def test_a_later_tick_moves_the_record_and_its_about(self, backend: CapableBackend, queue: str) -> None:
        name = _name()
        changed = json.dumps({"cron": "* * * * *", "missed": "all", "timezone": "UTC"})
        assert self._push_tick(backend, queue, name, 10.0) is True
        assert self._push_tick(backend, queue, name, 12.0, changed) is True
        assert backend.len(queue) == 2
        assert _records(backend, name) == [ScheduleRecord(name, queue, 12.0, changed)]

    def test_a_live_id_is_refused_and_nothing_is_recorded(self, backend: CapableBackend, queue: str) -> None:
        name = _name()
        assert backend.push(queue, _tick_id(name, 30.0), "planted") is True
        assert self._push_tick(backend, queue, name, 30.0) is False
        assert _records(backend, name) == []
        assert backend.len(queue) == 1

    def test_records_are_kept_per_queue_and_schedule(self, backend: CapableBackend, queue: str) -> None:
        first, second, other_queue = _name(), _name(), f"{queue}-other"
        try:
            assert self._push_tick(backend, queue, first, 40.0) is True
            assert self._push_tick(backend, queue, second, 40.0) is True
            assert self._push_tick(backend, other_queue, first, 40.0) is True
            assert _records(backend, first) == [
                ScheduleRecord(first, queue, 40.0, ABOUT),
                ScheduleRecord(first, other_queue, 40.0, ABOUT),
            ] or _records(backend, first) == [
                ScheduleRecord(first, other_queue, 40.0, ABOUT),
                ScheduleRecord(first, queue, 40.0, ABOUT),
            ]
            assert _records(backend, second) == [ScheduleRecord(second, queue, 40.0, ABOUT)]
        finally:
            backend.drop_all(other_queue)

    def test_drop_all_forgets_the_queue_s_records(self, backend: CapableBackend, queue: str) -> None:
        name = _name()
        assert self._push_tick(backend, queue, name, 50.0) is True
        backend.drop_all(queue)
        assert _records(backend, name) == []
        assert self._push_tick(backend, queue, name, 50.0) is True, "a dropped queue starts afresh"

    def test_bad_arguments_are_refused_before_anything_changes(
        self, backend: CapableBackend, queue: str
    ) -> None:
        name = _name()
        for tick in (float("nan"), float("inf")):
            with pytest.raises(ValueError):
                backend.push_tick(queue, name, tick, "t", "{}", ABOUT)
        with pytest.raises(ValueError):
            backend.push_tick(queue, "n" * (MAX_SCHEDULE_NAME_BYTES + 1), 1.0, "t", "{}", ABOUT)
        with pytest.raises(ValueError):
            backend.push_tick(queue, "", 1.0, "t", "{}", ABOUT)
        assert backend.len(queue) == 0
        assert _records(backend, name) == []

    def test_clients_pushing_the_same_ticks_at_once_enqueue_each_once(
        self, backend: CapableBackend, backend_factory: BackendFactory, queue: str
    ) -> None:
        name, ticks = _name(), [float(t) for t in range(100, 140, 2)]
        clients: list[Backend] = [backend_factory() for _ in range(4)]
        pushed: list[float] = []
        errors: list[BaseException] = []
        lock = threading.Lock()
        start = threading.Barrier(len(clients))

        def scheduler(client: Backend) -> Callable[[], None]:
            def run() -> None:
                try:
                    start.wait(60)
                    for tick in ticks:
                        if self._push_tick(client, queue, name, tick):  # type: ignore[arg-type]
                            with lock:
                                pushed.append(tick)
                except BaseException as err:  # reported below, in the test's thread
                    errors.append(err)

            return run

        threads = [threading.Thread(target=scheduler(client)) for client in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        for client in clients:
            client.close()
        assert not errors, errors
        assert sorted(pushed) == ticks, "each tick enqueued exactly once"
        assert backend.len(queue) == len(ticks)
