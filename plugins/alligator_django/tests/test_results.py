"""Results read through Django's API alone, from this process while `manage.py latergator` runs the tasks."""

from __future__ import annotations

import datetime

import pytest
from conftest import finished, wait_for
from django.tasks import TaskResultStatus, task_backends
from django.tasks.exceptions import TaskResultDoesNotExist
from shop import tasks


def test_a_task_succeeds_and_its_result_is_read_back(worker):
    result = tasks.add.enqueue(2, 3)
    assert result.status == TaskResultStatus.READY
    assert result.enqueued_at is not None

    done = finished(result)

    assert done.status == TaskResultStatus.SUCCESSFUL
    assert done.return_value == 5
    assert done.args == [2, 3] and done.kwargs == {}
    assert done.task.func is tasks.add.func
    assert done.errors == []
    assert done.attempts == 1 and len(done.worker_ids) == 1
    assert done.enqueued_at <= done.started_at <= done.last_attempted_at <= done.finished_at
    assert tasks.add.get_result(result.id).return_value == 5


def test_a_failure_keeps_the_exception_class_and_traceback(worker):
    done = finished(tasks.fail.enqueue("boom"))

    assert done.status == TaskResultStatus.FAILED
    [error] = done.errors
    assert error.exception_class_path == "builtins.ValueError"
    assert error.exception_class is ValueError
    assert "boom" in error.traceback and "Traceback" in error.traceback
    assert done.attempts == 1
    with pytest.raises(ValueError, match="Task failed"):
        _ = done.return_value


def test_retries_from_task_arguments_keep_each_error(worker, tmp_path):
    done = finished(tasks.flaky.enqueue(str(tmp_path / "runs")))

    assert done.status == TaskResultStatus.SUCCESSFUL
    assert done.return_value == 3
    assert done.attempts == 3
    assert [e.exception_class_path for e in done.errors] == ["builtins.RuntimeError"] * 2


def test_takes_context_counts_attempts_from_one(worker):
    done = finished(tasks.attempt_of.enqueue("hello"))

    assert done.return_value == {"attempt": 1, "id": done.id, "note": "hello"}


def test_an_async_task_runs(worker):
    assert finished(tasks.sleep_then_add.enqueue(1, 2)).return_value == 3


def test_the_worker_has_django_set_up_on_the_tests_database(worker, transactional_db):
    from shop.models import Order

    Order.objects.create(label="one")
    done = finished(tasks.count_orders.enqueue())

    assert done.return_value["orders"] == 1


def test_run_after_defers_the_task(worker):
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=3)
    result = tasks.add.using(run_after=later).enqueue(1, 1)

    assert task_backends["default"].get_result(result.id).status == TaskResultStatus.READY
    done = finished(result)
    assert done.started_at >= later
    assert done.task.run_after == later


def test_a_running_task_reads_as_running(worker, tmp_path):
    release = tmp_path / "release"
    result = tasks.wait_for.enqueue(str(release))

    running = wait_for(
        lambda: (
            (r := task_backends["default"].get_result(result.id)).status == TaskResultStatus.RUNNING and r
        ),
        "the task to run",
    )
    assert running.started_at is not None and running.attempts == 1
    release.touch()
    assert finished(result).return_value == "done"


def test_an_unknown_id_does_not_exist(tasks_settings):
    backend = task_backends["default"]
    with pytest.raises(TaskResultDoesNotExist):
        backend.get_result("0" * 32 + "@default")
    with pytest.raises(TaskResultDoesNotExist):
        backend.get_result("not-an-id")


def test_a_time_limit_from_the_task_arguments_stops_it(worker):
    done = finished(tasks.overrun.enqueue())

    assert done.status == TaskResultStatus.FAILED
    assert [e.exception_class_path for e in done.errors] == ["alligator.exceptions.TimeLimitExceeded"]


def test_a_task_killed_by_the_supervisor_ends_failed_and_task_finished_fires(start_worker, transactional_db):
    # It ignores the limit in C code: the supervisor kills its worker process
    # after the grace, and a process of its own settles it.
    result = tasks.stuck.enqueue()
    worker = start_worker("--queue", "ordered")
    done = finished(result)

    assert done.status == TaskResultStatus.FAILED
    [error] = done.errors
    assert error.exception_class_path == "alligator.exceptions.TimeLimitExceeded"
    assert "the process was killed" in error.traceback
    assert "killing worker process" in worker.log.read_text()
    lines = wait_for(
        lambda: (text := worker.signals.read_text()).count(f"finished {result.id}") and text, "task_finished"
    ).splitlines()
    assert f"started {result.id} RUNNING AlligatorBackend" in lines
    assert f"finished {result.id} FAILED AlligatorBackend" in lines


def test_a_task_its_workers_died_on_too_often_ends_failed_and_task_finished_fires(
    start_worker, transactional_db
):
    # Each run kills its worker process; the supervisor starts another, the
    # task comes back when its lease ends, and the next worker refuses it:
    # delivered more often than --max-deliveries without finishing.
    result = tasks.die.enqueue()
    worker = start_worker("--queue", "ordered", "--max-deliveries", "1", "--lease-seconds", "2")
    done = finished(result)

    assert done.status == TaskResultStatus.FAILED
    assert [e.exception_class_path for e in done.errors] == ["alligator.exceptions.WorkerLost"]
    assert "without finishing" in done.errors[0].traceback
    lines = wait_for(
        lambda: (text := worker.signals.read_text()).count(f"finished {result.id}") and text, "task_finished"
    ).splitlines()
    assert f"finished {result.id} FAILED AlligatorBackend" in lines


def test_the_async_api_enqueues_and_reads_results(worker):
    import asyncio

    result = asyncio.run(tasks.add.aenqueue(20, 22))
    finished(result)
    assert asyncio.run(tasks.add.aget_result(result.id)).return_value == 42


def test_only_django_tasks_run_even_in_an_allowed_module(worker):
    # A payload written to the store by hand, naming a class of shop.tasks (not a @task).
    from alligator.exceptions import TaskFailed
    from alligator_django.running import run, started

    gator = task_backends["default"].gator("default")
    meta = {"task": "shop.tasks.Path", "backend": "default", "queue": "default", "priority": 0}
    with gator.options(on_start=started) as opts:
        planted = opts.task(run, meta, ["/"], {})
    with pytest.raises(TaskFailed, match="is not a Django task"):
        gator.result(planted.task_id, timeout=90)
    with pytest.raises(TaskResultDoesNotExist):
        task_backends["default"].get_result(planted.task_id)


def test_a_worker_killed_mid_task_leaves_it_to_run_again(start_worker, tmp_path):
    release = tmp_path / "release"
    result = tasks.wait_for.using(queue_name="ordered").enqueue(str(release))
    first = start_worker("--queue", "ordered", "--concurrency", "1", "--lease-seconds", "2")
    wait_for(
        lambda: task_backends["default"].get_result(result.id).status == TaskResultStatus.RUNNING,
        "the task to run",
    )

    first.kill()
    release.touch()
    start_worker("--queue", "ordered", "--concurrency", "1", "--lease-seconds", "2")
    done = finished(result)

    assert done.status == TaskResultStatus.SUCCESSFUL
    assert done.attempts == 2 and len(set(done.worker_ids)) == 2
    assert done.errors == []
    assert done.started_at < done.last_attempted_at
