"""Real processes: a producer SIGKILLed between its own write and the commit never splits a row from its task.

The producer (``postgres_tasks.produce_orders``) writes an order row of the
application's own and enqueues that order's task through the same
connection, then commits. The test SIGKILLs it, again and again, right after
it says both are written and before it commits, and at random other moments;
then the orders table and the queue must agree exactly: every order has its
task and every task its order, and every order whose commit was reported is
there. Run on PostgreSQL (psycopg) and on SQLite (the application's own
``sqlite3`` connection to the queue's file).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from postgres_servers import drop_schema, new_schema

from alligator_postgres import PostgresBackend
from alligator_sqlite import SqliteBackend

HERE = Path(__file__).resolve().parent
PRODUCE = "import sys, postgres_tasks; postgres_tasks.produce_orders(*sys.argv[1:4])"


def subprocess_env() -> dict[str, str]:
    """The environment of the processes the tests start: this folder importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH", "")) if p)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["ALLIGATOR_ALLOW"] = "postgres_tasks"
    return env


@pytest.fixture(params=["postgres", "sqlite"])
def app_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``(kind, dsn)``: the queue and the application's orders table in one database."""
    if request.param == "sqlite":
        dsn = f"sqlite:///{tmp_path / 'app.db'}"
        SqliteBackend(dsn).close()
        with sqlite3.connect(tmp_path / "app.db") as lite:
            lite.execute("CREATE TABLE orders (id TEXT PRIMARY KEY)")
        lite.close()
        yield "sqlite", dsn
        return
    base = request.getfixturevalue("postgres_dsn")
    dsn, schema = new_schema(base)
    PostgresBackend(dsn).close()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id TEXT PRIMARY KEY)")
    yield "postgres", dsn
    drop_schema(base, schema)


def _orders_and_tasks(kind: str, dsn: str) -> tuple[set[str], set[str]]:
    """The order ids in the table, and the order ids the queue holds a task for."""
    if kind == "sqlite":
        conn = sqlite3.connect(dsn[len("sqlite:///") :])
        try:
            orders = {row[0] for row in conn.execute("SELECT id FROM orders")}
            tasks = {
                row[0] for row in conn.execute("SELECT task_id FROM alligator_tasks WHERE queue = 'orders'")
            }
        finally:
            conn.close()
    else:
        with psycopg.connect(dsn) as pg:
            orders = {row[0] for row in pg.execute("SELECT id FROM orders")}
            tasks = {
                row[0] for row in pg.execute("SELECT task_id FROM alligator_tasks WHERE queue = 'orders'")
            }
    return orders, {task.removeprefix("order-") for task in tasks}


def run_producer_kills(kind: str, dsn: str, tmp_path: Path, kills: int, seed: int) -> dict[str, int]:
    """SIGKILLs the producer ``kills`` times; returns how many kills fell between a write and its commit."""
    rng = random.Random(seed)
    ledger = tmp_path / "ledger"
    ledger.mkdir(exist_ok=True)
    committed: set[str] = set()
    between = anywhere = 0
    for _ in range(kills):
        proc = subprocess.Popen(
            [sys.executable, "-c", PRODUCE, kind, dsn, str(ledger)],
            env=subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        # Mostly right after a "W" (written, not committed); otherwise after a
        # random number of lines, whatever the producer is doing then.
        aim_between = rng.random() < 0.8
        skip = rng.randrange(0, 6)
        last = ""
        for line in proc.stdout:
            last = line
            if line.startswith("C "):
                committed.add(line.split()[1])
                continue
            if skip:
                skip -= 1
                continue
            if aim_between or rng.random() < 0.3:
                break
        else:
            raise AssertionError(
                f"the producer exited {proc.wait()}: {proc.stderr.read() if proc.stderr else ''}"
            )
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        if last.startswith("W "):
            between += 1
        else:
            anywhere += 1
        # What it printed after the line read last (a commit) counts too.
        rest = proc.stdout.read()
        committed.update(line.split()[1] for line in rest.splitlines() if line.startswith("C "))
    orders, tasks = _orders_and_tasks(kind, dsn)
    assert orders == tasks, (
        f"rows without their task: {sorted(orders - tasks)[:5]}; "
        f"tasks without their row: {sorted(tasks - orders)[:5]}"
    )
    assert committed <= orders, f"committed orders lost: {sorted(committed - orders)[:5]}"
    return {"between": between, "anywhere": anywhere, "orders": len(orders)}


@pytest.mark.timeout(300)
def test_a_producer_killed_before_its_commit_never_splits_a_row_from_its_task(
    app_database: tuple[str, str], tmp_path: Path
) -> None:
    kind, dsn = app_database
    seen = run_producer_kills(kind, dsn, tmp_path, kills=15, seed=random.randrange(1 << 30))
    assert seen["between"] >= 4, seen  # most kills land between a write and its commit


@pytest.mark.soak
@pytest.mark.timeout(1800)
def test_a_producer_killed_hundreds_of_times_never_splits_a_row_from_its_task(
    app_database: tuple[str, str], tmp_path: Path
) -> None:
    kind, dsn = app_database
    seen = run_producer_kills(kind, dsn, tmp_path, kills=300, seed=random.randrange(1 << 30))
    assert seen["between"] >= 150, seen
    print(f"producer kills on {kind}: {seen}")
