"""At-least-once with real worker processes: SIGKILL one mid-task, and long tasks.

The workers are ``latergator`` subprocesses that import their tasks from
:mod:`redis_test_tasks` (this folder is put on their ``PYTHONPATH``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis_test_tasks

from alligator import Gator
from alligator.constants import SUCCESS

pytestmark = pytest.mark.redis

HERE = Path(__file__).resolve().parent
_SCRIPT = Path(sys.executable).parent / "latergator"
# The console script where it is installed beside this Python; the module otherwise.
LATERGATOR = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "alligator.cli"]


@pytest.fixture
def gator(redis_url: str) -> Iterator[Gator]:
    gator = Gator(redis_url, queue_name=f"procs-{uuid.uuid4().hex[:8]}", allow=["redis_test_tasks"])
    yield gator
    gator.drop_all()


def start_worker(gator: Gator, *args: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    command = [*LATERGATOR, gator.conn_string, "--queue", gator.queue_name, "--allow", "redis_test_tasks"]
    return subprocess.Popen(
        [*command, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_one_cpu
    )


def _one_cpu() -> None:
    """Run on one CPU: latergator's default there is one plain worker process (no supervisor), so the
    process started is the worker these tests SIGKILL and whose pid the task records."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def wait_for(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_killed_workers_task_runs_elsewhere_after_the_lease(gator: Gator, tmp_path: Path) -> None:
    out = tmp_path / "runs.txt"
    task = gator.task(redis_test_tasks.hang_first_time, str(out), "crash")
    victim = start_worker(gator, "--lease-seconds", "1")
    survivor = None
    try:
        wait_for(lambda: len(lines(out)) == 1, 20, "the first worker to start the task")
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        killed_at = time.monotonic()
        survivor = start_worker(gator, "--lease-seconds", "1")
        wait_for(lambda: gator.status(task.task_id) == SUCCESS, 20, "the task to run again")
        assert time.monotonic() - killed_at < 10
    finally:
        for proc in (victim, survivor):
            if proc is not None:
                stop(proc)
    runs = [line.split() for line in lines(out)]
    assert [token for token, _ in runs] == ["start-crash", "start-crash", "end-crash"]
    assert runs[0][1] == str(victim.pid) and runs[1][1] == str(survivor.pid)


def test_a_long_task_of_a_live_worker_is_not_run_twice(gator: Gator, tmp_path: Path) -> None:
    out = tmp_path / "runs.txt"
    task = gator.task(redis_test_tasks.slow, str(out), "long", 3.0)
    workers = [start_worker(gator, "--lease-seconds", "1") for _ in range(2)]
    try:
        wait_for(lambda: gator.status(task.task_id) == SUCCESS, 30, "the long task to finish")
        time.sleep(1.5)  # another lease period: a second run would have started by now
    finally:
        for proc in workers:
            stop(proc)
    assert [line.split()[0] for line in lines(out)] == ["start-long", "end-long"]
    for proc in workers:
        assert proc.returncode == 0, proc.stderr.read().decode() if proc.stderr else ""
