"""Per-task priority within a queue (issue 22): ``gator.options(priority=N)`` from the caller's side.

The stores' rules are the kit's (:class:`~alligator.testing.task_priority.TaskPriorityContract`);
here: the option's checks, the payload, a store without the capability, and
a worker running a backlog highest priority first.
"""

from __future__ import annotations

import json
import uuid

import pytest
import sample_tasks

from alligator import Gator, Worker, capabilities
from alligator.exceptions import InvalidPayloadError
from alligator.priority_store import TaskPriority
from alligator.tasks import Task
from alligator.testing.capable import without
from alligator_locmem import LocmemBackend


def _gator(**kwargs: object) -> Gator:
    return Gator(f"locmem://{uuid.uuid4().hex}", allow=["sample_tasks", "builtins"], **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "error", "says"),
    [
        (True, TypeError, "whole number from -100 to 100"),
        (1.0, TypeError, "whole number from -100 to 100"),
        ("5", TypeError, "whole number from -100 to 100"),
        (None, TypeError, "whole number from -100 to 100"),
        (101, ValueError, "from -100 to 100"),
        (-101, ValueError, "from -100 to 100"),
        (10**30, ValueError, "from -100 to 100"),
    ],
)
def test_a_bad_priority_is_refused_where_the_options_are_made(value: object, error: type, says: str) -> None:
    gator = _gator()
    with pytest.raises(error, match=says):
        gator.options(priority=value)
    assert gator.len() == 0


def test_priority_defaults_to_0_and_stays_out_of_the_payload() -> None:
    gator = _gator()
    task = gator.task(abs, -1)
    assert task.priority == 0
    payload = json.loads(gator.backend.peek(gator.queue_name, task.task_id) or "")
    assert "priority" not in payload
    with gator.options(priority=0) as opts:
        zero = opts.task(abs, -2)
    assert "priority" not in json.loads(gator.backend.peek(gator.queue_name, zero.task_id) or "")


def test_a_priority_travels_in_the_payload_and_is_read_back_on_the_task() -> None:
    gator = _gator()
    with gator.options(priority=-42) as opts:
        task = opts.task(abs, -3)
    assert task.priority == -42 and task.queued is True
    payload = gator.backend.peek(gator.queue_name, task.task_id)
    assert payload is not None and json.loads(payload)["priority"] == -42
    back = Task.deserialize(payload)
    assert back.priority == -42
    done = gator.pop()
    assert done is not None and (done.result, done.priority) == (3, -42)


def test_a_payload_with_a_bad_priority_is_refused_by_the_worker_rules() -> None:
    task = Task(priority=3)
    task.to_call(abs, -1)
    fields = json.loads(task.serialize())
    for bad in (1000, "high", 2.5, True):
        with pytest.raises(InvalidPayloadError, match="priority"):
            Task.deserialize(json.dumps({**fields, "priority": bad}))


def test_higher_priorities_are_popped_first_and_equal_ones_in_order() -> None:
    gator = _gator()
    for n, priority in enumerate([0, 5, -5, 5, 0, 100]):
        with gator.options(priority=priority) as opts:
            opts.task(abs, -n)
    assert [task.result for task in iter(gator.pop, None)] == [5, 1, 3, 0, 4, 2]


def test_a_batch_with_priorities_is_pushed_in_one_call_in_priority_order() -> None:
    gator = _gator()
    with gator.batch() as batch:
        batch.task(abs, -1)
    with gator.batch(priority=9) as batch:
        batch.task(abs, -2)
        batch.task(abs, -3)
    assert [task.result for task in iter(gator.pop, None)] == [2, 3, 1]


def test_a_store_without_the_capability_refuses_a_priority_and_queues_nothing() -> None:
    name = uuid.uuid4().hex
    gator = Gator(f"locmem://{name}", backend_class=without(LocmemBackend, TaskPriority), allow=["builtins"])
    assert not capabilities.supports(gator.backend, TaskPriority)
    with gator.options(priority=1) as opts:
        with pytest.raises(
            capabilities.Unsupported, match=f"priority other than 0 on locmem://{name}"
        ) as raised:
            opts.task(abs, -1)
    assert "has no TaskPriority capability" in str(raised.value)
    assert "Leave priority at 0" in str(raised.value)
    with pytest.raises(capabilities.Unsupported, match="TaskPriority"):
        with gator.batch(priority=-1) as batch:
            batch.task(abs, -1)
            batch.task(abs, -2)
    assert gator.len() == 0, "nothing is queued when the store refuses"
    # Priority 0 works everywhere.
    with gator.options(priority=0) as opts:
        assert opts.task(abs, -1).queued is True
    with gator.batch(priority=0) as batch:
        batch.task(abs, -2)
    assert gator.len() == 2


def test_the_required_only_locmem_refuses_too() -> None:
    backend_class = without(LocmemBackend, TaskPriority)
    gator = Gator(f"locmem://{uuid.uuid4().hex}", backend_class=backend_class, allow=["builtins"])
    with pytest.raises(NotImplementedError, match="cannot order tasks by priority"):
        with gator.options(priority=2) as opts:
            opts.task(abs, 1)
    assert gator.len() == 0


def test_a_worker_runs_a_backlog_highest_priority_first() -> None:
    gator = _gator()
    sample_tasks.CALLS.clear()
    for n, priority in enumerate([-1, 0, 3, 0, 3, 50, -1]):
        with gator.options(priority=priority) as opts:
            opts.task(sample_tasks.record, n)
    Worker(gator, max_tasks=7, concurrency=1, nap_time=0.01).run_forever()
    assert [value for _, value in sample_tasks.CALLS] == [5, 2, 4, 1, 3, 0, 6]


class _OlderTask(Task):
    """A task class of a user's own, written before priorities: its __init__ takes no ``priority``."""

    def __init__(
        self,
        task_id: str | None = None,
        retries: int = 0,
        is_async: bool = True,
        on_start: object = None,
        on_success: object = None,
        on_error: object = None,
        depends_on: object = None,
        delay_by: float | None = None,
        delay_until: float | None = None,
        retry_delay: float = 1.0,
        retry_backoff: float = 2.0,
        retry_max_delay: float = 3600.0,
        retry_jitter: bool = True,
        time_limit: float | None = None,
        result_ttl: float | None = None,
        store_result: bool = True,
    ) -> None:
        super().__init__(
            task_id=task_id,
            retries=retries,
            is_async=is_async,
            depends_on=depends_on,  # type: ignore[arg-type]
            retry_delay=retry_delay,
            retry_backoff=retry_backoff,
            retry_max_delay=retry_max_delay,
            retry_jitter=retry_jitter,
            time_limit=time_limit,
            result_ttl=result_ttl,
            store_result=store_result,
        )


def test_a_task_class_older_than_priorities_still_reads_payloads_without_one() -> None:
    task = Task(retries=2, retry_delay=5.0, time_limit=30.0)
    task.to_call(abs, -1)
    back = _OlderTask.deserialize(task.serialize())
    assert (type(back), back.retries, back.time_limit, back.priority) == (_OlderTask, 2, 30.0, 0)
