"""Planted worker records against a real store and a real dashboard process (issue 18, finding 4).

Anyone who can write to the store can write a live-worker record. One record
with a time of 1e300 or a count of 10**4000 gave 500 on every page (and the
sample holding it stayed in the charts' ring buffer for an hour); 3,000
records with long host names made the overview's fragment 91 MB, fetched
every 3 s. Every decoded field is bounded now, and so is what a page lists.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis_servers import RedisServer
from servers import Client, running_dashboard

from alligator import Gator, capabilities
from alligator.dashboard.data import MAX_WORKERS, Store
from alligator.dashboard.sampler import MAX_DRAWN, Sampler
from alligator.presence import MAX_WORKER_QUEUES, WorkerInfo, decode, known_queues


@pytest.fixture
def redis_dsn(tmp_path: Path) -> Iterator[str]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server.url(0)
    finally:
        server.stop()


def record(**changes: Any) -> str:
    now = time.time()
    data: dict[str, Any] = {
        "host": "web-1",
        "pid": 4242,
        "queues": ["emails"],
        "concurrency": 2,
        "started_at": now - 60,
        "heartbeat_at": now,
        "tasks_handled": 7,
        "current": [],
        "supervisor": "",
    }
    data.update(changes)
    return json.dumps(data)


@pytest.mark.parametrize(
    "field, value",
    [
        ("heartbeat_at", 1e300),
        ("started_at", -5.0),
        ("tasks_handled", 10**4000),
        ("pid", 10**30),
        ("concurrency", -1),
        ("host", "h" * 900),
        ("current", [{"task_id": "t", "function": "m:f", "queue": "q", "since": 1e300}]),
    ],
    ids=["far-future", "before-1970", "huge-count", "huge-pid", "negative", "long-host", "running-since"],
)
def test_a_field_out_of_bounds_makes_the_record_no_workers(field: str, value: Any) -> None:
    assert decode("w", record()) is not None
    assert decode("w", record(**{field: value})) is None
    assert decode("w" * 1000, record()) is None  # the id the store lists it under, too


def test_planted_records_do_not_take_the_pages_down(tmp_path: Path) -> None:
    dsn = f"sqlite:///{tmp_path / 'tasks.db'}"
    gator = Gator(dsn, queue_name="emails", allow=["builtins"])
    gator.task(abs, -1)
    backend = gator.backend
    capabilities.registry(backend).heartbeat("honest", record(host="honest-host"), 300)
    capabilities.registry(backend).heartbeat("far-future", record(heartbeat_at=1e300, host="planted-a"), 300)
    with running_dashboard(dsn, sample_seconds=0.2) as url:
        client = Client(url)
        time.sleep(0.5)  # a first sample or two, then a "new worker" with a count no float holds
        now = time.time()
        capabilities.registry(backend).heartbeat(
            "huge-count", record(tasks_handled=10**4000, started_at=now, host="planted-b"), 300
        )
        for _ in range(10):  # across several samples, so the sampler has read the records too
            for path in ("", "partials/overview", "metrics"):
                status, _, body = client.request(path)
                assert status == 200, body[:500]
                assert "the store failed" not in body
            time.sleep(0.2)
        _, _, page = client.request("")
        assert "honest-host" in page and "planted-a" not in page and "planted-b" not in page
        capabilities.registry(backend).forget_worker("far-future")
        capabilities.registry(backend).forget_worker("huge-count")
        for _ in range(5):
            status, _, body = client.request("")
            assert status == 200, body[:500]
            time.sleep(0.2)
    backend.close()


def test_thousands_of_planted_records_make_a_bounded_page(redis_dsn: str) -> None:
    gator = Gator(redis_dsn, allow=["builtins"])
    long_names = [f"{n:03d}-" + "q" * 900 for n in range(120)]
    for name in long_names:
        Gator(redis_dsn, queue_name=name, allow=["builtins"]).task(abs, -1)
    host = "h" * 290  # within the bounds: listed, but not 1,200 times
    running = {"task_id": "t" * 150, "function": "m:f", "queue": long_names[0], "since": time.time()}
    planted = record(host=host, queues=long_names[:20], current=[running] * 20)
    # More than the store keeps (its max_workers, 1,000 by default, drops the
    # oldest): the page then lists as many as 3,000 planted records would give.
    for n in range(gator.backend.max_workers + 200):
        capabilities.registry(gator.backend).heartbeat(f"planted-{n}", planted, 300)
    with running_dashboard(redis_dsn) as url:
        status, _, body = Client(url).request("partials/overview")
    assert status == 200
    assert len(body.encode()) < 1_000_000, f"{len(body.encode())} bytes"
    listed = len(gator.workers())  # the store itself may list fewer than were planted
    assert listed > MAX_WORKERS
    assert f"And {listed - MAX_WORKERS} more live workers" in body
    assert body.count("<tr data-worker=") == MAX_WORKERS
    assert "20 more queues, past the first 100 by name, are not shown" in body
    gator.drop_all()
    gator.backend.close()


def test_a_sample_no_chart_can_draw_is_not_kept() -> None:
    class Planted(Store):
        live: list[WorkerInfo] = []

        def workers(self) -> list[WorkerInfo]:
            return self.live

    gator = Gator(f"locmem://{uuid.uuid4().hex}", queue_name="q", allow=["builtins"])
    store = Planted(gator.conn_string, gator)
    sampler = Sampler(store)
    assert sampler.sample() is not None
    # A record within the decoder's bounds, but claiming more tasks in one interval than any store runs.
    store.live = [WorkerInfo("planted", "h", 1, ("q",), 1, time.time(), time.time(), MAX_DRAWN + 1)]
    assert sampler.sample() is None
    store.live = []
    assert sampler.sample() is not None
    assert all(s.finished is None or s.finished <= MAX_DRAWN for s in sampler.history())
    assert len(sampler.history()) == 2


def test_known_queues_are_the_stores_and_the_live_workers(tmp_path: Path) -> None:
    gator = Gator(f"sqlite:///{tmp_path / 'tasks.db'}", queue_name="busy", allow=["builtins"])
    gator.task(abs, -1)
    capabilities.registry(gator.backend).heartbeat("w1", record(queues=["idle", "busy"]), 300)
    assert gator.queues() == ["busy"]
    assert known_queues(gator.backend) == ["busy", "idle"]
    assert known_queues(gator.backend, []) == ["busy"]
    # Planted records cannot make the list endless.
    planted = [
        WorkerInfo(f"w{n}", "h", 1, tuple(f"q{n}-{k}" for k in range(100)), 1, 0.0, 0.0) for n in range(50)
    ]
    listed = known_queues(gator.backend, planted)
    assert len(listed) == MAX_WORKER_QUEUES + 1 and "busy" in listed
    gator.backend.close()


def test_a_record_whose_heartbeat_stopped_is_marked_stale_and_consumes_nothing(tmp_path: Path) -> None:
    """A SIGKILLed worker's record outlives it by up to its TTL: the page marks
    it stale, and its queue is flagged as consumed by no live worker."""
    dsn = f"sqlite:///{tmp_path / 'tasks.db'}"
    gator = Gator(dsn, queue_name="emails", allow=["builtins"])
    gator.task(abs, -1)
    backend = gator.backend
    capabilities.registry(backend).heartbeat(
        "killed", record(host="killed-host", heartbeat_at=time.time() - 60), 300
    )
    capabilities.registry(backend).heartbeat("alive", record(host="alive-host", queues=["other"]), 300)
    with running_dashboard(dsn) as url:
        status, _, page = Client(url).request("partials/overview")
    backend.close()
    assert status == 200, page[:500]
    assert '<tr data-worker="killed" class="stale">' in page
    assert '<tr data-worker="alive">' in page
    assert page.count(">stale</span>") == 1
    assert '<tr data-queue="emails" class="unconsumed">' in page
