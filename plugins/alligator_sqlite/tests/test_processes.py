"""Real processes sharing one file: every task runs exactly once, and a killed worker loses nothing."""

from __future__ import annotations

import collections
import functools
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest
import sqlite_raw
import sqlite_tasks
from sqlite_helpers import subprocess_env

from alligator import Gator
from alligator.constants import FAILED, SUCCESS
from alligator_sqlite import SqliteBackend

# Imported by name, not run as a script: the tasks must name "sqlite_tasks.record", not "__main__".
PRODUCE = "import sys, sqlite_tasks; sqlite_tasks.produce(*sys.argv[1:3], *map(int, sys.argv[3:]))"


def _start_worker(dsn: str, log: IO[bytes], *args: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "alligator", dsn, "--nap-time", "0.02", "--log-level", "WARNING", *args]
    return subprocess.Popen(command, env=subprocess_env(), stdout=log, stderr=subprocess.STDOUT)


def _latergator() -> list[str]:
    """The installed ``latergator`` console script, as a user runs it."""
    script = os.path.join(os.path.dirname(sys.executable), "latergator")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "alligator"]


def _ledger(ledger_dir: Path) -> collections.Counter[str]:
    runs: collections.Counter[str] = collections.Counter()
    for path in ledger_dir.glob("*.txt"):
        runs.update(path.read_text().split())
    return runs


def _wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def _said_it_started(log: Path) -> bool:
    """Whether a worker's log holds its start line (written once its signal handlers are in place)."""
    return "Alligator Worker" in log.read_text()


def run_concurrency(tmp_path: Path, producers: int, workers: int, per_producer: int, timeout: float) -> None:
    # The file does not exist yet: the processes also race to create it.
    db = tmp_path / "queue.db"
    dsn = f"sqlite:///{db}"
    ledger_dir = tmp_path / "ledger"
    ledger_dir.mkdir()
    total = producers * per_producer
    logs = [open(tmp_path / f"process-{n}.log", "wb") for n in range(producers + workers)]
    # At INFO, for the start line the stop below waits for.
    worker_procs = [
        _start_worker(dsn, logs[n], "--concurrency", "2", "--log-level", "INFO") for n in range(workers)
    ]
    producer_procs = [
        subprocess.Popen(
            [sys.executable, "-c", PRODUCE, dsn, str(ledger_dir), str(p), str(per_producer)],
            env=subprocess_env(),
            stdout=logs[workers + p],
            stderr=subprocess.STDOUT,
        )
        for p in range(producers)
    ]
    try:
        for n, proc in enumerate(producer_procs):
            if proc.wait(timeout) != 0:
                failed = (tmp_path / f"process-{workers + n}.log").read_text()
                raise AssertionError(f"producer {n} exited {proc.returncode}:\n{failed[-3000:]}")
        _wait_for(lambda: sum(_ledger(ledger_dir).values()) >= total, timeout, f"{total} runs")
        # A worker still starting when the others ran everything (a busy
        # machine) would die of the SIGTERM below before its handler is in
        # place: stop each only once it said it started (handlers come first).
        for n in range(workers):
            _wait_for(functools.partial(_said_it_started, tmp_path / f"process-{n}.log"), timeout, "a start")
    finally:
        for proc in worker_procs:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(30) for proc in worker_procs]
        for proc in producer_procs:
            if proc.poll() is None:
                proc.kill()
        for log in logs:
            log.close()
    output = "\n".join((tmp_path / f"process-{n}.log").read_text() for n in range(producers + workers))
    assert "locked" not in output, output
    assert "Traceback" not in output and "ERROR" not in output, output
    assert codes == [0] * workers, output

    runs = _ledger(ledger_dir)
    expected = {f"{p}-{n}" for p in range(producers) for n in range(per_producer)}
    assert set(runs) == expected, f"missing: {sorted(expected - set(runs))[:10]}"
    twice = sorted(label for label, count in runs.items() if count > 1)
    assert not twice, f"{len(twice)} tasks ran more than once: {twice[:10]}"

    backend = SqliteBackend(dsn)
    try:
        assert backend.len("all") == 0
        assert backend.dead_letters("all") == []
    finally:
        backend.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("SELECT count(*) FROM alligator_tasks").fetchone() == (0,)
    conn.close()


@pytest.mark.timeout(120)
def test_producers_and_workers_in_processes_run_every_task_once(tmp_path: Path) -> None:
    run_concurrency(tmp_path, producers=2, workers=2, per_producer=300, timeout=60)


@pytest.mark.soak
@pytest.mark.timeout(900)
def test_soak_four_producers_four_workers_ten_thousand_tasks(tmp_path: Path) -> None:
    run_concurrency(tmp_path, producers=4, workers=4, per_producer=2500, timeout=600)


@pytest.mark.timeout(120)
def test_a_task_whose_worker_is_killed_runs_again_elsewhere(tmp_path: Path) -> None:
    db = tmp_path / "queue.db"
    dsn = f"sqlite:///{db}"
    signals = tmp_path / "signals"
    signals.mkdir()
    gator = Gator(dsn)
    # Longer than the lease: it only runs once per worker if the lease is kept alive.
    task = gator.task(sqlite_tasks.start_then_sleep, str(signals), 3.0)

    logs = [open(tmp_path / f"worker-{n}.log", "wb") for n in range(2)]
    workers = [_start_worker(dsn, log, "--lease-seconds", "1", "--max-tasks", "1") for log in logs]
    try:
        _wait_for(lambda: any(signals.glob("started-*")), 60, "the task to start")
        [started] = list(signals.glob("started-*"))
        victim = next(w for w in workers if started.name == f"started-{w.pid}")
        survivor = next(w for w in workers if w is not victim)
        time.sleep(1.5)  # more than a lease: the victim's settler must be renewing it
        assert len(list(signals.glob("started-*"))) == 1, "ran twice while its worker was alive"
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(10) == -signal.SIGKILL
        assert survivor.wait(60) == 0
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        for log in logs:
            log.close()
    assert (signals / f"started-{survivor.pid}").exists()
    assert (signals / f"done-{survivor.pid}").exists()
    assert not (signals / f"done-{victim.pid}").exists()
    assert gator.status(task.task_id) == SUCCESS
    assert gator.len() == 0 and gator.dead_letters() == []
    gator.backend.close()


@pytest.mark.timeout(180)
def test_a_worker_runs_every_valid_task_behind_a_record_that_is_not_utf8(tmp_path: Path) -> None:
    # Issue 8, finding 1: one such row made every reserve fail and roll back,
    # so none of the 20 valid tasks behind it ever ran.
    db = tmp_path / "queue.db"
    dsn = f"sqlite:///{db}"
    ledger_dir = tmp_path / "ledger"
    ledger_dir.mkdir()
    gator = Gator(dsn)
    try:
        sqlite_raw.plant_task(db, gator.queue_name, "bad-text", b"\xff\xfe not UTF-8", due=0.0)
        sqlite_raw.plant_task(db, gator.queue_name, "bad-blob", b"\x80", due=0.0, as_text=False)
        tasks = [gator.task(sqlite_tasks.record, str(ledger_dir), f"valid-{n}") for n in range(20)]

        with open(tmp_path / "worker.log", "wb") as log:
            command = [*_latergator(), dsn, "--nap-time", "0.02", "--log-level", "WARNING"]
            worker = subprocess.Popen(command, env=subprocess_env(), stdout=log, stderr=subprocess.STDOUT)
            try:
                _wait_for(lambda: sum(_ledger(ledger_dir).values()) >= 20, 90, "the 20 valid tasks to run")
                _wait_for(lambda: gator.len() == 0, 30, "the queue to drain")
            finally:
                worker.send_signal(signal.SIGTERM)
                code = worker.wait(60)
        output = (tmp_path / "worker.log").read_text()
        assert code == 0, output

        assert _ledger(ledger_dir) == collections.Counter(f"valid-{n}" for n in range(20))
        letters = {d.task_id: d for d in gator.dead_letters()}
        assert set(letters) == {"bad-text", "bad-blob"}
        assert {d.reason for d in letters.values()} == {"payload is not valid UTF-8"}
        assert gator.status("bad-text") == gator.status("bad-blob") == FAILED
        assert {gator.status(task.task_id) for task in tasks} == {SUCCESS}
    finally:
        gator.backend.close()


def _peak_mib(pid: int) -> float:
    """A live process's peak resident memory (VmHWM), in MiB."""
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the peak RSS from /proc")
@pytest.mark.timeout(240)
def test_a_worker_runs_every_valid_task_past_huge_task_ids_in_bounded_memory(tmp_path: Path) -> None:
    # Round 2, C8: one 64 MiB task id took a worker to 474 MiB (538 MiB and
    # lost leases with two), and none of 6 valid tasks had run after 12 s.
    db = tmp_path / "queue.db"
    dsn = f"sqlite:///{db}"
    ledger_dir = tmp_path / "ledger"
    ledger_dir.mkdir()
    gator = Gator(dsn)
    size = 64 * 1024 * 1024
    try:
        for n in range(2):
            sqlite_raw.plant_task(db, gator.queue_name, str(n) * size, b"{}", due=0.0)
        tasks = [gator.task(sqlite_tasks.record, str(ledger_dir), f"valid-{n}") for n in range(6)]

        with open(tmp_path / "worker.log", "wb") as log:
            command = [*_latergator(), dsn, "--nap-time", "0.02", "--log-level", "WARNING"]
            worker = subprocess.Popen(command, env=subprocess_env(), stdout=log, stderr=subprocess.STDOUT)
            try:
                _wait_for(lambda: sum(_ledger(ledger_dir).values()) >= 6, 120, "the 6 valid tasks to run")
                _wait_for(lambda: len(gator.dead_letters()) == 2, 60, "the 2 huge ids to be dead-lettered")
                peak = _peak_mib(worker.pid)
            finally:
                worker.send_signal(signal.SIGTERM)
                code = worker.wait(60)
        output = (tmp_path / "worker.log").read_text()
        assert code == 0, output
        assert "Traceback" not in output, output

        assert _ledger(ledger_dir) == collections.Counter(f"valid-{n}" for n in range(6))
        assert {gator.status(task.task_id) for task in tasks} == {SUCCESS}
        letters = gator.dead_letters()
        assert sorted(d.task_id for d in letters) == ["0" * 1024, "1" * 1024], "listed under the cut id"
        assert {d.reason for d in letters} == {f"task id is {size} bytes, over the limit of 1024"}
        assert gator.status("0" * 1024) == FAILED
        # SQLite itself loads an id while measuring it (one at a time); the
        # worker never copies it, so the peak stays far below the 474 MiB seen.
        assert peak < 200, f"the worker's peak RSS was {peak:.0f} MiB"
    finally:
        gator.backend.close()


@pytest.mark.timeout(240)
def test_a_worker_buries_a_record_whose_due_is_not_a_number(tmp_path: Path) -> None:
    # Round 2, C9: a row with due='abc' was never reserved nor dead-lettered,
    # status() raised a raw TypeError, and a valid task depending on it was
    # dead-lettered as "could not be handled".
    db = tmp_path / "queue.db"
    dsn = f"sqlite:///{db}"
    ledger_dir = tmp_path / "ledger"
    ledger_dir.mkdir()
    gator = Gator(dsn)
    try:
        sqlite_raw.plant_task(db, gator.queue_name, "corrupt", b"{}", due=0.0)
        with sqlite_raw.connect(db) as conn:
            conn.execute("UPDATE alligator_tasks SET due = 'abc' WHERE task_id = 'corrupt'")
        conn.close()
        assert gator.status("corrupt") is not None
        with gator.options(depends_on=["corrupt"]) as opts:
            dependent = opts.task(sqlite_tasks.record, str(ledger_dir), "dependent")
        tasks = [gator.task(sqlite_tasks.record, str(ledger_dir), f"valid-{n}") for n in range(6)]

        with open(tmp_path / "worker.log", "wb") as log:
            command = [*_latergator(), dsn, "--nap-time", "0.02", "--log-level", "WARNING"]
            worker = subprocess.Popen(command, env=subprocess_env(), stdout=log, stderr=subprocess.STDOUT)
            try:
                _wait_for(lambda: sum(_ledger(ledger_dir).values()) >= 6, 90, "the 6 valid tasks to run")
                _wait_for(lambda: len(gator.dead_letters()) == 2, 90, "the corrupt row and its dependent")
            finally:
                worker.send_signal(signal.SIGTERM)
                code = worker.wait(60)
        output = (tmp_path / "worker.log").read_text()
        assert code == 0, output
        assert "TypeError" not in output, output

        assert _ledger(ledger_dir) == collections.Counter(f"valid-{n}" for n in range(6))
        assert {gator.status(task.task_id) for task in tasks} == {SUCCESS}
        reasons = {d.task_id: d.reason for d in gator.dead_letters()}
        assert reasons["corrupt"] == "record is corrupt: due is 'abc'"
        assert "could not be handled" not in reasons[dependent.task_id], reasons
        assert "corrupt" in reasons[dependent.task_id] and "failed" in reasons[dependent.task_id]
        assert gator.status("corrupt") == gator.status(dependent.task_id) == FAILED
        assert gator.len() == 0
    finally:
        gator.backend.close()
