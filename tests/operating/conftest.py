"""Fixtures of the ``alligator`` command's tests (see ``operating_helpers``)."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from operating_helpers import SHARED_REDIS, Alligator, Ran, Store, Worker, command_env, wait_for

#: The console script the core installs beside this interpreter, as a user runs it.
SCRIPT = Path(sys.executable).with_name("alligator")


@pytest.fixture
def alligator() -> Alligator:
    """Runs the installed ``alligator`` console script with these arguments."""
    assert SCRIPT.exists(), f"{SCRIPT} is missing: install alligator_core into this environment"

    def run(*args: str, stdin: str = "", env: dict[str, str] | None = None, timeout: float = 120) -> Ran:
        done = subprocess.run(
            [str(SCRIPT), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env or command_env(),
        )
        return Ran(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A SQLite file or the shared Redis, with a unique queue that is dropped afterwards."""
    dsn = f"sqlite:///{tmp_path / 'tasks.db'}" if request.param == "sqlite" else SHARED_REDIS
    made = Store(request.param, dsn, f"ops-{uuid.uuid4().hex[:12]}")
    yield made
    for queue in (made.queue, made.queue + "-other"):
        gator = made.gator(queue)
        gator.drop_all()
        gator.backend.close()


@pytest.fixture
def worker(store: Store, tmp_path: Path) -> Iterator[Worker]:
    """A real latergator consuming the store's queue, started before the test and stopped after."""
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "alligator", store.dsn, "--queue", store.queue, "--allow", "sample_tasks"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=command_env(),
            cwd=tmp_path,
        )
    started = Worker(process, log)
    wait_for(
        lambda: "latergator starting" in started.output() or process.poll() is not None, what="worker start"
    )
    assert process.poll() is None, started.output()
    yield started
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
