"""Task functions of the limits tests, and the checks made on what they record.

Each task appends one line per event to a file (one ``os.write`` with
``O_APPEND``: lines of several processes never interleave), so the tests
check the limits from the tasks' own account, never from the store's.
"""

from __future__ import annotations

import math
import os
import signal
import time


def _line(path: str, text: str) -> None:
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


def killed_once(path: str, label: str, seconds: float) -> str:
    """On its first run, records its start and SIGKILLs its own worker mid-task; then runs as :func:`hold`."""
    if not any(row[3] == label for row in read(path)):
        _line(path, f"start {time.time():.6f} {os.getpid()} {label}\n")
        # The run's end: the process dies as the signal is sent (see :func:`kills`).
        _line(path, f"kill {time.time():.6f} {os.getpid()} {label}\n")
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(10)  # pragma: no cover - the signal is on its way
    return hold(path, label, seconds)


def read(path: str) -> list[tuple[str, float, int, str]]:
    """The lines recorded so far: ``(kind, time, pid, label)``."""
    if not os.path.exists(path):
        return []
    with open(path) as handle:
        rows = [line.split() for line in handle if line.endswith("\n")]
    return [(kind, float(at), int(pid), label) for kind, at, pid, label in rows]


def kills(rows: list[tuple[str, float, int, str]]) -> dict[int, float]:
    """pid -> when a :func:`killed_once` run SIGKILLed that process (its ``kill`` line)."""
    return {pid: at for kind, at, pid, _ in rows if kind == "kill"}


def runs(rows: list[tuple[str, float, int, str]], killed: dict[int, float]) -> list[tuple[float, float]]:
    """Each run as ``(start, end)``: one process's start and end of one label, or the kill of its process.

    A task killed with its worker runs again elsewhere under the same label;
    a run with neither an end nor a kill is still running (end: infinity).
    """
    ends = {(pid, label): at for kind, at, pid, label in rows if kind == "end"}
    return [
        (at, ends.get((pid, label), killed.get(pid, float("inf"))))
        for kind, at, pid, label in rows
        if kind == "start"
    ]


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The most runs open at one instant (at one instant an end counts before a start)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
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


#: The latest a task may record its start after the store let it go (seconds):
#: a thread switch, a process the busy machine did not schedule, a commit
#: waiting on the disk. The checks allow for a lag of up to this much on any
#: start, the first included, instead of a fraction of the rate: a lag of the
#: first start alone shortens the measured span by all of it. Half a period
#: at most: a lag of a whole one would let a burst of twice the limit pass.
START_LAG = 0.5


def check_rate(starts: list[float], count: int, per: float) -> dict[str, float]:
    """Checks starts against ``count`` per ``per`` seconds; returns the figures measured.

    The limiter lets ``count`` go at once after a quiet spell, then one per
    ``per / count``, on the store's clock; each start is recorded up to
    :data:`START_LAG` after its slot. So:

    * after the first ``count``, the starts come at no more than the rate
      over the span from the first start to the last, lengthened by the lag
      (the first start may be that late, the last on time);
    * no window of two periods holds more than the limiter lets go in two
      periods and the lag: ``count`` at once, and one per slot after.
    """
    starts = sorted(starts)
    span = starts[-1] - starts[0]
    bound = (len(starts) - count) / (span + START_LAG) * per
    window = most_in_window(starts, 2 * per)
    allowed = count + math.floor((2 * per + START_LAG) * count / per)
    assert window <= allowed, f"{window} starts in two periods (at most {allowed})"
    assert bound <= count, f"{bound:.1f} per period after the first {count}, allowing for lag"
    after_burst = (len(starts) - count) / max(span, 1e-9)  # as seen, for the figures
    return {"span": round(span, 2), "rate": round(after_burst, 2), "window": window}
