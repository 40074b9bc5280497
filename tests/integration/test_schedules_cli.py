"""``latergator --schedules``: a bad module or store stops it at start with a clear error; a good one runs.

The multi-process proofs (four schedulers, SIGKILLs, every tick once) are in
``tests/reliability/test_schedules_processes.py``. Here, in the integration session: it needs SQLite and the
minimal store installed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from alligator_sqlite import SqliteBackend

HERE = Path(__file__).parent  # the schedule modules; sample_tasks is in tests/


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(HERE.parent), env.get("PYTHONPATH", "")])
    env["ALLIGATOR_ALLOW"] = "sample_tasks"
    return env


def _latergator(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alligator", *argv, "--processes", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
    )


@pytest.mark.parametrize(
    ("module", "message"),
    [
        (
            "bad_schedule_modules",
            "schedule module 'bad_schedule_modules': schedule 'typo': cron='0 25 * * *'",
        ),
        ("no_such_module_here", "schedule module 'no_such_module_here' does not import"),
        ("sample_tasks", "schedule module 'sample_tasks' has no SCHEDULES list"),
    ],
)
def test_a_bad_schedule_module_stops_latergator_at_start_naming_it(
    tmp_path: Path, module: str, message: str
) -> None:
    done = _latergator(f"sqlite:///{tmp_path / 't.db'}", "--schedules", module)
    assert done.returncode == 2, done.stderr
    assert f"latergator: error: --schedules: {message}" in done.stderr


def test_a_store_without_schedules_is_refused_naming_it() -> None:
    done = _latergator("minimal://", "--schedules", "schedule_modules")
    assert done.returncode == 2, done.stderr
    assert "has no Scheduling capability" in done.stderr


def test_latergator_runs_the_schedules_and_says_so(tmp_path: Path) -> None:
    dsn = f"sqlite:///{tmp_path / 't.db'}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "alligator", dsn, "--processes", "1", "--schedules", "every_second_schedules"],
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        backend = SqliteBackend(dsn)
        deadline = time.monotonic() + 120
        while not backend.schedule_records():
            assert time.monotonic() < deadline, "no tick was enqueued"
            time.sleep(0.1)
        [record] = backend.schedule_records()
        assert (record.name, record.queue) == ("every-second", "all")
        backend.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "schedules: every-second (from every_second_schedules)" in err


def _alligator(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alligator.command", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
    )


def test_alligator_schedules_lists_last_and_next_ticks_without_the_module(tmp_path: Path) -> None:
    dsn = f"sqlite:///{tmp_path / 't.db'}"
    backend = SqliteBackend(dsn)
    about = '{"every": 60, "missed": "last", "timezone": "UTC"}'
    assert backend.push_tick("all", "minutely", 1_800_000_000.0, "schedule:minutely:1800000000", "{}", about)
    assert backend.push_tick("q", "planted", 1.0, "schedule:planted:1", "{}", "not json")
    backend.close()
    done = _alligator("schedules", dsn)
    assert done.returncode == 0, done.stderr
    assert "minutely  all    2027-01-15T08:00:00+00:00" in done.stdout
    assert "every 60s, missed=last" in done.stdout
    listed = json.loads(_alligator("schedules", dsn, "--json").stdout)["schedules"]
    assert [(row["name"], row["queue"]) for row in listed] == [("minutely", "all"), ("planted", "q")]
    assert listed[0]["next_tick"] % 60 == 0 and listed[0]["next_tick"] > time.time()
    assert (listed[1]["next"], listed[1]["expression"]) == ("?", "?"), (
        "a planted description is shown as unknown"
    )


def test_alligator_schedules_on_a_store_without_them_says_so() -> None:
    done = _alligator("schedules", "minimal://")
    assert done.returncode == 1
    assert "has no Scheduling capability" in done.stderr


def test_under_a_supervisor_only_the_process_in_slot_0_runs_the_scheduler(tmp_path: Path) -> None:
    dsn = f"sqlite:///{tmp_path / 't.db'}"
    command = [
        sys.executable,
        "-m",
        "alligator",
        dsn,
        "--processes",
        "2",
        "--schedules",
        "every_second_schedules",
    ]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=_env())
    assert proc.stderr is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        backend = SqliteBackend(dsn)
        deadline = time.monotonic() + 120
        # Both children started (their SIGTERM handlers in place) and a tick enqueued.
        while sum("latergator starting in" in line for line in lines) < 2 or not backend.schedule_records():
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.1)
        backend.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
        reader.join(60)
    err = "".join(lines)
    assert proc.returncode == 0, err
    assert err.count("schedules: every-second") == 1, "one scheduler per latergator, not one per process"
