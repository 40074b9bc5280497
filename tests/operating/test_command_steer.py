"""``alligator requeue``, ``delete``, ``purge``, ``cancel``: what they change, and when they refuse."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sample_tasks
from operating_helpers import Alligator, Store, Worker, command_env, wait_for

from alligator.constants import DELAYED, FAILED, SUCCESS


def _dead_letters(store: Store, *ids: str) -> None:
    """Makes dead letters without a worker: each task fails at once, with no retries."""
    gator = store.gator()
    for task_id in ids:
        gator.options(task_id=task_id, retries=0).task(sample_tasks.fails_with, task_id)
        gator.get(task_id)
    assert gator.counts().dead == len(ids)


def test_requeue_one_dead_letter_and_the_worker_runs_it_again(
    store: Store, worker: Worker, alligator: Alligator, tmp_path: Path
) -> None:
    gator = store.gator()
    # It fails until the marker exists, in whichever of the worker's processes
    # runs it: the requeued run, after the marker is made, succeeds.
    marker = tmp_path / "fixed"
    gator.options(task_id="flaky-1", retries=0).task(sample_tasks.fails_until, str(marker))
    wait_for(lambda: gator.status("flaky-1") == FAILED, what=f"a dead letter; worker log:\n{worker.output()}")
    marker.touch()

    ran = alligator("requeue", store.dsn, "--queue", store.queue, "flaky-1", "--yes")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "flaky-1  requeued\n"
    wait_for(lambda: gator.status("flaky-1") == SUCCESS, what=f"the rerun; worker log:\n{worker.output()}")
    assert gator.counts().dead == 0


def test_requeue_all_and_ids_that_are_not_dead_letters(store: Store, alligator: Alligator) -> None:
    _dead_letters(store, "d1", "d2", "d3")
    gator = store.gator()
    some = alligator("requeue", store.dsn, "-q", store.queue, "d1", "nope", "--yes", "--json")
    assert some.returncode == 1, "one id was not a dead letter"
    assert json.loads(some.stdout) == {"queue": store.queue, "count": 1, "done": ["d1"], "missing": ["nope"]}
    assert gator.counts().waiting == 1

    every = alligator("requeue", store.dsn, "-q", store.queue, "--all", "--yes")
    assert every.returncode == 0, every.stderr
    assert every.stdout == f"requeued 2 dead letters of queue '{store.queue}'\n"
    counts = gator.counts()
    assert (counts.waiting, counts.dead) == (3, 0)
    assert [t.task_id for t in gator.tasks("waiting")] == ["d1", "d2", "d3"]


def test_requeue_needs_ids_or_all(store: Store, alligator: Alligator) -> None:
    neither = alligator("requeue", store.dsn, "-q", store.queue, "--yes")
    both = alligator("requeue", store.dsn, "-q", store.queue, "x", "--all", "--yes")
    for ran in (neither, both):
        assert ran.returncode == 2
        assert "requeue takes TASK_ID... or --all" in ran.stderr


def test_delete_and_purge_dead_letters(store: Store, alligator: Alligator) -> None:
    _dead_letters(store, "d1", "d2", "d3")
    gator = store.gator()
    gator.options(task_id="live").task(sample_tasks.add, 1, 1)

    deleted = alligator("delete", store.dsn, "-q", store.queue, "d1", "live", "--yes")
    assert deleted.returncode == 1, "live is not a dead letter"
    assert deleted.stdout.splitlines() == [
        "d1  deleted",
        f"live  not a dead letter of queue '{store.queue}': nothing done",
    ]
    assert gator.status("d1") is None
    assert gator.status("live") is not None

    purged = alligator("purge", store.dsn, "-q", store.queue, "--dead", "--yes", "--json")
    assert purged.returncode == 0, purged.stderr
    assert json.loads(purged.stdout) == {"queue": store.queue, "dead_only": True, "count": 2}
    counts = gator.counts()
    assert (counts.waiting, counts.dead) == (1, 0), "live tasks stay"


def test_purge_without_dead_drops_everything(store: Store, alligator: Alligator) -> None:
    _dead_letters(store, "d1")
    gator = store.gator()
    gator.options(task_id="w").task(sample_tasks.add, 1, 1)
    gator.options(task_id="later", delay_by=600).task(sample_tasks.add, 1, 1)
    ran = alligator("purge", store.dsn, "-q", store.queue, "--yes")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == f"deleted everything queue '{store.queue}' held (3 tasks counted before)\n"
    assert gator.counts().total == 0
    assert store.queue not in gator.queues()


def test_cancel_a_delayed_task(store: Store, alligator: Alligator) -> None:
    gator = store.gator()
    gator.options(task_id="later", delay_by=600).task(sample_tasks.add, 1, 1)
    ran = alligator("cancel", store.dsn, "-q", store.queue, "later", "--yes")
    assert (ran.returncode, ran.stdout) == (0, "later  cancelled\n")
    assert gator.status("later") is None
    again = alligator("cancel", store.dsn, "-q", store.queue, "later", "--yes", "--json")
    assert again.returncode == 1
    assert json.loads(again.stdout) == {"queue": store.queue, "task_id": "later", "cancelled": False}


@pytest.mark.parametrize(
    "argv",
    [
        ["requeue", "--all"],
        ["requeue", "d1"],
        ["delete", "d1"],
        ["purge"],
        ["purge", "--dead"],
        ["cancel", "later"],
    ],
)
def test_without_a_terminal_or_yes_nothing_changes(
    store: Store, alligator: Alligator, argv: list[str]
) -> None:
    _dead_letters(store, "d1")
    gator = store.gator()
    gator.options(task_id="later", delay_by=600).task(sample_tasks.add, 1, 1)
    ran = alligator(argv[0], store.dsn, "--queue", store.queue, *argv[1:], stdin="y\n")
    assert ran.returncode == 2
    assert "there is no terminal to confirm on; pass --yes" in ran.stderr
    assert ran.stdout == ""
    assert (gator.status("d1"), gator.status("later")) == (FAILED, DELAYED)


def _on_a_terminal(argv: list[str], answer: bytes) -> tuple[int, str]:
    """Runs the command with a pseudo-terminal as stdin, answers its question; returns (status, stderr)."""
    main, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "alligator.command", *argv],
        stdin=child,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=command_env(),
    )
    os.close(child)
    try:
        assert process.stderr is not None
        asked = b""
        deadline = time.monotonic() + 60
        while b"[y/N]" not in asked:
            assert time.monotonic() < deadline, asked
            chunk = os.read(process.stderr.fileno(), 1024)
            assert chunk, f"no question asked: {asked!r}"
            asked += chunk
        os.write(main, answer)
        _out, err = process.communicate(timeout=60)
    finally:
        os.close(main)
    return process.returncode, (asked + err).decode()


def test_on_a_terminal_it_asks_first(store: Store) -> None:
    _dead_letters(store, "d1", "d2")
    gator = store.gator()
    status, said = _on_a_terminal(["purge", store.dsn, "-q", store.queue, "--dead"], b"n\n")
    assert status == 1
    assert f"delete all 2 dead letters of queue '{store.queue}' in " in said
    assert "not confirmed; nothing changed" in said
    assert gator.counts().dead == 2

    status, said = _on_a_terminal(["delete", store.dsn, "-q", store.queue, "d1"], b"yes\n")
    assert status == 0, said
    assert gator.status("d1") is None
    assert gator.status("d2") == FAILED
