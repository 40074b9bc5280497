"""``python manage.py latergator``: the Alligator worker of a Django project.

It takes ``latergator``'s own options (``--queue``, ``--processes``,
``--concurrency``, ``--metrics-port``...) and fills in the rest from the
``TASKS`` setting: the store (the backend's ``DSN``), the queues (its
``QUEUES``), Django's set-up before any task, and the one function a worker
runs for Django (which itself runs only the tasks of installed apps'
``tasks`` modules and of ``TASK_MODULES``).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.tasks import task_backends

from alligator import cli
from alligator.worker_arguments import build_parser

#: latergator's options this command sets itself.
OWN = {"dsn", "allow", "setup", "help"}


def _latergator_actions() -> list[argparse.Action]:
    return [action for action in build_parser()._actions if action.dest not in OWN]


class Command(BaseCommand):
    """Runs an Alligator worker for one of the project's ``TASKS`` backends."""

    help = "Run an Alligator worker for Django tasks (latergator's options; the store and queues from TASKS)."

    def add_arguments(self, parser: CommandParser) -> None:
        """latergator's options, and ``--backend``."""
        parser.add_argument(
            "--backend",
            default="default",
            metavar="ALIAS",
            help="the TASKS backend whose store and queues to use (default: %(default)s)",
        )
        for action in _latergator_actions():
            parser._add_action(action)

    def handle(self, *args: Any, **options: Any) -> None:
        """Builds latergator's arguments and runs it; exits with its status."""
        from alligator_django.allowing import allowed_modules
        from alligator_django.backend import RUNNER, AlligatorBackend

        alias = options["backend"]
        try:
            backend = task_backends[alias]
        except Exception as err:
            raise CommandError(f"no TASKS backend {alias!r}: {err}") from err
        if not isinstance(backend, AlligatorBackend):
            raise CommandError(
                f"TASKS[{alias!r}] is {type(backend).__module__}.{type(backend).__name__}, "
                "not alligator_django.AlligatorBackend"
            )
        # The DSN and the secret travel in the environment, which worker
        # processes inherit, and not in the arguments, which `ps` shows.
        os.environ["ALLIGATOR_DSN"] = backend.settings.dsn
        secret = backend.settings.secret
        if secret:
            os.environ["ALLIGATOR_SECRET"] = secret if isinstance(secret, str) else ",".join(secret)
        argv = ["--setup", "alligator_django.worker_setup", "--allow", RUNNER]
        queues = options.get("queues") or backend.queue_names()
        for queue in queues:
            argv += ["--queue", queue]
        argv += _given(options)
        project = os.path.dirname(os.path.abspath(sys.argv[0])) if sys.argv and sys.argv[0] else ""
        if project and os.path.isdir(project) and project != os.getcwd():
            argv += ["--path", project]
        backend.close()
        # latergator's own start line names only the runner it allows: say
        # which of the project's modules it runs Django tasks of.
        modules = ", ".join(allowed_modules()) or "none (no installed app has a tasks module)"
        self.stdout.write(f"manage.py latergator: TASKS[{alias!r}], running the Django tasks of {modules}")
        self.stdout.flush()
        status = cli.main(argv)
        if status:
            sys.exit(status)


def _given(options: dict[str, Any]) -> list[str]:
    """latergator's options as given to this command, as arguments again (``--queue`` aside)."""
    argv: list[str] = []
    for action in _latergator_actions():
        if action.dest == "queue" or not action.option_strings:
            continue
        flag = action.option_strings[-1]
        value = options.get(action.dest, action.default)
        if value == action.default or value is None:
            continue
        if action.nargs == 0:
            argv.append(flag)
        elif isinstance(value, list):
            for item in value:
                argv += [flag, str(item)]
        else:
            argv += [flag, str(value)]
    return argv
