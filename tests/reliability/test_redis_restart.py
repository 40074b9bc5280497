"""Redis dies (SIGKILL) and comes back mid-stream: no accepted task is lost.

A PRIVATE ``redis-server`` (``--appendonly yes --appendfsync always``, so a
write is on disk before Redis answers it) is SIGKILLed twice while two
producer processes enqueue in a loop and two worker processes consume, then
restarted on the same port and directory. A producer counts the
``BackendError`` each failed enqueue raises and tries the same task again;
every enqueue that *returned* is recorded as accepted (in a file, with
O_APPEND). Workers log the errors, back off, reconnect and carry on. At the
end the ledger must show a finished run of every accepted task.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import reliability_tasks
from redis_servers import RedisServer
from reliability_helpers import HERE, Store, no_service, report, wait_for, worker_env
from reliability_tasks import Ledger

from alligator import Gator
from alligator.constants import SUCCESS
from alligator.exceptions import BackendError

PER_PRODUCER = 400
OUTAGES = 2
DOWN_SECONDS = 1.0

# Imported by name (not run as __main__) so tasks name "reliability_tasks:work".
PRODUCER = textwrap.dedent(
    """
    import json, os, sys, time
    import reliability_tasks
    from alligator import Gator
    from alligator.tasks import Task

    dsn, queue, prefix, count, accepted_path = sys.argv[1:6]
    gator = Gator(dsn, queue_name=queue, allow=["reliability_tasks"])
    errors, other = 0, []
    fd = os.open(accepted_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    for n in range(int(count)):
        key = f"{prefix}{n:05d}"
        while True:
            try:
                gator.push(Task(task_id=key), reliability_tasks.work, key, 2)
            except Exception as err:  # counted by type: anything but BackendError fails the test
                if type(err).__name__ == "BackendError":
                    errors += 1
                else:
                    other.append(repr(err))
                time.sleep(0.05)
                continue
            os.write(fd, f"{key}\\n".encode())  # accepted: the enqueue returned
            break
        time.sleep(0.005)
    print(json.dumps({"backend_errors": errors, "other_errors": other}))
    """
)


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


@pytest.fixture
def private_redis(tmp_path: Path):  # type: ignore[no-untyped-def]
    if shutil.which("redis-server") is None:
        no_service("no redis-server on PATH to start a private server")
    server = RedisServer(tmp_path / "redis", "--appendonly", "yes", "--appendfsync", "always")
    server.start()
    yield server
    server.stop()


def test_redis_sigkill_and_restart_loses_no_accepted_task(  # type: ignore[no-untyped-def]
    private_redis: RedisServer, workers, ledger: Ledger, tmp_path: Path
) -> None:
    store = Store("redis-private", private_redis.url(), "restart")
    gator = store.gator()
    accepted_path = tmp_path / "accepted.txt"
    pool = workers(store, "--lease-seconds", "2")
    started = time.monotonic()
    pool.start(2)
    pool.wait_started()
    producers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                PRODUCER,
                store.dsn,
                store.queue,
                f"p{p}-",
                str(PER_PRODUCER),
                str(accepted_path),
            ],
            env=worker_env(ledger),
            cwd=HERE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in range(2)
    ]
    # Both producers up and enqueuing before the first outage: a fixed pause once let slow start-ups
    # (a loaded machine) miss the outages, and the test then proved nothing.
    both = {"p0-", "p1-"}
    wait_for(lambda: {line[:3] for line in _lines(accepted_path)} >= both, 120, "both producers to enqueue")
    downtime = 0.0
    for _ in range(OUTAGES):
        time.sleep(0.8)  # let producers and workers get going
        private_redis.kill()
        down = time.monotonic()
        time.sleep(DOWN_SECONDS)
        private_redis.start()
        downtime += time.monotonic() - down
    results = []
    for proc in producers:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    accepted = accepted_path.read_text().split()
    assert len(accepted) == len(set(accepted)) == 2 * PER_PRODUCER
    assert all(not r["other_errors"] for r in results), results
    backend_errors = sum(r["backend_errors"] for r in results)

    drain = wait_for(lambda: not ledger.refresh().missing(accepted), 60, "every accepted task to run")
    wait_for(lambda: all(gator.status(k) == SUCCESS for k in accepted), 15, "every status to be SUCCESS")
    assert all(p.poll() is None for p in pool.procs), "a worker died:\n" + pool.output()
    codes = pool.stop()
    elapsed = time.monotonic() - started
    output = pool.output()
    assert codes == [0, 0], output
    assert "backend error" in output, "the workers should have seen Redis go away:\n" + output
    assert gator.len() == 0 and gator.dead_letters() == []
    runs = ledger.refresh().by_key()
    report(
        "redis_restart",
        accepted=len(accepted),
        outages=OUTAGES,
        downtime_seconds=round(downtime, 2),
        producer_backend_errors=backend_errors,
        worker_backend_error_lines=output.count("backend error"),
        lost=len(ledger.missing(accepted)),
        duplicate_runs=sum(len(r) - 1 for r in runs.values()),
        drain_after_producers_seconds=round(drain, 2),
        total_seconds=round(elapsed, 2),
    )
    assert backend_errors > 0, "the producers never saw Redis down: the test proved nothing"


def test_redis_down_makes_task_raise_backend_error(tmp_path: Path) -> None:
    """Nothing is silently dropped: with Redis down, ``gator.task()`` raises BackendError."""
    if shutil.which("redis-server") is None:
        no_service("no redis-server on PATH to start a private server")
    server = RedisServer(tmp_path / "redis", "--appendonly", "yes", "--appendfsync", "always")
    server.start()
    try:
        gator = Gator(server.url(), queue_name="down", allow=["reliability_tasks"])
        gator.task(reliability_tasks.record, "before")
        server.kill()
        started = time.monotonic()
        with pytest.raises(BackendError, match="it was not queued"):
            gator.task(reliability_tasks.record, "while-down")
        failed_in = time.monotonic() - started
        server.start()
        assert gator.len() == 1, "only the task queued before the outage is there"
        gator.task(reliability_tasks.record, "after")
        assert gator.len() == 2
        report("redis_down_task_raises", seconds_to_raise=round(failed_in, 3))
    finally:
        server.stop()
