"""The name a queued function travels by, worked out once per function object.

:meth:`Task.to_call <alligator.tasks.Task.to_call>` must know the
``(module, name)`` a worker imports a function back by, and refuse a name no
worker would run. Finding that out walks the module and checks the name
(:func:`alligator.utils.callable_path`, :func:`alligator.allowing.unrunnable_reason`),
which costs more than the rest of an enqueue; a program queues the same few
functions again and again. So the answer is remembered by function, and
checked again on each use by one lookup: the name must still lead to the
very same object (a module attribute rebound since is noticed, and the
function is worked out afresh).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from alligator.exceptions import NotImportableError
from alligator.security import unrunnable_reason
from alligator.text import printable
from alligator.utils import _imports_back, _shape, callable_path

#: How many functions are remembered; past that the memory starts afresh.
MAX_TARGETS = 1024

#: What :func:`queued_target` returns: module, name, and the shape of the
#: signature (:func:`alligator.utils.arguments_fit`'s; None when the function
#: has none to check), whose ``fits(args, kwargs)`` checks a call.
Target = tuple[str, str, Any]

_TARGETS: dict[Any, Target] = {}


def queued_target(func: Callable[..., Any]) -> Target:
    """Returns the ``(module, name, shape)`` a queued task's function travels by, or says why it cannot.

    The same answers as :func:`~alligator.utils.callable_path` (``__main__``
    refused) followed by :func:`~alligator.allowing.unrunnable_reason`; the
    shape checks the arguments as :func:`~alligator.utils.arguments_fit` does.

    Example:
        >>> queued_target(divmod)[:2]
        ('builtins', 'divmod')

    Raises:
        TypeError: ``func`` is not callable.
        NotImportableError: No worker could import or run it by name.
    """
    try:
        known = _TARGETS.get(func)
    except TypeError:  # an unhashable callable: worked out each time
        return _work_out(func)
    if known is not None:
        # The usual case in one lookup: a module's own function, still under its name.
        found = sys.modules.get(known[0])
        if (found is not None and vars(found).get(known[1]) is func) or _imports_back(func, *known[:2]):
            return known
    target = _work_out(func)
    if len(_TARGETS) >= MAX_TARGETS:
        _TARGETS.clear()
    _TARGETS[func] = target
    return target


def _work_out(func: Callable[..., Any]) -> Target:
    module, name = callable_path(func, "a task's function")
    problem = unrunnable_reason(module, name)
    if problem is not None:
        raise NotImportableError(f"{printable(f'{module}:{name}')} can never run: {problem}")
    return module, name, _shape(func)
