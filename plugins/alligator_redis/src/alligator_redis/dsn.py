"""Redis DSNs: checked before any client is built, and their secrets kept out of messages.

:func:`~alligator_redis.check_dsn` names the bad part of a DSN that redis-py would read
silently or refuse only at the first command; :func:`secrets` and
:func:`scrub` keep a DSN's passwords out of every error message.
"""

from __future__ import annotations

import inspect
import math
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import redis
from redis.cluster import RedisCluster
from redis.connection import URL_QUERY_ARGUMENT_PARSERS

from alligator.exceptions import InvalidDSNError
from alligator.text import closest, redact_dsn

#: Connection defaults a DSN's query string may override, so that a dead
#: server is reported within seconds instead of hanging a producer.
DEFAULT_OPTIONS: dict[str, Any] = {"socket_connect_timeout": 5.0, "socket_keepalive": True}


def driver_options(url: str) -> dict[str, Any]:
    """The client option that names redis-py's version (for ``CLIENT SETINFO``) rather than have it looked up.

    Built without it, a redis-py client that takes ``driver_info`` reads
    its own version from the installed package's metadata (importlib.metadata
    and the email parser: ~0.3 MiB of every worker process's RSS);
    ``redis.__version__`` says the same. Empty for an older redis-py (which
    read it at import) and for a DSN that names its own ``lib_name`` or
    ``lib_version``.

    Example:
        >>> sorted(driver_options("redis://localhost:6379/0"))  # doctest: +SKIP
        ['driver_info']
    """
    try:
        from redis.driver_info import DriverInfo
    except ImportError:  # redis-py before driver_info
        return {}
    if {key for key, _ in parse_qsl(urlsplit(url).query)} & {"lib_name", "lib_version", "driver_info"}:
        return {}
    return {"driver_info": DriverInfo(lib_version=redis.__version__)}


#: What a boolean option of a DSN may say (any case); anything else is refused,
#: where redis-py would read it as true.
_TRUE = {"1", "true", "yes"}
_FALSE = {"0", "false", "no"}
#: Numeric options and their ranges (inclusive): a timeout of 0 or less, or one
#: too long for the socket layer, fails only at the first command otherwise.
_RANGES: dict[str, tuple[float, float]] = {
    "socket_timeout": (0.001, 1e9),
    "socket_connect_timeout": (0.001, 1e9),
    "timeout": (0.001, 1e9),
    "health_check_interval": (0, 1e9),
    "max_connections": (1, 2**31 - 1),
    "socket_read_size": (1, 2**31 - 1),
    "protocol": (2, 3),
    "ssl_min_version": (0, 2**31 - 1),
}
#: What an InvalidDSNError says about a DSN urllib cannot parse: never the DSN
#: itself, whose password is where the parse went wrong.
_UNPARSABLE = (
    "the Redis DSN could not be parsed ({}); if its password has special characters "
    "such as # ? / @ :, percent-encode them (# is %23, ? is %3F, / is %2F, @ is %40, : is %3A)"
)


def secrets(conn_string: str) -> tuple[str, ...]:
    """The passwords a DSN holds (userinfo and query), to keep out of messages."""
    try:
        parts = urlsplit(conn_string)
        found = [parts.password or ""]
        query = parse_qsl(parts.query, keep_blank_values=True)
        found += [value for key, value in query if key.lower() in _SECRET_OPTIONS]
    except ValueError:
        return ()
    return tuple(sorted({secret for secret in found if secret}, key=len, reverse=True))


def scrub(message: str, secrets: tuple[str, ...]) -> str:
    """The message with every secret in it replaced by ``***``."""
    for secret in secrets:
        message = message.replace(secret, "***")
    return message


_SECRET_OPTIONS = {"password", "passwd", "pass", "secret", "token", "ssl_password"}
_CONNECTION_CLASSES: dict[str, type[Any]] = {
    "redis": redis.Connection,
    "rediss": redis.SSLConnection,
    "unix": redis.UnixDomainSocketConnection,
}


def _parameters(*classes: type[Any]) -> set[str]:
    """The keyword arguments the classes' constructors (and their bases') take."""
    names: set[str] = set()
    for cls in classes:
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None:
                continue
            try:
                parameters = inspect.signature(init).parameters.values()
            except (TypeError, ValueError):
                continue
            names |= {p.name for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    names.discard("self")
    return names


def _known_options(scheme: str, cluster: bool) -> set[str]:
    known = _parameters(_CONNECTION_CLASSES[scheme], redis.ConnectionPool, redis.BlockingConnectionPool)
    known |= set(URL_QUERY_ARGUMENT_PARSERS) | {"cluster"}
    if cluster:
        known |= _parameters(RedisCluster)
    return known


def _option_problem(key: str, value: str) -> str | None:
    """What is wrong with one option's value (None: nothing we can tell)."""
    if key in _SECRET_OPTIONS:
        return None
    parser = URL_QUERY_ARGUMENT_PARSERS.get(key)
    if key == "cluster" or getattr(parser, "__name__", "") == "to_bool":
        if value.lower() in _TRUE | _FALSE:
            return None
        return f"option {key!r} must be true or false (or 1/0, yes/no), not {value!r}"
    if key not in _RANGES:
        return None
    low, high = _RANGES[key]
    try:
        number = int(value) if parser is int else float(value)
    except ValueError:
        return f"option {key!r} must be a number, not {value!r}"
    if not (math.isfinite(number) and low <= number <= high):
        return f"option {key!r} must be a number from {low:g} to {high:g}, not {value!r}"
    return None


def check_dsn(conn_string: str) -> tuple[str, bool]:
    """Checks a Redis DSN before any client is built, naming a bad part.

    redis-py reads some mistakes silently (``/abc`` as database 0) and others
    only at the first command (an unknown option is a ``TypeError`` then), so
    a typo would pass ``Gator()`` and fail at the first enqueue.

    Example:
        >>> check_dsn("redis://localhost:6379/2?cluster=false")
        ('redis://localhost:6379/2', False)
        >>> check_dsn("redis://localhost/0?socket_timout=3")
        Traceback (most recent call last):
        ...
        alligator.exceptions.InvalidDSNError: cannot use ... (did you mean socket_timeout?)

    Args:
        conn_string: The DSN.

    Returns:
        The DSN for redis-py (without our own ``cluster`` option), and whether
        it names a Redis Cluster.

    Raises:
        InvalidDSNError: It cannot be parsed (the message then shows no part
            of it, since a password with an unencoded ``#``, ``?`` or ``/``
            is where parsing goes wrong), or its scheme, port, database or an
            option (unknown, a number out of range, a boolean that is not
            true/false/1/0/yes/no) is wrong; the message names the part.
    """
    try:
        parts = urlsplit(conn_string)
    except ValueError as err:
        raise InvalidDSNError(_UNPARSABLE.format("a host in [brackets] is not closed")) from err
    try:
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError as err:
        raise InvalidDSNError(_UNPARSABLE.format("the port is not a number from 0 to 65535")) from err
    # An unencoded # ? or / in a password ends the userinfo early: the rest of
    # it (and the host) lands in the fragment, query or path, and would be shown.
    if parts.fragment or "@" in parts.path or "@" in parts.query:
        raise InvalidDSNError(_UNPARSABLE.format("an @ or # outside the user and password part"))
    shown = redact_dsn(conn_string)

    def refuse(problem: str) -> InvalidDSNError:
        return InvalidDSNError(f"cannot use {shown!r} as a Redis DSN: {problem}")

    scheme = parts.scheme.lower()
    if scheme not in _CONNECTION_CLASSES:
        raise refuse(f"the scheme must be redis, rediss or unix, not {parts.scheme!r}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    values: dict[str, str] = {}
    for key, value in query:
        if key in values and values[key] != value:
            raise refuse(f"option {key!r} is given twice, as {values[key]!r} and {value!r}")
        values[key] = value
    cluster = values.get("cluster", "").lower() in _TRUE
    known = _known_options(scheme, cluster)
    for key, value in values.items():
        if key not in known:
            near = closest(key, sorted(known))
            hint = f" (did you mean {near}?)" if near else ""
            raise refuse(f"unknown option {key!r}{hint}")
        problem = _option_problem(key, value)
        if problem:
            raise refuse(problem)
    path_db = None
    if scheme != "unix" and parts.path not in ("", "/"):
        text = unquote(parts.path[1:])
        if not text.isdigit():
            raise refuse(f"the database must be a number, not {text!r}")
        path_db = int(text)
    if "db" in values:
        if not values["db"].strip().isdigit():
            raise refuse(f"the database must be a number, not {values['db']!r}")
        if path_db is not None and int(values["db"]) != path_db:
            raise refuse(f"two different databases: {path_db} in the path and {values['db']} in ?db=")
    if "cluster" in values:
        # redis-py knows no such option: take it out before it sees the URL.
        rest = [(k, v) for k, v in query if k != "cluster"]
        conn_string = urlunsplit(parts._replace(query=urlencode(rest)))
    return conn_string, cluster
