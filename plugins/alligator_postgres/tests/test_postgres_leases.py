"""Real processes: a SIGKILLed worker's task goes to an idle worker when its lease ends, not later.

A killed worker's lease is not ended by anything the store could notify
(nothing is written when a process dies), so an idle worker, asleep on
``LISTEN``, must wake for the lease's end by itself. Worker A (a real
``latergator``) runs a task that stalls; worker B waits idle with a nap
time of 300 s, so that a wait that ignored the lease would sleep for
minutes. The test SIGKILLs A and reads from the store, on the database's
clock, when A's lease ended and when B finished the task.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from postgres_servers import drop_schema, new_schema

from alligator import Gator
from alligator.constants import SUCCESS
from alligator_postgres import PostgresBackend

HERE = Path(__file__).resolve().parent
QUEUE = "leases"
#: A's lease. A renews it every third, so after the kill it still has at
#: least two thirds of it to run: time for the test to read its end.
LEASE = 4.0
#: B's wait when nothing wakes it; far beyond the margin below.
IDLE_NAP = 300.0
#: How long after the lease's end B may finish the task. B's wake-up is
#: scheduled at the lease's end; the margin only covers a busy machine's
#: scheduling (on an idle one it is milliseconds), and stays far below
#: IDLE_NAP, so a waiter that slept through the lease's end still fails.
MARGIN = 30.0


@pytest.fixture
def dsn(postgres_dsn: str) -> Iterator[str]:
    dsn, schema = new_schema(postgres_dsn)
    PostgresBackend(dsn).close()
    yield dsn
    drop_schema(postgres_dsn, schema)


def _worker(dsn: str, log: Path, *args: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH", "")) if p)
    env["ALLIGATOR_ALLOW"] = "postgres_tasks"
    command = [sys.executable, "-m", "alligator", dsn, "--queue", QUEUE, "--concurrency", "1"]
    command += ["--max-tasks", "1", "--log-level", "INFO", "--lease-seconds", str(LEASE), *args]
    with open(log, "wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait_until(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _listeners(dsn: str) -> int:
    """Waiters' connections to this database (opened by a worker's first wait on LISTEN)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'alligator-listen'"
        ).fetchone()
    return int(row[0]) if row else 0


def test_an_idle_worker_reruns_a_killed_workers_task_when_its_lease_ends(dsn: str, tmp_path: Path) -> None:
    import postgres_tasks

    ledger = tmp_path / "ledger"
    ledger.mkdir()
    gator = Gator(dsn, queue_name=QUEUE, allow=["postgres_tasks"])
    backend = gator.backend
    gator.task(postgres_tasks.stall_first_run, str(ledger), "orphan")
    a = _worker(dsn, tmp_path / "a.log")
    b = None
    try:
        _wait_until(lambda: any(ledger.iterdir()), 60, "worker A to start the task")
        before = _listeners(dsn)
        b = _worker(dsn, tmp_path / "b.log", "--nap-time", str(IDLE_NAP))
        # B found nothing due and waits on LISTEN (A, busy with the task, does not).
        _wait_until(lambda: _listeners(dsn) > before, 60, "worker B to wait idle")
        os.kill(a.pid, signal.SIGKILL)
        a.wait(30)
        # A is dead: its lease's end is now fixed in the store.
        [held] = backend.tasks(QUEUE, "running")  # type: ignore[attr-defined]
        assert held.attempts == 1, f"read after B took it: {held}"
        lease_end = held.due
        _wait_until(lambda: gator.status(held.task_id) == SUCCESS, MARGIN + 30, "the task to run again")
        finished = backend.finished(QUEUE, held.task_id)  # type: ignore[attr-defined]
        assert finished is not None and finished.finished_at is not None
        after = finished.finished_at - lease_end
        print(f"re-run finished {after:.3f}s after the killed worker's lease ended (database clock)")
        assert 0.0 <= after <= MARGIN, f"re-run finished {after:.3f}s after the lease ended"
        assert b.wait(60) == 0, (tmp_path / "b.log").read_text()
        runs = [name for log in ledger.iterdir() for name in log.read_text().split()]
        assert runs == ["orphan", "orphan"]
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
        backend.close()
