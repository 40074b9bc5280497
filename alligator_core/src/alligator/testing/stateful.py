"""Random operation sequences against a backend and a model of the contract."""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from alligator import capabilities
from alligator.backend import Backend, Reservation
from alligator.constants import DELAYED, FAILED, RUNNING, SUCCESS, WAITING
from alligator.testing.capable import CapableBackend
from alligator.testing.clock import FakeClock

#: ``ALLIGATOR_KIT_PROFILE=long`` runs the state machine for longer (about
#: ten times the examples, twice the steps): for a plugin author's CI, or a
#: night run. The default profile takes seconds.
PROFILE_VARIABLE = "ALLIGATOR_KIT_PROFILE"
PROFILES = {"default": (60, 50), "long": (600, 100)}

IDS = [f"task-{n}" for n in range(6)]
ids = st.sampled_from(IDS)
# The clock moves in whole seconds and leases and delays end half-way
# through one, except when a rule moves it to the very end of the held
# leases: there the contract's boundary (a lease is ended once now >= its
# end) is tested too.
delays = st.sampled_from([0.0, 0.0, 5.5, 20.5])
leases = st.sampled_from([5.5, 10.5, 30.5])
advances = st.sampled_from([1.0, 4.0, 11.0, 31.0])


@dataclass
class _Task:
    payload: str
    state: str  # "waiting" | "reserved" | "done" | "dead"
    due: float = 0.0
    lease_end: float = 0.0
    receipt: str = ""
    attempts: int = 0
    failures: int = 0
    finished_at: float = 0.0


class BackendStateMachine(RuleBasedStateMachine):
    """Drives one backend and a model side by side; every answer must agree.

    Every delivery is checked for its payload, ``attempts``, ``failures``,
    a receipt never seen before, and FIFO order among due tasks; every push
    for the id rules (refused over a live task or a dead letter, accepted
    over an acked one); receipts of deliveries that ended (acked, released,
    dead-lettered, or whose lease ran out, re-reserved or not) are refused by
    ack, release, extend and dead_letter; after every step, ``len``,
    ``status`` and ``dead_letters`` must agree with the model. A backend
    without :class:`~alligator.capabilities.Administration` runs every rule
    but ``requeue``, and every check but that of ``dead_letters``.

    Set ``backend`` (a class attribute) before running, or use
    :func:`run_backend_state_machine`.
    """

    backend: CapableBackend
    #: What the runs did, added up over every example (deliveries,
    #: redeliveries, expiries, acks, releases with and without delay, dead
    #: letters, requeues). The kit's self-test checks a run does each often.
    stats: ClassVar[Counter[str]] = Counter()

    def __init__(self) -> None:
        super().__init__()
        # On a whole second, so sums of halves of seconds are exact.
        self.clock = FakeClock(float(int(time.time())))
        self.backend.clock = self.clock
        self.queue = f"model-{uuid.uuid4().hex[:12]}"
        self.model: dict[str, _Task] = {}
        self.dead_order: list[str] = []
        # (task id, receipt) of every delivery that ended: acked, released,
        # dead-lettered, or its lease ran out. None may ever be accepted again.
        self.ended: list[tuple[str, str]] = []
        self.pushes = 0
        # Requeues and the listing of dead letters are the Administration
        # capability's: a backend with the required part only runs without them.
        self.administers = capabilities.supports(self.backend, capabilities.Administration)

    def teardown(self) -> None:
        self.backend.drop_all(self.queue)
        self.backend.clock = None

    # -- the model's view of time ---------------------------------------------

    def _reclaim(self) -> None:
        now = self.clock()
        for task_id, task in self.model.items():
            if task.state == "reserved" and task.lease_end <= now:
                task.state, task.due = "waiting", task.lease_end
                self.ended.append((task_id, task.receipt))
                self.stats["expiry"] += 1

    def _in(self, state: str) -> list[str]:
        self._reclaim()
        return sorted(task_id for task_id, task in self.model.items() if task.state == state)

    def _held(self) -> list[str]:
        return self._in("reserved")

    # -- rules -----------------------------------------------------------------
    #
    # Hypothesis picks among the rules that apply with equal chances, so the
    # rules that make deliveries happen (reserve, a failed run's release) are
    # given twice, the clock has a rule that ends every lease, requeue has
    # a rule that always finds a dead letter, and every run starts with work
    # that is due. The self-test checks the counts in ``stats``.

    @initialize()
    def fill(self) -> None:
        for task_id in IDS[:3]:
            self._push(task_id, 0.0)

    @rule(data=st.data(), delay=delays)
    def push(self, data: st.DataObject, delay: float) -> None:
        # Ids that finished or died are drawn more often: pushing them again is
        # where the id rules bite.
        gone = sorted(task_id for task_id, task in self.model.items() if task.state in ("done", "dead"))
        self._push(data.draw(st.one_of(st.sampled_from(gone), ids) if gone else ids), delay)

    def _push(self, task_id: str, delay: float) -> None:
        self._reclaim()
        current = self.model.get(task_id)
        self.pushes += 1
        payload = f"payload {self.pushes}"
        added = self.backend.push(self.queue, task_id, payload, delay)
        # Ids are unique across waiting, delayed, reserved and dead; an acked id may come back.
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
            self._check_delivery(reservation)
            task = self.model[reservation.task_id]
            task.state, task.lease_end = "reserved", now + lease
            task.receipt, task.attempts = reservation.receipt, reservation.attempts
        # FIFO among due tasks: handed out in the order they became due, and
        # none left behind that became due before one handed out.
        handed = [self.model[r.task_id].due for r in got]
        assert handed == sorted(handed), f"reserved out of due order: {[r.task_id for r in got]}"
        if handed and due:
            assert max(handed) <= min(self.model[task_id].due for task_id in due), (
                "a task due earlier was skipped"
            )

    @rule(limit=st.integers(1, 3), lease=leases)
    def reserve_again(self, limit: int, lease: float) -> None:
        self.reserve(limit, lease)

    def _check_delivery(self, reservation: Reservation) -> None:
        task = self.model[reservation.task_id]
        self.stats["delivery"] += 1
        if reservation.attempts > 1 or reservation.failures:
            self.stats["redelivery"] += 1
        assert reservation.payload == task.payload
        assert reservation.attempts == task.attempts + 1, (
            f"{reservation.task_id}: attempts {reservation.attempts}, model says {task.attempts + 1}"
        )
        assert reservation.failures == task.failures, (
            f"{reservation.task_id}: failures {reservation.failures}, model says {task.failures}"
        )
        assert (reservation.task_id, reservation.receipt) not in self.ended, "a receipt was used twice"

    @precondition(lambda self: bool(self._held()))
    @rule(data=st.data())
    def ack(self, data: st.DataObject) -> None:
        task_id = data.draw(st.sampled_from(self._held()))
        task = self.model[task_id]
        assert self.backend.ack(self.queue, task_id, task.receipt) is True
        self.stats["ack"] += 1
        task.state, task.finished_at = "done", self.clock()
        self.ended.append((task_id, task.receipt))

    @precondition(lambda self: bool(self._held()))
    @rule(data=st.data())
    def ack_again(self, data: st.DataObject) -> None:
        self.ack(data)

    @rule(data=st.data(), method=st.sampled_from(["ack", "release", "extend", "dead_letter"]))
    def use_a_stale_receipt(self, data: st.DataObject, method: str) -> None:
        self._reclaim()
        # The real receipt of a delivery that ended (its lease may have run
        # out with nobody reserving the task since), or one never handed out.
        made_up = [(task_id, "made-up-receipt") for task_id in IDS]
        recent = st.sampled_from(self.ended[-2:]) if self.ended else st.nothing()
        task_id, receipt = data.draw(st.one_of(recent, st.sampled_from(self.ended + made_up)))
        if method == "ack":
            accepted = self.backend.ack(self.queue, task_id, receipt)
        elif method == "release":
            accepted = self.backend.release(self.queue, task_id, receipt)
        elif method == "extend":
            accepted = self.backend.extend(self.queue, task_id, receipt, 30.5)
        else:
            accepted = self.backend.dead_letter(self.queue, task_id, receipt, "stale")
        assert accepted is False, f"{method}({task_id}) accepted the receipt of a delivery that ended"

    @precondition(lambda self: bool(self._held()))
    @rule(data=st.data(), delay=delays, attempted=st.booleans())
    def release(self, data: st.DataObject, delay: float, attempted: bool) -> None:
        task_id = data.draw(st.sampled_from(self._held()))
        task = self.model[task_id]
        assert self.backend.release(self.queue, task_id, task.receipt, delay, attempted) is True
        self.stats["release with delay" if delay else "release now"] += 1
        task.state, task.due = "waiting", self.clock() + delay
        self.ended.append((task_id, task.receipt))
        if attempted:
            task.failures += 1
        else:
            task.attempts -= 1

    @precondition(lambda self: bool(self._held()))
    @rule(data=st.data())
    def release_after_a_failure(self, data: st.DataObject) -> None:
        self.release(data, 0.0, True)

    @precondition(lambda self: bool(self._held()))
    @rule(data=st.data(), delay=st.sampled_from([5.5, 20.5]))
    def release_for_later(self, data: st.DataObject, delay: float) -> None:
        self.release(data, delay, True)

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
        self.stats["dead letter"] += 1
        task.state, task.finished_at = "dead", self.clock()
        self.dead_order.append(task_id)
        self.ended.append((task_id, task.receipt))

    @precondition(lambda self: self.administers)
    @rule(data=st.data())
    def requeue(self, data: st.DataObject) -> None:
        task_id = data.draw(st.one_of(st.sampled_from(self.dead_order), ids) if self.dead_order else ids)
        task = self.model.get(task_id)
        expected = task is not None and task.state == "dead"
        assert self.backend.requeue(self.queue, task_id) is expected
        if task is not None and expected:
            self.stats["requeue"] += 1
            task.state, task.due, task.attempts, task.failures = "waiting", self.clock(), 0, 0
            self.dead_order.remove(task_id)

    @precondition(lambda self: self.administers and bool(self.dead_order))
    @rule(data=st.data())
    def requeue_a_dead_letter(self, data: st.DataObject) -> None:
        self.requeue(data)

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
        assert got is not None and got.task_id == task_id
        self._check_delivery(got)
        task.state, task.lease_end = "reserved", self.clock() + lease
        task.receipt, task.attempts = got.receipt, got.attempts

    @rule(task_id=ids)
    def peek(self, task_id: str) -> None:
        self._reclaim()
        task = self.model.get(task_id)
        expected = task.payload if task is not None and task.state in ("waiting", "reserved") else None
        actual = self.backend.peek(self.queue, task_id)
        assert actual == expected, f"peek({task_id}) is {actual!r}, model says {expected!r}"

    @rule(seconds=advances)
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @precondition(lambda self: bool(self._held()))
    @rule()
    def outlive_every_lease(self) -> None:
        # Workers that died: the clock moves to the instant the last held
        # lease ends, which ends every one of them (now >= its end).
        self.stats["clock at a lease's end"] += 1
        self.clock.advance(max(self.model[task_id].lease_end for task_id in self._held()) - self.clock())

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

    @precondition(lambda self: self.administers)
    @invariant()
    def dead_letters_agree(self) -> None:
        letters = self.backend.dead_letters(self.queue, limit=100)
        assert [d.task_id for d in letters] == self.dead_order
        for letter in letters:
            assert letter.payload == self.model[letter.task_id].payload
            assert letter.reason == "model says so"


def run_backend_state_machine(
    backend: Backend,
    max_examples: int | None = None,
    steps: int | None = None,
    derandomize: bool = False,
) -> Counter[str]:
    """Runs :class:`BackendStateMachine` against one backend instance.

    Each example works in a queue of its own and drops it afterwards. The
    environment variable ``ALLIGATOR_KIT_PROFILE`` picks the length of the
    run when the arguments do not: ``default`` (60 examples of up to 50
    steps) or ``long`` (600 of up to 100).

    Args:
        backend: The backend under test.
        max_examples: How many random sequences to try.
        steps: The most operations in one sequence.
        derandomize: Draw the same sequences on every run (Hypothesis's
            ``derandomize``), for a check of what a run covers that must
            not depend on luck.

    Returns:
        What the run did, counted (see :attr:`BackendStateMachine.stats`).

    Raises:
        ValueError: ``ALLIGATOR_KIT_PROFILE`` names no profile.
    """
    profile = os.environ.get(PROFILE_VARIABLE, "default") or "default"
    if profile not in PROFILES:
        raise ValueError(f"{PROFILE_VARIABLE}={profile!r}: the profiles are {', '.join(PROFILES)}")
    default_examples, default_steps = PROFILES[profile]
    max_examples = default_examples if max_examples is None else max_examples
    steps = default_steps if steps is None else steps
    stats: Counter[str] = Counter()
    machine = type("Machine", (BackendStateMachine,), {"backend": backend, "stats": stats})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=max_examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=derandomize,
            # A fixed run replays nothing saved by earlier ones either.
            database=None if derandomize else settings().database,
        ),
    )
    return stats
