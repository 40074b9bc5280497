"""``alligator doctor``: against private Redis servers (no persistence, allkeys-lru, healthy) and SQLite."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sample_tasks
from disk_faults import fill, immutable, small_tmpfs
from operating_helpers import Alligator, command_env, wait_for
from redis_servers import RedisServer, free_port

from alligator import Gator
from alligator.doctor import MAX_CLOCK_SKEW, examine
from alligator.exceptions import BackendError


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RedisServer]]:
    """Three private redis-servers: one keeps nothing, one evicts keys, one is set up right."""
    made = {
        "volatile": RedisServer(tmp_path_factory.mktemp("volatile"), "--appendonly", "no"),
        "lru": RedisServer(
            tmp_path_factory.mktemp("lru"), "--appendonly", "yes", "--maxmemory-policy", "allkeys-lru"
        ),
        "healthy": RedisServer(tmp_path_factory.mktemp("healthy"), "--appendonly", "yes"),
    }
    try:
        for server in made.values():
            server.start()
        yield made
    finally:
        for server in made.values():
            server.stop()


WorkerProcess = Callable[[str, Path], None]


@pytest.fixture
def worker_process(tmp_path: Path) -> Iterator[WorkerProcess]:
    """``worker_process(dsn, cwd)``: a real latergator on the store, SIGKILLed afterwards."""
    started: list[subprocess.Popen[bytes]] = []
    log = tmp_path / "worker.log"

    def start(dsn: str, cwd: Path) -> None:
        with open(log, "ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "alligator", dsn, "--allow", "sample_tasks"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=command_env(),
                cwd=cwd,
            )
        started.append(process)
        wait_for(
            lambda: "latergator starting" in log.read_text() or process.poll() is not None,
            what="worker start",
        )
        assert process.poll() is None, log.read_text()

    yield start
    for process in started:
        process.kill()
        process.wait(30)


def _doctor(
    alligator: Alligator, dsn: str, *extra: str, env: dict[str, str] | None = None
) -> tuple[int, Any]:
    """Runs doctor twice, as a table and as JSON; checks they agree; returns the status and the JSON."""
    table = alligator("doctor", dsn, *extra, env=env)
    as_json = alligator("doctor", dsn, *extra, "--json", env=env)
    assert table.returncode == as_json.returncode, (table.stdout, as_json.stdout)
    data = json.loads(as_json.stdout)
    assert set(data) == {"store", "ok", "findings"}
    assert data["ok"] == (as_json.returncode == 0)
    for finding in data["findings"]:
        assert set(finding) == {"level", "check", "problem", "what_to_do"}
        assert finding["level"] in ("error", "warning", "info", "ok")
        assert f"{finding['level'].upper():<8} {finding['check']}: " in table.stdout
    return as_json.returncode, data


def _failing(data: Any) -> list[dict[str, str]]:
    return [f for f in data["findings"] if f["level"] in ("error", "warning")]


def test_a_store_that_does_not_answer_is_an_error(alligator: Alligator) -> None:
    status, data = _doctor(alligator, f"redis://:pw-not-shown@127.0.0.1:{free_port()}/0")
    assert status == 1
    (finding,) = data["findings"]
    assert (finding["level"], finding["check"]) == ("error", "store")
    assert "cannot be reached" in finding["problem"]
    assert "pw-not-shown" not in json.dumps(data)
    table = alligator("doctor", f"redis://:pw-not-shown@127.0.0.1:{free_port()}/0")
    assert "ERROR    store: the store" in table.stdout
    assert "pw-not-shown" not in table.stdout


def test_redis_without_persistence_is_an_error(servers: dict[str, RedisServer], alligator: Alligator) -> None:
    status, data = _doctor(alligator, servers["volatile"].url(), "--allow", "sample_tasks")
    assert status == 1
    (finding,) = _failing(data)
    assert finding["check"] == "store settings"
    assert finding["level"] == "error"
    assert "persist" in finding["problem"].lower()
    assert finding["what_to_do"]


def test_redis_that_evicts_keys_is_an_error(servers: dict[str, RedisServer], alligator: Alligator) -> None:
    status, data = _doctor(alligator, servers["lru"].url(), "--allow", "sample_tasks")
    assert status == 1
    (finding,) = _failing(data)
    assert finding["check"] == "store settings"
    assert "allkeys-lru" in finding["problem"]
    assert "noeviction" in finding["what_to_do"]


def test_a_healthy_redis_passes(servers: dict[str, RedisServer], alligator: Alligator) -> None:
    status, data = _doctor(alligator, servers["healthy"].url(), "--allow", "sample_tasks")
    assert status == 0, _failing(data)
    checks = {f["check"] for f in data["findings"]}
    assert {"store", "clock", "modules", "signing", "workers", "dead letters"} <= checks
    table = alligator("doctor", servers["healthy"].url(), "--allow", "sample_tasks")
    assert table.stdout.rstrip().endswith("0 errors, 0 warnings: nothing wrong found")


def test_a_healthy_sqlite_file_passes(tmp_path: Path, alligator: Alligator) -> None:
    dsn = f"sqlite:///{tmp_path / 'tasks.db'}"
    Gator(dsn).backend.close()
    status, data = _doctor(alligator, dsn, "--allow", "sample_tasks")
    assert status == 0, _failing(data)


def test_allowed_modules_must_import_here(tmp_path: Path, alligator: Alligator) -> None:
    dsn = f"sqlite:///{tmp_path / 'tasks.db'}"
    status, data = _doctor(
        alligator,
        dsn,
        "--allow",
        "sample_tasks:add",
        "--allow",
        "sample_tasks:no_such_function",
        env=command_env(ALLIGATOR_ALLOW="no_such_module_here"),
    )
    assert status == 1
    modules = {f["problem"]: f["level"] for f in data["findings"] if f["check"] == "modules"}
    assert modules == {
        "allowed sample_tasks:add imports here": "ok",
        "allowed function sample_tasks:no_such_function does not exist": "error",
        "allowed module no_such_module_here does not import here: "
        "ModuleNotFoundError: No module named 'no_such_module_here'": "error",
    }


def test_signing_is_reported_and_a_bad_secret_is_an_error(tmp_path: Path, alligator: Alligator) -> None:
    dsn = f"sqlite:///{tmp_path / 'tasks.db'}"
    Gator(dsn, queue_name="q", allow=["sample_tasks"], secret=[]).task(sample_tasks.add, 1, 2)

    def signing(env: dict[str, str]) -> tuple[int, list[tuple[str, str]]]:
        status, data = _doctor(alligator, dsn, env=env)
        return status, [(f["level"], f["problem"]) for f in data["findings"] if f["check"] == "signing"]

    _, off = signing(command_env())
    assert off[0][0] == "info"
    assert off[0][1].startswith("signing is off (ALLIGATOR_SECRET is not set)")

    status, bad = signing(command_env(ALLIGATOR_SECRET="short"))
    assert status == 1
    assert bad[0][0] == "error"
    assert bad[0][1].startswith("ALLIGATOR_SECRET is invalid")

    status, on = signing(command_env(ALLIGATOR_SECRET="k" * 40))
    assert status == 1, "the waiting task is not signed: a worker with this secret would refuse it"
    assert on[0] == ("ok", "payloads are signed and checked (ALLIGATOR_SECRET is set)")
    assert on[1][0] == "warning"
    assert "1 of the first 1 waiting tasks of queue 'q' are not signed" in on[1][1]


def test_waiting_tasks_without_a_live_worker_are_a_warning(
    servers: dict[str, RedisServer], alligator: Alligator
) -> None:
    dsn = servers["healthy"].url(1)
    gator = Gator(dsn, queue_name="stalled", allow=["sample_tasks"], secret=[])
    gator.task(sample_tasks.add, 1, 2)
    try:
        status, data = _doctor(alligator, dsn)
        assert status == 1
        (finding,) = _failing(data)
        assert finding["check"] == "workers"
        assert finding["problem"] == "queue 'stalled' has 1 waiting task and no live worker consuming it"
        assert finding["what_to_do"].startswith("start one: latergator DSN --queue stalled")
    finally:
        gator.drop_all()


def test_piling_dead_letters_are_a_warning(tmp_path: Path, alligator: Alligator) -> None:
    dsn = f"sqlite:///{tmp_path / 'tasks.db'}"
    backend = Gator(dsn).backend
    for n in range(101):
        backend.push("poison", f"p{n}", "{}", 0.0)
    for held in backend.reserve("poison", 60.0, 101):
        backend.dead_letter("poison", held.task_id, held.receipt, "poisoned")
    status, data = _doctor(alligator, dsn)
    assert status == 1
    (finding,) = _failing(data)
    assert (finding["check"], finding["problem"]) == (
        "dead letters",
        "queue 'poison' has 101 dead letters (more than 100)",
    )
    assert "alligator requeue DSN --queue poison --all" in finding["what_to_do"]


def test_a_clock_far_from_the_stores_is_a_warning(tmp_path: Path) -> None:
    dsn = f"sqlite:///{tmp_path / 'tasks.db'}"
    ahead = examine(dsn, environ={}, clock=lambda: time.time() + 10 * MAX_CLOCK_SKEW)
    (clock,) = [f for f in ahead if f.check == "clock"]
    assert clock.level == "warning"
    assert clock.problem.startswith("this machine's clock is 20.")
    assert clock.problem.endswith("s ahead of the store's")
    near = examine(dsn, environ={})
    (clock,) = [f for f in near if f.check == "clock"]
    assert clock.level == "ok"


def _poison(dsn: str, queue: str, count: int, clock: Any = None) -> None:
    backend = Gator(dsn).backend
    backend.clock = clock
    for n in range(count):
        backend.push(queue, f"{queue}-{n}", "{}", 0.0)
    for held in backend.reserve(queue, 60.0, count):
        backend.dead_letter(queue, held.task_id, held.receipt, "poisoned")
    backend.close()


def test_dead_letters_piling_up_in_the_last_hour_are_a_warning(tmp_path: Path, alligator: Alligator) -> None:
    dsn = f"sqlite:///{tmp_path / 'tasks.db'}"
    two_hours_ago = time.time() - 7200
    _poison(dsn, "old", 12, clock=lambda: two_hours_ago)
    status, data = _doctor(alligator, dsn)
    assert status == 0, _failing(data)

    _poison(dsn, "new", 12)
    status, data = _doctor(alligator, dsn)
    assert status == 1
    (finding,) = _failing(data)
    assert (finding["check"], finding["problem"]) == (
        "dead letters",
        "queue 'new' is piling up dead letters: 12 in the last hour",
    )


# -- the store's own health: a read-only file, a full disk --------------------------


def test_a_sqlite_file_that_cannot_be_written_is_an_error(tmp_path: Path, alligator: Alligator) -> None:
    """The drill: files made read-only, every enqueue failed, and doctor found nothing wrong."""
    path = tmp_path / "tasks.db"
    dsn = f"sqlite:///{path}"
    Gator(dsn).backend.close()
    status, data = _doctor(alligator, dsn, "--allow", "sample_tasks")
    assert status == 0, _failing(data)
    with immutable([path]):
        with pytest.raises(BackendError, match="read-only"):
            Gator(dsn, allow=["sample_tasks"], secret=[]).task(sample_tasks.add, 1, 2)
        status, data = _doctor(alligator, dsn, "--allow", "sample_tasks")
    assert status == 1
    (finding,) = _failing(data)
    assert (finding["level"], finding["check"]) == ("error", "store settings")
    assert finding["problem"] == (
        f"{path}: the store refuses writes (attempt to write a readonly database): "
        "every enqueue, reservation and heartbeat fails"
    )
    assert "chattr -i" in finding["what_to_do"]


def test_a_full_disk_under_a_running_worker_is_an_error(
    tmp_path: Path, alligator: Alligator, worker_process: WorkerProcess
) -> None:
    """The drill: a full disk under a SQLite store; doctor said the store answers, and blamed the workers."""
    with small_tmpfs(tmp_path / "small", "8m") as disk:
        dsn = f"sqlite:///{disk / 'tasks.db'}"
        worker_process(dsn, disk)
        fill(disk)
        with pytest.raises(BackendError, match="disk is full"):
            gator = Gator(dsn, allow=["sample_tasks"], secret=[])
            with gator.batch() as batch:
                for n in range(2000):
                    batch.task(sample_tasks.echo, "x" * 1000, n)
        status, data = _doctor(alligator, dsn, "--allow", "sample_tasks")
    assert status == 1
    errors = [f for f in data["findings"] if f["level"] == "error"]
    assert [f["check"] for f in errors] == ["store settings"]
    assert errors[0]["problem"].startswith(f"{disk / 'tasks.db'}: only 0 bytes free on its disk")
    assert "free space on the disk holding" in errors[0]["what_to_do"]
