"""Finding the backend for a DSN: its scheme names an entry point.

Backends are registered in the ``alligator.backends`` entry-point group by the
distributions that provide them (``alligator-redis`` registers ``redis``,
``rediss`` and ``unix``), and found through stevedore. :func:`register` adds
one at run time, for tests and ad-hoc backends that are not packaged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from alligator import capabilities
from alligator.backend import Backend
from alligator.exceptions import InvalidDSNError, UnknownBackendError
from alligator.text import closest, redact_dsn

#: The entry-point group backends register under.
NAMESPACE = "alligator.backends"

#: The environment variable ``latergator`` and ``alligator`` read when no DSN is given.
DSN_ENV = "ALLIGATOR_DSN"

#: Our own backends, and which distribution to install for each scheme.
KNOWN_DISTRIBUTIONS = {
    "locmem": "alligator-locmem",
    "sqlite": "alligator-sqlite",
    "redis": "alligator-redis",
    "rediss": "alligator-redis",
    "unix": "alligator-redis",
    "postgresql": "alligator-postgres",
    "postgres": "alligator-postgres",
}

#: Where each of our distributions lives in a checkout of the repository,
#: for the install hint of a user who works from one.
CHECKOUT_FOLDERS = {
    "alligator-locmem": "plugins/alligator_locmem",
    "alligator-sqlite": "plugins/alligator_sqlite",
    "alligator-redis": "plugins/alligator_redis",
    "alligator-postgres": "plugins/alligator_postgres",
}

_registered: dict[str, type[Backend]] = {}


def register(scheme: str, backend_class: type[Backend]) -> None:
    """Makes ``scheme://`` DSNs use ``backend_class`` in this process.

    It wins over an installed entry point of the same name.

    Example:
        >>> from alligator_locmem import LocmemBackend
        >>> register("memtest", LocmemBackend)

    Args:
        scheme: The DSN scheme, lowercase.
        backend_class: A :class:`~alligator.backend.Backend` subclass.
    """
    if not (isinstance(backend_class, type) and issubclass(backend_class, Backend)):
        raise TypeError(f"{backend_class!r} is not a subclass of alligator.backend.Backend")
    _registered[scheme.lower()] = backend_class


def scheme_of(conn_string: str) -> str:
    """Returns the lowercased scheme of a DSN.

    Raises:
        InvalidDSNError: The DSN has no ``scheme://``.
    """
    if not isinstance(conn_string, str) or "://" not in conn_string:
        shown = repr(redact_dsn(conn_string) if isinstance(conn_string, str) else conn_string)
        message = (
            f"{shown} is not a DSN; expected e.g. 'sqlite:///tasks.db', "
            "'redis://localhost:6379/0' or 'locmem://'"
        )
        if isinstance(conn_string, str) and ":" in conn_string:
            # "sqlite:tasks.db", "redis:/host": a scheme without its "//".
            typed = conn_string.split(":", 1)[0].lower()
            suggestion = typed if typed in KNOWN_DISTRIBUTIONS else suggest_scheme(typed)
            if suggestion:
                message += f"; did you mean {suggestion}://...?"
        raise InvalidDSNError(message)
    # Not urlsplit(): it raises on a malformed host ("[::1") before the
    # backend could say, as InvalidDSNError, what is wrong.
    return conn_string.split("://", 1)[0].lower()


def installed_schemes() -> list[str]:
    """Returns the schemes of every backend installed or registered, sorted."""
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group=NAMESPACE)}
    return sorted(names | set(_registered))


def backend_class_for(conn_string: str) -> type[Backend]:
    """Returns the backend class that handles a DSN's scheme.

    Raises:
        InvalidDSNError: The DSN has no scheme.
        UnknownBackendError: No backend handles the scheme; the message lists
            those installed and, for one of ours, the distribution to install.
    """
    scheme = scheme_of(conn_string)
    if scheme in _registered:
        return _registered[scheme]
    if scheme not in installed_schemes():
        # Decided here, before stevedore is asked: stevedore 5.x drops the
        # DriverManager's on_missing_entrypoints_callback on its way to the
        # base class, whose default then logs "Could not load <scheme>" above
        # our own, clearer error.
        raise UnknownBackendError(_unknown_message(scheme))
    # Imported here: stevedore costs a few milliseconds to import, and a
    # Gator built with backend_class= never needs it.
    from stevedore import driver
    from stevedore.exception import NoMatches

    try:
        manager: Any = driver.DriverManager(
            namespace=NAMESPACE,
            name=scheme,
            invoke_on_load=False,
            on_load_failure_callback=_reraise,
            on_missing_entrypoints_callback=_ignore_missing,
        )
    except NoMatches:
        raise UnknownBackendError(_unknown_message(scheme)) from None
    except Exception as err:
        # The entry point exists but its module failed to import (a missing
        # driver library, a broken install): say so, with the cause.
        hint = ""
        if isinstance(err, ModuleNotFoundError) and err.name:
            # Usually the driver library the plugin depends on went missing.
            hint = f"; install the missing library: pip install {err.name.partition('.')[0]}"
        raise UnknownBackendError(
            f"the backend for {scheme!r} is installed but could not be loaded: {err}{hint}"
        ) from err
    found = manager.driver
    if not (isinstance(found, type) and issubclass(found, Backend)):
        raise UnknownBackendError(
            f"the entry point {scheme!r} in {NAMESPACE!r} is {found!r}, "
            "not a subclass of alligator.backend.Backend"
        )
    return found


def _reraise(manager: object, entry_point: object, err: BaseException) -> None:
    # stevedore's default logs a failed import and reports "no matches",
    # which would send the user to install what is already installed.
    raise err


def _ignore_missing(names: object) -> None:
    # A missing scheme gets our own error, with the install hint; stevedore's
    # log line would only repeat it less helpfully.
    return None


def suggest_scheme(scheme: str) -> str | None:
    """Returns the installed or known scheme a mistyped one most likely meant.

    Example:
        >>> suggest_scheme("sqlit")
        'sqlite'

    Args:
        scheme: A scheme no backend handles.

    Returns:
        The closest scheme, or ``None`` when none is close.
    """
    return closest(scheme.lower(), sorted(set(installed_schemes()) | set(KNOWN_DISTRIBUTIONS)))


def install_hint(distribution: str) -> str:
    """Returns how to install one of our distributions, from an index or a checkout.

    The checkout form matters until the distributions are published: a bare
    ``pip install alligator-redis`` cannot resolve before then.

    Args:
        distribution: One of the values of :data:`KNOWN_DISTRIBUTIONS`.

    Returns:
        The pip command, with the checkout form in parentheses.
    """
    hint = f"pip install {distribution}"
    folder = CHECKOUT_FOLDERS.get(distribution)
    if folder:
        hint += f" (from a checkout of Alligator: pip install ./{folder})"
    return hint


def dsn_or_env(dsn: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The one rule for where a command's DSN comes from: the argument, else :data:`DSN_ENV`.

    ``latergator`` and ``alligator`` both follow it, so a deployment that sets
    ``ALLIGATOR_DSN`` once reaches the same store with either.

    Args:
        dsn: The DSN given on the command line, or None.
        environ: The environment (``os.environ`` by default).

    Returns:
        ``dsn`` when given; else the variable's value; None when neither is set.
    """
    if dsn:
        return dsn
    return (os.environ if environ is None else environ).get(DSN_ENV) or None


def extra_hint(extra: str) -> str:
    """Returns how to install one of the core's extras (``dashboard``, ``metrics``).

    The checkout form only: the index form (the distribution's name with
    the extra) finds no distribution until the core is published.

    Args:
        extra: The extra's name, e.g. ``"dashboard"``.

    Returns:
        The pip command, and where to run it.
    """
    return (
        f"pip install './alligator_core[{extra}]' (at the top of a checkout of Alligator; "
        "docs/installing.md shows the git-URL form for a requirements file)"
    )


def _unknown_message(scheme: str) -> str:
    installed = ", ".join(installed_schemes()) or "none"
    message = f"no Alligator backend handles the scheme {scheme!r} (installed: {installed})"
    distribution = KNOWN_DISTRIBUTIONS.get(scheme)
    if distribution:
        message += f"; install it with: {install_hint(distribution)}"
    else:
        suggestion = suggest_scheme(scheme)
        if suggestion:
            message += f"; did you mean {suggestion!r} ({suggestion}://...)?"
            if suggestion not in installed_schemes() and suggestion in KNOWN_DISTRIBUTIONS:
                message += f" Install it with: {install_hint(KNOWN_DISTRIBUTIONS[suggestion])}"
    return message


def load_backend(conn_string: str, backend_class: type[Backend] | None = None) -> Backend:
    """Builds the backend for a DSN.

    Args:
        conn_string: The DSN.
        backend_class: Use this class instead of looking the scheme up.

    Returns:
        The backend instance.
    """
    cls = backend_class if backend_class is not None else backend_class_for(conn_string)
    capabilities.check(cls)
    return cls(conn_string)
