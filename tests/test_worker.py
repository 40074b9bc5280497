"""The Worker: batches, retries, dead letters, poison payloads, leases, concurrency."""

from __future__ import annotations

import json
import threading
import time

import pytest
import sample_tasks

from alligator import Gator, Worker
from alligator.constants import FAILED, RUNNING, SUCCESS
from alligator.settler import Settler
from alligator.testing import FakeClock


def test_a_thousand_tasks_in_one_process(gator: Gator) -> None:
    with gator.batch() as batch:
        for n in range(1000):
            batch.task(sample_tasks.record, n)
    assert Worker(gator, max_tasks=1000).run_forever() == 1000
    assert sorted(value for _, value in sample_tasks.CALLS) == list(range(1000))
    assert gator.len() == 0
    assert gator.dead_letters() == []


def test_failing_task_is_retried_then_dead_lettered_with_traceback_and_requeued(gator: Gator) -> None:
    with gator.options(retries=2, retry_delay=0.01, retry_jitter=False) as opts:
        task = opts.task(sample_tasks.always_fails, "kaboom")
    worker = Worker(gator, max_tasks=3, nap_time=0.01)
    assert worker.run_forever() == 3
    [letter] = gator.dead_letters()
    assert letter.task_id == task.task_id
    assert letter.attempts == 3
    assert "Traceback" in letter.reason and "RuntimeError: kaboom" in letter.reason
    assert "always_fails" in letter.reason
    assert gator.status(task.task_id) == FAILED
    assert gator.requeue(task.task_id) is True
    assert gator.len() == 1 and gator.dead_letters() == []


def test_retries_until_success(gator: Gator) -> None:
    with gator.options(retries=3, retry_delay=0.01) as opts:
        task = opts.task(sample_tasks.flaky, "f", 2)
    Worker(gator, max_tasks=3, nap_time=0.01).run_forever()
    assert gator.status(task.task_id) == SUCCESS
    assert sample_tasks.ATTEMPTS["f"] == 3


def _raw(gator: Gator, queued_as: str, **fields: object) -> None:
    payload = {
        "task_id": queued_as,
        "module": "sample_tasks",
        "callable": "add",
        "args": [1, 2],
        "retries": 0,
    }
    payload.update(fields)
    gator.backend.push(gator.queue_name, queued_as, json.dumps(payload))


def test_poison_payloads_are_dead_lettered_and_the_worker_carries_on(gator: Gator) -> None:
    q = gator.queue_name
    gator.backend.push(q, "not-json", "{this is not json")
    gator.backend.push(q, "not-object", "[1, 2]")
    gator.backend.push(q, "deep", "[" * 100_000 + "]" * 100_000)
    _raw(gator, "no-module", module="no_such_module_here")
    _raw(gator, "no-callable", callable="no_such_function")
    _raw(gator, "bad-signature", args=[1, 2, 3])
    _raw(gator, "missing-keys", module=None)
    _raw(gator, "wrong-id", task_id="someone-else")
    _raw(gator, "exits", callable="exits", args=[])
    good = gator.task(sample_tasks.add, 20, 22)
    assert Worker(gator, max_tasks=10).run_forever() == 10
    reasons = {d.task_id: d.reason for d in gator.dead_letters()}
    assert "not valid JSON" in reasons["not-json"]
    assert "not an object" in reasons["not-object"]
    assert "nested more than" in reasons["deep"]
    assert "no_such_module_here" in reasons["no-module"]
    assert "no_such_function" in reasons["no-callable"]
    assert reasons["bad-signature"].startswith("arguments do not fit")
    assert "not a valid task" in reasons["missing-keys"]
    assert "someone-else" in reasons["wrong-id"]
    assert "SystemExit" in reasons["exits"]
    assert gator.status(good.task_id) == SUCCESS


def test_type_error_inside_the_task_is_a_normal_failure(gator: Gator) -> None:
    task = gator.task(sample_tasks.add, 1, "x")
    Worker(gator, max_tasks=1).run_forever()
    [letter] = gator.dead_letters()
    assert letter.task_id == task.task_id
    assert letter.reason.startswith("raised on attempt 1 of 1")


def test_task_whose_worker_keeps_dying_is_dead_lettered_after_max_deliveries(gator: Gator) -> None:
    clock = FakeClock()
    gator.backend.clock = clock
    task = gator.task(sample_tasks.record, "crashy")
    for _ in range(3):  # three deliveries whose worker "died"
        assert gator.backend.reserve(gator.queue_name, 10.0)
        clock.advance(11.0)
    Worker(gator, max_tasks=1, max_deliveries=3).run_forever()
    [letter] = gator.dead_letters()
    assert letter.task_id == task.task_id and "delivered 4 times" in letter.reason
    assert sample_tasks.CALLS == []


def test_concurrency_runs_tasks_at_the_same_time(gator: Gator) -> None:
    for _ in range(4):
        gator.task(sample_tasks.meet, 4)
    worker = Worker(gator, max_tasks=4, concurrency=4, prefetch=1)
    assert worker.run_forever() == 4
    assert gator.dead_letters() == [], "the four tasks never ran at the same time"


def _long_task_is_taken_by_another_consumer(gator: Gator) -> bool:
    task = gator.task(sample_tasks.sleep_then_record, 1.2, "long")
    worker = Worker(gator, max_tasks=1, lease_seconds=0.3)
    thread = threading.Thread(target=worker.run_forever)
    thread.start()
    while gator.status(task.task_id) != RUNNING:
        time.sleep(0.005)
    stolen = []
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        stolen += gator.backend.reserve(gator.queue_name, 5.0, 1)
        time.sleep(0.05)
    thread.join(10)
    return bool(stolen)


def test_a_long_task_keeps_its_lease_while_it_runs(gator: Gator) -> None:
    assert not _long_task_is_taken_by_another_consumer(gator)
    assert sample_tasks.CALLS == [("slept", "long")]


def test_without_lease_renewal_a_long_task_is_handed_out_again(
    gator: Gator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Settler, "extend_now", lambda self: None)
    assert _long_task_is_taken_by_another_consumer(gator)


def test_stop_hands_back_prefetched_tasks(gator: Gator) -> None:
    for n in range(5):
        gator.task(sample_tasks.record, n)
    worker = Worker(gator)

    def stop_after_first(result: object) -> None:
        worker.stop()

    worker.result = stop_after_first  # type: ignore[method-assign]
    assert worker.run_forever() == 1
    assert gator.len() == 4
    attempts = [r.attempts for r in gator.backend.reserve(gator.queue_name, 5.0, 10)]
    assert attempts == [1, 1, 1, 1], "handed-back tasks must not count as delivered"


def test_worker_arguments_are_checked(gator: Gator) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        Worker(gator, concurrency=0)
    with pytest.raises(ValueError, match="lease_seconds"):
        Worker(gator, lease_seconds=0)
    assert Worker(gator).to_consume == gator.queue_name
    assert "#" in Worker(gator).ident()


def test_a_raising_success_hook_does_not_run_the_task_again(gator: Gator) -> None:
    with gator.options(on_success="sample_tasks:always_fails", retries=2) as opts:
        task = opts.task(sample_tasks.record, "once")
    Worker(gator, max_tasks=1).run_forever()
    assert gator.status(task.task_id) == SUCCESS
    assert sample_tasks.CALLS == [("record", "once")]


def test_an_unimportable_hook_is_dead_lettered_before_the_task_runs(gator: Gator) -> None:
    with gator.options(on_error="sample_tasks:no_such_hook", retries=3) as opts:
        task = opts.task(sample_tasks.record, "never")
    Worker(gator, max_tasks=1).run_forever()
    [letter] = gator.dead_letters()
    assert letter.task_id == task.task_id and "no_such_hook" in letter.reason
    assert sample_tasks.CALLS == []
