"""OPTIONS["DATABASE"]: the store in Django's own SQLite database, tasks written through Django's connection.

Inside ``transaction.atomic()`` the task is written in the same transaction
as the rows: committed, it is queued; rolled back, or the producer killed
before the commit, it never existed. ``ENQUEUE_ON_COMMIT`` is off here, so
nothing of this rests on an on_commit callback: without ``DATABASE`` the task
would be sent at once, before the commit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from conftest import PROJECT, Worker
from django.db import connection, transaction
from django.tasks import TaskResultStatus, task_backends
from django.tasks.exceptions import TaskResultDoesNotExist
from shop import tasks
from shop.models import Order
from test_results import finished


@pytest.fixture
def same_database(settings, transactional_db):
    """TASKS with the store in the tests' own database file, written through Django's connection."""
    dsn = f"sqlite:///{connection.settings_dict['NAME']}"
    default = settings.TASKS["default"]
    settings.TASKS = {
        **settings.TASKS,
        "default": {
            **default,
            "OPTIONS": {**default["OPTIONS"], "DSN": dsn, "DATABASE": "default", "ENQUEUE_ON_COMMIT": False},
        },
    }
    yield dsn
    for backend in task_backends.all():
        if hasattr(backend, "gator"):
            for queue in ("default", "ordered"):
                backend.gator(queue).drop_all()
            backend.close()


def test_a_task_is_written_in_the_transaction_and_runs_once_committed(same_database, tmp_path):
    gator = task_backends["default"].gator("default")
    with transaction.atomic():
        order = Order.objects.create(label="committed")
        result = tasks.order_label.enqueue(order.pk)
        # Written through Django's connection, in its open transaction: the
        # store's own connection does not see it yet.
        assert gator.len() == 0
    assert gator.len() == 1
    assert task_backends["default"].get_result(result.id).status == TaskResultStatus.READY

    worker = Worker(same_database, tmp_path / "worker.log", "--queue", "default")
    try:
        done = finished(result)
    finally:
        worker.stop()
    assert done.status == TaskResultStatus.SUCCESSFUL and done.return_value == "committed"


def test_a_rolled_back_transaction_leaves_neither_row_nor_task(same_database):
    with pytest.raises(RuntimeError), transaction.atomic():
        order = Order.objects.create(label="rolled back")
        result = tasks.order_label.enqueue(order.pk)
        raise RuntimeError("roll back")

    assert not Order.objects.filter(label="rolled back").exists()
    with pytest.raises(TaskResultDoesNotExist):
        task_backends["default"].get_result(result.id)
    assert task_backends["default"].gator("default").len() == 0


def _producer(tmp_path, label):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTHONPATH"))}
    env.update(
        SHOP_TASKS_DSN=f"sqlite:///{connection.settings_dict['NAME']}",
        SHOP_DB=connection.settings_dict["NAME"],
        SHOP_TASKS_DATABASE="default",
        SHOP_ON_COMMIT="0",
    )
    hold = tmp_path / f"commit-{label}"
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "place_order", label, "--hold", str(hold)],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("written "), line + proc.stdout.read()
    return proc, hold, line.split()[1]


def test_a_producer_killed_before_its_commit_leaves_neither_row_nor_task(same_database, tmp_path):
    proc, _, result_id = _producer(tmp_path, "killed")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)

    assert not Order.objects.filter(label="killed").exists()
    with pytest.raises(TaskResultDoesNotExist):
        task_backends["default"].get_result(result_id)
    assert task_backends["default"].gator("default").len() == 0


def test_a_producer_that_commits_leaves_both(same_database, tmp_path):
    proc, hold, result_id = _producer(tmp_path, "kept")
    hold.touch()
    assert proc.wait(timeout=120) == 0
    assert proc.stdout is not None and proc.stdout.read().strip() == "committed"

    assert Order.objects.filter(label="kept").count() == 1
    assert task_backends["default"].get_result(result_id).status == TaskResultStatus.READY
    assert task_backends["default"].gator("default").len() == 1


def test_a_priority_is_refused_in_the_transaction_and_nothing_is_written(same_database):
    with pytest.raises(ValueError, match="cannot keep a priority or unique_for yet"), transaction.atomic():
        Order.objects.create(label="ranked")
        tasks.add.using(priority=5).enqueue(1, 2)
    assert not Order.objects.filter(label="ranked").exists()
    assert task_backends["default"].gator("default").len() == 0
    # Outside a transaction it is sent as ever.
    assert tasks.add.using(priority=5).enqueue(1, 2).status == TaskResultStatus.READY
