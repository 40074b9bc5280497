"""``latergator --processes N``: a supervisor that keeps N worker processes running.

Example::

    $ latergator redis://localhost:6379/0 --allow myapp.tasks --processes 4 --concurrency 8

The supervisor starts N children, each an ordinary ``latergator`` worker
(``python -m alligator`` with the same arguments, so ``--path``, ``--setup``,
``--concurrency``, logging and everything else apply in each), and then:

* restarts a child that dies, at once if it had been running a while, after
  a growing pause (up to :data:`~alligator.supervisor.loop.MAX_RESTART_DELAY`)
  if it keeps dying at start-up, and says so in its log;
* passes SIGTERM/SIGINT on: the first lets the children finish the tasks in
  hand (handing back what still runs at their ``--shutdown-timeout``), and
  the supervisor exits 0 once they have; a second one is sent on as
  SIGQUIT, so every child hands its tasks back at once and exits, and the
  supervisor exits 128 + the signal's number;
* with ``--max-tasks-per-child N``, lets each child exit after N tasks (the
  worker's ``max_tasks``) and starts a fresh one in its place;
* enforces hard time limits: every child reports each task it starts and
  finishes over a pipe (read as untrusted); a task still running
  :data:`~alligator.supervisor.loop.DEFAULT_GRACE_SECONDS` after its time
  limit (the worker's own exception was ignored: the task is blocked in C
  code, or swallowed it) gets its child's process group SIGKILLed, and is
  settled as a failure, "time limit of S s exceeded; the process was
  killed", through the same rules as any failure (a retry after its backoff
  while it has retries left, else the dead letters), so it is not handed
  out again and again as a crash; a child whose pipe ends while it runs is
  stopped and replaced;
* is watched by its children: if it dies on its own (SIGKILL), each child
  stops as on SIGTERM, and the metrics endpoint exits.

Modules: :mod:`~alligator.supervisor.loop` (the loop),
``children`` (what it knows of each child), ``protocol`` (the pipe),
``processes`` (spawning, process groups), ``metricsdir`` (``--metrics-port``'s
directory), ``settle`` (the settling process), ``command`` (its command line).

The supervisor holds no task and imports no task code. Started from the
command line it replaces itself (``exec``) with a bare interpreter running
this file, importing nothing but the standard library, so it costs ~12 MiB
whatever the children import. Settling a killed task needs the queue store:
a short-lived ``python -m alligator.supervisor --settle`` process does that.
"""

from __future__ import annotations

from .command import main, run_from_command
from .loop import (
    CHILD_ENV,
    DEFAULT_GRACE_SECONDS,
    DEFAULT_SHUTDOWN_TIMEOUT,
    FIRST_RESTART_DELAY,
    MAX_RESTART_DELAY,
    METRICS_DIR_ENV,
    STARTUP_SECONDS,
    TICK_SECONDS,
    Supervisor,
)
from .protocol import child_channel, child_cpu, child_slot, report_events, supervisor_pid
from .settle import settle_killed

__all__ = [
    "CHILD_ENV",
    "DEFAULT_GRACE_SECONDS",
    "DEFAULT_SHUTDOWN_TIMEOUT",
    "FIRST_RESTART_DELAY",
    "MAX_RESTART_DELAY",
    "METRICS_DIR_ENV",
    "STARTUP_SECONDS",
    "TICK_SECONDS",
    "Supervisor",
    "child_channel",
    "child_cpu",
    "child_slot",
    "main",
    "report_events",
    "run_from_command",
    "settle_killed",
    "supervisor_pid",
]
