"""The producer's own connection: one push, one write and one read, nothing else.

A push through the client's pool takes a connection, checks that it holds
no unread data (a system call), sends, reads through redis-py's layers and
puts the connection back, every time: on a busy machine as long as Redis
takes to run the push script. :class:`HeldConnection` keeps one connection
aside for pushes instead, and talks to its socket directly.
"""

from __future__ import annotations

import inspect
import os
import threading
from typing import Any

import redis
from redis.exceptions import ResponseError

hiredis: Any
try:
    # Its own stubs where installed; a checker without it needs no stubs here.
    import hiredis  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - hiredis is a dependency; redis-py's reader then
    hiredis = None

#: Bytes read from the socket at a time; a push's reply is a few bytes.
_READ_SIZE = 4096

#: Forks this process came through: a connection opened before the last one
#: is the parent's (counted at the fork, so a push needs no getpid call).
_forks = 0


def _forked() -> None:
    global _forks
    _forks += 1


if hasattr(os, "register_at_fork"):  # pragma: no branch - not on Windows
    os.register_at_fork(after_in_child=_forked)


class HeldConnection:
    """A connection a producer keeps for itself, beside the client's pool.

    Opened with the pool's own settings (TLS, password, database, timeouts)
    the first time it is needed, and again in a forked child (the parent's
    is left alone). One thread uses it at a time: a thread that finds it
    busy takes a connection from the pool, as every other command does.
    After an error other than an error reply it is closed, and opened
    afresh next time, so no reply is ever left unread on it. It is not
    counted in the pool's ``max_connections``.

    With hiredis, and RESP2 (the default ``protocol``, under which the
    server never sends what was not asked for), a command is one
    ``sendall`` and its reply read by a hiredis reader of its own;
    otherwise, or with a ``health_check_interval`` (a PING first on a
    connection idle that long), it goes through redis-py's connection.

    Args:
        pool: The client's connection pool (of redis-py's own connection classes).
    """

    __slots__ = ("_args", "_buffer", "_conn", "_forks", "_health", "_lock", "_pool", "_raw", "_reader")

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._args = _get_connection_args(pool)
        self._lock = threading.Lock()
        self._conn: Any = None
        self._reader: Any = None
        self._buffer = bytearray(_READ_SIZE)
        self._forks = _forks
        options = pool.connection_kwargs
        # A health_check_interval asks for a PING before a command on a
        # connection idle that long: redis-py's own path keeps that promise.
        self._health = bool(options.get("health_check_interval"))
        self._raw = hiredis is not None and int(options.get("protocol") or 2) == 2 and not self._health

    def call(self, packed: bytes) -> Any:
        """Sends one packed command and returns its reply (strings as bytes, with hiredis).

        Raises:
            redis.ResponseError: An error reply (``NoScriptError``...), as redis-py raises it.
            redis.ConnectionError: The connection failed; it is closed.
            redis.TimeoutError: The socket timed out; the connection is closed.
        """
        if not self._lock.acquire(blocking=False):
            return self._pooled(packed)
        try:
            conn = self._conn
            if conn is None or self._forks != _forks:
                # In a forked child the parent's connection is never touched.
                conn = self._conn = self._pool.connection_class(**self._pool.connection_kwargs)
                self._reader = None
                self._forks = _forks
            try:
                if not self._raw:
                    conn.send_packed_command([packed], check_health=self._health)
                    return conn.read_response()
                return self._raw_call(conn, packed)
            except ResponseError:
                raise  # an error reply, read in full: the connection is fine
            except BaseException:
                self._conn = self._reader = None
                conn.disconnect()
                raise
        finally:
            self._lock.release()

    def _raw_call(self, conn: Any, packed: bytes) -> Any:
        sock = conn._sock
        reader = self._reader
        if sock is None or reader is None:
            conn.connect()  # the handshake (AUTH, SELECT...) is redis-py's
            sock = conn._sock
            reader = self._reader = hiredis.Reader()
        buffer = self._buffer
        try:
            sock.sendall(packed)
            reply = reader.gets()
            while reply is False:
                count = sock.recv_into(buffer)
                if not count:
                    raise redis.ConnectionError("Connection closed by server.")
                reader.feed(buffer, 0, count)
                reply = reader.gets()
        except TimeoutError as err:
            raise redis.TimeoutError(f"Timeout reading from {_where(conn)}") from err
        except OSError as err:
            raise redis.ConnectionError(f"Error while talking to {_where(conn)}: {err}") from err
        if isinstance(reply, hiredis.ReplyError):
            # redis-py's own classes (NoScriptError, ReadOnlyError...), as its reader raises them.
            parse = getattr(conn._parser, "parse_error", None)
            raise parse(str(reply)) if parse is not None else ResponseError(str(reply))
        return reply

    def _pooled(self, packed: bytes) -> Any:
        pool = self._pool
        conn = pool.get_connection(*self._args)
        try:
            conn.send_packed_command([packed])
            return conn.read_response()
        finally:
            pool.release(conn)

    def close(self) -> None:
        """Closes the connection, if open (a later call opens a new one)."""
        with self._lock:
            conn, self._conn, self._reader = self._conn, None, None
        if conn is not None:
            conn.disconnect()


def _where(conn: Any) -> str:
    path = getattr(conn, "path", None)
    return str(path) if path else f"{getattr(conn, 'host', '?')}:{getattr(conn, 'port', '?')}"


def _get_connection_args(pool: Any) -> tuple[str, ...]:
    # redis-py 5 wants a command name here; later versions deprecate passing one.
    parameter = inspect.signature(pool.get_connection).parameters.get("command_name")
    return ("EVALSHA",) if parameter is not None and parameter.default is inspect.Parameter.empty else ()
