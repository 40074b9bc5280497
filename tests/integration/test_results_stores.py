"""Results on the real stores: locmem and a SQLite file, through Gator and a Worker.

``test_results.py`` checks the core on a result store of its own; these check
that what the core sends with the ack comes back from each real backend
(results kept by ``ack_results``, read by ``finished``, waited for by
``wait_finished``), and that a result's time to live is the backend's clock.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import results_tasks

from alligator import Gator, Worker, capabilities
from alligator.constants import SUCCESS
from alligator.exceptions import ResultTimeout, TaskFailed, TaskNotFound

TESTS = Path(__file__).resolve().parents[1]  # tests/, where results_tasks lives


@pytest.fixture(params=["locmem", "sqlite"])
def dsn(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "locmem":
        return f"locmem://results-{uuid.uuid4().hex}"
    return f"sqlite:///{tmp_path / 'results.db'}"


@pytest.fixture
def gator(dsn: str) -> Iterator[Gator]:
    g = Gator(dsn, queue_name=f"q-{uuid.uuid4().hex[:8]}", allow=["results_tasks"])
    yield g
    g.drop_all()
    g.backend.close()


def test_the_store_keeps_results(gator: Gator) -> None:
    assert capabilities.supports(gator.backend, capabilities.Results)


def test_a_value_round_trips_through_the_store(gator: Gator) -> None:
    task = gator.task(results_tasks.give, {"totals": [1, 2.5, "three", None, True]})
    gator.pop()
    assert gator.result(task.task_id) == {"totals": [1, 2.5, "three", None, True]}
    assert task.wait(1) == {"totals": [1, 2.5, "three", None, True]}
    assert gator.status(task.task_id) == SUCCESS


def test_store_result_false_keeps_nothing(gator: Gator) -> None:
    task = gator.options(store_result=False).task(results_tasks.add, 1, 2)
    gator.pop()
    assert gator.status(task.task_id) == SUCCESS
    assert gator.result(task.task_id) is None


def test_a_failure_raises_with_the_dead_letters_reason(gator: Gator) -> None:
    task = gator.task(results_tasks.fail, "disk full")
    gator.pop()
    with pytest.raises(TaskFailed) as caught:
        task.wait(1)
    assert caught.value.reason == gator.dead_letters()[0].reason
    assert "RuntimeError: disk full" in caught.value.reason


def test_a_non_json_return_is_a_failure_on_the_store(gator: Gator) -> None:
    task = gator.options(retries=2).task(results_tasks.give_set)
    gator.pop()
    with pytest.raises(
        TaskFailed, match=r"returned a value JSON cannot carry: the return value is a builtins\.set"
    ):
        gator.result(task.task_id)
    assert gator.len() == 0  # not retried


def test_pending_and_unknown(gator: Gator) -> None:
    task = gator.task(results_tasks.add, 1, 2)
    with pytest.raises(ResultTimeout, match="waiting"):
        gator.result(task.task_id)
    with pytest.raises(ResultTimeout, match=r"after 0\.1s"):
        gator.result(task.task_id, timeout=0.1)
    with pytest.raises(TaskNotFound):
        gator.result("never-queued")


def test_a_waiting_caller_gets_the_value_once_the_task_runs(gator: Gator) -> None:
    task = gator.task(results_tasks.add, 20, 22)
    runner = threading.Timer(0.2, gator.pop)
    runner.start()
    try:
        assert task.wait(60) == 42
    finally:
        runner.join(60)


def test_wait_chains_with_a_worker_in_a_thread(gator: Gator) -> None:
    worker = Worker(gator, nap_time=0.01)
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    try:
        assert gator.task(results_tasks.add, 1, 2).wait(60) == 3
        assert [gator.task(results_tasks.add, n, n).wait(60) for n in range(3)] == [0, 2, 4]
    finally:
        worker.stop()
        thread.join(60)
    assert not thread.is_alive()


def test_a_result_outlives_neither_its_ttl_nor_the_backends_clock(gator: Gator) -> None:
    now = [time.time()]
    gator.backend.clock = lambda: now[0]
    short = gator.options(result_ttl=10).task(results_tasks.add, 1, 1)
    gator.pop()
    long = gator.options(result_ttl=100).task(results_tasks.add, 2, 2)
    gator.pop()
    now[0] += 5
    assert (gator.result(short.task_id), gator.result(long.task_id)) == (2, 4)
    now[0] += 10  # 15 s on: past the first's TTL, within the status TTL (an hour)
    assert gator.result(short.task_id) is None
    assert gator.result(long.task_id) == 4


def test_a_producer_waits_on_a_latergator_process(tmp_path: Path) -> None:
    dsn = f"sqlite:///{tmp_path / 'tasks.db'}"
    gator = Gator(dsn, queue_name="numbers", allow=["results_tasks"])
    # This interpreter and its path, so the worker runs the code under test.
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from alligator.cli import main; sys.exit(main())",
            dsn,
            "--queue",
            "numbers",
            "--max-tasks",
            "3",
            "--path",
            str(TESTS),
            "--allow",
            "results_tasks",
            "--nap-time",
            "0.05",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert gator.task(results_tasks.add, 1, 2).wait(120) == 3
        assert gator.options(result_ttl=60).task(results_tasks.give, {"a": [1]}).wait(120) == {"a": [1]}
        with pytest.raises(TaskFailed, match="RuntimeError: in a process"):
            gator.task(results_tasks.fail, "in a process").wait(120)
        output, _ = worker.communicate(timeout=120)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
        gator.backend.close()
    assert worker.returncode == 0, output
