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
from conftest import PROJECT, Worker, default_backend_options, finished, run_one_at_a_time
from django.db import connection, transaction
from django.tasks import TaskResultStatus, task_backends
from django.tasks.exceptions import TaskResultDoesNotExist
from django.tasks.signals import task_enqueued
from shop import tasks
from shop.models import Order

from alligator import registry
from alligator.capabilities import Unsupported
from alligator.testing.capable import without
from alligator.transactional_store import TransactionalPriority, TransactionalUnique
from alligator_sqlite import SqliteBackend


@pytest.fixture
def same_database(settings, transactional_db):
    """TASKS with the store in the tests' own database file, written through Django's connection."""
    dsn = f"sqlite:///{connection.settings_dict['NAME']}"
    yield from default_backend_options(settings, DSN=dsn, DATABASE="default", ENQUEUE_ON_COMMIT=False)


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


def test_priorities_written_in_the_transaction_order_the_worker(same_database, tmp_path):
    backend = task_backends["default"]
    path = tmp_path / "order"
    with transaction.atomic():
        results = [
            tasks.record.using(priority=priority).enqueue(str(path), label)
            for label, priority in (("low", -5), ("plain", 0), ("high", 10), ("higher", 50))
        ]
        assert backend.gator("ordered").len() == 0  # only Django's connection sees them yet
    assert [backend.get_result(result.id).task.priority for result in results] == [-5, 0, 10, 50]

    run_one_at_a_time(same_database, tmp_path / "worker.log", results)
    # Queued in FIFO order, run in the order of their priorities.
    assert path.read_text().split() == ["higher", "high", "plain", "low"]


def test_a_unique_task_rolled_back_leaves_no_claim(same_database):
    backend = task_backends["default"]
    with pytest.raises(RuntimeError), transaction.atomic():
        Order.objects.create(label="undone")
        first = tasks.refresh.enqueue("undone")
        raise RuntimeError("roll back")
    with pytest.raises(TaskResultDoesNotExist):
        backend.get_result(first.id)

    # The claim went with the transaction: the key is free, the next one is queued.
    with transaction.atomic():
        again = tasks.refresh.enqueue("undone")
    assert again.id != first.id
    assert backend.get_result(again.id).status == TaskResultStatus.READY
    assert backend.gator("default").len() == 1
    # What the backend kept of the rolled-back transaction (to find a holder
    # written in it) went at the next commit: it does not grow with rollbacks.
    assert backend._written_in("default") == {}


def test_a_committed_unique_task_holds_its_key_and_the_holder_is_returned(same_database):
    backend = task_backends["default"]
    sent = []

    def receiver(sender, task_result, **kwargs):
        sent.append(task_result.id)

    task_enqueued.connect(receiver)
    try:
        with transaction.atomic():
            first = tasks.refresh.enqueue("kept")
            # Held by a task of this same transaction, which no other connection sees yet.
            same = tasks.refresh.enqueue("kept")
            other = tasks.refresh.enqueue("other")
            assert sent == []  # nothing is sent before the commit
        with transaction.atomic():
            later = tasks.refresh.enqueue("kept")
        # Outside a transaction, through the store's own connection: the claim is committed.
        outside = tasks.refresh.enqueue("kept")
    finally:
        task_enqueued.disconnect(receiver)

    assert same.id == later.id == outside.id == first.id
    assert later.status == outside.status == TaskResultStatus.READY
    assert other.id != first.id, "the key is the task and its arguments"
    assert sent == [first.id, other.id], "a task refused for its key sends no task_enqueued"
    assert backend.gator("default").len() == 2


def test_a_store_without_the_capabilities_refuses_with_the_cores_error(same_database, monkeypatch):
    # A store that writes plain tasks through a connection, but neither a
    # unique key nor a priority: the core refuses, naming the store.
    lacking = without(SqliteBackend, TransactionalUnique, TransactionalPriority)
    monkeypatch.setattr(registry, "_registered", {**registry._registered, "sqlite": lacking})
    backend = task_backends["default"]
    with transaction.atomic():
        Order.objects.create(label="plain")
        with pytest.raises(Unsupported, match="cannot take a unique key inside the caller's transaction"):
            tasks.refresh.enqueue("refused")
        with pytest.raises(Unsupported, match="cannot queue a task with a priority inside the caller's"):
            tasks.add.using(priority=5).enqueue(1, 2)
        plain = tasks.add.enqueue(1, 2)
    assert type(backend.gator("default").backend) is lacking

    # Refused before anything was written: the transaction went on, and committed the rest.
    assert Order.objects.filter(label="plain").exists()
    assert backend.get_result(plain.id).status == TaskResultStatus.READY
    assert backend.gator("default").len() == 1
    # No claim was left: outside a transaction the store keeps the key itself.
    assert tasks.refresh.enqueue("refused").id != plain.id
    assert backend.gator("default").len() == 2
