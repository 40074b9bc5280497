"""Which functions a worker may import: names that can never run, and how to allow the others.

A payload names the function a worker imports and calls, so a worker runs
one only when its module is allowed (:class:`~alligator.security.TaskPolicy`
keeps the allow list). Here are the rules that hold whatever the list says
(:func:`unrunnable_reason`), and the advice a refusal gives. Every public
name is re-exported by :mod:`alligator.security`.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Mapping

from alligator.text import printable

#: The environment variable listing modules (or ``module:function``) to allow, comma-separated.
ALLOW_ENV = "ALLIGATOR_ALLOW"


def _is_dunder(part: str) -> bool:
    return len(part) > 4 and part.startswith("__") and part.endswith("__")


#: Dotted ASCII identifiers with no double underscore anywhere: always fine.
_PLAIN_DOTTED = re.compile(r"(?!.*__)[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")


def unrunnable_reason(module: str, function: str) -> str | None:
    """Says why ``module:function`` is refused whatever the allow list, or None.

    Example:
        >>> unrunnable_reason("myapp.tasks", "send")
        >>> unrunnable_reason("myapp.__main__", "run")[:30]
        'a name with a __dunder__ part '

    Args:
        module: A module's dotted path, as a payload names it.
        function: The name within it (dots walk into classes).

    Returns:
        The reason, or None when the allow list decides.
    """
    if _PLAIN_DOTTED.match(module) and _PLAIN_DOTTED.match(function):
        return None  # the common case, decided without splitting
    parts = [*module.split("."), *function.split(".")]
    if not all(part.isidentifier() for part in parts):
        return "it is not a dotted Python name"
    if any(_is_dunder(part) for part in parts):
        # `pkg.__main__` runs the package's command line and `pkg.__init__`
        # runs the package's code a second time, as a new module: importing
        # either is running code nobody queued.
        return (
            "a name with a __dunder__ part (such as __main__ or __init__) is never run; "
            "name the module itself"
        )
    return None


#: Modules no refusal ever advises allowing: Python's own (``os``,
#: ``builtins``, ``subprocess``...) and Alligator's. Their functions act on the
#: worker's machine; a task that needs one calls it from a function of yours.
_NEVER_ADVISED = frozenset(sys.stdlib_module_names) | frozenset(sys.builtin_module_names) | {"alligator"}


def _allow_advice(module: str) -> str:
    top = module.partition(".")[0]
    if top in _NEVER_ADVISED:
        return (
            f"; {printable(module)} is part of Python or of Alligator and should never be allowed: "
            "call it from a task function in a module of your own, and allow that module"
        )
    library = _installed_distributions().get(top)
    if library:
        # A payload names the module: advising to allow a whole installed
        # library (django.core.management, pip...) would hand every function
        # of it to whoever can write to the queue.
        return (
            f"; {printable(module)} belongs to the installed library {printable(', '.join(library))}: "
            "rather than allowing a library, call it from a task function in a module of your own, "
            "and allow that module"
        )
    name = printable(module)
    return (
        f"; allow its module with `latergator --allow {name}`, Gator(allow=[{name!r}]) or {ALLOW_ENV}={name}"
    )


@functools.lru_cache(maxsize=1)
def _installed_distributions() -> Mapping[str, list[str]]:
    from importlib.metadata import packages_distributions

    return packages_distributions()


def _check_entries(entries: tuple[str, ...]) -> None:
    for entry in entries:
        module, colon, function = entry.partition(":")
        problem = unrunnable_reason(module, function if colon else module)
        if problem is not None:
            raise ValueError(f"{entry!r} is not a module path or 'module:function' that can run: {problem}")


#: Why a worker with no allowed module refuses to start, and how to allow one.
NOTHING_ALLOWED = (
    "no task modules are allowed, so every task would be dead-lettered: allow the modules that "
    "hold your tasks with `latergator DSN --allow MODULE` (repeatable, e.g. --allow myapp.tasks), "
    f"Worker(gator, allow=['myapp.tasks']), Gator(dsn, allow=[...]) or {ALLOW_ENV}=myapp.tasks,..."
)
