"""``latergator`` with no tuning flags: a process per usable CPU, 4 threads each; its start line says why.

Real processes on a real SQLite store; the CPUs usable are this machine's
(whatever its affinity mask and cgroup quota), and one CPU is had with an
affinity mask of one, as ``taskset -c N`` gives.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from operating_helpers import command_env, wait_for

from alligator import cpus


def _start_line(tmp_path: Path, *flags: str, cpus: set[int] | None = None) -> tuple[str, int]:
    """Starts ``latergator`` on an SQLite store (on ``cpus`` only, if given) until it is up; stops it.

    Returns its log up to the first worker's start line, and its exit status.
    """
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "alligator",
                f"sqlite:///{tmp_path / 'tasks.db'}",
                "--allow",
                "sample_tasks",
                *flags,
            ],
            stderr=out,
            env=command_env(),
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
    try:
        wait_for(
            lambda: "latergator starting" in log.read_text() or proc.poll() is not None, what="the start"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    return log.read_text(), code


def test_with_no_flags_it_runs_a_process_per_usable_cpu_and_says_why(tmp_path: Path) -> None:
    mask = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    usable = cpus.usable_cpus()
    output, code = _start_line(tmp_path)
    assert code == 0, output
    threads = f"x {cpus.DEFAULT_THREADS} threads ({usable.describe()})"
    if usable.count > 1:
        # A supervisor, whose start line says what it chose and why; each process says its threads.
        assert f"starting {usable.count} worker processes {threads}" in output, output
        assert f"; {cpus.DEFAULT_THREADS} threads (the default)" in output, output
    else:
        assert f"1 process {threads}" in output, output
        assert "alligator.supervisor" not in output, output
    if mask is None:
        return
    # On one CPU (taskset -c N): one plain worker process, no supervisor.
    output, code = _start_line(tmp_path, cpus={min(mask)})
    assert code == 0, output
    assert f"; 1 process x {cpus.DEFAULT_THREADS} threads (1 CPU usable: affinity 1 of" in output, output
    assert "alligator.supervisor" not in output, output


def test_given_processes_and_threads_win_and_the_start_line_says_so(tmp_path: Path) -> None:
    output, code = _start_line(tmp_path, "--processes", "2", "--concurrency", "3")
    assert code == 0, output
    assert "starting 2 worker processes x 3 threads (--processes and --concurrency given)" in output, output
    assert "; 3 threads (--concurrency given)" in output, output
    output, code = _start_line(tmp_path, "--concurrency", "3", "--max-tasks", "5")
    assert code == 0, output
    assert "; 1 process x 3 threads (--max-tasks counts one worker's tasks; --concurrency given)" in output


ARENA_FLAGS = ("--allow", "sample_tasks", "--processes", "1")


def test_worker_processes_use_two_malloc_arenas_unless_told(tmp_path: Path) -> None:
    """Issue 20: each thread's own glibc arena cost a worker process ~1.5 MiB; an operator's setting wins."""
    for given, expected in ((None, "2"), ("4", "4")):
        env = command_env()
        env.pop("MALLOC_ARENA_MAX", None)
        if given:
            env["MALLOC_ARENA_MAX"] = given
        log = tmp_path / f"arenas-{expected}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "alligator", f"sqlite:///{tmp_path / 'tasks.db'}", *ARENA_FLAGS],
                stderr=out,
                env=env,
            )
        try:
            wait_for(lambda log=log: "latergator starting" in log.read_text(), what="the child's start")
            [child] = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
            assert f"MALLOC_ARENA_MAX={expected}".encode() in environ
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0, log.read_text()
