"""Results: task options, how a return value is stored, and reading it back.

These tests run on :class:`KeepingBackend`, the locmem backend plus a small
result store of its own written here, so they check the core (what it sends
with the ack, how it reads what the store hands back) whatever a real
backend does; ``test_results_stores.py`` runs the same round trips on the
real stores.
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import results_tasks

from alligator import Gator, Task, Worker, capabilities
from alligator.backend import Ack, Finished
from alligator.constants import DELAYED, FAILED, SUCCESS, WAITING
from alligator.delivery import DEFAULT_RESULT_TTL, DeliveryRules, DeliverySteps, Outcome
from alligator.exceptions import (
    AlligatorException,
    InvalidPayloadError,
    ResultTimeout,
    TaskFailed,
    TaskNotFound,
)
from alligator.limits import MAX_RESULT_TTL, MAX_TIME_LIMIT
from alligator.presence import RunningTask, WorkerInfo, encode
from alligator.settler import Settler
from alligator.testing.capable import without
from alligator.verdicts import Acknowledge
from alligator_locmem import LocmemBackend


class KeepingBackend(LocmemBackend):
    """Locmem, keeping results in a dict of its own, and noting what the core asks of it."""

    def __init__(self, conn_string: str = "locmem://") -> None:
        super().__init__(conn_string)
        #: Every Ack the core sent, in order.
        self.acks: list[Ack] = []
        #: Every timeout wait_finished was called with.
        self.waits: list[float] = []
        #: (queue, task_id) -> (result JSON, expires at), as ack_results kept it.
        self.kept: dict[tuple[str, str], tuple[str, float]] = {}
        #: What worker_records lists.
        self.records: list[tuple[str, str]] = []

    def ack_results(self, queue: str, acks: Sequence[Ack]) -> int:
        done = 0
        for ack in acks:
            self.acks.append(ack)
            if self.ack(queue, ack.task_id, ack.receipt):
                done += 1
                if ack.result is not None:
                    self.kept[(queue, ack.task_id)] = (ack.result, self.now() + ack.result_ttl)
        return done

    def finished(self, queue: str, task_id: str) -> Finished | None:
        kept = self.kept.get((queue, task_id))
        if kept is not None and kept[1] > self.now():
            return Finished(task_id, SUCCESS, kept[0], None, None)
        return super().finished(queue, task_id)

    def wait_finished(self, queue: str, task_id: str, timeout: float) -> Finished | None:
        self.waits.append(timeout)
        # Polls this class's finished(), as the core does for a store that cannot wake a waiter.
        deadline = time.monotonic() + timeout
        while (found := self.finished(queue, task_id)) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return found

    def worker_records(self) -> list[tuple[str, str]]:
        return list(self.records)


def keeping(gator: Gator) -> KeepingBackend:
    backend = gator.backend
    assert isinstance(backend, KeepingBackend)
    return backend


@pytest.fixture
def store() -> Iterator[str]:
    dsn = f"locmem://results-{uuid.uuid4().hex}"
    yield dsn
    Gator(dsn).drop_all()


@pytest.fixture
def gator(store: str) -> Gator:
    return Gator(store, allow=["results_tasks"], backend_class=KeepingBackend)


def run_one(gator: Gator) -> Task | None:
    """Runs the task at the front of the queue in this process, as a worker would."""
    return gator.pop()


# -- the round trip -------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, 3),
        (2.5, 2.5),
        ("text with é and \u2603", "text with é and \u2603"),
        (None, None),
        (True, True),
        ([1, [2, {"a": None}]], [1, [2, {"a": None}]]),
        ({"nested": {"list": [1, 2]}}, {"nested": {"list": [1, 2]}}),
        ("\x00 nul and \n newline", "\x00 nul and \n newline"),
    ],
)
def test_a_return_value_comes_back_as_it_was(gator: Gator, value: Any, expected: Any) -> None:
    task = gator.task(results_tasks.give, value)
    run_one(gator)
    assert gator.result(task.task_id) == expected
    assert task.wait() == expected


def test_a_tuple_comes_back_as_a_tuple(gator: Gator) -> None:
    task = gator.task(results_tasks.give_tuple)
    run_one(gator)
    assert gator.result(task.task_id) == (1, "a")
    assert keeping(gator).acks[0].result == '{"$t":"tuple","v":[1,"a"]}'


def test_integer_keys_come_back_as_strings(gator: Gator) -> None:
    task = gator.task(results_tasks.give_int_keys)
    run_one(gator)
    assert gator.result(task.task_id) == {"1": "one", "2": "two"}


def test_the_result_rides_the_ack_as_compact_json_with_the_default_ttl(gator: Gator) -> None:
    task = gator.task(results_tasks.give, {"a": [1, 2]})
    run_one(gator)
    [ack] = keeping(gator).acks
    assert ack.task_id == task.task_id
    assert ack.result == '{"a":[1,2]}'
    assert ack.result_ttl == DEFAULT_RESULT_TTL == 3600.0
    assert gator.status(task.task_id) == SUCCESS


def test_get_keeps_the_result_too(gator: Gator) -> None:
    task = gator.task(results_tasks.add, 2, 3)
    gator.get(task.task_id)
    assert gator.result(task.task_id) == 5


def test_result_ttl_per_task_is_sent_with_the_ack(gator: Gator) -> None:
    task = gator.options(result_ttl=5).task(results_tasks.add, 1, 1)
    run_one(gator)
    [ack] = keeping(gator).acks
    assert (ack.task_id, ack.result, ack.result_ttl) == (task.task_id, "2", 5.0)


def test_result_ttl_zero_is_allowed_and_sent(gator: Gator) -> None:
    gator.options(result_ttl=0).task(results_tasks.add, 1, 1)
    run_one(gator)
    assert keeping(gator).acks[0].result_ttl == 0.0


def test_result_ttl_per_gator_is_sent_with_the_ack(store: str) -> None:
    gator = Gator(store, allow=["results_tasks"], backend_class=KeepingBackend, result_ttl=60)
    assert gator.result_ttl == 60.0
    gator.task(results_tasks.add, 1, 1)
    gator.options(result_ttl=7.5).task(results_tasks.add, 1, 2)
    run_one(gator)
    run_one(gator)
    assert [ack.result_ttl for ack in keeping(gator).acks] == [60.0, 7.5]


def test_the_producers_gator_ttl_travels_with_its_tasks(store: str) -> None:
    producer = Gator(store, allow=["results_tasks"], backend_class=KeepingBackend, result_ttl=10)
    plain = Gator(store, allow=["results_tasks"], backend_class=KeepingBackend)
    consumer = Gator(store, allow=["results_tasks"], backend_class=KeepingBackend, result_ttl=99)
    sent = producer.task(results_tasks.add, 1, 1)
    assert json.loads(sent.serialize())["result_ttl"] == 10.0
    assert "result_ttl" not in plain.task(results_tasks.add, 1, 2).serialize()
    with producer.batch() as batch:
        batch.task(results_tasks.add, 1, 3)
    assert Worker(consumer, max_tasks=3).run_forever() == 3
    # The producer's own value, then the worker's for a task that says nothing.
    assert sorted((ack.result, ack.result_ttl) for ack in keeping(consumer).acks) == [
        ("2", 10.0),
        ("3", 99.0),
        ("4", 10.0),
    ]


def test_a_worker_sends_results_with_its_batched_acks(gator: Gator) -> None:
    tasks = [gator.task(results_tasks.add, n, n) for n in range(5)]
    assert Worker(gator, max_tasks=5).run_forever() == 5
    acks = {ack.task_id: ack for ack in keeping(gator).acks}
    assert [acks[t.task_id].result for t in tasks] == ["0", "2", "4", "6", "8"]
    assert [gator.result(t.task_id) for t in tasks] == [0, 2, 4, 6, 8]


def test_a_delivery_carries_its_ack_for_the_settler_to_send(gator: Gator) -> None:
    task = gator.options(result_ttl=12).task(results_tasks.add, 1, 2)
    [reservation] = gator.backend.reserve(gator.queue_name, 30.0)
    steps = DeliverySteps(gator.backend, gator.queue_name, DeliveryRules(gator.policy))
    delivery = steps.handle(reservation)
    settler = Settler(gator.backend, batch=True)
    assert settler.settle(delivery) is Outcome.SUCCEEDED
    assert delivery.outcome is Outcome.SUCCEEDED
    assert isinstance(delivery.verdict, Acknowledge)
    assert delivery.verdict.ack == Ack(task.task_id, reservation.receipt, "3", 12.0)
    assert keeping(gator).acks == []  # not sent: the settler batches it
    assert settler.flush() == 1
    assert gator.result(task.task_id) == 3


def test_an_ack_after_the_lease_was_lost_keeps_no_result(gator: Gator) -> None:
    now = [1000.0]
    gator.backend.clock = lambda: now[0]
    task = gator.task(results_tasks.add, 1, 2)
    [reservation] = gator.backend.reserve(gator.queue_name, 30.0)
    steps = DeliverySteps(gator.backend, gator.queue_name, DeliveryRules(gator.policy))
    delivery = steps.handle(reservation)
    now[0] += 31  # the lease ended: the task is due again, the receipt stale
    assert delivery.verdict is not None
    assert not Settler(gator.backend).apply(delivery.verdict)
    with pytest.raises(ResultTimeout, match="it is waiting"):
        gator.result(task.task_id)


def test_rules_default_to_an_hour_and_take_the_gators_ttl(store: str) -> None:
    gator = Gator(store, allow=["results_tasks"], backend_class=KeepingBackend, result_ttl=5)
    assert DeliveryRules(gator.policy).result_ttl == 3600.0
    assert gator._steps().rules.result_ttl == 5.0


# -- store_result=False --------------------------------------------------


def test_store_result_false_keeps_nothing_and_result_is_none(gator: Gator) -> None:
    task = gator.options(store_result=False).task(results_tasks.add, 1, 2)
    done = run_one(gator)
    assert done is not None and done.result == 3
    [ack] = keeping(gator).acks
    assert ack.result is None
    assert not keeping(gator).kept
    assert gator.result(task.task_id) is None
    assert task.wait(1) is None


def test_store_result_false_may_return_what_json_cannot_carry(gator: Gator) -> None:
    task = gator.options(store_result=False).task(results_tasks.give_set)
    run_one(gator)
    assert gator.status(task.task_id) == SUCCESS
    assert gator.result(task.task_id) is None


def test_a_store_that_keeps_no_results_gives_none(store: str) -> None:
    # Without the capability the core acks and keeps nothing.
    no_results = without(
        LocmemBackend, capabilities.Results, capabilities.ResultListing, capabilities.ResultWaiting
    )
    gator = Gator(store, allow=["results_tasks"], backend_class=no_results)
    task = gator.task(results_tasks.add, 1, 2)
    done = run_one(gator)
    assert done is not None and done.status == SUCCESS
    assert gator.result(task.task_id) is None


# -- values a result cannot be -------------------------------------------


@pytest.mark.parametrize(
    ("function", "error"),
    [
        (results_tasks.give_set, "the return value is a builtins.set, which JSON cannot carry"),
        (results_tasks.give_object, "the return value is a builtins.object, which JSON cannot carry"),
        (results_tasks.give_nan, "the return value is nan, which JSON cannot carry"),
    ],
)
def test_a_value_json_cannot_carry_fails_the_task_at_once(gator: Gator, function: Any, error: str) -> None:
    task = gator.options(retries=3).task(function)
    done = run_one(gator)
    assert done is not None and done.status == FAILED
    assert gator.status(task.task_id) == FAILED
    [letter] = gator.dead_letters()
    assert letter.attempts == 1  # no retry, though it had three
    assert letter.reason.startswith(f"returned a value JSON cannot carry: {error}")
    if function is not results_tasks.give_nan:
        assert letter.reason.endswith(
            "return plain data instead (ids, strings, numbers, lists, dicts, tuples, "
            "datetimes, dates, times, timedeltas, UUIDs, Decimals)"
        )
    assert not keeping(gator).acks
    with pytest.raises(TaskFailed) as caught:
        gator.result(task.task_id)
    assert caught.value.reason == letter.reason == str(caught.value)
    assert caught.value.task_id == task.task_id


def test_a_result_over_the_payload_limit_fails_the_task(store: str) -> None:
    gator = Gator(store, allow=["results_tasks"], backend_class=KeepingBackend, max_payload_bytes=1000)
    task = gator.options(retries=2).task(results_tasks.give_text, 2000)
    run_one(gator)
    [letter] = gator.dead_letters()
    assert letter.attempts == 1
    assert letter.reason.startswith("returned 2002 bytes, over the limit of 1000; ")
    assert "store_result=False" in letter.reason
    with pytest.raises(TaskFailed, match="returned 2002 bytes"):
        task.wait()


def test_a_result_at_the_limit_is_kept(store: str) -> None:
    gator = Gator(store, allow=["results_tasks"], backend_class=KeepingBackend, max_payload_bytes=1000)
    task = gator.task(results_tasks.give_text, 998)  # 998 characters and two quotes
    run_one(gator)
    assert gator.result(task.task_id) == "x" * 998


def test_non_ascii_results_are_measured_as_stored(store: str) -> None:
    # Stored as ASCII JSON: each snowman is six bytes (\u2603).
    gator = Gator(store, allow=["results_tasks"], backend_class=KeepingBackend, max_payload_bytes=300)
    task = gator.task(results_tasks.give_snowmen, 60)
    run_one(gator)
    assert gator.dead_letters()[0].reason.startswith("returned 362 bytes, over the limit of 300")
    with pytest.raises(TaskFailed):
        gator.result(task.task_id)
    fits = gator.task(results_tasks.give_snowmen, 49)
    run_one(gator)
    assert gator.result(fits.task_id) == "\u2603" * 49


# -- failures, timeouts, unknown ids ---------------------------------------


def test_a_failed_task_raises_task_failed_with_the_reason(gator: Gator) -> None:
    task = gator.task(results_tasks.fail, "the mail server is down")
    run_one(gator)
    with pytest.raises(TaskFailed) as caught:
        gator.result(task.task_id, timeout=5)
    reason = gator.dead_letters()[0].reason
    assert caught.value.reason == reason == str(caught.value)
    assert "RuntimeError: the mail server is down" in reason
    assert isinstance(caught.value, AlligatorException)


def test_a_waiting_task_times_out_at_once_without_a_timeout(gator: Gator) -> None:
    task = gator.task(results_tasks.add, 1, 2)
    with pytest.raises(ResultTimeout, match="it is waiting") as caught:
        gator.result(task.task_id)
    assert isinstance(caught.value, TimeoutError)
    assert keeping(gator).waits == []  # looked once, waited for nothing
    assert gator.status(task.task_id) == WAITING


def test_a_timeout_waits_through_the_backend_then_raises(gator: Gator) -> None:
    task = gator.task(results_tasks.add, 1, 2)
    with pytest.raises(ResultTimeout, match=r"has not finished after 0\.2s: it is waiting"):
        task.wait(timeout=0.2)
    assert keeping(gator).waits == [0.2]


def test_a_delayed_task_says_so(gator: Gator) -> None:
    task = gator.options(delay_by=600).task(results_tasks.add, 1, 2)
    assert gator.status(task.task_id) == DELAYED
    with pytest.raises(ResultTimeout, match="it is delayed"):
        gator.result(task.task_id, timeout=0)


def test_a_running_task_says_so(gator: Gator) -> None:
    task = gator.task(results_tasks.add, 1, 2)
    [reservation] = gator.backend.reserve(gator.queue_name, 30.0)
    with pytest.raises(ResultTimeout, match="it is running"):
        gator.result(task.task_id, timeout=0.05)
    gator.backend.ack(gator.queue_name, reservation.task_id, reservation.receipt)


def test_an_unknown_id_raises_task_not_found(gator: Gator) -> None:
    with pytest.raises(TaskNotFound, match="never queued there, cancelled, or finished too long ago"):
        gator.result("no-such-task")
    with pytest.raises(TaskNotFound):
        gator.result("no-such-task", timeout=5)
    assert keeping(gator).waits == []  # an unknown id is not waited for


def test_a_cancelled_task_is_not_found(gator: Gator) -> None:
    task = gator.task(results_tasks.add, 1, 2)
    assert gator.cancel(task.task_id)
    with pytest.raises(TaskNotFound):
        task.wait(1)


def test_a_task_of_another_queue_is_not_found(store: str) -> None:
    emails = Gator(store, queue_name="emails", allow=["results_tasks"], backend_class=KeepingBackend)
    reports = Gator(store, queue_name="reports", allow=["results_tasks"], backend_class=KeepingBackend)
    task = emails.task(results_tasks.add, 1, 2)
    with pytest.raises(TaskNotFound, match="'reports'"):
        reports.result(task.task_id)


@pytest.mark.parametrize("timeout", [-1, math.nan, math.inf])
def test_a_bad_timeout_is_refused(gator: Gator, timeout: float) -> None:
    with pytest.raises(ValueError, match="timeout must be a finite number of seconds >= 0"):
        gator.result("any", timeout=timeout)


@pytest.mark.parametrize("timeout", ["5", True])
def test_a_timeout_that_is_not_a_number_is_refused(gator: Gator, timeout: Any) -> None:
    with pytest.raises(TypeError, match="timeout must be a number of seconds or None"):
        gator.result("any", timeout=timeout)


def test_a_bad_task_id_is_refused(gator: Gator) -> None:
    with pytest.raises(ValueError, match="task_id"):
        gator.result("")


def test_a_result_it_cannot_read_names_the_task(gator: Gator) -> None:
    task = gator.task(results_tasks.add, 1, 2)
    run_one(gator)
    backend = keeping(gator)
    backend.kept[(gator.queue_name, task.task_id)] = ("{not json", math.inf)
    with pytest.raises(InvalidPayloadError, match=f"result of task {task.task_id} is not valid JSON"):
        gator.result(task.task_id)
    backend.kept[(gator.queue_name, task.task_id)] = ("NaN", math.inf)
    with pytest.raises(InvalidPayloadError, match="not valid JSON"):
        gator.result(task.task_id)


def test_a_result_the_store_would_not_hand_out_names_the_task(store: str) -> None:
    class Refusing(KeepingBackend):
        def finished(self, queue: str, task_id: str) -> Finished | None:
            return Finished(task_id, SUCCESS, None, "result is 999999 bytes, over the limit of 1000")

    gator = Gator(store, allow=["results_tasks"], backend_class=Refusing)
    with pytest.raises(InvalidPayloadError, match=r"task t1 cannot be read: result is 999999 bytes"):
        gator.result("t1")


def test_a_result_kept_past_its_status_is_still_found(gator: Gator) -> None:
    # finished() may know a result the status has forgotten: it is asked first.
    keeping(gator).kept[(gator.queue_name, "old")] = ('"kept"', math.inf)
    assert gator.result("old") == "kept"


def test_a_task_finishing_as_the_wait_ends_gives_its_result(store: str) -> None:
    class Racing(KeepingBackend):
        # finished() misses it, wait_finished() times out, then status() sees it done.
        looks = 0

        def finished(self, queue: str, task_id: str) -> Finished | None:
            self.looks += 1
            return Finished(task_id, SUCCESS, '"late"') if self.looks > 1 else None

        def status(self, queue: str, task_id: str) -> int | None:
            return SUCCESS if self.waits else WAITING

        def wait_finished(self, queue: str, task_id: str, timeout: float) -> Finished | None:
            self.waits.append(timeout)
            return None

    gator = Gator(store, backend_class=Racing)
    assert gator.result("t1", timeout=1) == "late"
    assert keeping(gator).waits == [1.0]


def test_a_finished_task_whose_result_is_forgotten_gives_none(store: str) -> None:
    class Forgetful(KeepingBackend):
        def finished(self, queue: str, task_id: str) -> Finished | None:
            return None  # as if the result expired just now; status still says SUCCESS

    gator = Gator(store, allow=["results_tasks"], backend_class=Forgetful)
    task = gator.task(results_tasks.add, 1, 2)
    run_one(gator)
    assert gator.result(task.task_id) is None


# -- Task.wait ------------------------------------------------------------


def test_wait_chains_off_gator_task_with_a_worker_running(gator: Gator) -> None:
    worker = Worker(gator, nap_time=0.01)
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    try:
        assert gator.task(results_tasks.add, 1, 2).wait(30) == 3
        assert gator.options(retries=1).task(results_tasks.give, {"k": "v"}).wait(30) == {"k": "v"}
        with pytest.raises(TaskFailed, match="RuntimeError: nope"):
            gator.task(results_tasks.fail, "nope").wait(30)
    finally:
        worker.stop()
        thread.join(30)
    assert not thread.is_alive()


def test_wait_on_a_task_of_a_batch(gator: Gator) -> None:
    with gator.batch() as batch:
        tasks = [batch.task(results_tasks.add, n, 1) for n in range(3)]
    for _ in tasks:
        run_one(gator)
    assert [task.wait(5) for task in tasks] == [1, 2, 3]


def test_wait_on_a_task_run_in_process_gives_its_result(gator: Gator) -> None:
    task = gator.options(is_async=False).task(results_tasks.add, 2, 2)
    assert task.wait() == 4
    assert keeping(gator).acks == []


def test_wait_on_a_task_not_from_a_gator_says_what_to_do() -> None:
    task = Task()
    task.to_call(results_tasks.add, 1, 2)
    with pytest.raises(AlligatorException, match=r"not queued by a Gator.*gator\.result\(task_id, timeout\)"):
        task.wait(1)


def test_the_gator_is_not_in_the_payload(gator: Gator) -> None:
    task = gator.task(results_tasks.add, 1, 2)
    assert set(json.loads(task.serialize())) == {
        "v",
        "task_id",
        "module",
        "callable",
        "args",
        "kwargs",
        "retries",
        "is_async",
    }


# -- the options, at enqueue ------------------------------------------------


def test_options_travel_only_when_not_default(gator: Gator) -> None:
    task = gator.options(time_limit=90, result_ttl=0, store_result=False).task(results_tasks.add, 1, 2)
    fields = json.loads(task.serialize())
    assert (fields["time_limit"], fields["result_ttl"], fields["store_result"]) == (90.0, 0.0, False)
    back = Task.deserialize(task.serialize())
    assert (back.time_limit, back.result_ttl, back.store_result) == (90.0, 0.0, False)
    plain = Task.deserialize(gator.task(results_tasks.add, 1, 2).serialize())
    assert (plain.time_limit, plain.result_ttl, plain.store_result) == (None, None, True)


def test_a_payload_from_before_results_is_read_with_the_defaults(gator: Gator) -> None:
    old = {"task_id": "old", "module": "results_tasks", "callable": "add", "args": [1, 2], "retries": 0}
    gator.backend.push(gator.queue_name, "old", json.dumps(old))
    done = run_one(gator)
    assert done is not None and (done.time_limit, done.result_ttl, done.store_result) == (None, None, True)
    assert gator.result("old") == 3


@pytest.mark.parametrize("seconds", [0.001, 1, 60.5, MAX_TIME_LIMIT])
def test_time_limits_in_range_are_accepted(gator: Gator, seconds: float) -> None:
    task = gator.options(time_limit=seconds).task(results_tasks.add, 1, 2)
    assert task.time_limit == float(seconds)
    assert isinstance(task.time_limit, float)


@pytest.mark.parametrize("seconds", [0, MAX_RESULT_TTL])
def test_result_ttls_in_range_are_accepted(gator: Gator, seconds: float) -> None:
    task = gator.options(result_ttl=seconds).task(results_tasks.add, 1, 2)
    assert task.result_ttl == float(seconds)


@pytest.mark.parametrize(
    ("option", "value", "error", "words"),
    [
        ("time_limit", 0, ValueError, "time_limit must be above 0 and at most 604800 seconds (a week)"),
        ("time_limit", -5, ValueError, "or None for no limit; not -5"),
        ("time_limit", MAX_TIME_LIMIT + 1, ValueError, "at most 604800 seconds"),
        ("time_limit", math.nan, ValueError, "not nan"),
        ("time_limit", math.inf, ValueError, "not inf"),
        ("time_limit", 10**400, ValueError, "time_limit must be above 0"),
        ("time_limit", "30", TypeError, "time_limit must be a number of seconds, or None for no limit"),
        ("time_limit", True, TypeError, "not True"),
        ("result_ttl", -1, ValueError, "result_ttl must be from 0 to 2592000 seconds (30 days)"),
        ("result_ttl", MAX_RESULT_TTL + 1, ValueError, "or None for the gator's default"),
        ("result_ttl", math.nan, ValueError, "result_ttl must be from 0"),
        ("result_ttl", [60], TypeError, "result_ttl must be a number of seconds"),
        ("store_result", "no", TypeError, "store_result must be True or False, not 'no'"),
        ("store_result", 0, TypeError, "store_result must be True or False, not 0"),
        ("store_result", None, TypeError, "store_result must be True or False, not None"),
    ],
)
def test_bad_option_values_are_refused_at_enqueue(
    gator: Gator, option: str, value: Any, error: type[Exception], words: str
) -> None:
    with pytest.raises(error) as caught:
        gator.options(**{option: value})
    assert words in str(caught.value)
    with pytest.raises(error):
        Task(**{option: value})
    with pytest.raises(error):
        gator.batch(**{option: value})
    assert gator.len() == 0


def test_an_option_changed_after_building_is_checked_when_queued(gator: Gator) -> None:
    task = Task(time_limit=5)
    task.time_limit = -1
    with pytest.raises(ValueError, match="time_limit must be above 0"):
        gator.push(task, results_tasks.add, 1, 2)
    task = Task()
    task.store_result = "yes"  # type: ignore[assignment]
    with pytest.raises(TypeError, match="store_result must be True or False"):
        gator.push(task, results_tasks.add, 1, 2)
    assert gator.len() == 0


@pytest.mark.parametrize("value", [-1, math.nan, MAX_RESULT_TTL * 2])
def test_a_gator_refuses_a_bad_result_ttl(store: str, value: float) -> None:
    with pytest.raises(ValueError, match="result_ttl must be from 0 to 2592000 seconds"):
        Gator(store, result_ttl=value)


def test_a_gator_refuses_no_result_ttl(store: str) -> None:
    with pytest.raises(TypeError, match="result_ttl must be a number of seconds"):
        Gator(store, result_ttl=None)  # type: ignore[arg-type]


# -- hostile payloads -------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"time_limit": -5},
        {"time_limit": 0},
        {"time_limit": MAX_TIME_LIMIT * 10},
        {"time_limit": "5"},
        {"time_limit": None},
        {"time_limit": True},
        {"time_limit": 1e300},
        {"result_ttl": -1},
        {"result_ttl": MAX_RESULT_TTL + 1},
        {"result_ttl": "60"},
        {"result_ttl": None},
        {"store_result": "no"},
        {"store_result": 0},
        {"store_result": None},
    ],
)
def test_a_payload_with_a_bad_option_is_dead_lettered_unread(gator: Gator, extra: dict[str, Any]) -> None:
    fields = {"task_id": "bad", "module": "results_tasks", "callable": "add", "args": [1, 2], "retries": 3}
    gator.backend.push(gator.queue_name, "bad", json.dumps({**fields, **extra}))
    assert run_one(gator) is None
    [letter] = gator.dead_letters()
    option = next(iter(extra))
    assert letter.reason.startswith("unreadable payload: payload is not a valid task: ")
    assert option in letter.reason
    assert letter.attempts == 1
    with pytest.raises(TaskFailed, match="unreadable payload"):
        gator.result("bad")


# -- live workers -----------------------------------------------------------


def test_workers_lists_what_it_can_read_and_skips_the_rest(gator: Gator) -> None:
    info = WorkerInfo(
        worker_id="ignored",
        host="box",
        pid=42,
        queues=("emails", "all"),
        concurrency=4,
        started_at=1000.0,
        heartbeat_at=1005.0,
        tasks_handled=7,
        current=(RunningTask("t1", "results_tasks:add", "emails", 1004.0),),
    )
    keeping(gator).records = [
        ("box:42:abc", encode(info)),
        ("planted", "{not json"),
        ("half", json.dumps({"host": "x"})),
    ]
    [listed] = gator.workers()
    assert listed.worker_id == "box:42:abc"  # the id it is stored under wins
    assert (listed.host, listed.pid, listed.queues, listed.concurrency) == ("box", 42, ("emails", "all"), 4)
    assert listed.current == info.current


def test_workers_of_a_store_without_a_registry_raise_not_implemented(store: str) -> None:
    gator = Gator(store, backend_class=without(LocmemBackend, capabilities.WorkerRegistry))
    with pytest.raises(NotImplementedError, match="registry of workers"):
        gator.workers()
