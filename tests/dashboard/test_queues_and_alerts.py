"""Which queues every view lists, and what the overview warns of, with real processes (issue 17, 7.8).

- A queue disappeared from ``alligator info``, the dashboard and ``/metrics``
  as soon as it was empty, though a worker consumed it: the known queues are
  now the store's and the live workers' (:func:`alligator.presence.known_queues`).
- A queue with waiting tasks and no worker was not flagged; the overview now
  marks its row and shows what ``alligator doctor`` finds, as alerts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from servers import HERE, WAIT, Client, running_dashboard

from alligator import Gator
from alligator.dashboard.alerts import Doctor
from alligator.doctor import Finding


def wait_for(condition: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"waited {WAIT} s for {what}")


def test_an_empty_queue_a_live_worker_consumes_stays_listed_and_an_unconsumed_one_is_flagged(
    tmp_path: Path,
) -> None:
    dsn = f"sqlite:///{tmp_path / 'tasks.db'}"
    stalled = Gator(dsn, queue_name="stalled", allow=["builtins"])
    for n in range(3):
        stalled.task(abs, -n)
    path = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path)
    worker = subprocess.Popen(
        [sys.executable, "-m", "alligator", dsn, "--queue", "idle", "--allow", "dashboard_tasks"],
        cwd=HERE,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: stalled.workers(), "the worker's first heartbeat")
        assert "idle" not in stalled.queues()  # the store alone lists no empty queue
        info = subprocess.run(
            [sys.executable, "-m", "alligator.command", "info", dsn],
            capture_output=True,
            text=True,
            timeout=WAIT,
            env=env,
        )
        assert info.returncode == 0, info.stderr
        assert any(line.split()[:2] == ["idle", "0"] for line in info.stdout.splitlines()), info.stdout
        with running_dashboard(dsn) as url:
            client = Client(url)
            _, _, page = client.request("")
            assert '<tr data-queue="idle">' in page
            assert '<tr data-queue="stalled" class="unconsumed">' in page and "no live worker" in page
            _, _, metrics = client.request("metrics")
            assert 'alligator_queue_tasks{queue="idle",state="waiting"} 0.0' in metrics
            # doctor's finding, as an alert (its checks run in the background, a moment later).

            def alerted() -> str:
                body = client.request("partials/overview")[2]
                return body if 'data-check="workers"' in body else ""

            alert = wait_for(alerted, "doctor's alert")
            assert "queue &#39;stalled&#39; has 3 waiting tasks and no live worker consuming it" in alert
    finally:
        worker.terminate()
        worker.wait(timeout=WAIT)


def test_a_storm_of_requests_runs_doctors_checks_once() -> None:
    runs: list[float] = []
    release = threading.Event()

    def examine(dsn: str) -> list[Any]:
        runs.append(time.monotonic())
        release.wait(WAIT)
        return [Finding("warning", "workers", "queue 'q' has 1 waiting task and no live worker consuming it")]

    doctor = Doctor("locmem://storm", every=3600, examine=examine)
    answers: list[Any] = []
    threads = [threading.Thread(target=lambda: answers.append(doctor.checkup())) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT)
    assert len(answers) == 50 and all(a.at == 0 for a in answers)  # nobody waited for the checks
    release.set()
    wait_for(lambda: doctor.checkup().at > 0, "the checks to end")
    assert len(runs) == 1
    assert [f.check for f in doctor.checkup().alerts] == ["workers"]
