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


def _start(
    tmp_path: Path, name: str, *flags: str, cpus: set[int] | None = None
) -> tuple[subprocess.Popen[bytes], Path]:
    """Starts ``latergator`` on an SQLite store (on ``cpus`` only, if given); returns it and its log."""
    log = tmp_path / f"{name}.log"
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
    return proc, log


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _start_line(tmp_path: Path, *flags: str, cpus: set[int] | None = None) -> tuple[str, int]:
    """Starts ``latergator`` on an SQLite store (on ``cpus`` only, if given) until it is up; stops it.

    Returns its log up to the first worker's start line, and its exit status.
    """
    proc, log = _start(tmp_path, "worker", *flags, cpus=cpus)
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
    threads = f"x {cpus.DEFAULT_THREADS} threads ({usable.describe()}"
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
    assert "starting 2 worker processes x 3 threads (--processes and --concurrency given" in output, output
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
            [child] = _children(proc.pid)
            environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
            assert f"MALLOC_ARENA_MAX={expected}".encode() in environ
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0, log.read_text()


def test_each_worker_process_runs_on_a_cpu_of_its_own_and_a_replacement_gets_it_back(tmp_path: Path) -> None:
    """Issue 20: one process per CPU, each pinned to its CPU, so its threads hand the GIL over on one CPU."""
    mask = sorted(os.sched_getaffinity(0))
    usable = cpus.usable_cpus()
    processes = 2
    expected = cpus.plan_pinning(processes, usable, mask)
    if len(mask) >= processes and (usable.quota is None or usable.quota >= len(mask)):
        assert expected == tuple(mask[:processes])  # this machine pins: the test below is the real one
    proc, log = _start(tmp_path, "pinned", "--processes", str(processes))
    try:
        wait_for(lambda: log.read_text().count("latergator starting") >= processes, what="both workers")
        children = _children(proc.pid)
        assert len(children) == processes, log.read_text()
        slots = {}
        for child in children:
            environ = Path(f"/proc/{child}/environ").read_bytes()
            slot = int(environ.split(b"ALLIGATOR_WORKER_SLOT=")[1].split(b"\0")[0])
            slots[slot] = child
        for slot, child in slots.items():
            mine = {expected[slot]} if expected else set(mask)
            assert os.sched_getaffinity(child) == mine, log.read_text()
        if expected:
            assert f"one CPU each: {', '.join(map(str, expected))})" in log.read_text()
        # A process killed is replaced in its slot, on the same CPU.
        victim_slot = max(slots)
        os.kill(slots[victim_slot], signal.SIGKILL)
        wait_for(
            lambda: len(_children(proc.pid)) == processes and slots[victim_slot] not in _children(proc.pid),
            what="the replacement",
        )
        wait_for(
            lambda: log.read_text().count("latergator starting") > processes, what="the replacement's start"
        )
        [replacement] = [child for child in _children(proc.pid) if child not in slots.values()]
        assert os.sched_getaffinity(replacement) == ({expected[victim_slot]} if expected else set(mask))
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()
    # --no-cpu-pinning: every process may run on every CPU of the mask.
    proc, log = _start(tmp_path, "unpinned", "--processes", str(processes), "--no-cpu-pinning")
    try:
        wait_for(lambda: log.read_text().count("latergator starting") >= processes, what="both workers")
        assert [os.sched_getaffinity(child) for child in _children(proc.pid)] == [set(mask)] * processes
        assert "one CPU each" not in log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()
