"""The kit against a 3-master Redis Cluster started for the session (``nox -s cluster``).

The backend finds the cluster from ``?cluster=true`` in the DSN; every key of
a queue hashes to one slot, so each script runs on the node that owns it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import pytest
from redis.cluster import RedisCluster
from redis_raw import PlantedRecords, RedisFixtures, plant

from alligator import Gator
from alligator.testing import BackendContract
from alligator_redis import RedisBackend

pytestmark = pytest.mark.cluster


class TestRedisClusterContract(PlantedRecords, RedisFixtures, BackendContract):
    @pytest.fixture
    def backend(self, redis_cluster: str) -> Iterator[RedisBackend]:
        backend = RedisBackend(redis_cluster)
        assert isinstance(backend.client, RedisCluster)
        yield backend
        backend.close()

    @pytest.fixture
    def backend_factory(self, redis_cluster: str) -> Callable[[], RedisBackend]:
        return functools.partial(RedisBackend, redis_cluster)


def test_queues_spread_over_the_nodes(redis_cluster: str) -> None:
    backend = RedisBackend(redis_cluster)
    assert isinstance(backend.client, RedisCluster)
    names = [f"spread-{n}" for n in range(12)]
    try:
        for name in names:
            assert backend.push_many(name, [(f"t{k}", "x", 0.0) for k in range(1500)]) == 1500
            got = backend.reserve(name, 30.0, 2000)
            assert len(got) == 1500
            assert backend.ack_many(name, [(r.task_id, r.receipt) for r in got]) == 1500
        nodes = {backend.client.get_node_from_key(f"alligator:{{{name}}}:pending").name for name in names}
        assert len(nodes) > 1, "the queues should not all live on one node"
    finally:
        for name in names:
            backend.drop_all(name)
        backend.close()


def test_a_gator_on_the_cluster(redis_cluster: str) -> None:
    gator = Gator(redis_cluster, queue_name="cluster-gator", allow=["builtins"])
    try:
        task = gator.task(pow, 2, 5)
        assert gator.status(task.task_id) == 0
        done = gator.pop()
        assert done is not None and done.result == 32
    finally:
        gator.drop_all()


def test_unreadable_records_are_dead_lettered_alone_on_the_cluster(redis_cluster: str) -> None:
    """Raw replies and the script's checks work through the cluster client too."""
    backend = RedisBackend(redis_cluster)
    backend.max_payload_bytes = 100
    name = "cluster-unreadable"
    try:
        backend.push(name, "ok1", "fine")
        plant(backend, name, "bad", b"\xff")
        plant(backend, name, "big", b"x" * 101)
        backend.push(name, "ok2", "fine \x00 too")
        assert [(r.task_id, r.payload) for r in backend.reserve(name, 30.0, 10)] == [
            ("ok1", "fine"),
            ("ok2", "fine \x00 too"),
        ]
        reasons = {d.task_id: d.reason for d in backend.dead_letters(name)}
        assert reasons == {
            "bad": "payload is not valid UTF-8",
            "big": "payload is 101 bytes, over the limit of 100",
        }
        assert backend.peek(name, "bad") is None
    finally:
        backend.drop_all(name)
        backend.close()


def test_queues_lists_the_queues_of_every_node(redis_cluster: str) -> None:
    """``queues()`` scans every primary: queues on each node are listed."""
    backend = RedisBackend(redis_cluster)
    assert isinstance(backend.client, RedisCluster)
    names = [f"listed-{n}" for n in range(12)]
    try:
        for name in names:
            backend.push(name, "t1", "x")
        nodes = {backend.client.get_node_from_key(f"alligator:{{{name}}}:payloads").name for name in names}
        assert len(nodes) > 1, "the queues should not all live on one node"
        assert set(names) <= set(backend.queues())
    finally:
        for name in names:
            backend.drop_all(name)
        backend.close()
