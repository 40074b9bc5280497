"""Task functions and process entry points for the multi-process tests.

Workers import this module by name (the tests put this folder on
``PYTHONPATH``), so everything here must be module-level.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def record(ledger_dir: str, label: str) -> str:
    """Appends ``label`` to this process's ledger file: a record kept outside the queue."""
    # One file per process: no two processes ever append to the same file.
    with open(os.path.join(ledger_dir, f"{os.getpid()}.txt"), "a") as ledger:
        ledger.write(label + "\n")
    return label


def start_then_sleep(signal_dir: str, seconds: float) -> int:
    """Says it started (a file named after this pid), sleeps, then says it finished."""
    Path(signal_dir, f"started-{os.getpid()}").touch()
    time.sleep(seconds)
    Path(signal_dir, f"done-{os.getpid()}").touch()
    return os.getpid()


def produce(dsn: str, ledger_dir: str, producer: int, count: int) -> None:
    """Queues ``count`` :func:`record` tasks: half one by one, half in batches of 25."""
    from alligator import Gator

    gator = Gator(dsn)
    half = count // 2
    for n in range(half):
        gator.task(record, ledger_dir, f"{producer}-{n}")
    for start in range(half, count, 25):
        with gator.batch() as batch:
            for n in range(start, min(start + 25, count)):
                batch.task(record, ledger_dir, f"{producer}-{n}")
    gator.backend.close()
