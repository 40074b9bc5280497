"""``alligator doctor`` on real workers: every thread stuck while tasks wait, and a SIGKILLed worker.

The drills: 136 tasks waiting and every worker thread stuck in one function
for 30-44 s, and doctor said ``OK workers: 2 live workers``; a worker killed
with SIGKILL stayed listed as live for up to 30 s, and doctor counted it.
The default run ages the killed worker's record instead of waiting the
15 s for it; ``nox -s soak`` waits.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sample_tasks
from operating_helpers import Alligator, Worker, command_env, one_cpu, wait_for

from alligator import Gator, capabilities
from alligator.doctor import examine
from alligator.presence import STALE_SECONDS, WORKER_TTL, encode


@pytest.fixture
def dsn(tmp_path: Path) -> str:
    """A SQLite store of the test's own: doctor sees only this test's queues and workers."""
    return f"sqlite:///{tmp_path / 'tasks.db'}"


@pytest.fixture
def start_worker(dsn: str, tmp_path: Path) -> Iterator[Any]:
    """``start_worker(*flags)``: a real latergator on the store; every one is SIGKILLed afterwards."""
    started: list[Worker] = []

    def start(*flags: str) -> Worker:
        log = tmp_path / f"worker-{len(started)}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "alligator", dsn, "--allow", "sample_tasks", *flags],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=command_env(),
                cwd=tmp_path,
                # One CPU: one plain worker process, no supervisor (latergator's
                # default there), so each start is one live worker, killed by its pid.
                preexec_fn=one_cpu(len(started)),
            )
        worker = Worker(process, log)
        started.append(worker)
        wait_for(
            lambda: "latergator starting" in worker.output() or process.poll() is not None,
            what="worker start",
        )
        assert process.poll() is None, worker.output()
        return worker

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait(30)


def _doctor(alligator: Alligator, dsn: str) -> tuple[int, list[dict[str, str]]]:
    ran = alligator("doctor", dsn, "--allow", "sample_tasks", "--json")
    return ran.returncode, json.loads(ran.stdout)["findings"]


def test_every_thread_busy_while_tasks_wait_is_a_warning(
    dsn: str, start_worker: Any, alligator: Alligator
) -> None:
    gator = Gator(dsn, queue_name="jammed", allow=["sample_tasks"], secret=[])
    for n in range(5):
        gator.options(task_id=f"stuck-{n}").task(sample_tasks.sleep_then_record, 600, n)
    worker = start_worker("--queue", "jammed", "--concurrency", "2", "--prefetch", "1")

    def both_threads_listed() -> bool:
        return any(len(info.current) == 2 for info in gator.workers())

    wait_for(both_threads_listed, seconds=60, what=f"a heartbeat with 2 running tasks:\n{worker.output()}")
    status, findings = _doctor(alligator, dsn)
    assert status == 1
    [saturated] = [f for f in findings if f["check"] == "workers" and f["level"] != "ok"]
    assert saturated["level"] == "warning"
    problem = saturated["problem"]
    assert problem.startswith(
        "queue 'jammed' has 3 waiting tasks and every thread of its 1 live worker is busy (2 of 2): "
        "the oldest running task, sample_tasks:sleep_then_record (stuck-"
    ), problem
    assert "2 of the 2 run sample_tasks:sleep_then_record" in problem
    assert "--time-limit" in saturated["what_to_do"]

    # A second worker with free threads takes the rest: nothing waits for a thread any more.
    start_worker("--queue", "jammed", "--concurrency", "8", "--prefetch", "1")
    wait_for(lambda: gator.counts().waiting == 0, seconds=60, what="the second worker to take the rest")
    status, findings = _doctor(alligator, dsn)
    workers = [(f["level"], f["problem"]) for f in findings if f["check"] == "workers"]
    assert workers == [("ok", "2 live workers; no queue waits unconsumed or for a free thread")]
    assert status == 0, findings


def test_a_sigkilled_workers_record_is_reported_stale_not_counted_live(
    dsn: str, start_worker: Any, alligator: Alligator
) -> None:
    """The short form: the killed worker's record is aged by rewriting its last heartbeat
    :data:`STALE_SECONDS` back (through the store's own registry), rather than waited on."""
    _sigkilled_worker_reported_stale(dsn, start_worker, alligator, wait=False)


@pytest.mark.soak
def test_a_sigkilled_workers_record_goes_stale_on_its_own(
    dsn: str, start_worker: Any, alligator: Alligator
) -> None:
    """The long form (``nox -s soak``): doctor is asked until the record is stale by the clock."""
    _sigkilled_worker_reported_stale(dsn, start_worker, alligator, wait=True)


def _sigkilled_worker_reported_stale(dsn: str, start_worker: Any, alligator: Alligator, wait: bool) -> None:
    gator = Gator(dsn, queue_name="orphaned", allow=["sample_tasks"], secret=[])
    worker = start_worker("--queue", "orphaned")
    wait_for(lambda: gator.workers(), seconds=60, what=f"the worker's heartbeat:\n{worker.output()}")
    [info] = gator.workers()
    worker.process.send_signal(signal.SIGKILL)
    worker.process.wait(30)
    gator.task(sample_tasks.add, 1, 2)  # waits for a worker that is gone
    if not wait:
        [now] = gator.workers()  # its last heartbeat, which no process will refresh
        aged = dataclasses.replace(now, heartbeat_at=now.heartbeat_at - STALE_SECONDS - 1)
        capabilities.registry(gator.backend).heartbeat(info.worker_id, encode(aged), WORKER_TTL)

    def stale() -> list[Any]:
        found = [f for f in examine(dsn, environ={}) if "stale" in f.problem]
        if not found:
            time.sleep(0.5)  # each look opens the store: a heartbeat is missed in seconds, not less
        return found

    wait_for(stale, seconds=WORKER_TTL + 30, what="doctor to call the killed worker's record stale")
    status, findings = _doctor(alligator, dsn)
    assert status == 1
    problems = {f["problem"]: f["level"] for f in findings if f["check"] == "workers"}
    [(stale_problem, level)] = [(p, lvl) for p, lvl in problems.items() if p.startswith("1 worker record")]
    assert level == "warning"
    assert stale_problem.startswith(
        f"1 worker record is stale, not counted as live (no heartbeat for more than {STALE_SECONDS:g}s): "
        f"{info.worker_id} (last heartbeat "
    ), stale_problem
    assert (
        problems[
            "queue 'orphaned' has 1 waiting task and no live worker consuming it "
            "(1 stale worker record for it: see above)"
        ]
        == "warning"
    )
    assert gator.workers(), "the store still lists the record: doctor, not the store, calls it stale"
    # The listings say so too, rather than showing a killed worker as live.
    listed = alligator("workers", dsn)
    assert "0 live workers, 1 stale (no heartbeat for over" in listed.stdout, listed.stdout
    assert "(stale)" in listed.stdout
    [record] = json.loads(alligator("workers", dsn, "--json").stdout)["workers"]
    assert record["worker_id"] == info.worker_id and record["stale"] is True
    assert "0 live workers, 1 stale" in alligator("info", dsn).stdout


def test_a_paused_queues_waiting_tasks_are_no_stall(dsn: str, alligator: Alligator) -> None:
    """Paused on purpose (alligator pause): its waiting tasks are reported, not failed on."""
    gator = Gator(dsn, queue_name="held", allow=["sample_tasks"], secret=[])
    gator.task(sample_tasks.add, 1, 2)
    gator.pause()
    status, findings = _doctor(alligator, dsn)
    workers = [(f["level"], f["problem"]) for f in findings if f["check"] == "workers"]
    assert workers == [("info", "queue 'held' is paused: its 1 waiting task stays until it is resumed")]
    assert status == 0
    gator.resume()
    status, findings = _doctor(alligator, dsn)
    assert status == 1, "resumed, the task waits for a worker that is not there"
