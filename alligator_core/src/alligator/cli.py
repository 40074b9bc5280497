"""``latergator``: the worker command.

Example::

    $ cd myproject
    $ latergator sqlite:///tasks.db --allow myapp.tasks --concurrency 4

Task modules are imported from the directory the command is started in and
from each ``--path DIR``, as ``rq worker``, ``celery`` and ``huey_consumer``
do; those directories come *after* the installed packages on ``sys.path``, so
a file planted in them cannot stand in for an installed package.
``--setup MODULE`` imports a module of yours before the worker starts (to
call ``django.setup()``, push a Flask app context, configure logging).

Signing secrets come from ``ALLIGATOR_SECRET`` only, never the command line
(where ``ps`` would show them).

The DSN may be left out when ``ALLIGATOR_DSN`` is set, as for ``alligator``.

It exits 0 after a SIGTERM or SIGINT once the tasks in hand are finished
(tasks reserved ahead but not started are handed back), or after
``--max-tasks``; 2 on a bad argument or DSN, when no task module is allowed,
when an allowed module does not import (it names the module, the error and
the directories searched), when the setup module fails, or when the store
refuses for a reason retrying cannot fix (a database it does not have, a
wrong password: at start or later); an outage is waited out instead.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from alligator import logs, supervisor
from alligator.constants import ALL
from alligator.exceptions import AlligatorException, PermanentBackendError
from alligator.gator import DEFAULT_LEASE_SECONDS, DEFAULT_MAX_DELIVERIES, Gator
from alligator.importcheck import check_allowed
from alligator.registry import DSN_ENV, backend_class_for, dsn_or_env
from alligator.security import NOTHING_ALLOWED, TaskPolicy
from alligator.utils import import_attr
from alligator.workers import DEFAULT_PREFETCH, Worker

log = logging.getLogger("alligator.worker")


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
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
        help=f"a queue to consume (default: {ALL}); repeat it for several, in strict priority order: "
        "due work of the first queue that has some is always taken first",
    )
    parser.add_argument(
        "--max-tasks", type=_count(0), default=0, help="stop after N tasks (default: 0, never)"
    )
    parser.add_argument(
        "--concurrency", type=_count(1), default=1, help="tasks run at once, in threads (default: 1)"
    )
    parser.add_argument(
        "--time-limit",
        type=_positive_float,
        default=None,
        metavar="S",
        help="seconds a task may run unless it sets its own time_limit; past it TimeLimitExceeded "
        "is raised inside it (default: no limit)",
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
        "their time limit (default: one worker process, no supervisor)",
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


class _CommandWorker(Worker):
    """The worker of ``latergator``: its start line also says where it looks and what it opened."""

    start_line = ""
    start_fields: dict[str, object] = {}

    def starting(self) -> None:
        # Logged from the start hook, once the signal handlers are in place:
        # a SIGTERM sent as soon as this line shows still means a clean stop.
        if self.start_line:
            log.info("%s", self.start_line, extra=self.start_fields)
        super().starting()


def install_metrics(parser: argparse.ArgumentParser, worker: Worker, port: int | None) -> None:
    """Counts the worker's tasks for Prometheus; serves them on ``port`` (None: the supervisor serves them).

    Exits with status 2 when the ``metrics`` extra is missing or the port is taken.
    """
    try:
        from alligator import metrics

        metrics.install(worker, port)
    except ImportError as err:
        parser.exit(2, f"latergator: error: --metrics-port: {err}\n")
    except OSError as err:
        parser.exit(2, f"latergator: error: --metrics-port {port}: cannot listen there: {err}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the worker command; returns its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.dsn = dsn_or_env(args.dsn)
    if args.dsn is None:
        parser.error(f"give the DSN of the store (e.g. sqlite:///tasks.db), or set {DSN_ENV}")
    # --processes runs a supervisor; the children it starts are plain workers.
    channel = supervisor.child_channel()
    if channel is None and (args.processes is not None or args.max_tasks_per_child):
        given = list(sys.argv[1:] if argv is None else argv)
        return supervisor.run_from_command(parser, args, given, replace=argv is None)
    logs.configure(args.log_level, args.log_format)
    for path in args.path:
        if not os.path.isdir(path):
            parser.error(f"--path {path}: no such directory (from {os.getcwd()})")
    searched = add_import_paths(args.path)
    if args.setup:
        try:
            run_setup(args.setup)
        except Exception as err:
            # The traceback says where; the last line says what, as every
            # other reason latergator refuses to start does. A setup module
            # that is not found at all needs no traceback.
            missing = isinstance(err, ModuleNotFoundError) and err.name == args.setup.split(":")[0]
            if not missing:
                traceback.print_exc()
            parser.exit(
                2,
                f"latergator: error: --setup {args.setup} failed: {type(err).__name__}: {err}\n"
                f"(modules are imported from {', '.join(searched)} and the installed packages)\n",
            )
    try:
        # Checked before the store is opened (which may create an SQLite
        # file), after the setup module (which may set ALLIGATOR_ALLOW).
        allowed = TaskPolicy.build(args.allow).allow
    except ValueError as err:
        parser.exit(2, f"latergator: error: {err}\n")
    if not allowed:
        # A worker that may run nothing would dead-letter the whole queue,
        # one task at a time: refuse to start instead.
        parser.exit(2, f"latergator: error: {NOTHING_ALLOWED}\n")
    try:
        # The DSN's scheme first (nothing is opened yet): a mistyped scheme is
        # what to fix before anything else.
        backend_class_for(args.dsn)
    except AlligatorException as err:
        parser.exit(2, f"latergator: error: {err}\n")
    # A module that does not import here (a typo, the wrong directory) would
    # have every one of its tasks dead-lettered: refuse to start instead.
    broken = [check for check in check_allowed(allowed) if check.problem is not None]
    if broken:
        parser.exit(
            2,
            "".join(f"latergator: error: --allow {check.entry}: {check.problem}\n" for check in broken)
            + f"(modules are imported from {', '.join(searched)} and the installed packages; "
            f"started in {searched[0]}: {broken[0].what_to_do})\n",
        )
    try:
        queues = getattr(args, "queues", None) or [args.queue]
        gator = Gator(
            args.dsn, queue_name=queues[0], allow=args.allow, max_payload_bytes=args.max_payload_bytes
        )
        worker = _CommandWorker(
            gator,
            max_tasks=args.max_tasks_per_child
            if channel is not None and args.max_tasks_per_child
            else args.max_tasks,
            concurrency=args.concurrency,
            lease_seconds=args.lease_seconds,
            max_deliveries=args.max_deliveries,
            nap_time=args.nap_time,
            prefetch=args.prefetch,
            queues=queues,
            time_limit=args.time_limit,
        )
    except (AlligatorException, ValueError) as err:
        parser.exit(2, f"latergator: error: {err}\n")
    worker.start_line = (
        f"latergator starting in {searched[0]}: store {gator.backend.describe()}, "
        f"queue{'s' if len(worker.queues) > 1 else ''} {', '.join(repr(q) for q in worker.queues)}; "
        f"task modules from {', '.join(searched)} and the installed packages; "
        f"allowed: {', '.join(worker.policy.allow)}"
    )
    # The same facts as fields, for --log-format json.
    worker.start_fields = {
        "directory": searched[0],
        "paths": searched,
        "store": gator.backend.describe(),
        "queue": worker.to_consume,
        "queues": list(worker.queues),
        "allowed": list(worker.policy.allow),
    }
    try:
        # One look at the store before the worker reports itself up: a
        # database it does not have or a wrong password stops it here (exit 2,
        # which a supervisor does not retry); an outage is waited out as ever.
        gator.backend.len(worker.to_consume)
    except PermanentBackendError as err:
        parser.exit(2, f"latergator: error: {err}\n")
    except Exception:  # the worker reports and retries an outage itself
        pass
    if channel is not None:
        supervisor.report_events(worker, channel)
    if args.metrics_port is not None:
        install_metrics(parser, worker, None if channel is not None else args.metrics_port)
    try:
        worker.run_forever()
    except PermanentBackendError as err:
        gator.backend.close()
        parser.exit(2, f"latergator: error: {err}\n")
    gator.backend.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
