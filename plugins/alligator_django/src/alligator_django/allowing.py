"""Which Django tasks a worker runs: those of installed apps' ``tasks`` modules, and of ``TASK_MODULES``.

As Celery's autodiscovery finds tasks: ``<app>.tasks`` for each app in
``INSTALLED_APPS`` that has one (or ``<app>.tasks.*``, a package), plus the
modules every Alligator backend's ``OPTIONS["TASK_MODULES"]`` lists (a
module allows its submodules). Anything else a payload names is refused
before it is imported.
"""

from __future__ import annotations

import functools
import importlib.util

from django.apps import apps
from django.conf import settings


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@functools.cache
def allowed_modules() -> tuple[str, ...]:
    """The modules whose tasks this process's workers run (read once, after ``django.setup()``)."""
    found = [
        f"{config.name}.tasks" for config in apps.get_app_configs() if _has_module(f"{config.name}.tasks")
    ]
    for params in getattr(settings, "TASKS", {}).values():
        if str(params.get("BACKEND", "")).startswith("alligator_django"):
            found.extend(params.get("OPTIONS", {}).get("TASK_MODULES", ()))
    return tuple(dict.fromkeys(found))


def allows(path: str, modules: tuple[str, ...]) -> bool:
    """Whether the task at dotted ``path`` (``app.tasks.send``) is in one of ``modules`` (or below)."""
    return any(path.startswith(f"{module}.") for module in modules)


def refusal(path: object) -> str | None:
    """Why a worker must not run the task at ``path``; None when it may."""
    if not isinstance(path, str) or not path:
        return "the payload names no Django task"
    modules = allowed_modules()
    if allows(path, modules):
        return None
    shown = ", ".join(modules) or "none"
    return (
        f"{path[:300]} is not in a module this worker runs tasks of ({shown}); put the task in an "
        "installed app's tasks module, or list its module in OPTIONS['TASK_MODULES']"
    )
