"""Helpers to name a function by its import path and import it back."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from alligator.exceptions import UnknownCallableError, UnknownModuleError


def determine_module(func: Callable[..., Any]) -> str:
    """Returns the dotted path of the module a function comes from.

    Example:
        >>> from random import choice
        >>> determine_module(choice)
        'random'

    Args:
        func: The callable.

    Returns:
        The module's dotted path.
    """
    return func.__module__


def determine_name(func: Callable[..., Any]) -> str:
    """Returns the name a function is reachable by in its module.

    Nested names (``Outer.method`` of a static or class method) are kept
    whole; :func:`import_attr` follows the dots back.

    Example:
        >>> from random import choice
        >>> determine_name(choice)
        'choice'

    Args:
        func: The callable.

    Returns:
        The name.
    """
    name = func.__name__
    module = sys.modules.get(func.__module__)
    # A module-level alias wins: `random.choice` is a bound method whose
    # qualname, `Random.choice`, would import the unbound function instead.
    if module is not None and getattr(module, name, None) == func:
        return name
    return getattr(func, "__qualname__", None) or name


def import_module(module_name: str) -> ModuleType:
    """Imports a module by its dotted path.

    Example:
        >>> import_module('random').__name__
        'random'

    Args:
        module_name: The dotted path.

    Returns:
        The module.

    Raises:
        UnknownModuleError: It cannot be imported; the message names it.
    """
    try:
        return importlib.import_module(module_name)
    except ImportError as err:
        raise UnknownModuleError(f"Cannot import module {module_name!r}: {err}") from err


def import_attr(module_name: str, attr_name: str) -> Any:
    """Imports a module and returns one of its attributes.

    Example:
        >>> import_attr('random', 'choice').__name__
        'choice'

    Args:
        module_name: The dotted path of the module.
        attr_name: The attribute's name; dots walk into classes.

    Returns:
        The attribute.

    Raises:
        UnknownModuleError: The module cannot be imported.
        UnknownCallableError: The module has no such attribute.
    """
    found: Any = import_module(module_name)
    for part in attr_name.split("."):
        try:
            found = getattr(found, part)
        except AttributeError as err:
            raise UnknownCallableError(f"Module {module_name!r} has no attribute {attr_name!r}") from err
    return found
