"""Fixtures: a real Redis (the one on 6379, or a private one), private servers to
break, and a Redis Cluster.

A real server is found in this order: 127.0.0.1:6379 if it answers PING; a
private ``redis-server`` from PATH started on a free port. Without either
the tests that need one are skipped, except under ``CI=true``, where a
missing service is a failure, not a reason to pass.

The task functions the worker subprocesses run (``redis_test_tasks``) and the
raw-record helpers live beside the tests; ``pytest.ini`` puts this folder on
the tests' path, and the process tests put it on the workers' ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis_servers import RedisServer, answers, start_cluster

from alligator_redis import limits, scripts

#: The db our tests use on a shared server; queue names are unique as well.
TEST_DB = 3
SHARED = f"redis://127.0.0.1:6379/{TEST_DB}"


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind() -> Iterator[None]:
    """Fails the session if a queue our tests used still has a key in the shared db.

    Every queue name the backend computes keys for is noted (other helpers'
    tests use the same db with other names, so only ours are checked).
    """
    used: set[str] = set()
    limit_keys_used: set[str] = set()
    queue_keys, limit_keys = scripts.queue_keys, limits.keys_of

    def noting(queue: str) -> dict[str, str]:
        used.add(queue)
        return queue_keys(queue)

    def noting_limit(key: str) -> dict[str, str]:
        limit_keys_used.add(key)
        return limit_keys(key)

    scripts.queue_keys, limits.keys_of = noting, noting_limit
    try:
        yield
    finally:
        scripts.queue_keys, limits.keys_of = queue_keys, limit_keys
    if not (used or limit_keys_used) or not answers(SHARED):
        return
    client = redis.Redis.from_url(SHARED)
    try:
        # A limit's keys outlive its test by design (they expire a little
        # after the last time in them, up to an hour for the kit's long
        # periods): forget those our tests used, so none is left behind.
        _forget_limits(client, limit_keys_used)
        left = [key for queue in sorted(used) for key in queue_keys(queue).values() if client.exists(key)]
        left += [key for name in sorted(limit_keys_used) for key in _limit_keys(name) if client.exists(key)]
    finally:
        client.close()
    assert not left, f"tests left {len(left)} keys in {SHARED}, e.g. {left[:5]}"


def _limit_keys(name: str) -> list[str]:
    return [key for layout, key in limits.keys_of(name).items() if layout != "index"]


def _forget_limits(client: redis.Redis, names: set[str]) -> None:
    """Deletes the keys of the limits ``names`` and their index entries (the index too once empty)."""
    for name in names:
        client.delete(*_limit_keys(name))
        client.zrem(limits.INDEX_KEY, f"rate:{name}", f"concurrency:{name}")
    if not client.zcard(limits.INDEX_KEY):
        client.delete(limits.INDEX_KEY)


def _no_server(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}, and CI=true: the Redis tests must run in CI")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The DSN of a real Redis db for tests: the local server, or a private one."""
    if answers(SHARED):
        try:
            yield SHARED
        finally:
            # The live-worker registry is one per db, not per queue: the
            # registry tests' workers are forgotten with the session.
            client = redis.Redis.from_url(SHARED)
            client.delete(*scripts.WORKER_KEYS.values())
            client.close()
        return
    if shutil.which("redis-server") is None:
        _no_server("no Redis on 127.0.0.1:6379 and no redis-server on PATH")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield f"redis://127.0.0.1:{server.port}/{TEST_DB}"
    finally:
        server.stop(save=False)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own, to stop and start at will."""
    if shutil.which("redis-server") is None:
        _no_server("no redis-server on PATH to start a private server")
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop(save=False)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A 3-master Redis Cluster on loopback ports; yields a DSN with ``?cluster=true``."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        _no_server("redis-server and redis-cli are needed on PATH for the cluster tests")
    servers = start_cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield f"redis://127.0.0.1:{servers[0].port}/0?cluster=true"
    finally:
        for server in servers:
            server.stop(save=False)
