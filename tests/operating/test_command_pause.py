"""``alligator pause`` / ``resume`` against real ``latergator`` processes on SQLite and Redis.

The command runs as the installed console script; the worker is the
installed ``latergator``. The tasks are ``pause_tasks``' functions, which no
other test queues: a paused function is paused for the whole store, and the
Redis store here is shared. Every pause made is resumed afterwards.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pause_tasks
import pytest
from operating_helpers import Alligator, Store, command_env, wait_for

from alligator import Gator
from alligator.constants import DELAYED, SUCCESS, WAITING

#: The worker's console script, beside this interpreter.
LATERGATOR = Path(sys.executable).with_name("latergator")
#: How long paused work is watched staying put while the worker runs (seconds).
WATCH = 4.0


@pytest.fixture
def gator(store: Store) -> Iterator[Gator]:
    """A gator on the store's queue allowed to queue ``pause_tasks``; every pause resumed afterwards."""
    made = Gator(store.dsn, queue_name=store.queue, allow=["pause_tasks"], secret=[])
    yield made
    made.resume(queue=store.queue)
    made.resume(function=pause_tasks.held)
    made.resume(function=pause_tasks.note)
    made.backend.close()


@pytest.fixture
def start_worker(store: Store, tmp_path: Path) -> Iterator[object]:
    """Starts a real ``latergator`` on the store's queue, allowed ``pause_tasks``; stopped after the test."""
    started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start() -> Path:
        log = tmp_path / f"worker-{len(started)}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [str(LATERGATOR), store.dsn, "--queue", store.queue, "--allow", "pause_tasks"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=command_env(),
                cwd=tmp_path,
            )
        started.append((process, log))
        wait_for(
            lambda: "latergator starting" in log.read_text() or process.poll() is not None,
            what="worker start",
        )
        assert process.poll() is None, log.read_text()
        return log

    yield start
    for process, _ in started:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _ran(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_a_paused_queue_waits_untouched_while_the_worker_runs_then_runs_once_resumed(
    store: Store, gator: Gator, alligator: Alligator, start_worker: object, tmp_path: Path
) -> None:
    done = tmp_path / "ran.txt"
    paused = alligator("pause", store.dsn, "--queue", store.queue)
    assert paused.returncode == 0, paused.stderr
    assert paused.stdout == f"queue '{store.queue}' paused: workers leave its tasks waiting\n"
    assert (
        alligator("pause", store.dsn, "-q", store.queue).stdout
        == f"queue '{store.queue}' was paused already\n"
    )
    log = start_worker()  # type: ignore[operator]
    for n in range(3):
        gator.options(task_id=f"t{n}").task(pause_tasks.note, str(done), f"t{n}")

    time.sleep(WATCH)  # the worker runs meanwhile, reading the pauses about once a second
    assert _ran(done) == []
    assert [(t.task_id, t.attempts) for t in gator.tasks("waiting")] == [("t0", 0), ("t1", 0), ("t2", 0)]
    listing = alligator("pause", store.dsn, "--json")
    assert {"kind": "queue", "name": store.queue} in json.loads(listing.stdout)["paused"]
    info = alligator("info", store.dsn, "--json")
    [row] = [q for q in json.loads(info.stdout)["queues"] if q["name"] == store.queue]
    assert (row["paused"], row["waiting"]) == (True, 3)
    text = alligator("info", store.dsn)
    assert f"queue '{store.queue}'" in next(line for line in text.lines() if line.startswith("paused: "))

    resumed = alligator("resume", store.dsn, "--queue", store.queue)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout == f"queue '{store.queue}' resumed\n"
    wait_for(lambda: len(_ran(done)) == 3, what=f"the resumed queue to run; worker log:\n{log.read_text()}")
    # Each once; in any order, as the worker's processes and threads finish them.
    assert sorted(_ran(done)) == ["t0", "t1", "t2"]
    again = alligator("resume", store.dsn, "--queue", store.queue)
    assert (again.returncode, again.stdout) == (0, f"queue '{store.queue}' was not paused: nothing done\n")


def test_a_paused_function_waits_while_the_others_of_its_queue_run(
    store: Store, gator: Gator, alligator: Alligator, start_worker: object, tmp_path: Path
) -> None:
    done = tmp_path / "ran.txt"
    paused = alligator("pause", store.dsn, "--function", "pause_tasks:held", "--json")
    assert paused.returncode == 0, paused.stderr
    assert json.loads(paused.stdout) == {
        "changed": True,
        "kind": "function",
        "name": "pause_tasks:held",
        "paused": True,
    }
    log = start_worker()  # type: ignore[operator]
    for n in range(2):
        gator.options(task_id=f"held-{n}").task(pause_tasks.held, str(done), f"held-{n}")
        gator.options(task_id=f"runs-{n}").task(pause_tasks.note, str(done), f"runs-{n}")

    wait_for(lambda: len(_ran(done)) == 2, what=f"the other function's tasks; worker log:\n{log.read_text()}")
    time.sleep(WATCH)
    assert sorted(_ran(done)) == ["runs-0", "runs-1"], "the paused function did not run"
    for n in range(2):
        assert gator.status(f"held-{n}") in (WAITING, DELAYED)
    listed = gator.tasks("waiting") + gator.tasks("delayed")
    assert sorted((t.task_id, t.attempts, t.failures) for t in listed) == [
        ("held-0", 0, 0),
        ("held-1", 0, 0),
    ], "set aside without counting an attempt"
    assert gator.counts().dead == 0

    resumed = alligator("resume", store.dsn, "-f", "pause_tasks:held")
    assert resumed.stdout == "function 'pause_tasks:held' resumed\n"
    wait_for(
        lambda: all(gator.status(f"held-{n}") == SUCCESS for n in range(2)),
        what=f"the resumed function to run; worker log:\n{log.read_text()}",
    )
    assert sorted(_ran(done)) == ["held-0", "held-1", "runs-0", "runs-1"]
    assert gator.counts().dead == 0


def test_pause_and_resume_refuse_what_they_cannot_name(store: Store, alligator: Alligator) -> None:
    for args, says in [
        (("pause", "--function", "held"), "'module:name'"),
        (("pause", "--queue", "q", "--function", "m:f"), "one of them"),
        (("resume",), "resume takes --queue Q or --function MODULE:NAME"),
    ]:
        ran = alligator(args[0], store.dsn, *args[1:])
        assert ran.returncode == 2, ran
        assert says in ran.stderr
    nothing = alligator("pause", store.dsn, "--json")
    assert nothing.returncode == 0
    assert {"kind": "function", "name": "held"} not in json.loads(nothing.stdout)["paused"]
