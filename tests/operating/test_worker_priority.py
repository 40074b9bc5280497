"""Priorities on SQLite and Redis (issue 22): latergator runs the highest first, the command lists them so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import sample_tasks
from operating_helpers import Alligator, Store, command_env, wait_for

from alligator.constants import WAITING

LATERGATOR = Path(sys.executable).with_name("latergator")

#: (label, priority) of the backlog, in the order it is queued.
BACKLOG = [
    ("zero-1", 0),
    ("low-1", -10),
    ("high-1", 50),
    ("zero-2", 0),
    ("top", 100),
    ("high-2", 50),
    ("low-2", -10),
    ("bottom", -100),
]


def test_a_worker_at_concurrency_1_runs_a_backlog_in_priority_order(store: Store, tmp_path: Path) -> None:
    ran = tmp_path / "ran.txt"
    gator = store.gator()
    try:
        with gator.batch() as batch:
            batch.task(sample_tasks.append_label, str(ran), "batch-zero")
        for label, priority in BACKLOG:
            with gator.options(priority=priority) as opts:
                opts.task(sample_tasks.append_label, str(ran), label)
        with gator.batch(priority=7) as batch:
            batch.task(sample_tasks.append_label, str(ran), "batch-seven")
        total = len(BACKLOG) + 2
        log = tmp_path / "worker.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [
                    *(str(LATERGATOR), store.dsn, "--queue", store.queue, "--allow", "sample_tasks"),
                    *("--concurrency", "1", "--max-tasks", str(total)),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=command_env(),
                cwd=tmp_path,
            )
        try:
            assert process.wait(120) == 0, log.read_text(errors="replace")
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
        wait_for(lambda: ran.exists() and len(ran.read_text().split()) == total, what="every task run")
        assert ran.read_text().split() == [
            "top",
            "high-1",
            "high-2",
            "batch-seven",
            "batch-zero",
            "zero-1",
            "zero-2",
            "low-1",
            "low-2",
            "bottom",
        ]
    finally:
        gator.backend.close()


def test_the_command_lists_waiting_tasks_in_reservation_order_with_their_priority(
    store: Store, alligator: Alligator
) -> None:
    gator = store.gator()
    try:
        for task_id, priority in (("plain", 0), ("later", 9), ("low", -9), ("first", 90)):
            with gator.options(task_id=task_id, priority=priority) as opts:
                opts.task(sample_tasks.noop)
    finally:
        gator.backend.close()
    listed = alligator("tasks", store.dsn, "--queue", store.queue)
    assert listed.row("TASK")[:5] == ["TASK", "CALL", "ATTEMPTS", "PRIORITY", "DUE"]
    rows = [line.split() for line in listed.lines()[1:5]]
    assert [(row[0], row[3]) for row in rows] == [
        ("first", "90"),
        ("later", "9"),
        ("plain", "0"),
        ("low", "-9"),
    ]
    data = json.loads(alligator("tasks", store.dsn, "--queue", store.queue, "--json").stdout)
    assert [(t["task_id"], t["priority"]) for t in data["tasks"]] == [
        ("first", 90),
        ("later", 9),
        ("plain", 0),
        ("low", -9),
    ]


def test_a_task_whose_worker_was_killed_runs_again_at_its_priority(store: Store, tmp_path: Path) -> None:
    ran, marker = tmp_path / "ran.txt", tmp_path / "first-run"
    gator = store.gator()
    try:
        with gator.options(task_id="high", priority=50) as opts:
            opts.task(sample_tasks.append_label_first_run_sleeps, str(ran), "high", str(marker), 120.0)
        for task_id, priority in (("zero", 0), ("low", -5)):
            with gator.options(task_id=task_id, priority=priority) as opts:
                opts.task(sample_tasks.append_label, str(ran), task_id)
        # --max-tasks: one worker process, no supervisor, so SIGKILL ends every thread of it.
        first = _latergator(
            store, tmp_path / "first.log", "--max-tasks", "9", "--prefetch", "1", "--lease-seconds", "2"
        )
        try:
            wait_for(lambda: marker.exists(), what="the high task to start")
        finally:
            first.kill()  # SIGKILL: the lease is left to end
            first.wait(30)
        wait_for(lambda: gator.status("high") == WAITING, what="the lease to end")
        second = _latergator(store, tmp_path / "second.log", "--max-tasks", "3")
        assert second.wait(120) == 0, (tmp_path / "second.log").read_text(errors="replace")
        assert ran.read_text().split() == ["high", "high", "zero", "low"], "re-delivered at its priority"
    finally:
        gator.backend.close()


def _latergator(store: Store, log: Path, *args: str) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [
                *(str(LATERGATOR), store.dsn, "--queue", store.queue, "--allow", "sample_tasks"),
                *("--concurrency", "1", *args),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=command_env(),
            cwd=log.parent,
        )
