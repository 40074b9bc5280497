"""``latergator --metrics-port``: a real worker, one process and under a supervisor, scraped over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dashboard_tasks
import pytest
from test_metrics import scrape, value

from alligator import Gator

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(dsn: str, *extra: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen(
        [sys.executable, "-m", "alligator", dsn, "--queue", "metered", "--allow", "dashboard_tasks", *extra],
        env=env,
        cwd=HERE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def scrape_until(
    port: int, done: dict[str, float], deadline: float
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Scrapes until every ``name`` has at least its value (summed over labels), or the deadline."""
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    while time.monotonic() < deadline:
        try:
            values = scrape(port)
        except OSError:
            time.sleep(0.2)
            continue
        totals = {name: sum(v for (n, _), v in values.items() if n == name) for name in done}
        if all(totals[name] >= wanted for name, wanted in done.items()):
            return values
        time.sleep(0.2)
    return values


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


@pytest.mark.parametrize("processes", [None, 2], ids=["one-process", "processes-2"])
def test_latergator_serves_counts_of_what_it_ran(tmp_path: Path, processes: int | None) -> None:
    dsn = f"sqlite:///{tmp_path / 'tasks.db'}"
    gator = Gator(dsn, queue_name="metered", allow=["dashboard_tasks"])
    for n in range(6):
        gator.task(dashboard_tasks.slow, 0.0, n)
    for _ in range(2):
        gator.options(retries=0).task(dashboard_tasks.always_fails, "for good")
    port = free_port()
    extra = ["--metrics-port", str(port), "--nap-time", "0.05"]
    if processes:
        extra += ["--processes", str(processes)]
    proc = start(dsn, *extra)
    try:
        values = scrape_until(
            port,
            {"alligator_tasks_succeeded_total": 6, "alligator_tasks_dead_lettered_total": 2},
            time.monotonic() + 120,
        )
    finally:
        out = stop(proc)
    assert proc.returncode == 0, out
    slow = {"queue": "metered", "function": "dashboard_tasks:slow"}
    fails = {"queue": "metered", "function": "dashboard_tasks:always_fails"}
    assert value(values, "alligator_tasks_started_total", **slow) == 6, out
    assert value(values, "alligator_tasks_succeeded_total", **slow) == 6, out
    assert value(values, "alligator_tasks_dead_lettered_total", **fails) == 2, out
    assert value(values, "alligator_tasks_failed_total", **fails) == 2, out
    assert value(values, "alligator_task_duration_seconds_count", **slow) == 6, out
    assert gator.counts().dead == 2


def test_a_taken_port_stops_latergator_with_status_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = start(f"sqlite:///{tmp_path / 'tasks.db'}", "--metrics-port", str(port))
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2, out
    assert f"--metrics-port {port}" in out
