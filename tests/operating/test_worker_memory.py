"""Issue 20: what a ``latergator`` worker process on Redis does not load, to keep its RSS down.

Every module a worker imports stays in its memory: those needed only on a
rare path (a did-you-mean hint, a Decimal or a zoneinfo zone in a payload,
an async task, a task past its time limit) are imported there, not at the
top. A real worker runs a task that reports its process's ``sys.modules``
as it exits, after its threads ended.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import uuid
from pathlib import Path

import memory_tasks
import pytest
from operating_helpers import SHARED_REDIS, command_env

from alligator import Gator

#: What a worker that runs a plain task never needs, and why it once had it.
NOT_LOADED = (
    "difflib",  # did-you-mean hints: alligator.text, alligator.registry, alligator_redis.dsn
    "decimal",  # a Decimal in a payload: alligator.values
    "zoneinfo",  # a zone in a payload: alligator.values (zoneinfo loads sysconfig)
    "sysconfig",
    "alligator.aio",  # async tasks; was imported as each thread ended
    "ctypes",  # came with alligator.aio (alligator.timelimits), for a task past its limit
)


def _worker_modules(tmp_path: Path, **env: str) -> set[str]:
    """Runs one plain task in a real ``latergator --max-tasks 1`` on Redis; the modules its process had."""
    queue = f"memory-{uuid.uuid4().hex[:12]}"
    report = tmp_path / "modules.txt"
    gator = Gator(SHARED_REDIS, queue_name=queue)
    try:
        gator.task(memory_tasks.report_modules_at_exit, str(report))
        done = subprocess.run(
            [
                str(Path(sys.executable).with_name("latergator")),
                SHARED_REDIS,
                "--queue",
                queue,
                "--allow",
                "memory_tasks",
                "--max-tasks",
                "1",
                "--log-level",
                "WARNING",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=command_env(**env),
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
    finally:
        gator.drop_all()
        gator.backend.close()
    return set(report.read_text(encoding="utf-8").split())


def test_a_redis_worker_loads_no_module_it_needs_only_on_a_rare_path(tmp_path: Path) -> None:
    """Issue 20: the modules of NOT_LOADED stay out of a worker process that ran a plain task."""
    # As a child of the supervisor runs: MALLOC_ARENA_MAX in its environment,
    # so the worker has no call to make to mallopt (which needs ctypes).
    modules = _worker_modules(tmp_path, MALLOC_ARENA_MAX="2")
    assert "memory_tasks" in modules and "alligator_redis" in modules
    expected_absent = list(NOT_LOADED)
    if importlib.util.find_spec("redis.driver_info") is not None:
        # redis-py's version is given to the client, not read from its metadata.
        expected_absent.append("email.parser")
    assert sorted(modules.intersection(expected_absent)) == []


#: Scripts of the Redis backend only the operator's tools run (listings,
#: administration, results): a worker process never reads their files.
ADMIN_SCRIPTS = (
    "dead_letters",
    "tasks",
    "counts",
    "requeue",
    "requeue_all",
    "delete_dead",
    "purge_dead",
    "succeeded",
    "finished",
    "worker_records",
    "limit_index",
    "limit_state",
    "schedule_ticks",
)


def test_a_redis_worker_reads_only_the_lua_scripts_it_runs(tmp_path: Path) -> None:
    """Issue 20: a worker read and kept every one of the fifty Lua scripts (~0.3 MiB); now those it runs."""
    modules = _worker_modules(tmp_path, MALLOC_ARENA_MAX="2")
    read = {line.removeprefix("lua:") for line in modules if line.startswith("lua:")}
    assert {"reserve", "ack", "heartbeat"} <= read, sorted(read)
    assert sorted(read.intersection(ADMIN_SCRIPTS)) == []


def test_a_worker_process_limits_its_malloc_arenas_unless_told(tmp_path: Path) -> None:
    """Issue 20: one worker process (no supervisor to set MALLOC_ARENA_MAX) keeps to two glibc arenas."""
    if not sys.platform.startswith("linux") or not os.confstr("CS_GNU_LIBC_VERSION"):
        pytest.skip("glibc only: other C libraries have no arenas to limit")
    code = "from alligator.arenas import limit_malloc_arenas; print(limit_malloc_arenas())"
    for extra, expected in (({}, "True"), ({"MALLOC_ARENA_MAX": "4"}, "False")):
        env = command_env(**extra)
        if not extra:
            env.pop("MALLOC_ARENA_MAX", None)
            env.pop("GLIBC_TUNABLES", None)
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
        )
        assert done.stdout.strip() == expected, done.stderr
