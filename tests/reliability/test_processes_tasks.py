"""Task functions of the supervisor's proofs (``test_processes.py``); they write the same ledger.

Kept apart from the tests so a worker process imports only this (and
``reliability_tasks``), not pytest.
"""

from __future__ import annotations

import os
import time

from reliability_tasks import _begin, _end


def stubborn(key: str, seconds: float) -> None:
    """Ignores its time limit: whatever is raised into it, it sleeps on, in C code.

    ``time.sleep`` holds the thread in C, where no exception raised into the
    thread is seen; one that does land (between two sleeps) is swallowed.
    Only killing its process stops it.
    """
    _begin(key)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            time.sleep(max(0.0, deadline - time.monotonic()))
        except BaseException:  # swallowing it is the point
            pass


def note_kill(task: object, exc: BaseException) -> None:
    """An ``on_killed`` hook: records, in the ledger, the process that called it and what it was given."""
    _begin(f"killed:{getattr(task, 'task_id', '?')}:{type(exc).__name__}:{getattr(task, 'attempts', '?')}")


def _supervisor_pipe() -> int:
    """The fd a task finds the supervisor's pipe at, as hostile code would: the one write-only pipe."""
    import fcntl

    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if (
            fd > 2
            and target.startswith("pipe:")
            and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY
        ):
            return fd
    raise RuntimeError("no pipe to the supervisor found")


def poison_pipe(key: str, line: str) -> str:
    """Writes ``line`` to the supervisor's pipe, then finishes normally."""
    _begin(key)
    os.write(_supervisor_pipe(), line.encode() + b"\n")
    _end(key)
    return key


def close_pipe(key: str) -> str:
    """Closes the supervisor's pipe and returns: the tasks after it in its process are not watched."""
    _begin(key)
    os.close(_supervisor_pipe())
    _end(key)
    return key


def close_pipe_and_hang(key: str, seconds: float) -> None:
    """Closes the supervisor's pipe, then ignores its time limit (see :func:`stubborn`)."""
    os.close(_supervisor_pipe())
    stubborn(key, seconds)


def what_a_grandchild_inherits(key: str, path: str) -> str:
    """Writes to ``path`` the pipe fds a process this task starts inherits, and the supervisor variable."""
    import json
    import subprocess
    import sys

    _begin(key)
    probe = (
        "import json, os\n"
        "pipes = []\n"
        "for n in os.listdir('/proc/self/fd'):\n"
        "    try:\n"
        "        target = os.readlink('/proc/self/fd/' + n)\n"
        "    except OSError:\n"
        "        continue  # the fd listdir itself used, closed since\n"
        "    if int(n) > 2 and target.startswith('pipe:'):\n"
        "        pipes.append(n)\n"
        "print(json.dumps([pipes, os.environ.get('ALLIGATOR_SUPERVISOR')]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], close_fds=False, capture_output=True, text=True, check=True
    )
    with open(path, "w") as handle:
        json.dump(
            {"grandchild": json.loads(done.stdout), "task": os.environ.get("ALLIGATOR_SUPERVISOR")}, handle
        )
    _end(key)
    return key


def spawn_and_hang(key: str, path: str, seconds: float) -> None:
    """Starts ``sleep 1000``, writes its pid to ``path``, then ignores its time limit."""
    import subprocess

    sleeper = subprocess.Popen(["sleep", "1000"])
    with open(path, "w") as handle:
        handle.write(str(sleeper.pid))
    stubborn(key, seconds)
