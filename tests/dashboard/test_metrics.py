"""Worker metrics (alligator.metrics) scraped over HTTP, in one process and under a supervisor."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from alligator import metrics
from alligator.events import FINISHED, LIMITED, STARTED, TaskEvent


class FakeWorker:
    """Stands for a Worker: keeps its listeners, and plays events to them."""

    def __init__(self) -> None:
        self.listeners: list[Callable[[TaskEvent], None]] = []
        self.runs = 0

    def add_listener(self, listener: Callable[[TaskEvent], None]) -> None:
        self.listeners.append(listener)

    def run(
        self, queue: str, function: str, outcome: str, duration: float = 0.01, started: bool = True
    ) -> None:
        task_id = f"{function}-{outcome}-{len(self.listeners)}-{id(object())}"
        if started:
            self.emit(TaskEvent(STARTED, queue, task_id, function, 1, receipt=task_id))
        self.emit(TaskEvent(FINISHED, queue, task_id, function, 1, task_id, None, outcome, duration))

    def emit(self, event: TaskEvent) -> None:
        for listener in self.listeners:
            listener(event)


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=60) as response:
        body = response.read().decode()
    values = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def value(values: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return values.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def served() -> Iterator[tuple[FakeWorker, metrics.WorkerMetrics]]:
    worker = FakeWorker()
    installed = metrics.install(worker, port=0)
    yield worker, installed
    assert installed.server is not None
    installed.server.shutdown()
    installed.server.server_close()


def test_counters_equal_what_was_run(served: tuple[FakeWorker, metrics.WorkerMetrics]) -> None:
    worker, installed = served
    assert installed.server is not None
    for _ in range(5):
        worker.run("emails", "app:send", "succeeded", duration=0.2)
    for _ in range(3):
        worker.run("emails", "app:send", "retrying")
    worker.run("emails", "app:send", "dead-lettered")
    worker.run("reports", "app:build", "succeeded", duration=3.0)
    worker.run("reports", "", "dead-lettered", started=False)  # an unreadable payload
    values = scrape(installed.server.server_port)
    send = {"queue": "emails", "function": "app:send"}
    assert value(values, "alligator_tasks_started_total", **send) == 9
    assert value(values, "alligator_tasks_succeeded_total", **send) == 5
    assert value(values, "alligator_tasks_failed_total", **send) == 4
    assert value(values, "alligator_tasks_retried_total", **send) == 3
    assert value(values, "alligator_tasks_dead_lettered_total", **send) == 1
    unreadable = {"queue": "reports", "function": "(unknown)"}
    assert value(values, "alligator_tasks_dead_lettered_total", **unreadable) == 1
    assert value(values, "alligator_task_duration_seconds_count", **send) == 9
    assert value(values, "alligator_task_duration_seconds_bucket", le="0.25", **send) == 9 - 0
    build = {"queue": "reports", "function": "app:build"}
    assert value(values, "alligator_task_duration_seconds_bucket", le="2.5", **build) == 0
    assert value(values, "alligator_task_duration_seconds_bucket", le="5.0", **build) == 1
    # Nothing is running, and no FINISHED without its STARTED drove the gauge below zero.
    assert value(values, "alligator_tasks_in_progress", queue="emails") == 0
    assert value(values, "alligator_tasks_in_progress", queue="reports") == 0
    assert value(values, "alligator_worker_uptime_seconds") >= 0


def test_in_progress_counts_running_tasks(served: tuple[FakeWorker, metrics.WorkerMetrics]) -> None:
    worker, installed = served
    assert installed.server is not None
    worker.emit(TaskEvent(STARTED, "q", "t1", "app:f", 1, receipt="r1"))
    worker.emit(TaskEvent(STARTED, "q", "t2", "app:f", 1, receipt="r2"))
    assert value(scrape(installed.server.server_port), "alligator_tasks_in_progress", queue="q") == 2
    worker.emit(TaskEvent(FINISHED, "q", "t1", "app:f", 1, "r1", None, "succeeded", 0.1))
    assert value(scrape(installed.server.server_port), "alligator_tasks_in_progress", queue="q") == 1


def test_deliveries_handed_back_by_a_limit_are_counted(
    served: tuple[FakeWorker, metrics.WorkerMetrics],
) -> None:
    worker, installed = served
    assert installed.server is not None
    for n in range(3):
        worker.emit(TaskEvent(LIMITED, "q", f"t{n}", "app:f", 1, receipt=f"r{n}"))
    body = scrape(installed.server.server_port)
    assert value(body, "alligator_tasks_limited_total", queue="q", function="app:f") == 3
    assert value(body, "alligator_tasks_in_progress", queue="q") == 0, "a task handed back never ran"


def test_label_values_from_payloads_are_bounded() -> None:
    worker = FakeWorker()
    installed = metrics.install(worker)
    for n in range(metrics.MAX_FUNCTIONS + 50):
        worker.run("q", f"made.up:f{n}\n", "succeeded")
    from prometheus_client import generate_latest

    body = generate_latest(installed.registry).decode()
    lines = [line for line in body.splitlines() if line.startswith("alligator_tasks_succeeded_total{")]
    assert len(lines) == metrics.MAX_FUNCTIONS + 1
    assert 'function="other"' in body and "alligator_tasks_succeeded_total" in body
    assert "\\\\n" in body or "\\n" in body  # control characters are shown escaped


SUPERVISED = textwrap.dedent(
    """
    import os, sys, json, urllib.request
    from alligator import metrics
    from alligator.events import FINISHED, STARTED, TaskEvent

    directory = metrics.prepare_multiprocess()
    children = []
    for n in range(3):
        pid = os.fork()
        if pid == 0:
            class W:
                def add_listener(self, fn):
                    self.fn = fn
            w = W()
            metrics.install(w)
            for i in range(n + 1):
                w.fn(TaskEvent(STARTED, "q", f"t{n}-{i}", "app:f", 1, receipt=f"{n}-{i}"))
                outcome = "succeeded" if i % 2 == 0 else "dead-lettered"
                w.fn(TaskEvent(FINISHED, "q", f"t{n}-{i}", "app:f", 1, f"{n}-{i}", None, outcome, 0.1))
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
        metrics.process_exited(pid, directory)
    server = metrics.serve_multiprocess(0, directory)
    with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics", timeout=60) as r:
        print(r.read().decode())
    server.shutdown()
    metrics.cleanup_multiprocess(directory)
    print("LEFT", os.path.exists(directory))
    """
)


def test_one_endpoint_for_every_process_of_a_supervisor() -> None:
    env = {k: v for k, v in os.environ.items() if k != metrics.MULTIPROC_ENV}
    done = subprocess.run(
        [sys.executable, "-c", SUPERVISED], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    values = {}
    for family in text_string_to_metric_families(done.stdout.rpartition("LEFT")[0]):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    labels = {"queue": "q", "function": "app:f"}
    # Children ran 1 + 2 + 3 tasks; 4 succeeded (i = 0, 2), 2 were dead-lettered.
    assert value(values, "alligator_tasks_started_total", **labels) == 6
    assert value(values, "alligator_tasks_succeeded_total", **labels) == 4
    assert value(values, "alligator_tasks_dead_lettered_total", **labels) == 2
    assert value(values, "alligator_task_duration_seconds_count", **labels) == 6
    assert value(values, "alligator_worker_uptime_seconds") >= 0
    assert "LEFT False" in done.stdout
