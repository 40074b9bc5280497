"""The PostgreSQL backend's base: the DSN, a pool of connections, transactions and errors.

:class:`Store` holds idle connections in a small pool: a call takes one,
runs one statement (atomic on its own, in autocommit) or one transaction,
and puts it back, so a thread that ends leaves no connection behind and a
process holds as many as it uses at once. A connection that failed is
closed, never pooled again; the next call opens a fresh one, so a restarted
server is reconnected to without anyone's help. Deadlocks and serialization
failures (which PostgreSQL resolves by aborting one side) are retried; every
other error is raised as :class:`~alligator.exceptions.BackendError` naming
the server (never its password) and the cause, and a connection refused for
good (no such database, bad credentials) as
:class:`~alligator.exceptions.PermanentBackendError`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg

from alligator.backend import Backend
from alligator.exceptions import BackendError, InvalidDSNError, PermanentBackendError
from alligator.text import redact_dsn
from alligator_postgres import queries
from alligator_postgres.schema import ensure_schema

__all__ = ["Store"]

_T = TypeVar("_T")

#: Idle connections kept per backend instance; more are opened when more
#: threads call at once, and closed when handed back beyond this.
MAX_IDLE = 8
#: Seconds to wait for a connection, unless the DSN says (``connect_timeout``).
CONNECT_TIMEOUT = 10
# Deadlock, serialization failure: PostgreSQL aborted one side, retrying is safe.
_RETRY_STATES = {"40P01", "40001"}
# No such database, bad password, no such role, not allowed to connect.
_PERMANENT_STATES = {"3D000", "28P01", "28000", "42501"}
# The same, as libpq words them when the connection itself is refused (no SQLSTATE then).
_PERMANENT_MESSAGES = (
    "does not exist",
    "password authentication failed",
    "no pg_hba.conf entry",
    "permission denied for database",
)
_RETRIES = 5


class Store(Backend):
    """The server, its connections and transactions; see the module docstring.

    Args:
        conn_string: ``postgresql://user:password@host:port/database`` (or
            ``postgres://``), with any libpq option in the query string.

    Raises:
        InvalidDSNError: libpq cannot read the DSN.
        BackendError: The server cannot be reached, or its tables were
            written by a newer release.
        PermanentBackendError: The server refuses the connection for good.
    """

    def __init__(self, conn_string: str) -> None:
        super().__init__(conn_string)
        self._where = redact_dsn(conn_string)
        try:
            params = psycopg.conninfo.conninfo_to_dict(conn_string)
        except psycopg.ProgrammingError as err:
            raise InvalidDSNError(f"cannot read the PostgreSQL DSN {self._where}: {err}") from None
        params.setdefault("connect_timeout", CONNECT_TIMEOUT)
        params.setdefault("application_name", "alligator")
        self._params: dict[str, Any] = params
        # Waiters' connections say so, for pg_stat_activity (and doctor's reader).
        self._listener_params = {**params, "application_name": f"{params['application_name']}-listen"}
        self._idle: list[psycopg.Connection[Any]] = []
        self._idle_listeners: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._last_purge: float | None = None
        self._schema_ready = False
        # Connect now: a wrong DSN, a refused password or a newer schema
        # fails here, at Gator(...) or at latergator's start, rather than at
        # the first task. A server that is down for now (restarting, say)
        # is not an error yet: the first call that reaches it checks the
        # tables, and a worker started meanwhile retries as usual.
        try:
            self._retrying(lambda conn: None)  # opening a connection checks the tables
        except PermanentBackendError:
            raise
        except BackendError as err:
            cause = err.__cause__
            if not isinstance(cause, psycopg.OperationalError) or cause.sqlstate:
                raise

    def describe(self) -> str:
        """Names the server and database, never the password.

        Returns:
            The DSN with its secrets hidden, e.g. ``postgresql://app:***@db:5432/app``.
        """
        return self._where

    # -- connections ------------------------------------------------------

    def _open(self, listener: bool = False) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(**(self._listener_params if listener else self._params), autocommit=True)
        except psycopg.Error as err:
            raise self._error(err, "connect") from err

    def _forked(self) -> None:
        if os.getpid() != self._pid:
            # A forked child must not use its parent's sockets: it forgets them
            # (closing them would send a Terminate on the parent's sessions).
            self._pid = os.getpid()
            self._idle = []
            self._idle_listeners = []

    @contextmanager
    def _connection(self, listener: bool = False) -> Iterator[psycopg.Connection[Any]]:
        """Lends a pooled connection; one that failed is closed instead of coming back."""
        with self._lock:
            self._forked()
            pool = self._idle_listeners if listener else self._idle
            conn = pool.pop() if pool else None
        if conn is None or conn.closed:
            conn = self._open(listener)
            if not self._schema_ready:
                try:
                    self.created = ensure_schema(conn)
                except BaseException:
                    conn.close()
                    raise
                self._schema_ready = True
        try:
            yield conn
        except BaseException:
            if not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
                self._give_back(conn, listener)
            else:
                conn.close()
            raise
        self._give_back(conn, listener)

    def _give_back(self, conn: psycopg.Connection[Any], listener: bool) -> None:
        with self._lock:
            if os.getpid() == self._pid:
                pool = self._idle_listeners if listener else self._idle
                if len(pool) < MAX_IDLE:
                    pool.append(conn)
                    return
        conn.close()

    def close(self) -> None:
        """Closes every idle connection; the instance stays usable (a later call opens a new one)."""
        with self._lock:
            self._forked()
            connections = self._idle + self._idle_listeners
            self._idle, self._idle_listeners = [], []
        for conn in connections:
            conn.close()

    # -- statements and transactions ---------------------------------------

    def _one(self, query: str, params: dict[str, Any]) -> Any:
        """Runs one statement (atomic on its own) and returns its first row, or None."""
        return self._retrying(lambda conn: conn.execute(query, params).fetchone())

    def _all(self, query: str, params: dict[str, Any]) -> list[Any]:
        """Runs one statement and returns all its rows."""
        return self._retrying(lambda conn: conn.execute(query, params).fetchall())

    def _transaction(self, body: Callable[[psycopg.Connection[Any]], _T]) -> _T:
        """Runs ``body`` in one transaction (retried whole after a deadlock)."""

        def run(conn: psycopg.Connection[Any]) -> _T:
            with conn.transaction():
                return body(conn)

        return self._retrying(run)

    def _retrying(self, body: Callable[[psycopg.Connection[Any]], _T]) -> _T:
        for attempt in range(_RETRIES):
            try:
                with self._connection() as conn:
                    return body(conn)
            except psycopg.Error as err:
                if err.sqlstate in _RETRY_STATES and attempt + 1 < _RETRIES:
                    time.sleep(0.005 * 2**attempt)
                    continue
                raise self._error(err) from err
        raise AssertionError("unreachable")  # pragma: no cover

    def _error(self, err: psycopg.Error, doing: str = "") -> BackendError:
        state = err.sqlstate or ""
        cause = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        refused = doing == "connect" and any(words in cause for words in _PERMANENT_MESSAGES)
        if state in _PERMANENT_STATES or refused:
            return PermanentBackendError(
                f"PostgreSQL at {self._where} refuses the connection ({cause}): check the DSN's "
                "database, user and password"
            )
        if isinstance(err, psycopg.OperationalError) and not state:
            what = "cannot connect" if doing == "connect" else "lost the connection"
            return BackendError(
                f"PostgreSQL at {self._where}: {what} ({cause}); is the server running? "
                "The call may be retried: nothing half-done is kept"
            )
        return BackendError(f"PostgreSQL at {self._where}: {cause}; nothing was changed")

    # -- time ------------------------------------------------------------

    def _now_arg(self) -> float | None:
        """The time every query compares with: None (the server's clock), or the injected clock's."""
        return None if self.clock is None else self.clock()

    def _now_in(self, conn: psycopg.Connection[Any]) -> float:
        """The time for the statements of a transaction: the injected clock's, or the server's read in it."""
        if self.clock is not None:
            return self.clock()
        return float(conn.execute(queries.SERVER_NOW).fetchone()[0])  # type: ignore[index]

    def now(self) -> float:
        """The time on the server's clock (or the injected :attr:`~alligator.backend.Backend.clock`)."""
        if self.clock is not None:
            return self.clock()
        return float(self._one(queries.SERVER_NOW, {})[0])
