"""A real worker (``manage.py latergator``) on a real store, for the tests of one store at a time.

The store is SQLite (a file) or Redis (database 2 of the shared server,
emptied before and after; ``ALLIGATOR_DJANGO_REDIS`` names another, for a
run beside one that uses it); ``ALLIGATOR_DJANGO_STORES`` picks them
(default: both).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent / "project"
REDIS_DSN = os.environ.get("ALLIGATOR_DJANGO_REDIS", "redis://127.0.0.1:6379/2")
STORES = os.environ.get("ALLIGATOR_DJANGO_STORES", "sqlite,redis").split(",")


def wait_for(predicate, what, seconds=90.0):
    """Waits for ``predicate()`` to be true, with a generous deadline (the machine is busy)."""
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def finished(result, seconds=90.0):
    """The result once finished, read again and again through get_result."""
    from django.tasks import task_backends

    def done():
        fresh = task_backends["default"].get_result(result.id)
        return fresh if fresh.is_finished else None

    return wait_for(done, f"task {result.id} to finish", seconds)


def run_one_at_a_time(dsn, log, results, env=None):
    """Runs the ``ordered`` queue, one task at a time, until each of ``results`` succeeded."""
    from django.tasks import TaskResultStatus

    worker = Worker(dsn, log, "--queue", "ordered", "--concurrency", "1", "--prefetch", "1", env=env)
    try:
        for result in results:
            assert finished(result).status == TaskResultStatus.SUCCESSFUL
    finally:
        worker.stop()


def _flush_redis():
    import redis

    redis.Redis.from_url(REDIS_DSN).flushdb()


@pytest.fixture(scope="module", params=STORES)
def store_dsn(request, tmp_path_factory):
    """The DSN of the module's store: a new SQLite file, or Redis db 2 emptied."""
    if request.param == "redis":
        _flush_redis()
        yield REDIS_DSN
        _flush_redis()
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('store')}/tasks.db"


@pytest.fixture
def tasks_settings(settings, store_dsn):
    """TASKS as the project has it, on this module's store."""
    tasks = {alias: dict(params) for alias, params in settings.TASKS.items()}
    tasks["default"]["OPTIONS"] = {**tasks["default"]["OPTIONS"], "DSN": store_dsn}
    settings.TASKS = tasks
    yield settings
    from django.tasks import task_backends

    for backend in task_backends.all():
        if hasattr(backend, "close"):
            backend.close()


def default_backend_options(settings, **options):
    """For a fixture to ``yield from``: TASKS' default backend with these OPTIONS added; after the
    test its queues ``default`` and ``ordered`` emptied and the backends closed. Yields the DSN."""
    from django.tasks import task_backends

    default = settings.TASKS["default"]
    settings.TASKS = {**settings.TASKS, "default": {**default, "OPTIONS": {**default["OPTIONS"], **options}}}
    yield options["DSN"]
    for backend in task_backends.all():
        if hasattr(backend, "gator"):
            for queue in ("default", "ordered"):
                backend.gator(queue).drop_all()
            backend.close()


class Worker:
    """A ``manage.py latergator`` process started in the project directory."""

    def __init__(self, dsn: str, log: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.log = log
        given = env or {}
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTHONPATH"))}
        env.update(given)
        from django.db import connection

        #: Where the worker's receivers of Django's task signals write.
        self.signals = log.parent / "signals.log"
        env.update(
            SHOP_TASKS_DSN=dsn, SHOP_DB=connection.settings_dict["NAME"], SHOP_SIGNALS_FILE=str(self.signals)
        )
        command = [sys.executable, "manage.py", "latergator", "--processes", "1", *extra]
        with open(log, "w") as out:
            self.proc = subprocess.Popen(command, cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT)
        wait_for(
            lambda: "latergator starting" in log.read_text() or self.proc.poll() is not None, "the start line"
        )
        assert self.proc.poll() is None, log.read_text()

    def kill(self) -> None:
        """SIGKILL to the worker processes and their supervisor: they die at once, whatever they did."""
        # `--processes 1` runs one worker process under a supervisor, as the
        # start lines say (each in a process group of its own).
        for pid in re.findall(r"worker process \d+ started \(pid (\d+)\)", self.log.read_text()):
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.kill()
        self.proc.wait(timeout=60)

    def stop(self) -> None:
        """SIGTERM, and the exit status latergator promises (0); nothing for a killed worker."""
        if self.proc.poll() is not None and self.proc.returncode == -signal.SIGKILL:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            assert self.proc.wait(timeout=90) == 0, self.log.read_text()
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def start_worker(tasks_settings, store_dsn, tmp_path):
    """Starts workers (``start_worker("--queue", "ordered")``); each is stopped at the test's end."""
    workers: list[Worker] = []

    def start(*extra: str, env: dict[str, str] | None = None) -> Worker:
        worker = Worker(store_dsn, tmp_path / f"worker-{len(workers)}.log", *extra, env=env)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture(scope="module")
def module_worker(django_db_setup, store_dsn, tmp_path_factory):
    """One worker on the default queue for the whole module (one per store)."""
    worker = Worker(store_dsn, tmp_path_factory.mktemp("worker") / "worker.log", "--queue", "default")
    yield worker
    worker.stop()


@pytest.fixture
def worker(module_worker, tasks_settings, transactional_db):
    """The module's worker, with this process's TASKS on its store."""
    return module_worker
