"""The kit against a 3-master Redis Cluster started for the session (``nox -s cluster``).

The backend finds the cluster from ``?cluster=true`` in the DSN; every key of
a queue hashes to one slot, so each script runs on the node that owns it.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster
from redis_raw import PlantedRecords, RedisFixtures, plant
from redis_servers import RedisServer, start_cluster

from alligator import Gator
from alligator.backend import Ack
from alligator.constants import FAILED, SUCCESS
from alligator.testing import BackendContract, PauseContract
from alligator_redis import RedisBackend, scripts

pytestmark = pytest.mark.cluster


class TestRedisClusterContract(PlantedRecords, RedisFixtures, BackendContract, PauseContract):
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


def _on_other_nodes(backend: RedisBackend, count: int) -> list[str]:
    """Queue names whose keys live on ``count`` different nodes."""
    assert isinstance(backend.client, RedisCluster)
    names: dict[str, str] = {}
    n = 0
    while len(names) < count:
        name = f"multi-{n}-{uuid.uuid4().hex[:6]}"
        node = backend.client.get_node_from_key(scripts.queue_keys(name)["wake"]).name
        names.setdefault(node, name)
        n += 1
    return list(names.values())


def test_a_waiter_on_queues_of_several_nodes_is_woken_by_a_push(redis_cluster: str) -> None:
    """One BLPOP cannot watch wake keys of several slots (CROSSSLOT): the
    waiter subscribes to the queues' work channels, which every push of a due
    task to an idle queue publishes on."""
    backend = RedisBackend(redis_cluster)
    queues = _on_other_nodes(backend, 3)
    try:
        for target in (queues[2], queues[0]):

            def push(where: str = target) -> None:
                time.sleep(0.5)
                backend.push(where, "t-" + where, "x")

            thread = threading.Thread(target=push, daemon=True)
            thread.start()
            start = time.monotonic()
            queue, got = backend.reserve_first(queues, 30.0, 5, 30.0)
            thread.join()
            assert (queue, [r.task_id for r in got]) == (target, ["t-" + target])
            assert time.monotonic() - start < 10.0

        def push_w() -> None:
            time.sleep(0.5)
            backend.push(queues[1], "w", "x")

        thread = threading.Thread(target=push_w, daemon=True)
        thread.start()
        assert backend.wait_for_work(queues, 30.0) is True
        thread.join()
        assert backend.wait_for_work(queues, 0.2) is True  # "w" is due: no wait at all
        backend.push_many(queues[2], [(f"l{n}", "x", 0.0) for n in range(20)])
        backend.push(queues[0], "urgent", "x")
        assert backend.reserve_first(queues, 30.0, 5)[0] == queues[0]
        assert backend.reserve_first(queues, 30.0, 5)[0] == queues[1]
        assert backend.reserve_first(queues, 30.0, 5)[0] == queues[2]
        start = time.monotonic()
        empty = [q + "-empty" for q in queues]
        assert backend.reserve_first(empty, 30.0, 5, 0.3) == ("", [])
        assert backend.wait_for_work(empty, 0.3) is False
        assert time.monotonic() - start >= 0.6
    finally:
        for name in queues:
            backend.drop_all(name)
            backend.drop_all(name + "-empty")
        backend.close()


def test_results_and_wait_finished_on_the_cluster(redis_cluster: str) -> None:
    backend = RedisBackend(redis_cluster)
    name = f"cluster-results-{uuid.uuid4().hex[:6]}"
    try:
        backend.push(name, "t1", "x")
        backend.push(name, "t2", "x")
        held = {r.task_id: r.receipt for r in backend.reserve(name, 30.0, 2)}

        def ack() -> None:
            time.sleep(0.5)
            backend.ack_results(name, [Ack("t1", held["t1"], '"one"', 60.0)])
            time.sleep(0.3)
            backend.dead_letter(name, "t2", held["t2"], "no")

        thread = threading.Thread(target=ack, daemon=True)
        thread.start()
        got = backend.wait_finished(name, "t1", 30.0)
        assert got is not None and (got.status, got.result) == (SUCCESS, '"one"')
        failed = backend.wait_finished(name, "t2", 30.0)
        thread.join()
        assert failed is not None and (failed.status, failed.reason) == (FAILED, "no")
        backend.heartbeat("cluster-w1", "{}", 30.0)
        assert ("cluster-w1", "{}") in backend.worker_records()
        assert backend.forget_worker("cluster-w1")
        findings = backend.diagnose()
        nodes = {problem.split(": ")[0] for _, problem, _ in findings if problem.startswith("Redis node ")}
        assert len(nodes) == 3, "every primary is checked and named"
        assert (
            "ok",
            "Redis Cluster: state ok, 3 masters, none with a replica (a failed master stops the "
            "queues on its slots until it is back)",
            "",
        ) in findings
    finally:
        backend.drop_all(name)
        backend.close()


# -- doctor on a degraded cluster ---------------------------------------------


@pytest.fixture
def cluster_with_replicas(tmp_path: Path) -> Iterator[list[RedisServer]]:
    """A cluster of its own, 3 masters with a replica each, persistent, failing over within seconds."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("redis-server and redis-cli are needed on PATH for the cluster tests, and CI=true")
        pytest.skip("redis-server and redis-cli are needed on PATH for the cluster tests")
    servers = start_cluster(tmp_path, replicas=1, node_timeout_ms=1000, extra=("--appendonly", "yes"))
    yield servers
    for server in servers:
        server.stop()


def _view(server: RedisServer) -> tuple[str, list[list[str]]]:
    """``cluster_state`` and the CLUSTER NODES lines (split) as one node sees them."""
    client = redis.Redis(port=server.port, decode_responses=True)
    try:
        state = client.cluster("info")["cluster_state"]
        return state, [line.split() for line in client.execute_command("CLUSTER", "NODES").splitlines()]
    finally:
        client.close()


def _wait(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _doctor(dsn: str) -> tuple[int, list[tuple[str, str]]]:
    done = subprocess.run(
        [sys.executable, "-m", "alligator.command", "doctor", dsn, "--json"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    findings = json.loads(done.stdout)["findings"]
    return done.returncode, [(f["level"], f["problem"]) for f in findings]


def _master_of(view: list[list[str]], port: int) -> bool:
    return any(f[1].startswith(f"127.0.0.1:{port}@") and "master" in f[2] and len(f) > 8 for f in view)


def test_doctor_reports_a_failed_master_and_slots_left_without_a_replica(
    cluster_with_replicas: list[RedisServer],
) -> None:
    """The drill: after a master failed over, doctor said 'nothing wrong found'."""
    servers = cluster_with_replicas
    seed = servers[0]
    dsn = f"redis://127.0.0.1:{seed.port}/0?cluster=true"
    status, findings = _doctor(dsn)
    assert status == 0, findings
    assert ("ok", "Redis Cluster: state ok, 3 masters, each with a replica") in findings

    _, view = _view(seed)
    masters = {s.port for s in servers if _master_of(view, s.port)}
    victim = next(s for s in servers[1:] if s.port in masters)
    victim.kill()

    def failed_over() -> bool:
        state, view = _view(seed)
        return state == "ok" and not _master_of(view, victim.port)

    _wait(failed_over, "a replica to take over the killed master's slots")
    _, view = _view(seed)
    [promoted] = [s for s in servers if _master_of(view, s.port) and s.port not in masters]
    status, findings = _doctor(dsn)
    assert status == 1, findings
    failed = f"Redis Cluster: 1 node is marked failed: 127.0.0.1:{victim.port} (master, fail)"
    assert ("warning", failed) in findings
    [alone] = [problem for level, problem in findings if "no replica left" in problem]
    assert f"(node 127.0.0.1:{promoted.port})" in alone

    promoted.kill()
    _wait(lambda: _view(seed)[0] == "fail", "the cluster to lose the slots nobody serves")
    status, findings = _doctor(dsn)
    assert status == 1, findings
    errors = [problem for level, problem in findings if level == "error"]
    assert any("cluster_state is fail" in problem for problem in errors), findings
