"""What the reliability tests share besides fixtures: stores, worker pools, waiting, figures.

A plain module (the tests import it by name; ``pytest.ini`` puts this folder
on the path, and :func:`worker_env` puts it on every worker process's
``PYTHONPATH``), so one pytest run can collect every test tree.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pytest
from reliability_tasks import LEDGER_ENV, Ledger

from alligator import Gator

HERE = Path(__file__).resolve().parent

#: The db of the shared server these tests use (others' tests use 0-3).
REDIS_DB = 11
SHARED_REDIS = f"redis://127.0.0.1:6379/{REDIS_DB}"
TASKS_MODULE = "reliability_tasks"
#: Runs a module's tests of the ``store`` fixture (SQLite and Redis by
#: default) on PostgreSQL too: the proofs of the capabilities every one of
#: them has (unique keys, limits, schedules). ``pytestmark = ON_EVERY_STORE``.
ON_EVERY_STORE = pytest.mark.parametrize("store", ["sqlite", "redis", "postgres"], indirect=True)


def no_service(reason: str) -> None:
    """Skips, or fails under CI=true: a missing server must never make CI pass."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}, and CI=true: the reliability tests must run in CI")
    pytest.skip(reason)


#: What the worker imports that an installer such as uv leaves without bytecode.
WORKER_PACKAGES = [
    "alligator",
    "alligator_sqlite",
    "alligator_redis",
    "redis",
    "alligator_postgres",
    "psycopg",
]


@dataclass
class Store:
    """Where a test's queue lives: a DSN and a queue name of its own."""

    name: str
    dsn: str
    queue: str

    def gator(self, **kwargs: object) -> Gator:
        return Gator(self.dsn, queue_name=self.queue, allow=[TASKS_MODULE], **kwargs)  # type: ignore[arg-type]

    @property
    def raw(self) -> ModuleType:
        """The module that reads and writes this store's records raw (``raw_sqlite``, ``raw_redis``...)."""
        import raw_postgres
        import raw_redis
        import raw_sqlite

        return {"sqlite": raw_sqlite, "redis": raw_redis, "postgres": raw_postgres}[self.name]


def make_store(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    queue = f"rel-{uuid.uuid4().hex[:12]}"
    if name == "sqlite":
        # tmp_path is absolute: sqlite:/// + /abs/path is the four-slash form.
        yield Store(name, f"sqlite:///{tmp_path / 'queue.db'}", queue)
        return
    url = request.getfixturevalue("postgres_url" if name == "postgres" else "redis_url")
    store = Store(name, url, queue)
    try:
        yield store
    finally:
        gator = Gator(url, queue_name=queue)
        gator.drop_all()
        gator.backend.close()
        store.raw.drop(url, queue)  # keys a raw write made that drop_all may not know


def worker_env(ledger: Ledger, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH", "")) if p)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["ALLIGATOR_ALLOW"] = TASKS_MODULE
    env[LEDGER_ENV] = ledger.path
    env.pop("ALLIGATOR_SECRET", None)
    env.update(extra)
    return env


@dataclass
class Workers:
    """Worker processes (``python -m alligator``) of one test, each logging to its own file."""

    store: Store
    ledger: Ledger
    logdir: Path
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    command: tuple[str, ...] = ("-m", "alligator")
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    dead: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: dict[int, Path] = field(default_factory=dict)

    def start(self, count: int = 1) -> list[subprocess.Popen[bytes]]:
        started = []
        for _ in range(count):
            n = len(self.procs) + len(self.dead)
            log = open(self.logdir / f"worker-{n}.log", "wb")
            command = [sys.executable, *self.command, self.store.dsn, "--queue", self.store.queue]
            # INFO: the start line says the worker is up (and its SIGTERM handler installed).
            command += ["--nap-time", "0.05", "--log-level", "INFO", *self.args]
            # One CPU each: one plain worker process per Popen (see one_cpu).
            proc = subprocess.Popen(
                command,
                env=worker_env(self.ledger, **self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=one_cpu(n),
            )
            log.close()
            self.logs[proc.pid] = self.logdir / f"worker-{n}.log"
            self.procs.append(proc)
            started.append(proc)
        return started

    def reap(self) -> list[subprocess.Popen[bytes]]:
        """Moves the processes that exited to :attr:`dead`; returns them."""
        gone = [p for p in self.procs if p.poll() is not None]
        for proc in gone:
            self.procs.remove(proc)
            self.dead.append(proc)
        return gone

    def sigkill(self, proc: subprocess.Popen[bytes]) -> float:
        """SIGKILLs one worker; returns the time just before the signal (the kill time)."""
        when = time.time()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        self.procs.remove(proc)
        self.dead.append(proc)
        return when

    def wait_started(self, timeout: float = 30.0) -> None:
        """Waits until every live worker logged its start line.

        A SIGTERM that lands while Python is still importing kills the
        process (-15) before the worker could install its handler; the
        worker only promises a clean exit once it said it is starting.
        """
        for proc in self.procs:
            log = self.logs[proc.pid]
            wait_for(
                lambda log=log: "starting" in log.read_text(errors="replace"),  # type: ignore[misc]
                timeout,
                f"{log} to start",
            )

    def stop(self, timeout: float = 30.0) -> list[int]:
        """SIGTERMs every live worker (once it started); returns their exit statuses."""
        self.wait_started()
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(timeout) for proc in self.procs]
        self.dead.extend(self.procs)
        self.procs = []
        return codes

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        self.dead.extend(self.procs)
        self.procs = []

    def output(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.logdir.glob("worker-*.log")))


def one_cpu(n: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` giving a worker process one CPU of the machine's (the n-th, in turn), or None.

    ``latergator`` with no ``--processes`` then runs as one plain worker
    process, no supervisor (its default on one usable CPU): the process the
    test starts is the worker it kills, signals and counts.
    """
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    mine = {cpus[n % len(cpus)]}
    return lambda: os.sched_setaffinity(0, mine)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, poll: float = 0.05) -> float:
    """Polls until ``predicate()``; returns the seconds it took, or fails naming ``what``."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(poll)
    return time.monotonic() - start


def report(test: str, **figures: object) -> None:
    """Prints a test's measured figures (shown with ``pytest -rP``), and appends them as a JSON line to
    the file named by ``RELIABILITY_FIGURES`` when set: the numbers of the "Guarantees" page."""
    import json

    line = json.dumps({"test": test, **figures}, sort_keys=True)
    print(f"RELIABILITY {line}")
    path = os.environ.get("RELIABILITY_FIGURES")
    if path:
        with open(path, "a") as handle:
            handle.write(line + "\n")
