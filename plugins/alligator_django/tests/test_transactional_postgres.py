"""OPTIONS["DATABASE"] on PostgreSQL: the project's database and the store are one, with real processes.

The project runs on a PostgreSQL database of its own (made on the machine's
server, dropped at the end: see the PostgreSQL plugin's test helpers), its
tasks in the same database through the PostgreSQL backend. Each process is
a real ``manage.py``: the producer saves an order and enqueues its task in one
``transaction.atomic()`` (``ENQUEUE_ON_COMMIT`` off: nothing rests on a
callback), the worker runs it.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT, Worker, wait_for

from alligator import Gator
from alligator.constants import SUCCESS

_HELPERS = Path(__file__).resolve().parents[2] / "alligator_postgres" / "tests" / "postgres_servers.py"


def _postgres_servers():
    spec = importlib.util.spec_from_file_location("alligator_postgres_test_servers", _HELPERS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pg_dsn():
    """A PostgreSQL database of our own, the project migrated into it; dropped at the end."""
    servers = _postgres_servers()
    dsn = servers.create_database(prefix="alligator_django")
    try:
        done = _manage(dsn, "migrate", "--noinput")
        assert done.returncode == 0, done.stdout
        yield dsn
    finally:
        servers.drop_database(dsn)


def _env(dsn: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTHONPATH", "SHOP_"))}
    env.update(SHOP_PG_DB=dsn, SHOP_TASKS_DSN=dsn, SHOP_TASKS_DATABASE="default", SHOP_ON_COMMIT="0")
    return env


def _manage(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT,
        env=_env(dsn),
        capture_output=True,
        text=True,
        timeout=180,
    )


def _orders(dsn: str, label: str) -> int:
    """How many orders of ``label`` the project's database holds, read by Django in a process of its own."""
    code = f"from shop.models import Order; print(Order.objects.filter(label={label!r}).count())"
    done = _manage(dsn, "shell", "-c", code)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])  # after the shell's own line about its imports


def _producer(dsn: str, tmp_path: Path, label: str, *extra: str) -> tuple[subprocess.Popen[str], Path, str]:
    hold = tmp_path / f"commit-{label}"
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "place_order", label, "--hold", str(hold), *extra],
        cwd=PROJECT,
        env=_env(dsn),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("written "), line + proc.stdout.read()
    return proc, hold, line.split()[1]


def test_a_producer_killed_before_its_commit_leaves_neither_row_nor_task(pg_dsn, tmp_path):
    proc, _, result_id = _producer(pg_dsn, tmp_path, "killed")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    gator = Gator(pg_dsn, queue_name="default")
    try:
        # The dead session's transaction never committed: PostgreSQL rolls it back.
        assert _orders(pg_dsn, "killed") == 0
        assert gator.status(result_id) is None
        assert gator.len() == 0
    finally:
        gator.backend.close()


def test_a_producer_whose_transaction_rolls_back_leaves_neither(pg_dsn, tmp_path):
    proc, hold, result_id = _producer(pg_dsn, tmp_path, "rolled", "--roll-back")
    hold.touch()
    assert proc.wait(timeout=120) != 0
    gator = Gator(pg_dsn, queue_name="default")
    try:
        assert _orders(pg_dsn, "rolled") == 0
        assert gator.status(result_id) is None and gator.len() == 0
    finally:
        gator.backend.close()


def test_a_producer_that_commits_leaves_both_and_the_worker_runs_the_task(pg_dsn, tmp_path):
    proc, hold, result_id = _producer(pg_dsn, tmp_path, "kept")
    hold.touch()
    assert proc.wait(timeout=120) == 0
    assert _orders(pg_dsn, "kept") == 1
    gator = Gator(pg_dsn, queue_name="default")
    worker = Worker(pg_dsn, tmp_path / "worker.log", "--queue", "default", env=_env(pg_dsn))
    try:
        assert gator.status(result_id) is not None
        wait_for(lambda: gator.status(result_id) == SUCCESS, "the worker to run the task")
    finally:
        worker.stop()
        gator.backend.close()
