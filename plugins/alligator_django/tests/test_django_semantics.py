"""Transactions, signals, priority, the worker's allow list and Django's ImmediateBackend as the reference."""

from __future__ import annotations

import datetime
import json

import pytest
from conftest import finished, wait_for
from django.db import transaction
from django.tasks import TaskResultStatus, task_backends
from django.tasks.exceptions import TaskResultDoesNotExist
from django.tasks.signals import task_enqueued
from elsewhere import tasks_outside
from shop import tasks


def test_a_rolled_back_transaction_sends_nothing(tasks_settings, transactional_db):
    backend = task_backends["default"]
    with pytest.raises(RuntimeError), transaction.atomic():
        result = tasks.add.enqueue(1, 2)
        raise RuntimeError("roll back")

    with pytest.raises(TaskResultDoesNotExist):
        backend.get_result(result.id)
    assert backend.gator("default").len() == 0


def test_a_task_is_sent_when_the_transaction_commits(tasks_settings, transactional_db):
    backend = task_backends["default"]
    with transaction.atomic():
        result = tasks.add.enqueue(1, 2)
        assert backend.gator("default").len() == 0  # not yet: the transaction is open
    assert backend.get_result(result.id).status == TaskResultStatus.READY
    assert backend.gator("default").len() == 1
    backend.gator("default").drop_all()


def test_signals_fire_where_django_sends_them(worker):
    enqueued = []

    def receiver(sender, task_result, **kwargs):
        enqueued.append((sender.__name__, task_result.id))

    task_enqueued.connect(receiver)
    try:
        ok = tasks.add.enqueue(1, 1)
        bad = tasks.fail.enqueue("no")
    finally:
        task_enqueued.disconnect(receiver)
    finished(ok), finished(bad)

    assert enqueued == [("AlligatorBackend", ok.id), ("AlligatorBackend", bad.id)]
    lines = wait_for(
        lambda: (text := worker.signals.read_text()).count(f"finished {bad.id}") and text, "the signals"
    ).splitlines()
    assert f"started {ok.id} RUNNING AlligatorBackend" in lines
    assert f"finished {ok.id} SUCCESSFUL AlligatorBackend" in lines
    assert f"finished {bad.id} FAILED AlligatorBackend" in lines
    assert lines.index(f"started {ok.id} RUNNING AlligatorBackend") < lines.index(
        f"finished {ok.id} SUCCESSFUL AlligatorBackend"
    )


def test_the_worker_runs_only_tasks_of_installed_apps_tasks_modules(worker):
    done = finished(tasks_outside.outside.enqueue())

    assert done.status == TaskResultStatus.FAILED
    assert "is not in a module this worker runs tasks of (shop.tasks)" in done.errors[0].traceback


def test_fifo_within_a_queue(start_worker, tmp_path, transactional_db):
    path = tmp_path / "order"
    results = [tasks.record.enqueue(str(path), label) for label in ("a", "b", "c")]
    worker = start_worker("--queue", "ordered", "--concurrency", "1", "--prefetch", "1")
    for result in results:
        finished(result)
    assert path.read_text().split() == ["a", "b", "c"]
    # latergator's options reached it: one process of one thread, on the queue given.
    log = worker.log.read_text()
    assert "starting 1 worker process x 1 thread" in log and "queue 'ordered'" in log
    assert "manage.py latergator: TASKS['default'], running the Django tasks of shop.tasks" in log


def test_priority_orders_tasks_within_a_queue(start_worker, tmp_path, transactional_db):
    # Needs the stores' TaskPriority capability (the `priority` branch).
    path = tmp_path / "order"
    results = [
        tasks.record.using(priority=priority).enqueue(str(path), label)
        for label, priority in (("low", -5), ("plain", 0), ("high", 10), ("higher", 50))
    ]
    start_worker("--queue", "ordered", "--concurrency", "1", "--prefetch", "1")
    for result in results:
        finished(result)
    assert path.read_text().split() == ["higher", "high", "plain", "low"]


CASES = [
    (tasks.add, (2, 3)),
    (tasks.fail, ("boom",)),
    (tasks.attempt_of, ("x",)),
    (tasks.sleep_then_add, (4, 5)),
]


@pytest.mark.parametrize(("task", "args"), CASES, ids=[t.name for t, _ in CASES])
def test_it_agrees_with_djangos_immediate_backend(worker, task, args):
    reference = task.using(backend="immediate").enqueue(*args)
    ours = finished(task.enqueue(*args))

    assert ours.status == reference.status
    assert ours.attempts == reference.attempts == 1
    assert [e.exception_class_path for e in ours.errors] == [e.exception_class_path for e in reference.errors]
    if reference.status == TaskResultStatus.SUCCESSFUL:
        expected = reference.return_value
        if isinstance(expected, dict) and "id" in expected:
            expected = {**expected, "id": ours.id}
        assert ours.return_value == expected
    assert ours.args == reference.args and ours.kwargs == reference.kwargs


def test_is_async_false_runs_each_task_in_the_callers_process(settings, tmp_path):
    settings.TASKS = {
        "default": {
            "BACKEND": "alligator_django.AlligatorBackend",
            "OPTIONS": {"DSN": f"sqlite:///{tmp_path}/unused.db", "IS_ASYNC": False},
        }
    }
    done = tasks.add.enqueue(2, 2)
    failed = tasks.fail.enqueue("here")

    assert (done.status, done.return_value, done.attempts) == (TaskResultStatus.SUCCESSFUL, 4, 1)
    assert task_backends["default"].get_result(done.id).return_value == 4
    assert failed.status == TaskResultStatus.FAILED
    assert [e.exception_class_path for e in failed.errors] == ["builtins.ValueError"]
    assert not (tmp_path / "unused.db").exists()


def test_a_project_in_debug_logs_each_task_state_once(start_worker, transactional_db):
    # startproject's settings: DEBUG on, Django's default logging.
    result = tasks.record.enqueue("/dev/null", "once")
    worker = start_worker("--queue", "ordered", env={"SHOP_DEBUG": "1"})
    finished(result)
    # Django's console handler would write first, latergator's (through the root logger) after.
    finished_line = f"INFO django.tasks: Task id={result.id} path=shop.tasks.record state=SUCCESSFUL"
    wait_for(lambda: finished_line in worker.log.read_text(), "the task's log lines")
    lines = [line for line in worker.log.read_text().splitlines() if f"id={result.id}" in line]
    assert sum("state=SUCCESSFUL" in line for line in lines) == 1, lines


def test_database_connections_are_closed_between_tasks(start_worker, transactional_db):
    # CONN_MAX_AGE is 0, as by default: Django closes the connection at the
    # end of each request, and the worker at the end of each task.
    opened = tasks.open_connection.enqueue()
    looked = tasks.connection_is_open.enqueue()
    start_worker("--queue", "ordered", "--concurrency", "1", "--prefetch", "1")

    assert finished(opened).status == TaskResultStatus.SUCCESSFUL
    assert finished(looked).return_value is False


def test_expired_run_records_are_swept_by_a_worker(start_worker, tasks_settings, transactional_db):
    store = task_backends["default"].gator("ordered").backend
    side = "ordered.django-runs"
    expired, live = "1" * 32 + "@ordered", "2" * 32 + "@ordered"
    store.push(side, expired, '{"planted": true}', 0)
    store.push(side, live, "{}", 3600)

    done = tasks.record.enqueue("/dev/null", "x")
    start_worker("--queue", "ordered", "--concurrency", "1")
    finished(done)

    wait_for(lambda: store.peek(side, expired) is None, "the expired record to be swept")
    assert store.peek(side, live) == "{}"
    store.drop_all(side)


def test_a_secret_in_options_signs_tasks_and_the_worker_checks_them(start_worker, settings, transactional_db):
    secret = "s" * 40
    settings.TASKS = {
        **settings.TASKS,
        "default": {
            **settings.TASKS["default"],
            "OPTIONS": {**settings.TASKS["default"]["OPTIONS"], "SECRET": secret},
        },
    }
    result = tasks.record.enqueue("/dev/null", "signed")
    payload = task_backends["default"].gator("ordered").backend.peek("ordered", result.id)
    assert payload is not None and not payload.startswith("{")  # sealed, not plain JSON

    start_worker("--queue", "ordered", "--concurrency", "1", env={"SHOP_SECRET": secret})
    assert finished(result).return_value == "signed"


def test_queues_are_honoured_as_django_validates_them(tasks_settings, transactional_db):
    from django.tasks.exceptions import InvalidTask

    with pytest.raises(InvalidTask, match="Queue 'elsewhere' is not valid"):
        tasks.add.using(queue_name="elsewhere").enqueue(1, 2)

    # QUEUES empty: Django allows any queue name, and the result id says which.
    tasks_settings.TASKS = {
        **tasks_settings.TASKS,
        "default": {**tasks_settings.TASKS["default"], "QUEUES": []},
    }
    result = tasks.add.using(queue_name="elsewhere").enqueue(1, 2)
    assert task_backends["default"].get_result(result.id).task.queue_name == "elsewhere"
    assert task_backends["default"].gator("elsewhere").len() == 1
    task_backends["default"].gator("elsewhere").drop_all()


def test_run_records_are_signed_and_a_forged_one_is_never_read_as_real(
    start_worker, settings, transactional_db
):
    secret = "r" * 40
    settings.TASKS = {
        **settings.TASKS,
        "default": {
            **settings.TASKS["default"],
            "OPTIONS": {**settings.TASKS["default"]["OPTIONS"], "SECRET": secret},
        },
    }
    backend = task_backends["default"]
    store = backend.gator("ordered").backend
    side = "ordered.django-runs"
    planted = tasks.add.using(queue_name="ordered").enqueue(1, 2)
    # Written raw into the store by someone who can write to it, without the secret.
    forged = {
        "v": 1,
        "attempts": [["evil:1", 1.0]],
        "errors": [["builtins.KeyError", "forged"]],
        "running": True,
    }
    store.push(side, planted.id, json.dumps(forged), 3600)

    with pytest.raises(
        TaskResultDoesNotExist, match=r"django-run record of task .* failed its signature check"
    ):
        backend.get_result(planted.id)

    failing = tasks.fail.using(queue_name="ordered").enqueue("really")
    start_worker("--queue", "ordered", "--concurrency", "1", env={"SHOP_SECRET": secret})
    # Until the worker writes its own record in place of the forged one, reads refuse it.
    wait_for(lambda: store.peek(side, planted.id) != json.dumps(forged), "the worker to replace the record")
    done = finished(planted)
    # The worker did not go on from the forged record: one attempt, its own, no error.
    assert done.status == TaskResultStatus.SUCCESSFUL and done.return_value == 3
    assert done.attempts == 1 and "evil:1" not in done.worker_ids and done.errors == []

    failed = finished(failing)
    assert [e.exception_class_path for e in failed.errors] == ["builtins.ValueError"]
    kept = store.peek(side, failing.id)
    assert kept is not None and "\nhmac-sha256:" in kept, "the worker's record is signed"
    # A real signed record copied onto another task is another task's: refused too.
    other = tasks.add.using(
        queue_name="ordered", run_after=datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    ).enqueue(3, 4)
    store.push(side, other.id, kept, 3600)
    with pytest.raises(TaskResultDoesNotExist, match="failed its signature check"):
        backend.get_result(other.id)
    backend.gator("ordered").drop_all()
    store.drop_all(side)
