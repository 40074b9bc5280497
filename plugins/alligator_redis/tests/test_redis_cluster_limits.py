"""Rate and concurrency limits on a Redis Cluster, proved with four worker processes (``nox -s cluster``).

Every key of every limit carries the one hash tag ``{%limits}`` (see
:mod:`alligator_redis.limits`), so each step is one script on the node that
owns that slot, while the queue's own keys live on another node. The checks
are the SQLite and Redis proofs' (``tests/reliability/test_processes_limits.py``),
from :mod:`limit_tasks`, which the tasks write to.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import limit_tasks
import pytest
from redis.cluster import RedisCluster

from alligator import Gator
from alligator.constants import SUCCESS
from alligator_redis import RedisBackend
from alligator_redis.limits import INDEX_KEY

pytestmark = pytest.mark.cluster

TESTS = Path(limit_tasks.__file__).resolve().parent
WORKERS = 4


def _deadline(predicate: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _one_cpu(n: int) -> Callable[[], None]:
    cpus = sorted(os.sched_getaffinity(0))
    mine = {cpus[n % len(cpus)]}
    return lambda: os.sched_setaffinity(0, mine)


@pytest.fixture
def gator(redis_cluster: str) -> Iterator[Gator]:
    made = Gator(redis_cluster, queue_name=f"limits-{uuid.uuid4().hex[:8]}", allow=["limit_tasks"])
    yield made
    made.drop_all()
    made.backend.close()


@pytest.fixture
def start(gator: Gator, tmp_path: Path) -> Iterator[object]:
    """``start(*args)``: four ``python -m alligator`` processes on the cluster; all stopped afterwards."""
    procs: list[subprocess.Popen[bytes]] = []

    def run(*args: str) -> list[subprocess.Popen[bytes]]:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
        command = [sys.executable, "-m", "alligator", gator.conn_string, "--queue", gator.queue_name]
        command += ["--allow", "limit_tasks", "--log-level", "INFO", *args]
        for n in range(WORKERS):
            log = open(tmp_path / f"worker-{n}.log", "wb")
            # One CPU each: latergator then runs one plain worker process, the one the test kills.
            one_cpu = _one_cpu(n)
            procs.append(
                subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=one_cpu)
            )
            log.close()
        return procs

    yield run
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_the_limit_keys_live_on_one_node_of_the_cluster(gator: Gator) -> None:
    backend = gator.backend
    assert isinstance(backend, RedisBackend)
    backend.take_rate("cluster-key", "h", 1, 60.0)
    client = backend.client
    assert isinstance(client, RedisCluster)
    assert client.get_node_from_key("alligator:{%limits}:rate:cluster-key") == client.get_node_from_key(
        INDEX_KEY
    )


def test_a_rate_limit_holds_across_four_workers_on_a_cluster(
    gator: Gator, start: object, tmp_path: Path
) -> None:
    path = str(tmp_path / "ledger")
    opts = gator.options(rate_limit="20/s", limit_key=f"rate-{uuid.uuid4().hex[:8]}")
    # 100, as the single-node proof: with fewer, the two-period window could not exceed its bound.
    count = 100
    tasks = [opts.task(limit_tasks.stamp, path, f"r{i}") for i in range(count)]
    start()  # type: ignore[operator]
    _deadline(lambda: len(limit_tasks.read(path)) >= count, 120, f"{count} tasks to run")
    _deadline(lambda: all(gator.status(t.task_id) == SUCCESS for t in tasks), 60, "their acks")
    rows = limit_tasks.read(path)
    assert sorted(label for *_, label in rows) == sorted(f"r{i}" for i in range(count)), "each ran once"
    limit_tasks.check_rate([at for _, at, _, _ in rows], 20, 1.0)


def test_a_concurrency_limit_holds_on_a_cluster_with_a_worker_killed_mid_task(
    gator: Gator, start: object, tmp_path: Path
) -> None:
    path = str(tmp_path / "ledger")
    opts = gator.options(concurrency_limit=2, limit_key=f"customer-{uuid.uuid4().hex[:8]}")
    tasks = [opts.task(limit_tasks.killed_once, path, "c0", 0.3)]
    tasks += [opts.task(limit_tasks.hold, path, f"c{i}", 0.3) for i in range(1, 10)]
    # Slots leased for 4 s, renewed every third: a 2 s lease lapsed after 1.3 s of stalled renewals.
    procs = start("--lease-seconds", "4")  # type: ignore[operator]
    _deadline(lambda: all(gator.status(t.task_id) == SUCCESS for t in tasks), 120, "every task")
    assert any(proc.poll() == -9 for proc in procs), "the first task SIGKILLed its worker"
    rows = limit_tasks.read(path)
    # The killed worker's runs end at the kill it recorded, not when the test noticed it (late, on a
    # loaded machine, after the next task had started in the freed slot).
    assert limit_tasks.most_at_once(limit_tasks.runs(rows, limit_tasks.kills(rows))) <= 2
    assert {label for kind, _, _, label in rows if kind == "end"} == {f"c{i}" for i in range(10)}
