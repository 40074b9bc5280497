"""Schedules of Django tasks: `manage.py latergator --schedules` enqueues them as `.enqueue()` does."""

from __future__ import annotations

import math
import time

import pytest
from conftest import wait_for
from django.tasks import TaskResultStatus, task_backends
from django.tasks.exceptions import TaskResultDoesNotExist
from shop import tasks
from shop.schedules import SCHEDULES

from alligator import Schedule
from alligator.exceptions import ConfigurationError
from alligator_django.scheduling import DjangoScheduleTarget


def _first_finished_tick(schedule: Schedule, since: float):
    """The first tick of ``schedule`` after ``since`` whose result reads as finished through Django's API."""
    backend = task_backends["default"]

    def look():
        for tick in range(math.ceil(since), math.floor(time.time()) + 1):
            try:
                result = backend.get_result(schedule.task_id(float(tick)))
            except TaskResultDoesNotExist:
                continue
            if result.is_finished:
                return result
        return None

    return wait_for(look, f"a tick of {schedule.name} to finish")


def test_a_schedule_of_a_django_task_runs_it_on_its_schedule_in_the_worker(start_worker, transactional_db):
    sums, in_order = SCHEDULES
    since = time.time()
    worker = start_worker("--schedules", "shop.schedules")

    done = _first_finished_tick(sums, since)
    assert done.status == TaskResultStatus.SUCCESSFUL and done.return_value == 5
    assert done.task.func is tasks.add.func and done.args == [2, 3]
    assert done.attempts == 1 and done.enqueued_at <= done.started_at
    # The task's own queue ("ordered") is where its ticks go: the worker consumes both.
    ordered = _first_finished_tick(in_order, since)
    assert ordered.task.queue_name == "ordered" and ordered.return_value == "tick"
    # Django's signals, in the worker's process: enqueued by its scheduler, then run.
    lines = wait_for(
        lambda: (text := worker.signals.read_text()).count(f"finished {done.id}") and text, "the signals"
    ).splitlines()
    assert f"enqueued {done.id} READY AlligatorBackend" in lines
    assert lines.index(f"enqueued {done.id} READY AlligatorBackend") < lines.index(
        f"finished {done.id} SUCCESSFUL AlligatorBackend"
    )
    log = worker.log.read_text()
    assert "schedules: sums, in-order (from shop.schedules)" in log


def test_a_schedule_of_a_django_task_is_a_django_target_on_its_queue(tasks_settings):
    schedule = Schedule("s", tasks.record, every=60, args=("/dev/null", "x"))
    assert isinstance(schedule.target, DjangoScheduleTarget)
    assert schedule.queue == "ordered"
    tick_id = schedule.task_id(120.0)
    assert tick_id.endswith("@ordered") and tick_id == Schedule(
        "s", tasks.record, every=5, args=("/dev/null", "x")
    ).task_id(120.0)
    assert tick_id != Schedule("t", tasks.record, every=60, args=("/dev/null", "x")).task_id(120.0)
    built = schedule.task(120.0)
    assert (built.module, built.callable, built.on_start) == (
        "alligator_django.running",
        "run",
        "alligator_django.running:started",
    )
    assert built.func_args[0]["task"] == "shop.tasks.record" and built.func_args[1:] == [
        ["/dev/null", "x"],
        {},
    ]


@pytest.mark.parametrize(
    ("target", "given", "problem"),
    [
        (tasks.add.using(priority=5), {"args": (1, 2)}, "a priority"),
        (tasks.refresh, {"args": (1,)}, "unique_for"),
        (tasks.add, {"args": (1,)}, "do not fit"),
        (tasks.add.using(backend="immediate"), {"args": (1, 2)}, "ImmediateBackend"),
        (tasks.add, {"args": (1, 2), "queue": "nowhere"}, "Queue 'nowhere' is not valid"),
    ],
)
def test_a_schedule_refuses_what_a_tick_cannot_keep_at_once(tasks_settings, target, given, problem):
    with pytest.raises(ConfigurationError, match=problem):
        Schedule("refused", target, every=60, **given)
