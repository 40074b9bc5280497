"""The metrics directory of a supervisor (``--metrics-port``): where its children write their values.

prometheus_client's multiprocess mode: every child writes its counters to
files of its own in one directory, and one endpoint process
(``python -m alligator.metrics``) serves their sum. The supervisor only
makes the directory, starts the endpoint, tells it which children died (a
file ``dead/PID``: the endpoint folds their counters into one file and drops
their gauges, so the directory does not grow with every child ever started),
and removes it when it stops. The children share one budget of label values
there (see :mod:`alligator.metrics`).

Standard library only: the supervisor runs in a bare interpreter.
"""

from __future__ import annotations

import os
import shutil
import tempfile

#: prometheus_client's multiprocess directory, set for the children under --metrics-port.
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: The subdirectory where the supervisor lists its dead children, one empty file per pid.
DEAD = "dead"


def make() -> str:
    """Makes a fresh directory and sets :data:`METRICS_DIR_ENV` so every child started from now on uses it."""
    directory = tempfile.mkdtemp(prefix="alligator-metrics-")
    os.makedirs(os.path.join(directory, DEAD), exist_ok=True)
    os.environ[METRICS_DIR_ENV] = directory
    return directory


def mark_dead(directory: str, pid: int) -> None:
    """Tells the endpoint that child ``pid`` exited: its counters are folded in, its gauges dropped."""
    try:
        os.close(os.open(os.path.join(directory, DEAD, str(pid)), os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError:
        pass  # the directory went away: nothing left to tidy


def remove(directory: str) -> None:
    """Removes the directory, when the supervisor stops."""
    shutil.rmtree(directory, ignore_errors=True)
    if os.environ.get(METRICS_DIR_ENV) == directory:
        del os.environ[METRICS_DIR_ENV]
