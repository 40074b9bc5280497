"""Reading an ``sqlite://`` DSN: the file's path and the two options, ``timeout`` and ``synchronous``.

DSNs follow SQLAlchemy's convention: three slashes and a relative path
(``sqlite:///tasks.db``, relative to the working directory when the backend
is built) or four and an absolute one (``sqlite:////var/lib/app/tasks.db``).
A misspelt option or a bad value is refused with
:class:`~alligator.exceptions.InvalidDSNError`, with a suggestion for a near
miss.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from urllib.parse import parse_qsl, urlsplit

from alligator.exceptions import InvalidDSNError
from alligator.text import closest

__all__ = ["DEFAULT_TIMEOUT", "parse_dsn", "parse_synchronous", "parse_timeout"]

#: Default seconds to keep retrying while other processes hold the write lock.
DEFAULT_TIMEOUT = 60.0

_OPTIONS = ("timeout", "synchronous")
_SYNCHRONOUS = ("full", "normal")


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = closest(word.lower(), choices)
    return f" (did you mean {close!r}?)" if close else ""


def parse_dsn(conn_string: str) -> tuple[str, dict[str, str]]:
    """Splits an ``sqlite://`` DSN into an absolute file path and its options.

    Example:
        >>> parse_dsn("sqlite:////var/lib/app/tasks.db?timeout=5")
        ('/var/lib/app/tasks.db', {'timeout': '5'})

    Args:
        conn_string: ``sqlite:///relative.db`` or ``sqlite:////absolute.db``,
            optionally with ``?timeout=SECONDS&synchronous=full|normal``.

    Returns:
        The file's absolute path (a relative one is resolved against the
        working directory now) and the query options.

    Raises:
        InvalidDSNError: Not an sqlite DSN, no path, a host, an in-memory
            database, an unknown or repeated option (a near miss is named:
            ``?timout=5`` asks "did you mean 'timeout'?"), or a bad value.
    """
    parts = urlsplit(conn_string)
    if parts.scheme.lower() != "sqlite":
        raise InvalidDSNError(f"{conn_string!r} is not an sqlite:// DSN")
    if parts.netloc:
        raise InvalidDSNError(
            f"{conn_string!r} names a host ({parts.netloc!r}); SQLite DSNs have none: "
            "use sqlite:///relative/path.db or sqlite:////absolute/path.db"
        )
    path = parts.path.removeprefix("/")
    if not path:
        raise InvalidDSNError(
            f"{conn_string!r} has no database path; use e.g. sqlite:///tasks.db "
            "(relative to the working directory) or sqlite:////var/lib/app/tasks.db (absolute)"
        )
    if path == ":memory:" or path.startswith("file:"):
        raise InvalidDSNError(
            f"{conn_string!r}: an in-memory or URI database cannot be shared between "
            "threads and processes; use a file path, or locmem:// for an in-process queue"
        )
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    options: dict[str, str] = {}
    for name, value in pairs:
        if name not in _OPTIONS:
            raise InvalidDSNError(
                f"{conn_string!r}: unknown option {name!r}{_did_you_mean(name, _OPTIONS)}; "
                f"known options: {', '.join(_OPTIONS)}"
            )
        if name in options:
            raise InvalidDSNError(f"{conn_string!r}: option {name!r} is given more than once")
        options[name] = value
    if "timeout" in options:
        parse_timeout(conn_string, options["timeout"])
    if "synchronous" in options:
        parse_synchronous(conn_string, options["synchronous"])
    return os.path.abspath(path), options


def parse_timeout(conn_string: str, value: str) -> float:
    """Reads the ``timeout`` option: seconds to keep retrying while the file is locked.

    Args:
        conn_string: The whole DSN, for the error message.
        value: The option's value as given.

    Returns:
        The number of seconds, finite and not negative.

    Raises:
        InvalidDSNError: The value is no such number.
    """
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidDSNError(
            f"{conn_string!r}: timeout={value!r} is not a number of seconds; "
            "use a finite number >= 0, e.g. timeout=10"
        )
    return seconds


def parse_synchronous(conn_string: str, value: str) -> str:
    """Reads the ``synchronous`` option.

    Args:
        conn_string: The whole DSN, for the error message.
        value: The option's value as given, in any case.

    Returns:
        ``"FULL"`` or ``"NORMAL"``.

    Raises:
        InvalidDSNError: The value is neither ``full`` nor ``normal``.
    """
    if value.lower() not in _SYNCHRONOUS:
        raise InvalidDSNError(
            f"{conn_string!r}: synchronous={value!r}{_did_you_mean(value, _SYNCHRONOUS)}; "
            "use 'full' or 'normal'"
        )
    return value.upper()
