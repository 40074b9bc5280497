"""``latergator``: the worker command.

Example::

    $ cd myproject
    $ latergator sqlite:///tasks.db --allow myapp.tasks

With neither ``--processes`` nor ``--concurrency`` it runs one worker
process per CPU this process may use (:mod:`alligator.cpus`: the affinity
mask and the cgroup CPU quota), with :data:`~alligator.cpus.DEFAULT_THREADS`
threads each, under the supervisor (:mod:`alligator.supervisor`) when that is
more than one; its start line says what it chose and why.

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
(tasks reserved ahead but not started are handed back, and those still
running after ``--shutdown-timeout`` too), or after ``--max-tasks``; 128 + the
signal's number when a second signal (or SIGQUIT) made it hand back the
tasks in hand at once; 2 on a bad argument or DSN, when no task module is
allowed, when an allowed module does not import (it names the module, the
error and the directories searched), when the setup module fails, or when
the store refuses for a reason retrying cannot fix (a database it does not
have, a wrong password: at start or later); an outage is waited out instead.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence

from alligator import arenas, cpus, logs, supervisor
from alligator.capabilities import Unsupported
from alligator.exceptions import AlligatorException, ConfigurationError, PermanentBackendError
from alligator.gator import Gator
from alligator.importcheck import check_allowed
from alligator.registry import DSN_ENV, backend_class_for, dsn_or_env
from alligator.scheduler import Scheduler
from alligator.security import NOTHING_ALLOWED, TaskPolicy

# Re-exported: they lived here before worker_arguments, and callers (doctor) import them from here.
from alligator.worker_arguments import add_import_paths as add_import_paths
from alligator.worker_arguments import build_parser as build_parser
from alligator.worker_arguments import run_setup as run_setup
from alligator.workers import Worker

log = logging.getLogger("alligator.worker")


class _CommandWorker(Worker):
    """The worker of ``latergator``: its start line also says where it looks and what it opened.

    With ``--schedules`` it runs a :class:`~alligator.scheduler.Scheduler`
    thread from its start to its stop.
    """

    start_line = ""
    start_fields: dict[str, object] = {}
    scheduler: Scheduler | None = None

    def starting(self) -> None:
        # Logged from the start hook, once the signal handlers are in place:
        # a SIGTERM sent as soon as this line shows still means a clean stop.
        if self.start_line:
            log.info("%s", self.start_line, extra=self.start_fields)
        super().starting()
        if self.scheduler is not None:
            self.scheduler.start()

    def stopping(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
        super().stopping()


def _scheduler(
    parser: argparse.ArgumentParser, args: argparse.Namespace, gator: Gator, slot: int | None
) -> Scheduler | None:
    """The scheduler of ``--schedules``, or None; exits with status 2 on a bad module, schedule or store.

    Every worker process checks the modules, so a bad one stops any of them
    at start; under a supervisor only the process in slot 0 runs the
    scheduler (one per ``latergator``, not one per process: more would only
    add refused pushes). Correctness never depends on how many run.
    """
    if not args.schedules:
        return None
    from alligator.schedules import load_schedules

    schedules = []
    try:
        for module in args.schedules:
            schedules.extend(load_schedules(module))
        made = Scheduler(gator, schedules)
    except (ConfigurationError, Unsupported) as err:
        parser.exit(2, f"latergator: error: --schedules: {err}\n")
    return made if slot in (None, 0) else None


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


def _check_paths(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exits with status 2 when a ``--path`` is not a directory."""
    for path in args.path:
        if not os.path.isdir(path):
            parser.error(f"--path {path}: no such directory (from {os.getcwd()})")


def _allowed(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[str, ...]:
    """The modules allowed; exits with status 2 when an entry is malformed or nothing is allowed."""
    try:
        allowed = TaskPolicy.build(args.allow).allow
    except ValueError as err:
        parser.exit(2, f"latergator: error: {err}\n")
    if not allowed:
        # A worker that may run nothing would dead-letter the whole queue,
        # one task at a time: refuse to start instead.
        parser.exit(2, f"latergator: error: {NOTHING_ALLOWED}\n")
    return tuple(allowed)


def _check_scheme(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exits with status 2 when no installed backend handles the DSN's scheme (nothing is opened)."""
    try:
        # A mistyped scheme is what to fix before anything else.
        backend_class_for(args.dsn)
    except AlligatorException as err:
        parser.exit(2, f"latergator: error: {err}\n")


def _pin(cpu: int | None) -> None:
    """Pins this worker process to the CPU its supervisor gave it, before any thread starts."""
    if cpu is None:
        return
    problem = cpus.pin_to(cpu)
    if problem is not None:
        # Pinning is for speed only: a CPU gone offline since the plan costs nothing else.
        log.warning("could not pin this worker process to CPU %d (%s); it runs on any", cpu, problem)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the worker command; returns its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.dsn = dsn_or_env(args.dsn)
    if args.dsn is None:
        parser.error(f"give the DSN of the store (e.g. sqlite:///tasks.db), or set {DSN_ENV}")
    # Several processes run under a supervisor; the children it starts are
    # plain workers, each choosing its threads as this process would.
    channel = supervisor.child_channel()
    slot = supervisor.child_slot() if channel is not None else None
    if channel is None:
        try:
            in_process = backend_class_for(args.dsn).in_process
        except AlligatorException:
            in_process = False  # refused below, as ever
        choice = cpus.choose(
            args.processes,
            args.concurrency,
            args.max_tasks,
            args.max_tasks_per_child,
            in_process=in_process,
            pin=args.cpu_pinning,
        )
    else:
        choice = cpus.choose(1, args.concurrency)
    if channel is None and choice.supervised:
        # What every child would refuse, refused once here, before any starts
        # (a --setup module may set ALLIGATOR_ALLOW: then the children check it).
        if args.max_tasks:
            parser.error("--max-tasks counts one worker's tasks; with --processes use --max-tasks-per-child")
        _check_paths(parser, args)
        if not args.setup:
            _allowed(parser, args)
        _check_scheme(parser, args)
        given = list(sys.argv[1:] if argv is None else argv)
        return supervisor.run_from_command(parser, args, given, replace=argv is None, choice=choice)
    logs.configure(args.log_level, args.log_format)
    # Before any thread starts (a --setup module may start some): a child of
    # the supervisor has MALLOC_ARENA_MAX in its environment already.
    arenas.limit_malloc_arenas()
    if channel is not None:
        _pin(supervisor.child_cpu())
    _check_paths(parser, args)
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
    # Checked before the store is opened (which may create an SQLite
    # file), after the setup module (which may set ALLIGATOR_ALLOW).
    allowed = _allowed(parser, args)
    _check_scheme(parser, args)
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
            concurrency=choice.threads,
            lease_seconds=args.lease_seconds,
            max_deliveries=args.max_deliveries,
            nap_time=args.nap_time,
            prefetch=args.prefetch,
            queues=queues,
            time_limit=args.time_limit,
            shutdown_timeout=args.shutdown_timeout,
        )
    except (AlligatorException, ValueError) as err:
        parser.exit(2, f"latergator: error: {err}\n")
    worker.scheduler = _scheduler(parser, args, gator, slot)
    worker.start_line = (
        f"latergator starting in {searched[0]}: store {gator.backend.describe()}, "
        f"queue{'s' if len(worker.queues) > 1 else ''} {', '.join(repr(q) for q in worker.queues)}; "
        f"task modules from {', '.join(searched)} and the installed packages; "
        f"allowed: {', '.join(worker.policy.allow)}; "
        + (
            f"{choice.describe()}"
            if channel is None
            else f"{worker.concurrency} thread{'s' if worker.concurrency != 1 else ''} "
            f"({'--concurrency given' if args.concurrency else 'the default'})"
        )
    )
    # The same facts as fields, for --log-format json.
    worker.start_fields = {
        "directory": searched[0],
        "paths": searched,
        "store": gator.backend.describe(),
        "queue": worker.to_consume,
        "queues": list(worker.queues),
        "allowed": list(worker.policy.allow),
        "threads": worker.concurrency,
    }
    if channel is None:
        worker.start_fields.update(processes=1, chosen=choice.why)
    if worker.scheduler is not None:
        names = [schedule.name for schedule in worker.scheduler.schedules]
        worker.start_line += f"; schedules: {', '.join(names) or 'none'} (from {', '.join(args.schedules)})"
        worker.start_fields["schedules"] = names
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
    if worker.abandoned and argv is None:
        # Tasks handed back may still run in their threads (blocked in C, or
        # in threads of their own that are not daemons): end the process now.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(worker.exit_status)
    gator.backend.close()
    return worker.exit_status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
