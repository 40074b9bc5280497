"""OPTIONS["DATABASE"] on PostgreSQL: the project's database and the store are one, with real processes.

The project runs on a PostgreSQL database of its own (made on the machine's
server, dropped at the end: see the PostgreSQL plugin's test helpers), its
tasks in the same database through the PostgreSQL backend. Each process is
a real ``manage.py``: the producer saves an order and enqueues its task in one
``transaction.atomic()`` (``ENQUEUE_ON_COMMIT`` off: nothing rests on a
callback), the worker runs it. Priorities and unique keys are written in
that transaction too; this process reads the results through Django's
``get_result`` on the same store.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT, Worker, default_backend_options, run_one_at_a_time, wait_for
from django.tasks import TaskResultStatus
from django.tasks.exceptions import TaskResultDoesNotExist
from shop import tasks

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


def _start(dsn: str, tmp_path: Path, label: str, *extra: str) -> tuple[subprocess.Popen[str], Path]:
    """A ``place_order`` producer, started; it commits once the returned path exists."""
    hold = tmp_path / f"commit-{label}"
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "place_order", label, "--hold", str(hold), *extra],
        cwd=PROJECT,
        env=_env(dsn),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, hold


def _written(proc: subprocess.Popen[str]) -> list[str]:
    """The result ids the producer wrote in its open transaction (its first line)."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("written "), line + proc.stdout.read()
    return line.split()[1:]


def _producer(dsn: str, tmp_path: Path, label: str, *extra: str) -> tuple[subprocess.Popen[str], Path, str]:
    proc, hold = _start(dsn, tmp_path, label, *extra)
    return proc, hold, _written(proc)[0]


def _commit(proc: subprocess.Popen[str], hold: Path) -> None:
    hold.touch()
    assert proc.wait(timeout=120) == 0
    assert proc.stdout is not None and proc.stdout.read().strip() == "committed"


@pytest.fixture
def pg_tasks(settings, pg_dsn):
    """This process's TASKS on the PostgreSQL store, for Django's get_result; its queues emptied after."""
    yield from default_backend_options(settings, DSN=pg_dsn)


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


def test_priorities_written_in_the_producers_transaction_order_the_worker(pg_dsn, pg_tasks, tmp_path):
    path = tmp_path / "order"
    ranked = ("low:-5", "plain:0", "high:10", "higher:50")
    done = _manage(pg_dsn, "place_ranked", str(path), *ranked)
    assert done.returncode == 0, done.stdout + done.stderr
    ids = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("written ")]
    results = [tasks.record.get_result(result_id) for result_id in ids]
    assert [result.task.priority for result in results] == [-5, 0, 10, 50]
    assert _orders(pg_dsn, "higher") == 1

    run_one_at_a_time(pg_dsn, tmp_path / "worker.log", results, env=_env(pg_dsn))
    # Queued in FIFO order by one transaction, run in the order of their priorities.
    assert path.read_text().split() == ["higher", "high", "plain", "low"]


def test_a_unique_claim_rolled_back_with_its_transaction_leaves_the_key_free(pg_dsn, pg_tasks, tmp_path):
    proc, hold = _start(pg_dsn, tmp_path, "undone", "--refresh", "pg-undone", "--roll-back")
    _, first = _written(proc)
    hold.touch()
    assert proc.wait(timeout=120) != 0
    with pytest.raises(TaskResultDoesNotExist):
        tasks.refresh.get_result(first)

    proc, hold = _start(pg_dsn, tmp_path, "redone", "--refresh", "pg-undone")
    _, again = _written(proc)
    _commit(proc, hold)
    assert again != first, "the key was free: the second producer's task was queued"
    assert tasks.refresh.get_result(again).status == TaskResultStatus.READY


def test_a_committed_unique_claim_holds_the_key_for_the_next_producer(pg_dsn, pg_tasks, tmp_path):
    holder, holder_hold = _start(pg_dsn, tmp_path, "holder", "--refresh", "pg-kept")
    _, first = _written(holder)
    # The second producer starts while the first's transaction is open: its
    # push of the key waits on that transaction's claim (or, started after the
    # commit, finds it); either way it gets the holder's result.
    second, second_hold = _start(pg_dsn, tmp_path, "second", "--refresh", "pg-kept")
    _commit(holder, holder_hold)
    _, again = _written(second)
    _commit(second, second_hold)

    assert again == first
    assert tasks.refresh.get_result(first).status == TaskResultStatus.READY
    assert _orders(pg_dsn, "second") == 1, "the second producer's own rows committed"
