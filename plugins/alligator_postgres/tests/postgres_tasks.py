"""Task functions and process entry points for the PostgreSQL process tests.

Workers and producers import this module by name (the tests put this folder
on ``PYTHONPATH``), so everything here is module-level.
"""

from __future__ import annotations

import os
import random
import sqlite3
import sys
import time

#: The application's own table the producers write beside their tasks.
ORDERS_TABLE = "CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY)"


def record(ledger_dir: str, label: str) -> str:
    """Appends ``label`` to this process's ledger file: a record kept outside the queue."""
    with open(os.path.join(ledger_dir, f"{os.getpid()}.txt"), "a") as ledger:
        ledger.write(label + "\n")
    return label


def stall_first_run(ledger_dir: str, label: str) -> str:
    """Records ``label``; on its first run, then sleeps until its worker is killed.

    A later run (the task delivered again once the killed worker's lease
    ended) records it and returns at once.
    """
    earlier = any(
        label in open(os.path.join(ledger_dir, name)).read().split()
        for name in os.listdir(ledger_dir)
        if name.endswith(".txt")
    )
    record(ledger_dir, label)
    if not earlier:
        time.sleep(600)
    return label


def _connect(kind: str, dsn: str):  # type: ignore[no-untyped-def]
    if kind == "sqlite":
        conn = sqlite3.connect(dsn[len("sqlite:///") :], timeout=60)
        return conn, "INSERT INTO orders (id) VALUES (?)"
    import psycopg

    return psycopg.connect(dsn), "INSERT INTO orders (id) VALUES (%s)"


def produce_orders(kind: str, dsn: str, ledger_dir: str) -> None:
    """Writes orders for ever, each with its task in the same transaction, saying where it is.

    For each order it prints ``W id`` once the order row and its task are
    written (not committed), sleeps 0-10 ms, commits and prints ``C id``:
    the test SIGKILLs it right after a ``W`` (between the write and the
    commit) or at any other moment.
    """
    from alligator import Gator

    gator = Gator(dsn, queue_name="orders", allow=["postgres_tasks"])
    conn, insert = _connect(kind, dsn)
    rng = random.Random()
    n = 0
    while True:
        order = f"{os.getpid()}-{n}"
        n += 1
        conn.execute(insert, (order,))
        with gator.options(connection=conn, task_id=f"order-{order}") as opts:
            opts.task(record, ledger_dir, order)
        sys.stdout.write(f"W {order}\n")
        sys.stdout.flush()
        time.sleep(rng.random() * 0.01)
        conn.commit()
        sys.stdout.write(f"C {order}\n")
        sys.stdout.flush()
