"""What the supervisor knows of each child: its process, its pipe, the tasks it reported.

Standard library only: the supervisor runs in a bare interpreter.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence

from . import protocol
from .processes import Process

log = logging.getLogger("alligator.supervisor")

#: Seconds between two warnings about a child's unreadable reports.
BAD_REPORT_LOG_SECONDS = 10.0


def shutdown_timeout_in(argv: Sequence[str], default: float) -> float:
    """The ``--shutdown-timeout`` the children are given (the last one wins, as in argparse)."""
    found = default
    for index, arg in enumerate(argv):
        text = None
        if arg == "--shutdown-timeout" and index + 1 < len(argv):
            text = argv[index + 1]
        elif arg.startswith("--shutdown-timeout="):
            text = arg.partition("=")[2]
        if text is not None:
            try:
                found = float(text)
            except ValueError:
                pass  # the child refuses it, with status 2
    return found


class Child:
    """One worker process and what it reported."""

    __slots__ = (
        "bad_logged_at",
        "bad_reports",
        "cut_at",
        "eof_at",
        "expired",
        "proc",
        "read_fd",
        "reader",
        "running",
        "slot",
        "started",
        "up",
    )

    def __init__(self, slot: int, proc: Process, read_fd: int) -> None:
        self.slot = slot
        self.proc = proc
        self.read_fd = read_fd
        self.reader = protocol.LineReader()
        self.started = time.monotonic()
        self.up = False
        self.running: dict[tuple[str, str], protocol.Running] = {}
        #: Tasks past their hard limit, for which the child was killed.
        self.expired: list[protocol.Running] = []
        #: When its pipe ended (None: open).
        self.eof_at: float | None = None
        #: When it was told to stop (a drain, or it can no longer be watched).
        self.cut_at: float | None = None
        self.bad_reports = 0
        self.bad_logged_at: float | None = None

    def read_reports(self) -> bool:
        """Reads what the child wrote (the fd is non-blocking); returns True once the pipe ended."""
        while True:
            try:
                data = os.read(self.read_fd, 65536)
            except BlockingIOError:
                return False
            except OSError:
                data = b""
            if not data:
                self.eof_at = time.monotonic()
                return True
            lines, dropped = self.reader.feed(data)
            for _ in range(dropped):
                self._bad_report(f"a line longer than {protocol.MAX_LINE_BYTES} bytes", b"")
            for line in lines:
                self._on_report(line)

    def _on_report(self, line: bytes) -> None:
        # Task code runs in the child and may write here: nothing read is trusted.
        try:
            message = protocol.parse(line)
            kind = message["event"]
            if kind == protocol.UP:
                self.up = True
            elif kind == protocol.STARTED:
                if len(self.running) >= protocol.MAX_WATCHED:
                    raise protocol.BadReport(f"more than {protocol.MAX_WATCHED} tasks running at once")
                running = protocol.Running(message, time.monotonic())
                self.running[(running.task_id, running.receipt)] = running
            elif kind == protocol.FINISHED:
                self.running.pop(protocol.key_of(message), None)
            else:
                raise protocol.BadReport(f"unknown event {kind[:50]!r}")
        except protocol.BadReport as err:
            self._bad_report(str(err), line)

    def _bad_report(self, why: str, line: bytes) -> None:
        """Logs an unreadable report (the first, then at most one per BAD_REPORT_LOG_SECONDS); ignores it."""
        self.bad_reports += 1
        now = time.monotonic()
        if self.bad_logged_at is not None and now - self.bad_logged_at < BAD_REPORT_LOG_SECONDS:
            return
        self.bad_logged_at = now
        log.warning(
            "worker process %d (pid %d) sent an unreadable report (%s), ignored (%d so far; is a task "
            "writing to the supervisor's pipe?): %r",
            self.slot,
            self.proc.pid,
            why,
            self.bad_reports,
            line[:200],
        )
