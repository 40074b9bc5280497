"""The supervisor's processes: started with ``posix_spawn``, each in a process group of its own.

Standard library only: the supervisor runs in a bare interpreter.
"""

from __future__ import annotations

import os
import signal
import time


def describe_exit(code: int) -> str:
    """``"was killed by SIGKILL"`` or ``"exited with status 1"``, for the log."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


class Process:
    """A process started with ``posix_spawn``: what the supervisor needs of ``subprocess.Popen``.

    ``subprocess`` would cost the supervisor 1.6 MiB of its ~12. With
    ``own_group`` the process leads a process group of its own, so
    :meth:`kill` reaches whatever it started too (a task's ``sleep 1000``),
    and a Ctrl-C at the terminal reaches only the supervisor, which passes
    it on once.

    Args:
        argv: The command, the interpreter first.
        env: Its environment.
        keep_fd: An fd the process inherits (every other one is closed on
            exec, as Python opens them).
        own_group: Start it in a process group of its own.
    """

    __slots__ = ("group", "pid", "returncode")

    def __init__(
        self, argv: list[str], env: dict[str, str], keep_fd: int | None = None, own_group: bool = False
    ) -> None:
        if keep_fd is not None:
            # Inherited by this child only: the supervisor starts one process at a
            # time, and closes its copy of the fd right after.
            os.set_inheritable(keep_fd, True)
        try:
            if own_group:
                self.pid = os.posix_spawn(argv[0], argv, env, setpgroup=0)
            else:
                self.pid = os.posix_spawn(argv[0], argv, env)
        finally:
            if keep_fd is not None:
                os.set_inheritable(keep_fd, False)
        self.group = own_group
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit status (negative: killed by that signal), or None while it runs."""
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = self.pid, 255 << 8
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        """Waits for the exit; returns the status, or None if ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                return None
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        """Sends ``signum`` to the process alone, unless it was already reaped."""
        if self.poll() is None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """SIGKILLs it, and its process group when it leads one.

        The group goes first, while the process is not reaped yet (so its
        pid, the group's id, cannot have been reused): what a task started
        must not outlive the child it was killed with.
        """
        if self.group and self.returncode is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.send_signal(signal.SIGKILL)
