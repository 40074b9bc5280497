"""Redis goes away and comes back: producers are told, workers carry on.

Each test runs its own ``redis-server`` and stops it; stopping saves a
snapshot, so the restarted server has the queue back, as one restarted with
persistence would.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest
import redis_test_tasks
from redis_servers import RedisServer

from alligator import Gator, Worker
from alligator.constants import SUCCESS
from alligator.exceptions import BackendError

pytestmark = pytest.mark.redis


def _dsn(server: RedisServer) -> str:
    # Short timeouts: a test should notice the outage in well under a second.
    return f"{server.url()}?socket_connect_timeout=0.5&socket_timeout=2"


def test_producer_is_told_nothing_was_queued(private_redis: RedisServer) -> None:
    gator = Gator(_dsn(private_redis), queue_name="faults")
    gator.task(abs, -1)
    private_redis.stop(save=True)
    with pytest.raises(BackendError, match="not queued"):
        gator.task(abs, -2)
    with pytest.raises(BackendError):
        with gator.batch() as batch:
            batch.task(abs, -3)
    private_redis.start()
    assert gator.len() == 1, "only the task queued before the outage is there"
    gator.task(abs, -4)
    assert gator.len() == 2


def test_worker_rides_out_an_outage_and_keeps_its_lease(private_redis: RedisServer, tmp_path: Path) -> None:
    """A task runs across a short outage: its lease is extended once Redis is
    back, its ack gets through, it runs once; the worker then takes new work."""
    out = tmp_path / "runs.txt"
    queue = f"faults-{uuid.uuid4().hex[:8]}"
    gator = Gator(_dsn(private_redis), queue_name=queue, allow=["redis_test_tasks"])
    slow = gator.task(redis_test_tasks.slow, str(out), "slow", 2.5)
    worker = Worker(gator, lease_seconds=1.8)
    thread = threading.Thread(target=worker.run_forever)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not (out.exists() and "start-slow" in out.read_text()):
            assert time.monotonic() < deadline, "the worker never started the task"
            time.sleep(0.02)
        private_redis.stop(save=True)
        time.sleep(0.7)
        private_redis.start()
        deadline = time.monotonic() + 15
        while gator.status(slow.task_id) != SUCCESS:
            assert time.monotonic() < deadline, f"status is {gator.status(slow.task_id)}"
            time.sleep(0.05)
        after = gator.task(redis_test_tasks.record, str(out), "after")
        while gator.status(after.task_id) != SUCCESS:
            assert time.monotonic() < deadline, "the worker did not carry on after the outage"
            time.sleep(0.05)
    finally:
        worker.stop()
        thread.join(15)
    tokens = [line.split()[0] for line in out.read_text().splitlines()]
    assert tokens == ["start-slow", "end-slow", "after"]
    assert not worker.settler.lost, "the lease must survive a short outage"


def test_a_unix_socket_dsn_connects(tmp_path: Path) -> None:
    sock = tmp_path / "redis.sock"
    server = RedisServer(tmp_path / "unix", "--unixsocket", str(sock), "--unixsocketperm", "700")
    server.start()
    try:
        gator = Gator(f"unix://{sock}?db=2", queue_name="unix", allow=["builtins"])
        gator.task(pow, 3, 3)
        done = gator.pop()
        assert done is not None and done.result == 27
        gator.backend.close()
    finally:
        server.stop(save=False)
