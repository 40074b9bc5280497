"""The settler is the one owner of settlement: it applies every verdict, holds every lease.

Proved on real stores (locmem and a SQLite file): each kind of verdict does
to the store what it says, a stale receipt changes nothing, batched acks go
out when the settler stops, and the worker, ``Gator.pop`` and the
supervisor's hard-limit path all settle through it.
"""

from __future__ import annotations

import ast
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sample_tasks

import alligator
from alligator import Gator, Worker, capabilities, settler
from alligator.backend import Reservation
from alligator.constants import FAILED, RUNNING, SUCCESS
from alligator.delivery import Delivery, DeliveryRules, DeliverySteps, Outcome
from alligator.exceptions import BackendError
from alligator.settler import Settler
from alligator.supervisor import settle_killed
from alligator.verdicts import Acknowledge, Bury, HandBack, Leave, Retry, Verdict


@pytest.fixture(params=["locmem", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Gator]:
    """A gator on a real store of each kind, allowed to run the sample tasks."""
    dsn = f"locmem://{uuid.uuid4().hex}" if request.param == "locmem" else f"sqlite:///{tmp_path / 'q.db'}"
    gator = Gator(dsn, allow=["sample_tasks"])
    yield gator
    gator.drop_all()
    gator.backend.close()


def _reserved(gator: Gator, lease: float = 30.0) -> Reservation:
    [held] = gator.backend.reserve(gator.queue_name, lease, 1)
    return held


def _verdict(kind: type[Verdict], gator: Gator, held: Reservation) -> Verdict:
    queue, task_id, receipt = gator.queue_name, held.task_id, held.receipt
    if kind is Acknowledge:
        return Acknowledge(queue, task_id, receipt, "[1, 2]", 60.0)
    if kind is Retry:
        return Retry(queue, task_id, receipt, 0.0)
    if kind is Bury:
        return Bury(queue, task_id, receipt, "given up")
    if kind is HandBack:
        return HandBack(queue, task_id, receipt)
    return Leave(queue, task_id, receipt)


def test_an_ack_keeps_the_result_and_drops_the_lease(store: Gator) -> None:
    task = store.task(sample_tasks.noop)
    held = _reserved(store)
    settler = Settler(store.backend)
    settler.hold(store.queue_name, held)
    assert settler.apply(_verdict(Acknowledge, store, held))
    assert store.status(task.task_id) == SUCCESS
    assert store.result(task.task_id) == [1, 2]
    assert settler.held(store.queue_name) == []


def test_a_retry_is_released_and_counted_as_a_failure(store: Gator) -> None:
    task = store.task(sample_tasks.noop)
    held = _reserved(store)
    assert Settler(store.backend).apply(_verdict(Retry, store, held))
    again = _reserved(store)
    assert (again.task_id, again.attempts, again.failures) == (task.task_id, 2, 1)


def test_a_burial_is_a_dead_letter_with_its_reason(store: Gator) -> None:
    task = store.task(sample_tasks.noop)
    held = _reserved(store)
    assert Settler(store.backend).apply(_verdict(Bury, store, held))
    assert store.status(task.task_id) == FAILED
    [letter] = store.dead_letters()
    assert (letter.task_id, letter.reason, letter.attempts) == (task.task_id, "given up", 1)


def test_a_hand_back_is_due_again_and_not_counted(store: Gator) -> None:
    task = store.task(sample_tasks.noop)
    held = _reserved(store)
    assert Settler(store.backend).apply(_verdict(HandBack, store, held))
    again = _reserved(store)
    assert (again.task_id, again.attempts, again.failures) == (task.task_id, 1, 0)


def test_leaving_writes_nothing_and_stops_renewing(store: Gator) -> None:
    task = store.task(sample_tasks.noop)
    held = _reserved(store)
    settler = Settler(store.backend)
    settler.hold(store.queue_name, held)
    assert settler.apply(_verdict(Leave, store, held))
    assert store.status(task.task_id) == RUNNING, "left to its lease"
    assert settler.held(store.queue_name) == []


@pytest.mark.parametrize("kind", [Acknowledge, Retry, Bury, HandBack])
def test_a_stale_receipt_changes_nothing(store: Gator, kind: type[Verdict]) -> None:
    now = [1000.0]
    store.backend.clock = lambda: now[0]
    task = store.task(sample_tasks.noop)
    old = _reserved(store, lease=10.0)
    now[0] += 11  # the lease ended: the task went to another delivery
    current = _reserved(store)
    assert current.task_id == task.task_id and current.receipt != old.receipt
    settler = Settler(store.backend)
    settler.hold(store.queue_name, old)
    assert not settler.apply(_verdict(kind, store, old))
    assert settler.held(store.queue_name) == []
    assert store.status(task.task_id) == RUNNING
    assert store.dead_letters() == []
    assert store.backend.reserve(store.queue_name, 30.0, 1) == [], "still held by the other delivery"
    assert settler.apply(_verdict(Acknowledge, store, current)), "the live delivery settles as usual"
    assert store.result(task.task_id) == [1, 2]


def test_a_stale_verdict_is_logged_with_its_outcome(store: Gator, caplog: pytest.LogCaptureFixture) -> None:
    now = [1000.0]
    store.backend.clock = lambda: now[0]
    with store.options(retries=0) as opts:
        task = opts.task(sample_tasks.fails_with, "boom")
    old = _reserved(store, lease=10.0)
    steps = DeliverySteps(store.backend, store.queue_name, DeliveryRules(store.policy))
    delivery = steps.handle(old)
    assert isinstance(delivery.verdict, Bury)
    now[0] += 11
    _reserved(store)
    with caplog.at_level(logging.WARNING, logger="alligator.worker"):
        assert Settler(store.backend).settle(delivery) is Outcome.DEAD
    assert store.status(task.task_id) == RUNNING and store.dead_letters() == []
    assert any("its lease had ended first" in r.getMessage() for r in caplog.records)


def _decided_success(gator: Gator) -> tuple[str, Delivery]:
    task = gator.task(sample_tasks.add, 2, 3)
    steps = DeliverySteps(gator.backend, gator.queue_name, DeliveryRules(gator.policy))
    return task.task_id, steps.handle(_reserved(gator))


def test_batched_acks_are_sent_when_the_settler_stops(store: Gator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settler, "ACK_FLUSH_SECONDS", 3600.0)  # only stop() can send them
    task_id, delivery = _decided_success(store)
    batching = Settler(store.backend, batch=True)
    batching.start()
    batching.hold(store.queue_name, delivery.reservation)
    assert batching.settle(delivery) is Outcome.SUCCEEDED
    assert batching.pending
    assert store.status(task_id) == RUNNING, "not sent yet"
    assert batching.held(store.queue_name) == [(task_id, delivery.reservation.receipt)], "renewed until sent"
    batching.stop()
    assert not batching.pending
    assert store.status(task_id) == SUCCESS
    assert store.result(task_id) == 5
    assert batching.held(store.queue_name) == []


def test_a_full_batch_of_acks_goes_at_once_whatever_its_age(
    store: Gator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20: thousands of acks in one call held the store for milliseconds and swelled memory."""
    monkeypatch.setattr(settler, "ACK_FLUSH_SECONDS", 3600.0)  # only a full batch can send them now
    monkeypatch.setattr(settler, "ACK_BATCH_MAX", 4)
    # A store slow to ack (a busy machine): the batch is in flight a while.
    ack_results = capabilities.results(store.backend).ack_results

    def slow_ack_results(*args: Any) -> int:
        time.sleep(0.2)
        return int(ack_results(*args))

    monkeypatch.setattr(store.backend, "ack_results", slow_ack_results)
    ids = [store.task(sample_tasks.add, n, n).task_id for n in range(5)]
    steps = DeliverySteps(store.backend, store.queue_name, DeliveryRules(store.policy))
    batching = Settler(store.backend, batch=True)
    batching.start()
    try:
        for n in range(5):
            delivery = steps.handle(_reserved(store))
            batching.hold(store.queue_name, delivery.reservation)
            batching.settle(delivery)
            if n == 3:
                # Wait for the store to say so: ``pending`` turns False as the
                # ack thread takes the batch, before the store has acked it.
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and any(store.status(t) != SUCCESS for t in ids[:4]):
                    time.sleep(0.01)
                assert [store.status(t) for t in ids[:4]] == [SUCCESS] * 4, "the first four went as a batch"
        assert batching.pending, "the fifth waits for its age or the next full batch"
        assert store.status(ids[4]) == RUNNING
    finally:
        batching.stop()
    assert [store.status(t) for t in ids] == [SUCCESS] * 5


def test_a_flush_the_store_refuses_keeps_the_acks_and_their_leases(
    store: Gator, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id, delivery = _decided_success(store)
    batching = Settler(store.backend, batch=True)
    batching.hold(store.queue_name, delivery.reservation)
    batching.settle(delivery)

    def down(*args: object) -> int:
        raise BackendError("store down")

    with monkeypatch.context() as patch:
        patch.setattr(store.backend, "ack_results", down)
        assert batching.flush() == 0
    assert batching.pending and batching.held(store.queue_name) != []
    assert batching.flush() == 1
    assert store.result(task_id) == 5 and batching.held(store.queue_name) == []


def test_a_last_flush_the_store_refuses_leaves_the_tasks_to_their_leases(
    store: Gator, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id, delivery = _decided_success(store)
    batching = Settler(store.backend, batch=True)
    batching.hold(store.queue_name, delivery.reservation)
    batching.settle(delivery)

    def down(*args: object) -> int:
        raise BackendError("store down")

    monkeypatch.setattr(store.backend, "ack_results", down)
    batching.stop()
    assert not batching.pending and batching.held(store.queue_name) == []
    assert store.status(task_id) == RUNNING, "runs again once its lease ends"


def test_a_store_failing_on_a_verdict_leaves_the_task_to_its_lease(
    store: Gator, monkeypatch: pytest.MonkeyPatch
) -> None:
    with store.options(retries=2, retry_delay=0.0, retry_jitter=False) as opts:
        task = opts.task(sample_tasks.fails_with, "boom")
    steps = DeliverySteps(store.backend, store.queue_name, DeliveryRules(store.policy))
    delivery = steps.handle(_reserved(store))
    assert isinstance(delivery.verdict, Retry)

    def down(*args: object) -> bool:
        raise BackendError("store down")

    monkeypatch.setattr(store.backend, "release", down)
    assert Settler(store.backend).settle(delivery) is Outcome.UNSETTLED
    assert delivery.reason == "BackendError: store down"
    assert store.status(task.task_id) == RUNNING


# -- everything settles through it ---------------------------------------


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Outcome]]:
    """Notes every delivery a Settler settles: (task id, outcome)."""
    seen: list[tuple[str, Outcome]] = []
    real = Settler.settle

    def noting(self: Settler, delivery: Delivery) -> Outcome:
        outcome = real(self, delivery)
        seen.append((delivery.reservation.task_id, outcome))
        return outcome

    monkeypatch.setattr(Settler, "settle", noting)
    return seen


def test_pop_get_and_the_worker_settle_through_the_settler(
    store: Gator, settled: list[tuple[str, Outcome]]
) -> None:
    popped = store.task(sample_tasks.add, 1, 1)
    named = store.task(sample_tasks.add, 2, 2)
    worked = store.task(sample_tasks.fails_with, "boom")
    assert store.get(named.task_id) is not None
    assert store.pop() is not None
    assert Worker(store, max_tasks=1).run_forever() == 1
    assert settled == [
        (named.task_id, Outcome.SUCCEEDED),
        (popped.task_id, Outcome.SUCCEEDED),
        (worked.task_id, Outcome.DEAD),
    ]
    assert store.status(popped.task_id) == store.status(named.task_id) == SUCCESS


def _kill_order(gator: Gator, held: Reservation) -> dict[str, object]:
    """What the supervisor hands ``--settle`` for a child it killed."""
    return {
        "argv": [gator.backend.conn_string, "--allow", "sample_tasks"],
        "queue": gator.queue_name,
        "task_id": held.task_id,
        "receipt": held.receipt,
        "attempt": held.attempts,
        "reason": "time limit of 1 s exceeded; the process was killed",
    }


def test_a_killed_task_is_retried_then_dead_lettered_through_the_settler(
    tmp_path: Path, settled: list[tuple[str, Outcome]]
) -> None:
    gator = Gator(f"sqlite:///{tmp_path / 'q.db'}", allow=["sample_tasks"])
    with gator.options(retries=1, retry_delay=0.0, retry_jitter=False) as opts:
        task = opts.task(sample_tasks.noop)
    assert settle_killed(_kill_order(gator, _reserved(gator))) == "retrying"
    second = _reserved(gator)
    assert (second.attempts, second.failures) == (2, 1), "counted as a run that failed, not a crash"
    assert settle_killed(_kill_order(gator, second)) == "dead-lettered"
    assert settled == [(task.task_id, Outcome.RETRYING), (task.task_id, Outcome.DEAD)]
    [letter] = gator.dead_letters()
    assert "time limit of 1 s exceeded; the process was killed" in letter.reason
    assert "raised on attempt 2 of 2" in letter.reason
    assert settle_killed(_kill_order(gator, second)) == "gone"
    gator.backend.close()


# -- one place writes endings to the store --------------------------------

#: The store's methods that end or renew a delivery.
SETTLING_METHODS = {"ack", "ack_many", "ack_results", "release", "dead_letter", "extend", "extend_many"}


def _core_modules() -> list[Path]:
    root = Path(alligator.__file__).parent
    return [
        path
        for path in sorted(root.rglob("*.py"))
        if path.name != "backend.py" and "testing" not in path.relative_to(root).parts
    ]


def test_only_the_settler_ends_or_renews_a_delivery_in_the_store() -> None:
    callers, fallback_callers = set(), set()
    for path in _core_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            receiver = node.func.value
            name = receiver.attr if isinstance(receiver, ast.Attribute) else getattr(receiver, "id", "")
            if node.func.attr in SETTLING_METHODS and name.endswith("backend"):
                callers.add(path.name)
            if node.func.attr == "ack_results" and name == "store_defaults":
                fallback_callers.add(path.name)
    # store_defaults.ack_results acks on a store without the Results
    # capability; it is the settler's tool and nobody else's.
    assert callers == {"settler.py", "store_defaults.py"}
    assert fallback_callers == {"settler.py"}


def test_the_hard_limit_path_calls_no_private_method_and_passes_no_stand_in() -> None:
    source = Path(alligator.__file__).parent / "supervisor" / "settle.py"
    private = [
        node.attr
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
    ]
    assert private == []
    for path in _core_modules():
        if path.name not in ("settling.py", "delivery.py"):
            text = path.read_text()
            assert "._failed(" not in text and "._end_on(" not in text and "_no_function" not in text, path
