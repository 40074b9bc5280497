"""``manage.py check`` for Alligator backends: a DSN that does not parse, a store that does not answer,
task modules the worker would not run.

Django calls each backend's ``check()`` (``django.tasks.checks``, which the
``alligator_django`` app makes sure is registered); the app also registers
:func:`check_backends`, which warns of tasks the worker would refuse.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

from django.core import checks

from alligator.exceptions import AlligatorException
from alligator.registry import backend_class_for
from alligator.text import redact_dsn

if TYPE_CHECKING:  # pragma: no cover
    from alligator_django.backend import AlligatorBackend


def check_backend(backend: AlligatorBackend) -> list[checks.CheckMessage]:
    """The problems of one backend, as Django's check messages (ids ``alligator_django.E00x``)."""
    where = f"TASKS[{backend.alias!r}]"
    dsn = backend.settings.dsn
    try:
        backend_class_for(dsn)
    except AlligatorException as err:
        return [
            checks.Error(
                f"{where}['OPTIONS']['DSN'] {redact_dsn(dsn)!r} does not name a store: {err}",
                hint="Use sqlite:///relative.db, sqlite:////absolute/path.db or redis://host:6379/0.",
                id="alligator_django.E001",
            )
        ]
    problems: list[checks.CheckMessage] = []
    queue = backend.queue_names()[0]
    try:
        backend.gator(queue).backend.len(queue)
    except Exception as err:
        problems.append(
            checks.Error(
                f"{where}: the store {redact_dsn(dsn)} does not answer: {type(err).__name__}: {err}",
                hint="Start the store, or fix the DSN; a worker cannot run tasks meanwhile.",
                id="alligator_django.E002",
            )
        )
    problems.extend(_check_database(backend, where))
    for module in backend.settings.task_modules:
        if not _importable(module):
            problems.append(
                checks.Error(
                    f"{where}['OPTIONS']['TASK_MODULES'] lists {module!r}, which cannot be imported: "
                    "the worker would refuse its tasks",
                    hint="Fix the module's name, or remove it.",
                    id="alligator_django.E003",
                )
            )
    return problems


def _check_database(backend: AlligatorBackend, where: str) -> list[checks.CheckMessage]:
    """``DATABASE`` names a Django database, and the store can write through a connection (E004)."""
    from django.conf import settings

    from alligator import capabilities
    from alligator.transactional_store import TransactionalEnqueue

    database = backend.settings.database
    if database is None:
        return []
    problem = None
    if database not in settings.DATABASES:
        problem = f"names no DATABASES entry (known: {', '.join(settings.DATABASES) or 'none'})"
    else:
        try:
            store = backend.gator(backend.queue_names()[0]).backend
        except Exception:
            return []  # E001/E002 say why
        if not capabilities.supports(store, TransactionalEnqueue):
            problem = (
                f"is set, but the store {redact_dsn(backend.settings.dsn)} cannot write tasks through "
                "Django's connection (SQLite and PostgreSQL can)"
            )
    if problem is None:
        return []
    return [
        checks.Error(
            f"{where}['OPTIONS']['DATABASE'] {database!r} {problem}",
            hint="Give the alias of the DATABASES entry the store lives in (the same SQLite file or "
            "PostgreSQL database as the DSN), or remove DATABASE.",
            id="alligator_django.E004",
        )
    ]


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check_backends(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Checks every Alligator backend in ``TASKS``, and tasks the worker would not run."""
    from django.tasks import task_backends

    from alligator_django.backend import AlligatorBackend

    problems: list[checks.CheckMessage] = []
    for backend in task_backends.all():
        if isinstance(backend, AlligatorBackend):
            problems.extend(check_unallowed_tasks(backend))
    return problems


def check_unallowed_tasks(backend: AlligatorBackend) -> list[checks.CheckMessage]:
    """Django tasks of this backend, already imported, that live outside every module the worker runs."""
    import sys

    from django.tasks.base import Task

    from alligator_django.allowing import allowed_modules, allows

    modules = allowed_modules()
    problems: list[checks.CheckMessage] = []
    for name, module in list(sys.modules.items()):
        if module is None or name.startswith(("django.", "alligator")):
            continue
        for attr, value in list(vars(module).items()):
            if isinstance(value, Task) and value.backend == backend.alias and value.func.__module__ == name:
                if not allows(value.module_path, modules):
                    problems.append(
                        checks.Warning(
                            f"task {value.module_path} is not in a module manage.py latergator runs tasks of "
                            f"({', '.join(modules) or 'none'}): its runs would fail",
                            hint="Move it to an installed app's tasks module, or list its module in "
                            f"TASKS[{backend.alias!r}]['OPTIONS']['TASK_MODULES'].",
                            obj=attr,
                            id="alligator_django.W001",
                        )
                    )
    return problems
