"""A real Worker: its metrics count what it ran; the dashboard lists it while it lives.

Needs the worker's events (Worker.add_listener) and heartbeats, and the
backends' worker registries, merged from their branches.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import dashboard_tasks
from test_metrics import scrape, value

from alligator import Gator, metrics
from alligator.dashboard import create_app
from alligator.dashboard.data import Store
from alligator.workers import Worker


def test_a_real_worker_counts_what_it_ran(tmp_path: Path) -> None:
    gator = Gator(f"sqlite:///{tmp_path / 'tasks.db'}", queue_name="metered", allow=["dashboard_tasks"])
    for n in range(5):
        gator.task(dashboard_tasks.slow, 0.0, n)
    for _ in range(2):
        gator.options(retries=0).task(dashboard_tasks.always_fails, "for good")
    for _ in range(3):
        gator.options(retries=1, retry_delay=0.0).task(dashboard_tasks.always_fails, "twice")
    worker: Any = Worker(gator, to_consume="metered", nap_time=0.05)
    installed = metrics.install(worker, port=0)
    assert installed.server is not None
    thread = threading.Thread(target=worker.run_forever)
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            counts = gator.counts()
            if counts.waiting + counts.delayed + counts.running == 0 and counts.dead == 5:
                break
            time.sleep(0.1)
        assert gator.counts().dead == 5
    finally:
        worker.stop()
        thread.join(timeout=120)
    values = scrape(installed.server.server_port)
    installed.server.shutdown()
    slow = {"queue": "metered", "function": "dashboard_tasks:slow"}
    fails = {"queue": "metered", "function": "dashboard_tasks:always_fails"}
    assert value(values, "alligator_tasks_started_total", **slow) == 5
    assert value(values, "alligator_tasks_succeeded_total", **slow) == 5
    assert value(values, "alligator_tasks_failed_total", **slow) == 0
    # 2 tasks failed once for good; 3 failed, were retried once, and failed again.
    assert value(values, "alligator_tasks_started_total", **fails) == 8
    assert value(values, "alligator_tasks_failed_total", **fails) == 8
    assert value(values, "alligator_tasks_retried_total", **fails) == 3
    assert value(values, "alligator_tasks_dead_lettered_total", **fails) == 5
    assert value(values, "alligator_task_duration_seconds_count", **slow) == 5
    assert value(values, "alligator_tasks_in_progress", queue="metered") == 0


def test_the_dashboard_lists_a_live_worker(tmp_path: Path) -> None:
    gator = Gator(f"sqlite:///{tmp_path / 'tasks.db'}", queue_name="watched", allow=["dashboard_tasks"])
    gator.task(dashboard_tasks.slow, 0.0, 1)
    client = create_app(Store(gator.conn_string, gator), sample=False).test_client()
    worker: Any = Worker(gator, to_consume="watched", nap_time=0.05)
    thread = threading.Thread(target=worker.run_forever)
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while "data-worker=" not in client.get("/").get_data(as_text=True) and time.monotonic() < deadline:
            time.sleep(0.1)
        page = client.get("/").get_data(as_text=True)
        assert f'data-worker="{worker.worker_id}"' in page and "watched" in page
        assert "alligator_workers 1.0" in client.get("/metrics").get_data(as_text=True)
    finally:
        worker.stop()
        thread.join(timeout=120)
    # A clean stop removes its record.
    assert "data-worker=" not in client.get("/").get_data(as_text=True)
    assert "alligator_workers 0.0" in client.get("/metrics").get_data(as_text=True)
