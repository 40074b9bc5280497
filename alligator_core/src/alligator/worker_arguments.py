"""``latergator``'s arguments, and the start-up steps they drive (import paths, the setup module).

Shared by the worker command (:mod:`alligator.cli`) and the supervisor's
settling process (:mod:`alligator.supervisor`), which reads the children's
arguments as a worker would; neither imports the other for them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from alligator import logs
from alligator.constants import ALL
from alligator.cpus import DEFAULT_THREADS
from alligator.gator import DEFAULT_LEASE_SECONDS, DEFAULT_MAX_DELIVERIES
from alligator.registry import DSN_ENV
from alligator.tasks import check_time_limit
from alligator.utils import import_attr
from alligator.workers import DEFAULT_PREFETCH, DEFAULT_SHUTDOWN_TIMEOUT


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def _time_limit(text: str) -> float | None:
    try:
        return check_time_limit(float(text), "--time-limit")  # the one rule a task's own limit keeps
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _count_seconds(text: str) -> float:
    value = float(text)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be seconds from 0 up, not {text}")
    return value


def _count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {text}")
        return value

    return parse


class _QueueAction(argparse.Action):
    """``--queue`` may be repeated: ``queues`` lists them in order; ``queue`` is the first."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        queues = [*(getattr(namespace, "queues", None) or []), values]
        namespace.queues = queues
        namespace.queue = queues[0]


def build_parser() -> argparse.ArgumentParser:
    """Returns the argument parser of ``latergator``."""
    parser = argparse.ArgumentParser(
        prog="latergator",
        description="Run an Alligator worker: take tasks off a queue and run them.",
    )
    parser.add_argument(
        "dsn",
        nargs="?",
        help="the queue store, e.g. sqlite:///tasks.db or redis://localhost:6379/0 "
        f"(default: ${DSN_ENV}, as the alligator command reads it)",
    )
    parser.add_argument(
        "--queue",
        action=_QueueAction,
        default=ALL,
        metavar="NAME",
        help=f"a queue to consume (default: the queue named {ALL!r}, where Gator(DSN) puts tasks unless "
        "given a queue_name; not every queue); repeat it for several, in strict priority order: "
        "due work of the first queue that has some is always taken first",
    )
    parser.add_argument(
        "--max-tasks", type=_count(0), default=0, help="stop after N tasks (default: 0, never)"
    )
    parser.add_argument(
        "--concurrency",
        type=_count(1),
        default=None,
        metavar="N",
        help=f"tasks run at once in each process, in threads (default: {DEFAULT_THREADS})",
    )
    parser.add_argument(
        "--time-limit",
        type=_time_limit,
        default=None,
        metavar="S",
        help="seconds a task may run unless it sets its own time_limit; past it TimeLimitExceeded "
        "is raised inside it (default: no limit)",
    )
    parser.add_argument(
        "--shutdown-timeout",
        type=_count_seconds,
        default=DEFAULT_SHUTDOWN_TIMEOUT,
        metavar="S",
        help="on SIGTERM/SIGINT, seconds the tasks in hand may take to finish; what still runs then is "
        "handed back to the queue (default: %(default)g; a second signal hands it back at once)",
    )
    parser.add_argument(
        "--prefetch",
        type=_count(1),
        default=DEFAULT_PREFETCH,
        metavar="N",
        help="most tasks reserved in one call; batches are sized by the tasks' speed, so only tiny "
        "tasks fill it (default: %(default)s; 1 reserves only what a free thread starts)",
    )
    parser.add_argument(
        "--lease-seconds",
        type=_positive_float,
        default=DEFAULT_LEASE_SECONDS,
        help="lease on each task, renewed while it runs (default: %(default)s)",
    )
    parser.add_argument(
        "--max-deliveries",
        type=_count(1),
        default=DEFAULT_MAX_DELIVERIES,
        help="dead-letter a task after this many deliveries that never finished (default: %(default)s)",
    )
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="MODULE",
        help="run tasks of this module and its submodules (repeatable; also ALLIGATOR_ALLOW); "
        "tasks of modules not allowed are dead-lettered unimported",
    )
    parser.add_argument(
        "--max-payload-bytes",
        type=_count(1),
        default=None,
        help="dead-letter payloads larger than this, unread (default: 262144)",
    )
    parser.add_argument(
        "--nap-time", type=_positive_float, default=0.1, help="seconds to sleep on an empty queue"
    )
    parser.add_argument(
        "--path",
        action="append",
        default=[],
        metavar="DIR",
        help="also import task modules from DIR (repeatable); the directory latergator is started in "
        "is always searched; both come after the installed packages",
    )
    parser.add_argument(
        "--setup",
        metavar="MODULE",
        help="import MODULE before the worker starts (e.g. one that calls django.setup()); "
        "MODULE:FUNCTION also calls FUNCTION()",
    )
    parser.add_argument(
        "--schedules",
        action="append",
        default=[],
        metavar="MODULE",
        help="run the periodic tasks of MODULE's SCHEDULES list in this worker (repeatable); any number "
        "of workers may: each tick is enqueued once (see docs/schedules.md)",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="logging level"
    )
    parser.add_argument(
        "--log-format",
        default="text",
        choices=list(logs.FORMATS),
        help="text: one line per event (default); json: one JSON object per line, for log shippers",
    )
    # The supervisor's options
    parser.add_argument(
        "--processes",
        type=_count(1),
        default=None,
        metavar="N",
        help="run N worker processes under a supervisor that restarts them and kills tasks past "
        "their time limit (default: one per CPU this process may use, by its affinity mask and "
        "cgroup CPU quota; with one CPU, or with --max-tasks, one worker process and no supervisor)",
    )
    parser.add_argument(
        "--cpu-pinning",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="with several worker processes, pin each to a CPU of its own when there are as many CPUs "
        "in the affinity mask and no narrower cgroup quota: its threads then hand Python's GIL to "
        "each other on one CPU, much cheaper (default: on; --no-cpu-pinning lets them move)",
    )
    parser.add_argument(
        "--max-tasks-per-child",
        type=_count(0),
        default=0,
        metavar="N",
        help="replace each worker process after N tasks (implies a supervisor; default: 0, never)",
    )
    parser.add_argument(
        "--metrics-port",
        type=_count(0),
        default=None,
        metavar="PORT",
        help="serve Prometheus metrics on 127.0.0.1:PORT/metrics (needs alligator-core[metrics]); "
        "under --processes one endpoint serves every worker process",
    )
    return parser


def add_import_paths(paths: Sequence[str], cwd: str | None = None) -> list[str]:
    """Lets task modules be imported from the start directory and ``paths``.

    Each directory is appended to ``sys.path``, after the installed packages,
    unless it is on it already: a module planted there (``redis.py``,
    ``django/``) cannot replace an installed package, only add new names.

    Args:
        paths: Directories given with ``--path``, relative to ``cwd`` or absolute.
        cwd: The start directory; the process's working directory by default.

    Returns:
        The absolute directories searched, the start directory first.
    """
    start = os.path.abspath(cwd if cwd is not None else os.getcwd())
    searched: list[str] = []
    for path in [start, *(os.path.join(start, path) for path in paths)]:
        path = os.path.normpath(path)
        if path in searched:
            continue
        searched.append(path)
        on_path = {os.path.abspath(entry or os.curdir) for entry in sys.path}
        if path not in on_path:
            sys.path.append(path)
    return searched


def run_setup(spec: str) -> None:
    """Imports the ``--setup`` module; for ``module:function``, also calls ``function()``.

    Args:
        spec: ``"myproject.worker_setup"`` or ``"myproject.worker_setup:configure"``.

    Raises:
        Exception: Whatever the module or the function raised.
    """
    module, _, function = spec.partition(":")
    if function:
        import_attr(module, function)()
    else:
        import importlib

        importlib.import_module(module)
