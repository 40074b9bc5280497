"""What ``alligator`` never does: pass a hostile payload's escapes to the terminal, show a password.

And how it takes its DSN, and how it says a usage error.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sample_tasks
from operating_helpers import Alligator, Store, command_env
from redis_servers import free_port

#: Terminal control sequences a hostile writer of the store may plant.
ESC = "\x1b"
BEL = "\x07"
CLEAR = "\x1b[2J\x1b[H"
TITLE = "\x1b]0;owned\x07"


def _plant(store: Store) -> str:
    """Writes hostile records straight into the store (as anyone who can write to it could)."""
    backend = store.gator().backend
    queue = store.queue
    evil_json = json.dumps(
        {
            "v": 1,
            "task_id": "j",
            "module": f"mod{CLEAR}",
            "callable": f"fn{TITLE}",
            "args": [f"{CLEAR}red\x1b[31m"],
            "kwargs": {f"k{TITLE}": f"v{BEL}"},
            "retries": 0,
        },
        ensure_ascii=False,
    )
    backend.push(queue, f"json{TITLE}", evil_json, 0.0)
    backend.push(queue, f"later{CLEAR}", f"not json {CLEAR}", 600.0)
    backend.push(queue, f"dead{TITLE}", evil_json, 0.0)
    (held,) = [r for r in backend.reserve(queue, 60.0, 10) if r.task_id.startswith("dead")] or [None]
    assert held is not None
    backend.dead_letter(queue, held.task_id, held.receipt, f"reason {CLEAR}\nline two {TITLE}")
    # The other reserved record stays held: it is listed as running.
    return queue


def _assert_inert(text: str) -> None:
    assert ESC not in text
    assert BEL not in text


def test_hostile_records_never_reach_the_terminal_raw(store: Store, alligator: Alligator) -> None:
    queue = _plant(store)
    runs = [
        ["info", store.dsn],
        ["info", store.dsn, "--json"],
        ["show", store.dsn, "--queue", queue, f"json{TITLE}"],
        ["show", store.dsn, "--queue", queue, f"later{CLEAR}"],
        ["show", store.dsn, "--queue", queue, f"dead{TITLE}"],
        ["show", store.dsn, "--queue", queue, f"dead{TITLE}", "--json"],
        ["result", store.dsn, "--queue", queue, f"dead{TITLE}"],
        ["requeue", store.dsn, "--queue", queue, f"nope{CLEAR}", "--yes"],
    ]
    for state in ("waiting", "delayed", "running", "dead"):
        runs.append(["tasks", store.dsn, "--queue", queue, "--state", state])
        runs.append(["tasks", store.dsn, "--queue", queue, "--state", state, "--json"])
    for argv in runs:
        ran = alligator(*argv)
        assert ran.returncode in (0, 1), (argv, ran.stderr)
        _assert_inert(ran.stdout)
        _assert_inert(ran.stderr)

    dead = alligator("show", store.dsn, "--queue", queue, f"dead{TITLE}")
    assert "\\x1b[2J" in dead.stdout or "\\u001b[2J" in dead.stdout, "shown, escaped"
    assert "line two" in dead.stdout
    unreadable = alligator("tasks", store.dsn, "--queue", queue, "--state", "delayed", "--json")
    (task,) = json.loads(unreadable.stdout)["tasks"]
    assert task["payload_error"].startswith("payload is not valid JSON")
    assert task["task_id"] == f"later{CLEAR}", "JSON keeps the exact id (escaped by JSON itself)"


def test_a_password_in_the_dsn_is_never_shown(alligator: Alligator) -> None:
    # Nothing listens there: the command fails, and says so without the password.
    dsn = f"redis://user:hunter2secret@127.0.0.1:{free_port()}/0"
    ran = alligator("info", dsn, timeout=120)
    assert ran.returncode == 1
    assert "hunter2secret" not in ran.stdout + ran.stderr
    assert "redis://user:***@127.0.0.1" in ran.stderr


def test_the_dsn_may_come_from_the_environment(store: Store, alligator: Alligator) -> None:
    gator = store.gator()
    gator.options(task_id="d1", retries=0).task(sample_tasks.fails_with, "x")
    gator.get("d1")
    env = command_env(ALLIGATOR_DSN=store.dsn)
    listed = alligator("tasks", "--queue", store.queue, "--state", "dead", "--json", env=env)
    assert [t["task_id"] for t in json.loads(listed.stdout)["tasks"]] == ["d1"]
    # With ALLIGATOR_DSN set, a first word that is no DSN is the first task id.
    requeued = alligator("requeue", "d1", "--queue", store.queue, "--yes", env=env)
    assert (requeued.returncode, requeued.stdout) == (0, "d1  requeued\n")
    shown = alligator("show", "d1", "--queue", store.queue, "--json", env=env)
    assert json.loads(shown.stdout)["status"] == "waiting"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["info"], "give the DSN of the store first, or set ALLIGATOR_DSN"),
        (["info", "nosuch://x"], "no Alligator backend handles the scheme 'nosuch'"),
        (["tasks", "sqlite:///x.db", "--state", "lost"], "invalid choice: 'lost'"),
        (["tasks", "sqlite:///x.db", "--limit", "-1"], "must be at least 0"),
        (["result", "sqlite:///x.db", "t", "--wait", "nan"], "must be a number of seconds"),
        (["delete", "sqlite:///x.db", "--yes"], "delete takes one TASK_ID or more"),
        (["frobnicate", "sqlite:///x.db"], "invalid choice: 'frobnicate'"),
    ],
)
def test_usage_errors_exit_2(alligator: Alligator, argv: list[str], message: str) -> None:
    ran = alligator(*argv)
    assert ran.returncode == 2, ran.stderr
    assert message in ran.stderr
    assert ran.stdout == ""


def test_dashboard_without_its_extra_says_what_to_install(tmp_path: Path) -> None:
    # A None entry in sys.modules makes "import alligator.dashboard" raise
    # ImportError, as it does where the extra is not installed.
    code = (
        "import sys; sys.modules['alligator.dashboard'] = None\n"
        "from alligator.command import main\n"
        "sys.exit(main(['dashboard', 'sqlite:///unused.db']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=command_env(),
        cwd=tmp_path,
    )
    assert done.returncode == 2
    # The checkout form: the core is not on an index yet (issue 17, 7.1).
    assert "pip install './alligator_core[dashboard]'" in done.stderr
    assert "alligator-core[dashboard]" not in done.stderr


def test_info_watch_refreshes_until_interrupted(store: Store) -> None:
    gator = store.gator()
    gator.options(task_id="w").task(sample_tasks.add, 1, 1)
    process = subprocess.Popen(
        [sys.executable, "-m", "alligator.command", "info", store.dsn, "--json", "--watch", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=command_env(),
    )
    assert process.stdout is not None
    first = json.loads(process.stdout.readline())
    gator.options(task_id="w2").task(sample_tasks.add, 1, 1)
    deadline = time.monotonic() + 60
    while True:
        later = json.loads(process.stdout.readline())
        mine = [q for q in later["queues"] if q["name"] == store.queue]
        if mine and mine[0]["waiting"] == 2:
            break
        assert time.monotonic() < deadline, "the count never refreshed"
    assert [q["waiting"] for q in first["queues"] if q["name"] == store.queue] == [1]
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err


def test_a_hostile_worker_record_never_reaches_the_terminal_raw(store: Store, alligator: Alligator) -> None:
    backend = store.gator().backend
    worker_id = f"evil-{store.queue}{CLEAR}"
    record = {
        "host": f"host{TITLE}",
        "pid": 1,
        "queues": [f"{store.queue}{CLEAR}"],
        "concurrency": 1,
        "started_at": time.time(),
        "heartbeat_at": time.time(),
        "tasks_handled": 0,
        "current": [{"task_id": f"t{CLEAR}", "function": f"f{TITLE}", "queue": "q", "since": time.time()}],
    }
    backend.heartbeat(worker_id, json.dumps(record), 60.0)
    try:
        for argv in (["workers", store.dsn], ["info", store.dsn], ["workers", store.dsn, "--json"]):
            ran = alligator(*argv)
            assert ran.returncode == 0, ran.stderr
            _assert_inert(ran.stdout + ran.stderr)
            assert "evil-" in ran.stdout
    finally:
        backend.forget_worker(worker_id)
