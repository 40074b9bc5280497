"""Settings that lose accepted tasks, against private servers started with them.

The drills: with ``maxmemory-policy allkeys-lru`` ``gator.task()`` succeeded
1,500 times and 1,338 of those tasks never ran; without persistence a restart
lost 122 of 460 accepted tasks; nothing said so unless someone ran doctor.
Now a producer refuses the first and warns once of the second, and a worker
says both at start.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from redis_servers import RedisServer

from alligator import Gator, loss_risks
from alligator.exceptions import EvictingStoreError, NoPersistenceWarning, TaskLossWarning

pytestmark = pytest.mark.redis

HERE = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def fresh_looks() -> Iterator[None]:
    """Each test's producers look at their store afresh (a port may be reused by another test's server)."""
    loss_risks.forget()
    yield
    loss_risks.forget()


@contextmanager
def _server(tmp_path: Path, *settings: str) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("redis-server is needed on PATH, and CI=true")
        pytest.skip("redis-server is needed on PATH")
    server = RedisServer(tmp_path / "redis", *settings)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _calls(server: RedisServer) -> tuple[int, int]:
    """How many INFO and CONFIG GET the server ran (INFO commandstats, which counts itself later)."""
    client = redis.Redis(port=server.port)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    info, config = (int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("info", "config|get"))
    return info, config


def test_a_gator_refuses_to_enqueue_where_eviction_drops_tasks(tmp_path: Path) -> None:
    with _server(tmp_path, "--appendonly", "yes", "--maxmemory-policy", "allkeys-lru") as server:
        gator = Gator(server.url(0), queue_name="evicted", allow=["builtins"])
        with pytest.raises(EvictingStoreError) as refused:
            gator.task(pow, 2, 3)
        message = str(refused.value)
        assert message.startswith("Redis: maxmemory-policy is allkeys-lru: when its memory is full")
        assert "nothing was queued" in message and "maxmemory-policy noeviction" in message
        assert "Gator(..., allow_eviction=True)" in message
        with pytest.raises(EvictingStoreError), gator.batch() as batch:
            batch.task(pow, 2, 4)
        assert gator.len() == 0
        assert redis.Redis(port=server.port).dbsize() == 0, "nothing was written"

        allowed = Gator(server.url(0), queue_name="evicted", allow=["builtins"], allow_eviction=True)
        with pytest.warns(TaskLossWarning, match="maxmemory-policy is allkeys-lru") as warned:
            allowed.task(pow, 2, 5)
        assert [Path(w.filename).name for w in warned] == [Path(__file__).name], "points at the caller"
        with warnings.catch_warnings(record=True) as later:
            warnings.simplefilter("always")
            allowed.task(pow, 2, 6)
        assert later == [], "once per store"
        assert allowed.len() == 2
        allowed.drop_all()


def test_a_gator_warns_once_of_a_store_without_persistence_and_asks_only_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with _server(tmp_path, "--appendonly", "no") as server:
        gator = Gator(server.url(0), queue_name="volatile", allow=["builtins"])
        with caplog.at_level(logging.WARNING, logger="alligator.store"):
            with pytest.warns(NoPersistenceWarning, match="neither AOF nor RDB persistence is on"):
                gator.task(pow, 2, 3)
        [logged] = [r for r in caplog.records if r.name == "alligator.store"]
        assert logged.levelno == logging.WARNING
        assert "a restart loses every queued task: turn on persistence" in logged.getMessage()
        info, config = _calls(server)
        with warnings.catch_warnings(record=True) as later:
            warnings.simplefilter("always")
            other = Gator(server.url(0), queue_name="volatile", allow=["builtins"])
            for n in range(50):
                other.task(pow, 2, n)
        assert later == [], "once per store, whichever gator"
        assert _calls(server) == (info + 1, config), "no round trip per task (the +1 is our own INFO)"
        assert gator.len() == 51, "a warning, not a refusal"
        gator.drop_all()


def _start_line(server: RedisServer, tmp_path: Path, name: str) -> str:
    """Starts a real latergator on the server; returns its log once it started, then stops it."""
    log = tmp_path / f"{name}.log"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH")) if p)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "alligator", server.url(0), "--allow", "redis_test_tasks"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 60
        while "allowed task modules" not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        time.sleep(0.2)  # the warnings follow the start lines
    finally:
        process.terminate()
        process.wait(60)
    return log.read_text()


def test_a_worker_says_at_start_that_the_store_may_lose_tasks(tmp_path: Path) -> None:
    with _server(tmp_path / "lru", "--appendonly", "no", "--maxmemory-policy", "allkeys-lru") as server:
        output = _start_line(server, tmp_path, "lru")
    # Every worker process (by default one per usable CPU) says it, in its start line and two warnings.
    starts = [line for line in output.splitlines() if "Alligator Worker" in line and " starting (" in line]
    assert starts and all(" WHICH MAY LOSE TASKS (2 settings: see below)," in start for start in starts)
    warned = [line for line in output.splitlines() if " WARNING " in line and "may lose tasks:" in line]
    assert len(warned) == 2 * len(starts), output
    evicting = [
        w for w in warned if "maxmemory-policy is allkeys-lru" in w and "maxmemory-policy noeviction" in w
    ]
    unpersisted = [
        w for w in warned if "neither AOF nor RDB persistence is on" in w and "appendonly yes" in w
    ]
    assert len(evicting) == len(unpersisted) == len(starts), output

    with _server(tmp_path / "safe", "--appendonly", "yes") as server:
        output = _start_line(server, tmp_path, "safe")
    assert "MAY LOSE TASKS" not in output and "may lose tasks" not in output, output
