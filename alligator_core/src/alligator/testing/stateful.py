"""Random operation sequences against a backend and a model of the contract."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from alligator.backend import Backend
from alligator.constants import DELAYED, FAILED, RUNNING, SUCCESS, WAITING
from alligator.testing.clock import FakeClock

IDS = [f"task-{n}" for n in range(6)]
ids = st.sampled_from(IDS)
delays = st.sampled_from([0.0, 0.0, 5.0, 20.0])
leases = st.sampled_from([5.0, 10.0, 30.0])
advances = st.sampled_from([1.0, 4.0, 11.0, 31.0])


@dataclass
class _Task:
    payload: str
    state: str  # "waiting" | "reserved" | "done" | "dead"
    due: float = 0.0
    lease_end: float = 0.0
    receipt: str = ""
    attempts: int = 0
    finished_at: float = 0.0


class BackendStateMachine(RuleBasedStateMachine):
    """Drives one backend and a model side by side; every answer must agree.

    Set ``backend`` (a class attribute) before running, or use
    :func:`run_backend_state_machine`.
    """

    backend: Backend

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.backend.clock = self.clock
        self.queue = f"model-{uuid.uuid4().hex[:12]}"
        self.model: dict[str, _Task] = {}
        self.dead_order: list[str] = []
        self.pushes = 0

    def teardown(self) -> None:
        self.backend.drop_all(self.queue)
        self.backend.clock = None

    # -- the model's view of time ---------------------------------------------

    def _reclaim(self) -> None:
        now = self.clock()
        for task in self.model.values():
            if task.state == "reserved" and task.lease_end <= now:
                task.state, task.due = "waiting", task.lease_end

    def _in(self, state: str) -> list[str]:
        self._reclaim()
        return sorted(task_id for task_id, task in self.model.items() if task.state == state)

    def _held(self) -> list[str]:
        return self._in("reserved")

    # -- rules -----------------------------------------------------------------

    @rule(task_id=ids, delay=delays)
    def push(self, task_id: str, delay: float) -> None:
        self._reclaim()
        current = self.model.get(task_id)
        if current is not None and current.state == "dead":
            return  # pushing over a dead letter is outside what the contract fixes
        self.pushes += 1
        payload = f"payload {self.pushes}"
        added = self.backend.push(self.queue, task_id, payload, delay)
        expected = current is None or current.state == "done"
        assert added is expected, f"push({task_id}) returned {added}, expected {expected}"
        if added:
            self.model[task_id] = _Task(payload, "waiting", due=self.clock() + delay)

    @rule(limit=st.integers(1, 3), lease=leases)
    def reserve(self, limit: int, lease: float) -> None:
        self._reclaim()
        now = self.clock()
        due = {task_id for task_id in self._in("waiting") if self.model[task_id].due <= now}
        got = self.backend.reserve(self.queue, lease, limit)
        assert len(got) == min(limit, len(due)), f"reserved {len(got)} of {len(due)} due, limit {limit}"
        for reservation in got:
            assert reservation.task_id in due, f"{reservation.task_id} was not due"
            due.discard(reservation.task_id)
            task = self.model[reservation.task_id]
            assert reservation.payload == task.payload
            assert reservation.attempts == task.attempts + 1
            task.state, task.lease_end = "reserved", now + lease
            task.receipt, task.attempts = reservation.receipt, reservation.attempts

    @precondition(lambda self: bool(self._held()))
    @rule(data=st.data())
    def ack(self, data: st.DataObject) -> None:
        task_id = data.draw(st.sampled_from(self._held()))
        task = self.model[task_id]
        assert self.backend.ack(self.queue, task_id, task.receipt) is True
        task.state, task.finished_at = "done", self.clock()

    @rule(task_id=ids)
    def ack_with_a_stale_receipt(self, task_id: str) -> None:
        assert self.backend.ack(self.queue, task_id, "stale-receipt") is False

    @precondition(lambda self: bool(self._held()))
    @rule(data=st.data(), delay=delays, attempted=st.booleans())
    def release(self, data: st.DataObject, delay: float, attempted: bool) -> None:
        task_id = data.draw(st.sampled_from(self._held()))
        task = self.model[task_id]
        assert self.backend.release(self.queue, task_id, task.receipt, delay, attempted) is True
        task.state, task.due = "waiting", self.clock() + delay
        if not attempted:
            task.attempts -= 1

    @precondition(lambda self: bool(self._held()))
    @rule(data=st.data(), lease=leases)
    def extend(self, data: st.DataObject, lease: float) -> None:
        task_id = data.draw(st.sampled_from(self._held()))
        task = self.model[task_id]
        assert self.backend.extend(self.queue, task_id, task.receipt, lease) is True
        task.lease_end = self.clock() + lease

    @precondition(lambda self: bool(self._held()))
    @rule(data=st.data())
    def dead_letter(self, data: st.DataObject) -> None:
        task_id = data.draw(st.sampled_from(self._held()))
        task = self.model[task_id]
        assert self.backend.dead_letter(self.queue, task_id, task.receipt, "model says so") is True
        task.state, task.finished_at = "dead", self.clock()
        self.dead_order.append(task_id)

    @rule(task_id=ids)
    def requeue(self, task_id: str) -> None:
        task = self.model.get(task_id)
        expected = task is not None and task.state == "dead"
        assert self.backend.requeue(self.queue, task_id) is expected
        if task is not None and expected:
            task.state, task.due, task.attempts = "waiting", self.clock(), 0
            self.dead_order.remove(task_id)

    @rule(task_id=ids)
    def cancel(self, task_id: str) -> None:
        self._reclaim()
        task = self.model.get(task_id)
        expected = task is not None and task.state == "waiting"
        assert self.backend.cancel(self.queue, task_id) is expected
        if expected:
            del self.model[task_id]

    @rule(task_id=ids, lease=leases)
    def get(self, task_id: str, lease: float) -> None:
        self._reclaim()
        task = self.model.get(task_id)
        got = self.backend.get(self.queue, task_id, lease)
        if task is None or task.state != "waiting":
            assert got is None, f"get({task_id}) returned a task in state {task and task.state}"
            return
        assert got is not None and got.task_id == task_id and got.payload == task.payload
        assert got.attempts == task.attempts + 1
        task.state, task.lease_end = "reserved", self.clock() + lease
        task.receipt, task.attempts = got.receipt, got.attempts

    @rule(seconds=advances)
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    # -- invariants ------------------------------------------------------------

    @invariant()
    def counts_and_statuses_agree(self) -> None:
        self._reclaim()
        now = self.clock()
        assert self.backend.len(self.queue) == len(self._in("waiting"))
        for task_id in IDS:
            task = self.model.get(task_id)
            expected: int | None
            if task is None:
                expected = None
            elif task.state == "waiting":
                expected = WAITING if task.due <= now else DELAYED
            elif task.state == "reserved":
                expected = RUNNING
            elif now - task.finished_at > self.backend.status_ttl:
                continue  # may or may not be forgotten yet: tidying is lazy
            else:
                expected = SUCCESS if task.state == "done" else FAILED
            actual = self.backend.status(self.queue, task_id)
            assert actual == expected, f"status({task_id}) is {actual}, model says {expected}"

    @invariant()
    def dead_letters_agree(self) -> None:
        letters = self.backend.dead_letters(self.queue, limit=100)
        assert [d.task_id for d in letters] == self.dead_order
        for letter in letters:
            assert letter.payload == self.model[letter.task_id].payload
            assert letter.reason == "model says so"


def run_backend_state_machine(backend: Backend, max_examples: int = 40, steps: int = 30) -> None:
    """Runs :class:`BackendStateMachine` against one backend instance.

    Each example works in a queue of its own and drops it afterwards.

    Args:
        backend: The backend under test.
        max_examples: How many random sequences to try.
        steps: The most operations in one sequence.
    """
    machine = type("Machine", (BackendStateMachine,), {"backend": backend})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=max_examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
