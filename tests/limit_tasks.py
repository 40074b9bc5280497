"""Task functions of the limits tests: each records when it ran, so the tests check the limits by it."""

from __future__ import annotations

import os
import time


def _line(path: str, text: str) -> None:
    # One write of one line with O_APPEND: lines of several processes never interleave.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def stamp(path: str, label: str) -> str:
    """Records ``start TIME PID LABEL`` and returns at once (the rate tests)."""
    _line(path, f"start {time.time():.6f} {os.getpid()} {label}\n")
    return label


def hold(path: str, label: str, seconds: float) -> str:
    """Records its start, runs ``seconds``, records its end (the concurrency tests)."""
    _line(path, f"start {time.time():.6f} {os.getpid()} {label}\n")
    time.sleep(seconds)
    _line(path, f"end {time.time():.6f} {os.getpid()} {label}\n")
    return label


def read(path: str) -> list[tuple[str, float, int, str]]:
    """The lines recorded so far: ``(kind, time, pid, label)``."""
    if not os.path.exists(path):
        return []
    with open(path) as handle:
        rows = [line.split() for line in handle if line.endswith("\n")]
    return [(kind, float(at), int(pid), label) for kind, at, pid, label in rows]


def most_at_once(rows: list[tuple[str, float, int, str]], killed_at: dict[int, float] | None = None) -> int:
    """The most tasks running at one instant: a start opens a run, its end (or its process's kill) closes it.

    A run is one process's start and end of one label (a task killed with
    its worker runs again elsewhere, under the same label).
    """
    ends = {(pid, label): at for kind, at, pid, label in rows if kind == "end"}
    events = []
    for kind, at, pid, label in rows:
        if kind == "start":
            end = ends.get((pid, label), (killed_at or {}).get(pid, float("inf")))
            events.append((at, 1))
            events.append((end, -1))
    # At the same instant an end comes before a start: the slot was given back first.
    events.sort(key=lambda event: (event[0], event[1]))
    running = most = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


def most_in_window(starts: list[float], window: float) -> int:
    """The most starts within any ``window`` seconds (half-open)."""
    starts = sorted(starts)
    most = first = 0
    for last, at in enumerate(starts):
        while at - starts[first] >= window:
            first += 1
        most = max(most, last - first + 1)
    return most
