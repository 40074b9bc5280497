"""A newcomer's snags with ``alligator`` (issue 17, point 7), run as a user runs the command.

Task ids here are unique to each test: a lookup by id searches every queue
of the store, and the shared Redis holds other tests' queues at once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis
import sample_tasks
from operating_helpers import Alligator, Store, Worker, command_env, wait_for

from alligator import Gator
from alligator.constants import FAILED, SUCCESS

#: The console scripts beside this interpreter, as a user runs them.
SCRIPT = Path(sys.executable).with_name("alligator")


def _id(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}"


def test_show_result_and_cancel_find_a_task_in_any_queue(
    store: Store, worker: Worker, alligator: Alligator
) -> None:
    # Issue 17, 7.3: without -q they looked in queue 'all' only and said "no task".
    gator = store.gator()
    done, waiting = _id("done"), _id("waiting")
    gator.options(task_id=done).task(sample_tasks.add, 1, 2)
    other = store.queue + "-other"
    store.gator(other).options(task_id=waiting).task(sample_tasks.add, 2, 3)
    wait_for(lambda: gator.status(done) == SUCCESS, what=f"the worker to run it:\n{worker.output()}")

    # The worker's queue holds nothing now: found through the live worker's queues.
    shown = alligator("show", store.dsn, done)
    assert shown.returncode == 0, shown.stderr
    assert shown.fields()["queue"] == store.queue
    assert shown.fields()["status"] == "success"
    result = alligator("result", store.dsn, done)
    assert (result.returncode, result.stdout) == (0, "3\n"), result.stderr
    as_json = json.loads(alligator("result", store.dsn, done, "--json").stdout)
    assert (as_json["queue"], as_json["result"]) == (store.queue, 3)

    # A queue nobody consumes: found through the store's list of queues.
    elsewhere = alligator("show", store.dsn, waiting, "--json")
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert (json.loads(elsewhere.stdout)["queue"], json.loads(elsewhere.stdout)["status"]) == (
        other,
        "waiting",
    )
    cancelled = alligator("cancel", store.dsn, waiting, "--yes")
    assert cancelled.returncode == 0, cancelled.stderr
    assert store.gator(other).status(waiting) is None

    # -q still means that queue only.
    pinned = alligator("show", store.dsn, done, "-q", other)
    assert pinned.returncode == 1
    assert f"no task '{done}' in queue '{other}'" in pinned.stderr


def test_show_and_result_find_a_task_whose_queue_holds_nothing_else(
    store: Store, alligator: Alligator
) -> None:
    # No worker runs and the queue is empty once the task ran: queues() does
    # not list it, finished_queues() does.
    queue = store.queue + "-other"
    gator = store.gator(queue)
    done = _id("done")
    gator.options(task_id=done).task(sample_tasks.add, 2, 2)
    assert gator.pop() is not None
    shown = alligator("show", store.dsn, done)
    assert shown.returncode == 0, shown.stderr
    assert (shown.fields()["queue"], shown.fields()["status"]) == (queue, "success")
    result = alligator("result", store.dsn, done)
    assert (result.returncode, result.stdout) == (0, "4\n"), result.stderr


def test_an_id_found_nowhere_says_any_queue(store: Store, alligator: Alligator) -> None:
    missing = _id("missing")
    for command in ("show", "result"):
        ran = alligator(command, store.dsn, missing)
        assert ran.returncode == 1
        assert f"no task '{missing}' in any queue" in ran.stderr


def test_an_id_in_two_queues_asks_for_the_queue(store: Store, alligator: Alligator) -> None:
    twice = _id("twice")
    store.gator().options(task_id=twice).task(sample_tasks.add, 1, 1)
    store.gator(store.queue + "-other").options(task_id=twice).task(sample_tasks.add, 1, 1)
    ran = alligator("show", store.dsn, twice)
    assert ran.returncode == 2
    assert f"task '{twice}' is in several queues" in ran.stderr
    assert "give --queue" in ran.stderr


def test_show_a_dead_letter_gives_its_attempts_without_a_count_of_failures_it_does_not_keep(
    store: Store, worker: Worker, alligator: Alligator
) -> None:
    # Issue 17, 7.10: a failed task showed "attempts 1 (0 failed)".
    gator = store.gator()
    bad = _id("bad")
    gator.options(task_id=bad, retries=0).task(sample_tasks.fails_with, "boom")
    wait_for(lambda: gator.status(bad) == FAILED, what=f"the worker to run it:\n{worker.output()}")
    ran = alligator("show", store.dsn, bad)
    assert ran.returncode == 0, ran.stderr
    assert ran.fields()["attempts"] == "1"
    data = json.loads(alligator("show", store.dsn, bad, "--json").stdout)
    assert (data["attempts"], data["failures"]) == (1, None)


def test_a_reader_that_stops_reading_is_no_store_failure(tmp_path: Path) -> None:
    # Issue 17, 7.4: "alligator ... | head -2" said "the store ... failed: BrokenPipeError".
    dsn = f"sqlite:///{tmp_path / 'tasks.db'}"
    gator = Gator(dsn, allow=["sample_tasks"], secret=[])
    with gator.batch() as batch:
        for n in range(3000):
            batch.task(sample_tasks.echo, "x" * 40, n)
    gator.backend.close()
    process = subprocess.Popen(
        [str(SCRIPT), "tasks", dsn, "--limit", "3000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=command_env(),
    )
    assert process.stdout is not None and process.stderr is not None
    first = [process.stdout.readline() for _ in range(2)]
    assert first[0].startswith(b"TASK"), first
    process.stdout.close()  # as head does after two lines
    stderr = process.stderr.read()
    code = process.wait(timeout=120)
    assert stderr == b""
    assert code == 141, "128 + SIGPIPE, as a shell reports a command a closed pipe stopped"


def test_dashboard_takes_the_password_its_refusal_asks_for_and_no_json(
    alligator: Alligator, tmp_path: Path
) -> None:
    # Issue 17, 7.7: --password was "unrecognized", and --json was listed.
    dsn = f"sqlite:///{tmp_path / 'tasks.db'}"
    refused = alligator("dashboard", dsn, "--bind", "0.0.0.0:0")
    assert refused.returncode == 2
    assert "give --password" in refused.stderr
    short = alligator("dashboard", dsn, "--bind", "0.0.0.0:0", "--password", "short")
    assert short.returncode == 2
    assert "with a password of 5 characters" in short.stderr, "the password reached the dashboard"

    helped = alligator("dashboard", "--help")
    assert helped.returncode == 0
    assert "--json" not in helped.stdout
    assert "--password" in helped.stdout
    assert "ps" in helped.stdout.split("--password", 1)[1], "the help says ps shows a command line"
    assert alligator("dashboard", dsn, "--json").returncode == 2

    log = tmp_path / "dashboard.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(SCRIPT), "dashboard", dsn, "--bind", "127.0.0.1:0", "--password", "a-long-password-1"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=command_env(),
        )
    try:
        wait_for(
            lambda: "password required" in log.read_text() or process.poll() is not None,
            what="the dashboard to start",
        )
        assert process.poll() is None, log.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
    assert code == 0, log.read_text()


LATERGATOR = SCRIPT.with_name("latergator")
#: A database the shared server does not have (it has 16).
NO_SUCH_DB = "redis://127.0.0.1:6379/99"


def _redis() -> redis.Redis:
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0", decode_responses=True)
    try:
        client.ping()
    except redis.ConnectionError as err:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no Redis on 127.0.0.1:6379: {err}")
    return client


def test_latergator_stops_at_start_when_the_store_refuses_for_good(tmp_path: Path) -> None:
    # Issue 17, 7.10: "DB index is out of range" was retried for ever, like an outage.
    _redis()
    done = subprocess.run(
        [str(LATERGATOR), NO_SUCH_DB, "--allow", "sample_tasks"],
        capture_output=True,
        text=True,
        timeout=120,
        env=command_env(),
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert "DB index is out of range; retrying cannot help" in done.stderr
    assert "fix the /DB number of the DSN" in done.stderr


def test_the_command_calls_a_refusal_for_good_a_configuration_error(alligator: Alligator) -> None:
    _redis()
    ran = alligator("info", NO_SUCH_DB)
    assert ran.returncode == 2
    assert ran.stderr.startswith("alligator: error: Redis at redis://127.0.0.1:6379/99 refuses to ")
    assert "DB index is out of range; retrying cannot help" in ran.stderr


def test_a_running_worker_whose_credentials_stop_working_stops_with_the_reason(tmp_path: Path) -> None:
    # The user is deleted under a running worker: its connections are dropped,
    # and reconnecting fails with WRONGPASS, which no wait can fix.
    client = _redis()
    user, password = f"alligator-test-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    client.execute_command("ACL", "SETUSER", user, "on", f">{password}", "~*", "&*", "+@all")
    log = tmp_path / "worker.log"
    try:
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [
                    str(LATERGATOR),
                    f"redis://{user}:{password}@127.0.0.1:6379/0",
                    "--queue",
                    _id("acl"),
                    "--allow",
                    "sample_tasks",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=command_env(),
                cwd=tmp_path,
            )
        wait_for(
            lambda: "latergator starting" in log.read_text() or process.poll() is not None, what="the start"
        )
        client.execute_command("ACL", "DELUSER", user)
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"the worker kept retrying: {log.read_text()}") from None
    finally:
        client.execute_command("ACL", "DELUSER", user)
        client.close()
    output = log.read_text()
    assert code == 2, output
    assert "retrying cannot help: fix the user and password in the DSN" in output
    assert password not in output


def test_tasks_lists_the_succeeded_tasks_with_their_results(
    store: Store, worker: Worker, alligator: Alligator
) -> None:
    # Issue 17, 7.9: there was no state to list finished tasks in (RQ and Flower show them).
    gator = store.gator()
    first, second = _id("first"), _id("second")
    gator.options(task_id=first).task(sample_tasks.add, 1, 2)
    wait_for(lambda: gator.status(first) == SUCCESS, what=f"the worker to run it:\n{worker.output()}")
    gator.options(task_id=second).task(sample_tasks.echo, "hi")
    wait_for(lambda: gator.status(second) == SUCCESS, what=f"the worker to run it:\n{worker.output()}")
    ran = alligator("tasks", store.dsn, "-q", store.queue, "--state", "succeeded", "--json")
    assert ran.returncode == 0, ran.stderr
    listed = [(t["task_id"], t["result"]) for t in json.loads(ran.stdout)["tasks"]]
    assert listed == [(second, {"args": ["hi"], "kwargs": {}}), (first, 3)]
    table = alligator("tasks", store.dsn, "-q", store.queue, "--state", "succeeded")
    assert table.returncode == 0, table.stderr
    assert table.row(first)[-1] == "3"
    assert table.lines()[-1] == f"succeeded tasks of queue '{store.queue}', newest first: 1-2"
