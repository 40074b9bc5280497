"""PostgreSQL restarted under load: what workers and producers see, and that nothing committed is lost.

A private cluster (never the machine's shared server) runs a queue that a
producer thread keeps pushing to while two worker processes drain it. The
server is then stopped as a crash would stop it (``pg_ctl -m immediate``:
no checkpoint, crash recovery at the next start) and started again.

What each side sees, and what the test holds them to:

* the producer's pushes raise :class:`~alligator.exceptions.BackendError`
  ("lost the connection" / "cannot connect") while the server is down; it
  retries the same task id until a push answers (True: queued now; False:
  an earlier attempt had committed, the id is taken): a task is never
  duplicated by retrying;
* the workers log the store's errors, back off and reconnect on their own;
  none exits or crashes;
* every task whose push was committed runs (at least once); tasks held by a
  worker when the server died are run again after their lease.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import postgres_tasks
import pytest
from postgres_servers import PrivateCluster
from test_postgres_processes import subprocess_env

from alligator import Gator
from alligator.exceptions import BackendError


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    server = PrivateCluster()
    try:
        server.start()
        yield server
    finally:
        server.remove()


def _ledger(ledger: Path) -> Counter[str]:
    runs: Counter[str] = Counter()
    for path in ledger.glob("*.txt"):
        runs.update(path.read_text().split())
    return runs


class Producer(threading.Thread):
    """Pushes ``t0``, ``t1``... until stopped, retrying each id through errors until a push answers."""

    def __init__(self, dsn: str, ledger: Path) -> None:
        super().__init__(daemon=True)
        self.dsn, self.ledger = dsn, ledger
        self.committed: list[str] = []
        self.errors: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        gator = Gator(self.dsn, queue_name="load", allow=["postgres_tasks"])
        n = 0
        while not self.halt.is_set():
            task_id = f"t{n}"
            try:
                with gator.options(task_id=task_id) as opts:
                    opts.task(postgres_tasks.record, str(self.ledger), task_id)
            except BackendError as err:
                self.errors.append(str(err))
                time.sleep(0.1)
                continue  # the same id again: a push that did commit answers False next time
            self.committed.append(task_id)
            n += 1
            time.sleep(0.005)
        gator.backend.close()


@pytest.mark.timeout(300)
def test_a_server_crash_and_restart_under_load_loses_nothing_committed(
    cluster: PrivateCluster, tmp_path: Path
) -> None:
    dsn = f"{cluster.url}/postgres"
    Gator(dsn, queue_name="load").backend.close()  # the tables, before anyone races to make them
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    logs = [open(tmp_path / f"worker-{n}.log", "wb") for n in range(2)]
    command = [sys.executable, "-m", "alligator", dsn, "--queue", "load", "--concurrency", "2"]
    workers = [
        subprocess.Popen(
            [*command, "--lease-seconds", "3", "--log-level", "INFO"],
            env=subprocess_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for log in logs
    ]
    producer = Producer(dsn, ledger)
    producer.start()
    try:
        _wait(lambda: len(_ledger(ledger)) >= 100, 60, "the workers to run 100 tasks")
        before = len(producer.committed)
        cluster.stop("immediate")
        time.sleep(2.0)  # producers and workers meet a dead server meanwhile
        cluster.start()
        _wait(lambda: len(producer.committed) >= before + 100, 120, "the producer to push 100 more")
        producer.halt.set()
        producer.join(60)
        committed = set(producer.committed)
        try:
            _wait(lambda: committed <= set(_ledger(ledger)), 120, "every committed task to run")
        except AssertionError:
            missing = sorted(committed - set(_ledger(ledger)))
            probe = Gator(dsn, queue_name="load")
            states = {task_id: probe.backend.status("load", task_id) for task_id in missing[:10]}
            probe.backend.close()
            tails = [(tmp_path / f"worker-{n}.log").read_text(errors="replace")[-3000:] for n in range(2)]
            message = f"{len(missing)} committed tasks never ran: {states}\n" + "\n".join(tails)
            raise AssertionError(message) from None
        alive = [w.poll() is None for w in workers]
    finally:
        producer.halt.set()
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        codes = [worker.wait(60) for worker in workers]
        for log in logs:
            log.close()
    output = "\n".join((tmp_path / f"worker-{n}.log").read_text(errors="replace") for n in range(2))
    assert alive == [True, True], f"a worker exited while the server restarted:\n{output[-4000:]}"
    assert codes == [0, 0], output[-4000:]
    assert "Traceback" not in output, output[-4000:]
    # What the sides saw: the producer errors naming the server, the workers logged errors and carried on.
    assert producer.errors, "the producer never met the dead server"
    assert all("PostgreSQL at" in error for error in producer.errors), producer.errors[:3]
    assert "backend error" in output or "PostgreSQL at" in output, output[-4000:]
    runs = _ledger(ledger)
    assert set(producer.committed) <= set(runs)
    assert set(runs) <= set(producer.committed), "a task ran that no push committed"
    print(
        f"restart: {len(producer.committed)} committed, {len(producer.errors)} producer errors, "
        f"{sum(runs.values()) - len(runs)} re-runs, worker log lines with errors: "
        f"{sum('ERROR' in line for line in output.splitlines())}"
    )


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.05)


def test_the_private_cluster_is_not_the_shared_server(cluster: PrivateCluster) -> None:
    assert cluster.port != 5432 and os.path.isdir(cluster.dir)


def test_a_backend_built_while_the_server_is_down_works_once_it_is_up(cluster: PrivateCluster) -> None:
    from alligator_postgres import PostgresBackend

    dsn = f"{cluster.url}/postgres"
    cluster.stop("immediate")
    backend = PostgresBackend(dsn)  # a worker starting during a restart must not give up
    try:
        with pytest.raises(BackendError, match="cannot connect"):
            backend.push("q", "t1", "x")
        cluster.start()
        assert backend.push("q", "t1", "x") is True  # the tables are made on the first call that connects
        assert backend.created is True
        assert [r.task_id for r in backend.reserve("q", 30.0)] == ["t1"]
    finally:
        backend.close()
