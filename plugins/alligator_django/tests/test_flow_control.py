"""Alligator's unique tasks and limits through Django's @task: keyed by the Django task, not the runner."""

from __future__ import annotations

import json

from django.tasks import TaskResultStatus, task_backends
from shop import tasks


def _payload(backend, result_id):
    return json.loads(backend.gator("default").backend.peek("default", result_id))


def test_a_unique_task_enqueued_twice_is_queued_once_and_the_second_gets_the_first(tasks_settings):
    backend = task_backends["default"]
    first = tasks.refresh.enqueue(1)
    again = tasks.refresh.enqueue(1)
    other = tasks.refresh.enqueue(2)
    try:
        assert again.id == first.id, "the task holding the key is the one that runs"
        assert again.status == TaskResultStatus.READY
        assert other.id != first.id, "the key is the task and its arguments"
        assert backend.gator("default").len() == 2
    finally:
        backend.gator("default").drop_all()


def test_limits_count_per_django_task_not_per_runner(tasks_settings):
    backend = task_backends["default"]
    a = tasks.limited_a.enqueue()
    b = tasks.limited_b.enqueue()
    try:
        keys = [_payload(backend, result.id)["limit_key"] for result in (a, b)]
        assert keys == ["shop.tasks.limited_a", "shop.tasks.limited_b"]
    finally:
        backend.gator("default").drop_all()
