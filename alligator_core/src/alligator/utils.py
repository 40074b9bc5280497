"""Helpers to name a function by its import path and import it back."""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
from collections.abc import Callable
from types import MethodType, ModuleType
from typing import Any

from alligator.exceptions import (
    NotImportableError,
    TaskArgumentsError,
    UnknownCallableError,
    UnknownModuleError,
)


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
    """Imports a module and returns one of its attributes, running no code on the way.

    Dots walk into modules and classes only (``Outer.method``,
    ``submodule.function``), and each step reads the attribute as it is
    stored (``inspect.getattr_static``): no property getter, module
    ``__getattr__`` or other descriptor runs, so a refused name such as
    ``mod:settings.lazy.system`` runs nothing of the allowed module before it
    is refused. A static or class method at the end is returned as
    ``getattr`` would (the function; the method bound to its class).

    Example:
        >>> import_attr('random', 'choice').__name__
        'choice'

    Args:
        module_name: The dotted path of the module.
        attr_name: The attribute's name; dots walk into modules and classes.

    Returns:
        The attribute.

    Raises:
        UnknownModuleError: The module cannot be imported.
        UnknownCallableError: The module has no such attribute, or the name
            walks through something that is neither a module nor a class.
    """
    return _walk(import_module(module_name), module_name, attr_name)


def _walk(found: Any, module_name: str, attr_name: str) -> Any:
    """Follows ``attr_name``'s dots from a module, as :func:`import_attr` describes."""
    parts = attr_name.split(".")
    for index, part in enumerate(parts):
        if index and not isinstance(found, (ModuleType, type)):
            walked = ".".join(parts[:index])
            raise UnknownCallableError(
                f"{module_name}:{attr_name} walks into {walked}, a {type(found).__name__} object; "
                "a task's name may lead through modules and classes only"
            )
        try:
            # A module's own names are its __dict__: what getattr_static finds
            # there, without its search of the type (dunder names never get here).
            attr = vars(found)[part] if isinstance(found, ModuleType) and part in vars(found) else None
            if attr is None:
                attr = inspect.getattr_static(found, part)
        except AttributeError as err:
            raise UnknownCallableError(f"Module {module_name!r} has no attribute {attr_name!r}") from err
        # These two built-in descriptors are unwrapped as getattr would; they run no user code.
        if isinstance(attr, staticmethod):
            attr = attr.__func__
        elif isinstance(attr, classmethod) and isinstance(found, type):
            attr = MethodType(attr.__func__, found)
        found = attr
    return found


def callable_path(func: Any, what: str = "a task's function", allow_main: bool = False) -> tuple[str, str]:
    """Returns the ``(module, name)`` a worker imports ``func`` back by, or says why it cannot.

    A worker knows a function only by its module and name, so the name must
    lead back to this very object. That rules out lambdas, functions defined
    inside functions, ``functools.partial`` objects, and methods bound to an
    object (the worker would call them on another object, or on none).
    Module-level aliases of bound methods (``random.choice``), class and
    static methods reachable by name stay allowed: they import back to
    the same thing.

    Example:
        >>> from random import choice
        >>> callable_path(choice)
        ('random', 'choice')

    Args:
        func: The callable.
        what: How to name it in an error, e.g. ``"the on_error hook"``.
        allow_main: Accept functions of ``__main__``. Only for tasks run in
            this process: a worker's ``__main__`` is the worker itself.

    Returns:
        The module's dotted path and the name within it.

    Raises:
        TypeError: ``func`` is not callable.
        NotImportableError: It cannot be imported back by name; the message
            says what to do instead.
    """
    if not callable(func):
        raise TypeError(f"{what} must be an importable function, not {func!r}")
    if isinstance(func, functools.partial):
        raise NotImportableError(
            f"{what} is a functools.partial, which a worker cannot import by name; pass the fixed "
            "arguments as the task's arguments, or write a module-level function that supplies them"
        )
    module = getattr(func, "__module__", None)
    short = getattr(func, "__name__", None)
    if not isinstance(module, str) or not isinstance(short, str):
        raise NotImportableError(
            f"{what} {func!r} has no module-level name a worker could import; "
            "use a function defined at the top level of a module"
        )
    qualname = getattr(func, "__qualname__", short)
    if "<lambda>" in qualname:
        raise NotImportableError(
            f"{what} is a lambda, which a worker cannot import by name; make it a module-level function"
        )
    if "<locals>" in qualname:
        raise NotImportableError(
            f"{what} {qualname} is defined inside a function, where a worker cannot import it; "
            "make it a module-level function"
        )
    if module == "__main__" and not allow_main:
        raise NotImportableError(
            f"{what} {short} is defined in __main__ (the script being run), which a worker cannot "
            "import: in a worker, __main__ is the worker itself; move it into a module that both import"
        )
    name = determine_name(func)
    if _imports_back(func, module, name):
        return module, name
    bound_to = getattr(func, "__self__", None)
    if inspect.ismethod(func) and not isinstance(bound_to, type):
        raise NotImportableError(
            f"{what} {qualname} is a method bound to a {type(bound_to).__name__} object; a worker "
            "would call it without that object; queue a module-level function (or a staticmethod or "
            "classmethod) that builds the object it needs from plain arguments"
        )
    raise NotImportableError(
        f"{what} is not what {module}:{name} names in its module, so a worker would call something "
        "else; queue the module-level function itself"
    )


def _imports_back(func: Any, module: str, name: str) -> bool:
    try:
        # Already imported, nearly always: skip importlib's machinery.
        # The worker's own walk (import_attr), so what is queued is what it finds.
        found = _walk(sys.modules.get(module) or import_module(module), module, name)
    except Exception:
        # The name leads nowhere (any error at all): not importable.
        return False
    if found is func:
        return True
    try:
        # Bound methods are made afresh on each lookup: equal, never identical.
        return bool(found == func)
    except Exception:
        return False


class _Shape:
    """A function's signature, with a quick check for the usual kind of one."""

    __slots__ = ("names", "required", "signature", "simple")

    def __init__(self, signature: inspect.Signature) -> None:
        self.signature = signature
        params = list(signature.parameters.values())
        # Only plain `def f(a, b, c=1)` parameters: the quick check below is
        # exact for those; anything else goes through Signature.bind.
        self.simple = all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params)
        self.names = [p.name for p in params]
        self.required = sum(1 for p in params if p.default is p.empty)
        if any(p.default is p.empty for p in params[self.required :]):
            self.simple = False

    def fits(self, args: Any, kwargs: Any) -> bool:
        if self.simple:
            if len(args) > len(self.names):
                return False
            if not kwargs:
                return len(args) >= self.required
            rest = self.names[len(args) :]
            if any(key not in rest for key in kwargs):
                return False
            return all(name in kwargs for name in self.names[len(args) : self.required])
        try:
            self.signature.bind(*args, **kwargs)
        except TypeError:
            return False
        return True


# Shapes by function: inspect.signature costs more than the rest of an
# enqueue, and a program queues the same few functions again and again.
_SHAPES: dict[Any, _Shape | None] = {}
_MAX_SHAPES = 1024


def _shape(func: Callable[..., Any]) -> _Shape | None:
    try:
        return _SHAPES[func]
    except KeyError:
        pass
    except TypeError:  # unhashable: compute it each time
        return _compute_shape(func)
    shape = _compute_shape(func)
    if len(_SHAPES) >= _MAX_SHAPES:
        _SHAPES.clear()
    _SHAPES[func] = shape
    return shape


def _compute_shape(func: Callable[..., Any]) -> _Shape | None:
    try:
        return _Shape(inspect.signature(func))
    except (TypeError, ValueError):  # some builtins have none: nothing to check
        return None


def arguments_fit(func: Callable[..., Any], args: Any, kwargs: Any) -> bool:
    """Whether a call of ``func`` could take these arguments: the one check, for producer and worker.

    A function without a signature to check (some builtins) is taken to fit.

    Example:
        >>> arguments_fit(divmod, (7, 2), {}), arguments_fit(divmod, (7,), {})
        (True, False)

    Args:
        func: The function.
        args: Its positional arguments.
        kwargs: Its keyword arguments.

    Returns:
        False when binding them to its signature fails (a ``TypeError``).
    """
    shape = _shape(func)
    return shape is None or shape.fits(args, kwargs)


def check_arguments_fit(func: Callable[..., Any], args: Any, kwargs: Any, name: str) -> None:
    """Refuses arguments a call of ``func`` could not take, before anything is queued.

    Example:
        >>> check_arguments_fit(divmod, (7, 2), {}, "divmod")
        >>> check_arguments_fit(divmod, (7,), {}, "divmod")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        alligator.exceptions.TaskArgumentsError: the arguments do not fit divmod(x, y, /): ...

    Args:
        func: The function.
        args: Its positional arguments.
        kwargs: Its keyword arguments.
        name: How to name the function in the error.

    Raises:
        TaskArgumentsError: They do not fit its signature (a ``TypeError``).
    """
    if arguments_fit(func, args, kwargs):
        return
    shape = _shape(func)
    assert shape is not None  # a function without a signature fits
    signature = shape.signature
    try:
        signature.bind(*args, **kwargs)
    except TypeError as err:
        # Names only: annotations are noise here, and strings under
        # `from __future__ import annotations`.
        bare = signature.replace(
            parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()],
            return_annotation=signature.empty,
        )
        raise TaskArgumentsError(f"the arguments do not fit {name}{bare}: {err}") from None
    raise TaskArgumentsError(f"the arguments do not fit {name}{signature}")  # pragma: no cover
