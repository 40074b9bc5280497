"""Does each allowed task module import here? One check for ``latergator`` and ``doctor``.

A worker whose ``--allow`` names a module it cannot import (a typo such as
``myapp.taks``, or a project started from the wrong directory) would take
every task of that module and dead-letter it. ``latergator`` runs
:func:`check_allowed` at start and refuses to start on a problem;
``alligator doctor`` reports the same problems as findings.

Both import from ``sys.path`` as it stands: the caller puts the worker's
directories on it first (:func:`alligator.worker_arguments.add_import_paths`).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass

#: What to do about a module that does not import, for every caller's message.
FIX_IMPORT = (
    "install the project where the workers run, start them from its directory, or pass "
    "--path; its tasks would be dead-lettered"
)
#: What to do about an allowed function that is not there.
FIX_FUNCTION = "fix the --allow entry, or deploy the code that defines it"


@dataclass(frozen=True)
class ModuleCheck:
    """What :func:`check_allowed` found for one entry of the allow list.

    Attributes:
        entry: The entry as allowed (``"myapp.tasks"`` or ``"myapp.tasks:send"``).
        problem: None when it imports; else what is wrong, e.g. ``"allowed
            module myapp.taks does not import here: ModuleNotFoundError: No
            module named 'myapp.taks'"``.
        what_to_do: How to fix it ("" when nothing is wrong).
    """

    entry: str
    problem: str | None = None
    what_to_do: str = ""


def check_allowed(entries: Sequence[str]) -> list[ModuleCheck]:
    """Imports each allowed module (and finds each allowed function) as a worker here would.

    Example:
        >>> [c.problem for c in check_allowed(["json", "json:dumps"])]
        [None, None]
        >>> check_allowed(["json:nope"])[0].problem
        'allowed function json:nope does not exist'

    Args:
        entries: The allow list's entries (``TaskPolicy.allow``).

    Returns:
        One :class:`ModuleCheck` per entry, in order. An import that raises
        anything (a typo, a missing dependency, an error in the module) is a
        problem, named with the exception.
    """
    checks = []
    for entry in entries:
        module, _, function = entry.partition(":")
        try:
            imported = importlib.import_module(module)
        except Exception as err:
            problem = f"allowed module {module} does not import here: {type(err).__name__}: {err}"
            checks.append(ModuleCheck(entry, problem, FIX_IMPORT))
            continue
        if function and not callable(getattr(imported, function, None)):
            checks.append(ModuleCheck(entry, f"allowed function {entry} does not exist", FIX_FUNCTION))
            continue
        checks.append(ModuleCheck(entry))
    return checks
