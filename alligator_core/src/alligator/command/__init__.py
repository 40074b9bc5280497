"""``alligator``: see into a queue store and steer it from a shell.

Example::

    $ alligator info redis://localhost:6379/0
    $ alligator tasks sqlite:///tasks.db --queue emails --state dead
    $ alligator requeue sqlite:///tasks.db --queue emails --all --yes
    $ alligator doctor redis://localhost:6379/0 --allow myapp
    $ alligator pause sqlite:///tasks.db --queue emails
    $ alligator unique sqlite:///tasks.db --queue reports
    $ alligator limits redis://localhost:6379/0

Every subcommand takes the store's DSN first; it may be left out when
``ALLIGATOR_DSN`` is set. ``--json`` prints one stable JSON document instead
of a table (see ``docs/operating.md`` for the shapes). ``--queue`` defaults
to the queue a :class:`~alligator.gator.Gator` uses by default, ``"all"``;
``show``, ``result`` and ``cancel`` find the queue holding the task instead
(ids are unique; see ``alligator.command._lookup``).

Exit status: 0 when it did what was asked (``doctor``: nothing is wrong); 1
when a task was not found or not in a state the command acts on, a result is
not there, ``doctor`` has findings, the store failed, the store cannot do
what was asked (it lacks the capability: the message says what it cannot
do, in the words of :mod:`alligator.capabilities`, as the dashboard and
``doctor`` say it), or a confirmation was declined; 2 on a usage error
(bad arguments, a DSN no backend handles, a destructive command without
``--yes`` and no terminal to confirm on, the dashboard without its extra,
a store that refuses for good: no such database, bad credentials); 130
when interrupted (``info --watch`` exits 0 on Ctrl-C); 141, quietly, when the reader of its output went away
(``alligator tasks DSN | head``), as for any command a closed pipe stops.

Nothing read from the store reaches the terminal unescaped
(:func:`alligator.text.printable`), and no DSN is shown with its password
(:func:`alligator.text.redact_dsn`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from alligator.constants import ALL, STATE_ALIASES, TASK_STATES
from alligator.registry import DSN_ENV, dsn_or_env
from alligator.text import printable, redact_dsn

__all__ = ["DSN_ENV", "build_parser", "main"]

#: The exit status when the reader of stdout went away (``| head``): 128 + SIGPIPE, as shells report it.
PIPE_CLOSED = 141
#: Where ``alligator dashboard`` reads its password (as ``alligator.dashboard``, which needs an extra).
DASHBOARD_TOKEN_ENV = "ALLIGATOR_DASHBOARD_TOKEN"
#: Where ``alligator dashboard`` listens unless ``--bind`` says otherwise (as ``alligator.dashboard``).
DEFAULT_BIND = "127.0.0.1:8765"


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, not {text}")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, not {text}")
    return value


class _Intermixed(argparse.ArgumentParser):
    """A subcommand's parser that takes options between positionals (``requeue DSN -q Q a b --yes c``).

    Plain argparse gives a ``nargs="*"`` positional only the words before
    the first option; the intermixed parse collects them all.
    """

    _inner = False

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if self._inner:
            return super().parse_known_args(args, namespace)
        self._inner = True
        try:
            return super().parse_known_intermixed_args(args, namespace)
        finally:
            self._inner = False


def build_parser() -> argparse.ArgumentParser:
    """Returns the argument parser of ``alligator`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="alligator",
        description="See into an Alligator queue store and steer it. "
        f"Each subcommand takes the DSN first, or reads {DSN_ENV}.",
        epilog="exit status: 0 done (doctor: nothing wrong); 1 not found, failed or pending, doctor "
        "findings, the store failed or cannot do it, or not confirmed; 2 usage error (including a "
        "destructive "
        "command without --yes and no terminal to confirm on); 141 the reader of the output left "
        "(| head)",
    )
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=_Intermixed
    )

    def command(
        name: str,
        help_text: str,
        queue: bool | str = False,
        destructive: bool = False,
        json: bool = True,
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "dsn",
            nargs="?",
            metavar="DSN",
            help=f"the queue store, e.g. sqlite:///tasks.db (default: ${DSN_ENV})",
        )
        if json:
            sub.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
        if queue == "find":
            # Ids are unique: the queue holding the task is looked up (command/_lookup.py).
            sub.add_argument(
                "--queue", "-q", default=None, help="the queue (default: the one holding the task)"
            )
        elif queue:
            sub.add_argument("--queue", "-q", default=ALL, help="the queue (default: %(default)s)")
        if destructive:
            sub.add_argument(
                "--yes",
                "-y",
                action="store_true",
                help="do it without asking (needed when stdin is not a terminal)",
            )
        return sub

    info = command("info", "every queue with its counts per state, and the live workers")
    info.add_argument(
        "--watch",
        nargs="?",
        type=_positive,
        const=2.0,
        default=None,
        metavar="SECONDS",
        help="refresh every SECONDS (default 2) until Ctrl-C; with --json, one line of JSON each time",
    )

    tasks = command("tasks", "list one page of a queue's tasks in one state", queue=True)
    tasks.add_argument(
        "--state",
        "-s",
        choices=[*TASK_STATES, *STATE_ALIASES, "succeeded"],
        default="waiting",
        help="failed is dead (failed for good); succeeded lists the tasks finished within the store's "
        "status TTL, newest first, with their results, where the store keeps results (default: %(default)s)",
    )
    tasks.add_argument("--offset", type=_non_negative, default=0, help="tasks to skip (default: 0)")
    tasks.add_argument("--limit", type=_non_negative, default=50, help="most tasks to list (default: 50)")

    show = command("show", "one task: status, call, options, attempts, result or reason", queue="find")
    show.add_argument("task_id", metavar="TASK_ID")

    requeue = command("requeue", "put dead letters back on the queue", queue=True, destructive=True)
    requeue.add_argument("task_ids", nargs="*", metavar="TASK_ID", help="the dead letters to requeue")
    requeue.add_argument("--all", action="store_true", help="requeue every dead letter of the queue")

    delete = command("delete", "delete dead letters for good", queue=True, destructive=True)
    delete.add_argument("task_ids", nargs="*", metavar="TASK_ID", help="the dead letters to delete")

    purge = command(
        "purge",
        "delete everything a queue holds (waiting, delayed, running, dead); "
        "with --dead only its dead letters",
        queue=True,
        destructive=True,
    )
    purge.add_argument("--dead", action="store_true", help="delete only the dead letters; live tasks stay")

    cancel = command(
        "cancel", "remove a waiting or delayed task so it never runs", queue="find", destructive=True
    )
    cancel.add_argument("task_id", metavar="TASK_ID")

    result = command("result", "a finished task's return value (JSON), or why it failed", queue="find")
    result.add_argument("task_id", metavar="TASK_ID")
    result.add_argument(
        "--wait", type=_seconds, default=0.0, metavar="SECONDS", help="wait up to SECONDS for it to finish"
    )

    command("workers", "the live workers and the tasks they are running")

    for name, help_text in (
        ("pause", "pause a queue or a function for every worker; with neither, list what is paused"),
        ("resume", "resume a paused queue or function"),
    ):
        sub = command(name, help_text)
        sub.add_argument("--queue", "-q", default=None, help="the queue")
        sub.add_argument(
            "--function", "-f", default=None, metavar="MODULE:NAME", help="the function, in every queue"
        )

    held = command("unique", "the unique keys held in a queue, and the task holding each", queue=True)
    held.add_argument(
        "--limit", type=_non_negative, default=100, metavar="N", help="show at most N keys (default: 100)"
    )
    command("schedules", "each schedule's queue, last tick enqueued and next tick (docs/schedules.md)")
    command(
        "limits",
        "the rate and concurrency limit keys in use: their limit, how many are held, how many tasks wait",
    )

    doctor = command("doctor", "check a deployment for what would lose or stall tasks")
    doctor.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="MODULE",
        help="a task module the workers allow, to check it imports here (repeatable; also ALLIGATOR_ALLOW)",
    )

    # A web server prints no document: no --json.
    dashboard = command("dashboard", "serve the web dashboard (needs the core's dashboard extra)", json=False)
    dashboard.add_argument(
        "--bind", default=DEFAULT_BIND, metavar="HOST:PORT", help="where to listen (default: %(default)s)"
    )
    dashboard.add_argument(
        "--password",
        default=None,
        metavar="PASSWORD",
        help=f"require this password; better set {DASHBOARD_TOKEN_ENV}: a password on the command line "
        "shows in ps to every user of the machine",
    )
    return parser


def _resolve_dsn(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    """Takes the DSN from the first positional, or from ``ALLIGATOR_DSN``.

    With ``ALLIGATOR_DSN`` set the DSN may be left out; a first positional
    without ``://`` is then the first task id, not a DSN.
    """
    dsn: str | None = args.dsn
    if dsn is not None and "://" not in dsn and dsn_or_env(None):
        ids = getattr(args, "task_ids", None)
        if ids is not None:
            ids.insert(0, dsn)
            dsn = None
    dsn = dsn_or_env(dsn)
    if dsn is None:
        parser.error(f"give the DSN of the store first, or set {DSN_ENV}")
    return dsn


def _reader_gone() -> int:
    """What a closed pipe on stdout (``alligator info | head -2``) ends in: quietly, status 141.

    Not a failure of the store, and nothing to print: the reader chose to
    stop. 141 (128 + SIGPIPE) is what a shell reports for a command a
    closed pipe stopped, so scripts see what ``cat`` or ``grep`` would give
    them. stdout is pointed at /dev/null so the interpreter's last flush of
    what is still buffered fails no more.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return PIPE_CLOSED


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``alligator``; returns its exit status."""
    try:
        status = _run(argv)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        return _reader_gone()


def _run(argv: Sequence[str] | None) -> int:
    """Parses the arguments and runs one subcommand; returns its exit status."""
    from alligator.command import _commands, _one_task
    from alligator.command._lookup import Ambiguous
    from alligator.exceptions import PermanentBackendError

    parser = build_parser()
    args = parser.parse_args(argv)
    dsn = _resolve_dsn(args, parser)
    if args.command in ("requeue",) and bool(args.task_ids) == bool(args.all):
        parser.error("requeue takes TASK_ID... or --all (one of them)")
    if args.command == "delete" and not args.task_ids:
        parser.error("delete takes one TASK_ID or more (purge --dead deletes them all)")
    if args.command == "dashboard":
        return _commands.dashboard(dsn, args)
    if args.command == "doctor":
        return _commands.doctor(dsn, args)
    from alligator.admin import Admin
    from alligator.capabilities import Unsupported
    from alligator.exceptions import AlligatorException
    from alligator.registry import load_backend

    try:
        backend = load_backend(dsn)
    except (AlligatorException, ValueError) as err:
        # A DSN no backend handles is a usage error, as latergator says it.
        sys.stderr.write(f"alligator: error: {printable(err, 500)}\n")
        return 2
    try:
        from alligator.command import _limits, _pausing, _schedules, _unique

        # Each command's handler lives in the module that lists it in COMMANDS.
        handlers = (_pausing, _unique, _schedules, _limits)
        module = next((m for m in handlers if args.command in m.COMMANDS), _commands)
        handler = getattr(module, args.command, None) or getattr(_one_task, args.command)
        status = int(handler(Admin(backend), args))
        # Flushed here, not at exit: a reader that left (| head) is seen in main().
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        raise
    except KeyboardInterrupt:
        return 130
    except Ambiguous as err:
        sys.stderr.write(f"alligator: error: {err}\n")
        return 2
    except Unsupported as err:
        # The message says what the store cannot do, as the dashboard and doctor say it.
        sys.stderr.write(f"alligator: {printable(err, 500)}\n")
        return 1
    except NotImplementedError as err:
        sys.stderr.write(f"alligator: error: this store cannot do it: {printable(err, 500)}\n")
        return 1
    except PermanentBackendError as err:
        # A wrong database or password: the DSN or the server needs fixing, not another try.
        sys.stderr.write(f"alligator: error: {printable(err, 1000)}\n")
        return 2
    except Exception as err:
        # The store failed (unreachable, refused...): say which store, never its password.
        sys.stderr.write(
            f"alligator: error: the store {printable(redact_dsn(dsn))} failed: "
            f"{type(err).__name__}: {printable(err, 500)}\n"
        )
        return 1
    finally:
        backend.close()
