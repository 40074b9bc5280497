"""The SQLite backend: one file, many worker processes on one machine.

``Gator("sqlite:///tasks.db")`` keeps its queues in one SQLite file that any
number of processes on this machine share: a web app enqueues, several
``latergator sqlite:///tasks.db`` processes work the queue. DSNs follow
SQLAlchemy's convention: three slashes and a relative path
(``sqlite:///tasks.db``, relative to the working directory when the backend
is built) or four and an absolute one (``sqlite:////var/lib/app/tasks.db``).
The file and its tables are created on first use;
:meth:`SqliteBackend.describe` names the absolute path and says when this
instance had to create it (a worker started in the wrong directory would
otherwise idle on a new, empty queue). Two query parameters tune it:
``timeout`` (seconds to keep retrying while another process holds the write
lock; default 60) and ``synchronous`` (``full``, the default, or ``normal``:
faster, and still safe when a process is killed, but the last commits may be
lost when the machine loses power). A misspelt option or a bad value is
refused with :class:`~alligator.exceptions.InvalidDSNError`, with a
suggestion for a near miss.

How it keeps the contract:

* **Concurrency.** The file is in WAL mode, so readers never wait for the
  writer. Every step that changes anything is one short ``BEGIN IMMEDIATE``
  transaction: it takes the write lock first, so two workers can never read
  the same due task and both reserve it. While another process holds the
  lock, SQLite's busy timeout waits and this module retries with jittered
  backoff for up to ``timeout`` seconds, so "database is locked" never
  reaches the user; other SQLite errors are raised as
  :class:`~alligator.exceptions.BackendError` naming the file and the cause,
  after the transaction rolled back (nothing half-done, nothing lost).
* **Threads.** Each thread of each process uses its own connection.
* **Time.** SQLite has no clock of its own that a transaction could share,
  so due times and lease ends are taken from
  :meth:`~alligator.backend.Backend.now` of the calling process (the system
  clock, or the injected :attr:`~alligator.backend.Backend.clock` in tests).
  Every process using the file runs on this one machine and so reads
  the same system clock; that is what makes comparing their timestamps
  sound. Do not share the file between machines (over NFS, say): their
  clocks differ, and SQLite's locking is not reliable there anyway.
* **FIFO.** Due tasks are reserved in order of their due time, then of a
  sequence number every push and release draws from a counter in the file.
* **Records anyone could have written.** Whoever can write to the file can
  plant a row. Reserve reads each payload as bytes, after measuring it: a
  payload over :attr:`~alligator.backend.Backend.max_payload_bytes` is never
  read, and one (or a task id) that is not valid UTF-8 cannot make the read
  fail. Such rows are moved to the dead letters by ``rowid`` in the same
  transaction, and the other tasks of that reserve are delivered as usual.
  :meth:`~SqliteBackend.push` stores the payload's UTF-8 bytes as a BLOB,
  whose length SQLite knows from the row header, so the reserve query
  itself returns payloads within the limit. Any other row (TEXT, or over
  the limit) is measured on its own: on Python 3.11+ through SQLite's blob
  I/O, which also copies an oversized payload to the dead letters a piece
  at a time, so it never sits in the process's memory whole, not even
  inside SQLite; on 3.10 in SQL (``length(CAST(payload AS BLOB))``), which
  keeps it out of Python but makes SQLite load it.
* **Task ids over** :attr:`SqliteBackend.max_task_id_bytes` (1024 bytes by
  default) are measured in SQL (``length(CAST(task_id AS BLOB))``) and never
  selected into Python: such a row is dead-lettered under its id cut to the
  limit (``substr``, or blob I/O on 3.11+), decoded leniently, with reason
  ``task id is N bytes, over the limit of M``. ``dead_letters()`` never lists
  a longer id either.
* **Stored numbers that are not numbers.** A row whose ``due``, ``seq``,
  ``attempts`` or ``failures`` holds text, a blob, an infinity or (for the
  integers) a fraction is dead-lettered by the next reserve (or get) that
  meets it, alone, with reason ``record is corrupt: due is 'abc'`` (the value
  shortened to 40 characters; a count that is no number taken as 0). A due
  that is not a finite number sorts after every time in the ``(queue, due,
  seq)`` index, so each reserve looks for such rows with one index seek
  (``due >= +inf``, at most 8 a call) rather than scanning the table; the
  other fields are checked on the rows a reserve reads anyway. Until then
  ``status()`` reports such a row WAITING and ``len()`` counts it;
  ``status()``, ``len()`` and ``peek()`` never raise for it.
* **Results ride the ack.** :meth:`~SqliteBackend.ack_results` writes each
  return value in the very transaction that acks its task (the one
  :meth:`~SqliteBackend.ack_many` runs; no transaction is added per task), so
  a task is never acked without its result nor the other way round. A
  result is kept until ``expires_at``, a time on the backend's clock (so an
  injected test clock expires it too); expired ones are deleted by later
  acks, a bounded batch each through an index, and never handed out
  meanwhile. :meth:`~SqliteBackend.finished` measures a stored result with ``length()``
  in SQL and selects it only when within
  :attr:`~alligator.backend.Backend.max_payload_bytes`.
* **Several queues.** :meth:`~SqliteBackend.reserve_first` tries the queues
  in priority order inside one write transaction. SQLite cannot wake a
  process when another one commits (``blocking_reserve`` and
  ``waits_for_finish`` are False): ``wait_for_work`` keeps the core's short
  nap, and :meth:`~SqliteBackend.wait_finished` polls ``PRAGMA
  data_version``, reading the task only after some other connection
  committed.
* **Live workers** are rows with an expiry on the backend's clock; each
  heartbeat deletes the expired ones and, beyond
  :attr:`~alligator.backend.Backend.max_workers`, those with the oldest
  heartbeats, so the registry stays bounded.
* **Deployment checks.** :meth:`~SqliteBackend.diagnose` reports the file's
  journal mode (an error when it is not WAL), whether it accepts a write
  (rolled back), its file system (an error on NFS, SMB and the other network
  file systems, where SQLite's locking cannot be trusted) and the free disk
  space (see :mod:`alligator_sqlite.diagnosis`).
* **Hand-written rows in the new tables** never make a read raise: a time
  that is no number is taken as unknown (an expiry as past), a result or
  record that is too long or not UTF-8 is never read into Python.

The schema (version 4), in tables prefixed ``alligator_`` so the file can be
shared with an application's own tables:

* ``alligator_meta(key, value)``: ``schema_version`` and ``seq`` (the
  counter).
* ``alligator_tasks(queue, task_id, payload, due, seq, attempts, receipt,
  failures)``: waiting and delayed tasks (``receipt`` NULL, ``due`` when they
  are due) and reserved ones (``receipt`` set, ``due`` the end of the lease,
  so a lapsed lease is simply due again). Reserve reads the index
  ``(queue, due, seq)``. ``failures`` counts releases with
  ``attempted=True``; version 2 added it. Version 2 writes payloads as
  BLOBs of UTF-8; rows of version 1 hold TEXT, which is read as well.
* ``alligator_dead(queue, task_id, reason, attempts, failed_at, seq,
  payload)``: dead letters; the payload last, so that a letter can be
  written with ``zeroblob(size)`` and filled in pieces.
* ``alligator_finished(queue, task_id, status, finished_at)``: SUCCESS and
  FAILED statuses, purged through an index on ``finished_at`` once older than
  :attr:`~alligator.backend.Backend.status_ttl`.
* ``alligator_results(queue, task_id, finished_at, expires_at, result)``
  (version 3): return values as BLOBs of UTF-8, with an index on
  ``expires_at``.
* ``alligator_workers(worker_id, heartbeat_at, expires_at, seq, record)``
  (version 3): the live workers' records, with an index on ``expires_at``.
* ``alligator_paused(kind, name)`` (version 4): the paused queues and
  functions (see :meth:`SqliteBackend.set_paused`).

An older file is migrated in place when it is opened, in one transaction,
one version at a time: version 1 to 2 adds the ``failures`` column (every
count starting at 0) and rebuilds ``alligator_dead`` with the payload last;
version 2 to 3 adds the results and workers tables, leaving every row as it
is; version 3 to 4 adds the paused table, empty. A file written by a newer
release (a higher ``schema_version``) is refused with a clear error rather
than misread.
"""

from __future__ import annotations

import difflib
import math
import os
import random
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TypeVar
from urllib.parse import parse_qsl, urlsplit

from alligator.backend import (
    Ack,
    Backend,
    DeadLetter,
    Finished,
    QueueCounts,
    Reservation,
    TaskInfo,
    check_page,
    check_window,
)
from alligator.constants import DELAYED, FAILED, RUNNING, SUCCESS, WAITING
from alligator.exceptions import BackendError, InvalidDSNError
from alligator.pausing import MAX_PAUSE_NAME_BYTES, check_target, listed
from alligator_sqlite import diagnosis

__all__ = ["SCHEMA_VERSION", "SqliteBackend"]
__version__ = "1.0.0"

#: The version of the tables this release writes and understands.
SCHEMA_VERSION = 4
#: Default seconds to keep retrying while other processes hold the write lock.
DEFAULT_TIMEOUT = 60.0
#: SQLite's own busy wait per attempt; our loop retries around it, with jitter,
#: so that one process cannot be starved by SQLite's fixed sleep schedule.
_BUSY_TIMEOUT_MS = 2000

_T = TypeVar("_T")

# The payload is the dead letters' last column: a row can then be inserted
# with zeroblob(N) there without SQLite allocating N bytes, and the payload
# copied in pieces (see SqliteBackend._bury).
_DEAD_TABLE = """CREATE TABLE IF NOT EXISTS {name} (
    queue TEXT NOT NULL,
    task_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    failed_at REAL NOT NULL,
    seq INTEGER NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (queue, task_id)
)"""

# Version 3: return values kept with the ack, and the registry of live workers.
# A result's and a worker's lifetimes are stored (expires_at, on the backend's
# clock), so expiry follows the injected test clock too; the indexes on
# expires_at let the lazy trims find what ended with one range scan.
_V3_TABLES = (
    """CREATE TABLE IF NOT EXISTS alligator_results (
    queue TEXT NOT NULL,
    task_id TEXT NOT NULL,
    finished_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    result TEXT NOT NULL,
    PRIMARY KEY (queue, task_id)
)""",
    "CREATE INDEX IF NOT EXISTS alligator_results_expires ON alligator_results (expires_at)",
    """CREATE TABLE IF NOT EXISTS alligator_workers (
    worker_id TEXT PRIMARY KEY,
    heartbeat_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    seq INTEGER NOT NULL,
    record TEXT NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS alligator_workers_expires ON alligator_workers (expires_at)",
)

# Version 4: the paused queues and functions, one set per file (see set_paused).
_V4_TABLE = """CREATE TABLE IF NOT EXISTS alligator_paused (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (kind, name)
) WITHOUT ROWID"""

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS alligator_meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alligator_tasks (
    queue TEXT NOT NULL,
    task_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    due REAL NOT NULL,
    seq INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    failures INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, task_id)
);
CREATE INDEX IF NOT EXISTS alligator_tasks_due ON alligator_tasks (queue, due, seq);
{dead_table};
CREATE INDEX IF NOT EXISTS alligator_dead_seq ON alligator_dead (queue, seq);
CREATE TABLE IF NOT EXISTS alligator_finished (
    queue TEXT NOT NULL,
    task_id TEXT NOT NULL,
    status INTEGER NOT NULL,
    finished_at REAL NOT NULL,
    PRIMARY KEY (queue, task_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS alligator_finished_at ON alligator_finished (finished_at);
{results_tables};
{paused_table};
""".replace("{dead_table}", _DEAD_TABLE.format(name="alligator_dead"))
    .replace("{results_tables}", ";\n".join(_V3_TABLES))
    .replace("{paused_table}", _V4_TABLE)
)

# SQLite's primary result codes that mean "someone else holds a lock: try again".
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_HINTS = {
    8: "the file is read-only (check its permissions and those of its directory)",
    13: "the disk is full (or the database reached its size limit)",
    10: "a disk I/O error occurred",
    14: "the file or its directory cannot be opened (does the directory exist and is it writable?)",
    11: "the file is corrupt",
    26: "the file is not an SQLite database",
}

# Migrations from each older schema version to the next, run in one write
# transaction when an older file is opened.
_MIGRATIONS = {
    1: (
        "ALTER TABLE alligator_tasks ADD COLUMN failures INTEGER NOT NULL DEFAULT 0",
        # Rebuilt to move the payload to the last column.
        _DEAD_TABLE.format(name="alligator_dead_v2"),
        "INSERT INTO alligator_dead_v2 (queue, task_id, reason, attempts, failed_at, seq, payload) "
        "SELECT queue, task_id, reason, attempts, failed_at, seq, payload FROM alligator_dead",
        "DROP TABLE alligator_dead",
        "ALTER TABLE alligator_dead_v2 RENAME TO alligator_dead",
        "CREATE INDEX IF NOT EXISTS alligator_dead_seq ON alligator_dead (queue, seq)",
    ),
    # Only new tables: the rows of version 2 are kept as they are.
    2: _V3_TABLES,
    # One new table: nothing is paused after the upgrade.
    3: (_V4_TABLE,),
}

# Payloads and task ids are read as bytes and decoded here, so a record
# that is not valid UTF-8 cannot make the whole read fail. Python 3.11+ has
# SQLite's incremental blob I/O: a payload's size is then read from the row
# header, and a payload over the limit is never loaded, not even by SQLite.
# Without it the size is measured in SQL: the payload never reaches Python,
# but SQLite loads it once to measure it.
# (Each use is spelt `sys.version_info >= (3, 11) and _BLOB_IO` so that mypy,
# checking for 3.10, knows blobopen exists where it is called; tests turn
# _BLOB_IO off to prove the SQL way.)
_BLOB_IO = sys.version_info >= (3, 11)
_PAYLOAD_COLUMNS = (
    "length(CAST(payload AS BLOB)), "
    "CASE WHEN length(CAST(payload AS BLOB)) > ? THEN NULL ELSE CAST(payload AS BLOB) END"
)
# Retention looks for expired dead letters among this many of the oldest.
_RETAIN_BATCH = 100
# The states tasks() lists from alligator_tasks, as SQL conditions (due is the
# lease's end for a reserved task, so an ended lease is simply due).
_STATE_WHERE = {
    "waiting": "due <= ?",
    "delayed": "receipt IS NULL AND due > ?",
    "running": "receipt IS NOT NULL AND due > ?",
}
# Dead-lettered payloads are copied in pieces of this size.
_COPY_CHUNK = 1024 * 1024
# The counts as integers in a sane range whatever a hand-written row holds
# (2**63 - 1, or no integer at all, taken as 0): adding one in Python must
# neither fail nor overflow.
_ATTEMPTS_COLUMN = "CASE WHEN typeof(attempts) = 'integer' THEN min(max(attempts, 0), 1000000000) ELSE 0 END"
_FAILURES_COLUMN = "CASE WHEN typeof(failures) = 'integer' THEN min(max(failures, 0), 1000000000) ELSE 0 END"
_COUNT_COLUMNS = f"{_ATTEMPTS_COLUMN}, {_FAILURES_COLUMN}"
# push() stores payloads as BLOBs, whose length SQLite reads from the row
# header: such a payload within the limit comes with the row, in one query.
# Any other (a TEXT row from version 1 or from a hand, or one over the limit)
# comes back NULL and is measured and read on its own (_read_payload).
_SMALL_PAYLOAD = "CASE WHEN typeof(payload) = 'blob' AND length(payload) <= ? THEN payload END"
# A task id's bytes only when within the limit (the first parameter), else
# NULL: a huge id is measured inside SQLite, never copied out. One column,
# so that SQLite holds at most one copy of a huge id at a time.
_ID_COLUMN = "CASE WHEN length(CAST(task_id AS BLOB)) <= ? THEN CAST(task_id AS BLOB) END"
# The first stored number of a row that is not a valid one, or NULL when all
# are. A hand-written row can hold anything (text, a blob, an infinity, a
# fraction of an attempt); such a row is dead-lettered, never compared or
# counted in Python. A REAL column reports 'real' even for integer values.
_CORRUPT_COLUMN = (
    "CASE WHEN typeof(due) != 'real' OR abs(due) > 1.7976931348623157e308 THEN 'due' "
    "WHEN typeof(seq) != 'integer' THEN 'seq' "
    "WHEN typeof(attempts) != 'integer' THEN 'attempts' "
    "WHEN typeof(failures) != 'integer' THEN 'failures' END"
)
# The fields _CORRUPT_COLUMN may name: the only names ever put into SQL text.
_NUMBER_FIELDS = ("due", "seq", "attempts", "failures")
#: The query reserve() runs: the due tasks of a queue, oldest first.
RESERVE_SQL = (
    f"SELECT rowid, {_ID_COLUMN}, {_COUNT_COLUMNS}, {_SMALL_PAYLOAD}, {_CORRUPT_COLUMN} "
    "FROM alligator_tasks WHERE queue = ? AND due <= ? ORDER BY due, seq LIMIT ?"
)
# Rows whose due is not a finite number never meet RESERVE_SQL's range: SQLite
# sorts TEXT and BLOB after every number, and +inf after every time. They all
# sit at the end of a queue's part of the (queue, due, seq) index, where this
# range (due >= +inf) finds them with one index seek; each reserve buries up
# to _CORRUPT_PER_RESERVE of them.
CORRUPT_DUE_SQL = f"SELECT rowid, {_CORRUPT_COLUMN} FROM alligator_tasks WHERE queue = ? AND due >= ? LIMIT ?"
_CORRUPT_PER_RESERVE = 8
# Each ack deletes at most this many expired results.
_TRIM_BATCH = 1000
# How many characters of a corrupt value a dead letter's reason shows.
_SHOWN_CHARS = 40
# Reserve reads this many batches at most when bad records leave it short of
# its limit: the write lock is never held for a whole queue of bad rows.
_MAX_RESERVE_ROUNDS = 8

# A result's size in bytes and its bytes, selected only when within the limit
# (the parameter). A BLOB's length comes from the row header; a TEXT row (a
# hand-written one) is measured inside SQLite, never copied out when too big.
_RESULT_SIZE = (
    "coalesce(CASE WHEN typeof(result) = 'blob' THEN length(result) ELSE length(CAST(result AS BLOB)) END, 0)"
)
_RESULT_COLUMNS = f"{_RESULT_SIZE}, CASE WHEN {_RESULT_SIZE} <= ? THEN CAST(result AS BLOB) END"

# A result or worker record is live while its expiry, a number, is later than
# now (the parameter); +inf (an infinite ttl) never expires. An expiry that is
# no number (a hand wrote text or a blob there) counts as past.
_LIVE = "(typeof(expires_at) = 'real' AND expires_at > ?)"


def _finite(column: str) -> str:
    """A REAL column's value when it holds a finite number, else NULL (what a hand may have written)."""
    return (
        f"(CASE WHEN typeof({column}) = 'real' AND abs({column}) <= 1.7976931348623157e308 THEN {column} END)"
    )


_OPTIONS = ("timeout", "synchronous")
_SYNCHRONOUS = ("full", "normal")


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word.lower(), choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


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
        _parse_timeout(conn_string, options["timeout"])
    if "synchronous" in options:
        _parse_synchronous(conn_string, options["synchronous"])
    return os.path.abspath(path), options


def _parse_timeout(conn_string: str, value: str) -> float:
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


def _parse_synchronous(conn_string: str, value: str) -> str:
    if value.lower() not in _SYNCHRONOUS:
        raise InvalidDSNError(
            f"{conn_string!r}: synchronous={value!r}{_did_you_mean(value, _SYNCHRONOUS)}; "
            "use 'full' or 'normal'"
        )
    return value.upper()


class SqliteBackend(Backend):
    """Queues in one SQLite file shared by the processes of one machine.

    See the module docstring for the DSN, the schema and how time is kept.

    Example:
        >>> from alligator import Gator
        >>> gator = Gator("sqlite:///tasks.db")  # doctest: +SKIP

    Args:
        conn_string: ``sqlite:///relative.db`` or ``sqlite:////absolute.db``,
            optionally with ``?timeout=SECONDS&synchronous=full|normal``.

    Raises:
        InvalidDSNError: The DSN names no usable file, or has a bad option.
        BackendError: The file cannot be opened or created, or was written by
            a newer release.
    """

    #: The longest task id, in UTF-8 bytes, that reserve() and get() hand
    #: out (DECISIONS C8; the core's ``Backend`` default where it has one).
    max_task_id_bytes: int = 1024
    #: Results ride the ack, in its transaction (see :meth:`ack_results`).
    stores_results = True
    supports_pause = True

    def __init__(self, conn_string: str) -> None:
        super().__init__(conn_string)
        self.path, options = parse_dsn(conn_string)
        self.timeout = _parse_timeout(conn_string, options.get("timeout", str(DEFAULT_TIMEOUT)))
        self.synchronous = _parse_synchronous(conn_string, options.get("synchronous", "full"))
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._pid = os.getpid()
        self._last_purge: float | None = None
        # Connect now: a wrong path or a newer schema fails here, at Gator(...)
        # or at latergator's start, rather than at the first task.
        existed = os.path.exists(self.path)
        self._run(self._check_schema, write=False)
        self.created = not existed

    def describe(self) -> str:
        """Names the database file, for a worker's start line and error messages.

        A relative DSN is resolved against the directory the backend was
        built in, so a worker started elsewhere would quietly open a new,
        empty file: the absolute path, and "(created now)" when this instance
        had to create the file, make that visible.

        Example:
            >>> SqliteBackend("sqlite:////tmp/new-queue.db").describe()  # doctest: +SKIP
            '/tmp/new-queue.db (created now)'

        Returns:
            The file's absolute path, with `` (created now)`` appended when
            the file did not exist before this instance opened it.
        """
        return f"{self.path} (created now)" if self.created else self.path

    # -- connections ------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if os.getpid() != self._pid:
            # A forked child must not touch connections opened by its parent
            # (SQLite forbids it); it opens its own. The parent's are left
            # alone, not closed, as closing them here could disturb its locks.
            self._pid = os.getpid()
            self._local = threading.local()
            with self._connections_lock:
                self._connections = []
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def _open(self) -> sqlite3.Connection:
        directory = os.path.dirname(self.path)
        if not os.path.isdir(directory):
            raise BackendError(
                f"cannot open SQLite database {self.path}: the directory {directory} does not exist"
            )
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so every
        # transaction is exactly as long as we mean it to be. A connection is
        # only used by the thread that opened it; check_same_thread=False lets
        # close() shut them all from one thread.
        busy_ms = max(1, int(min(_BUSY_TIMEOUT_MS, self.timeout * 1000)))
        conn = sqlite3.connect(
            self.path,
            timeout=busy_ms / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
            # The mode is stored in the file; setting it again is a no-op.
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        except BaseException:
            conn.close()
            raise
        return conn

    def close(self) -> None:
        """Closes every connection this instance opened in this process.

        The instance stays usable: a later call opens a new connection.
        """
        with self._connections_lock:
            connections, self._connections = self._connections, []
        if os.getpid() == self._pid:
            for conn in connections:
                conn.close()
        self._local = threading.local()

    # -- transactions -----------------------------------------------------

    def _run(self, body: Callable[[sqlite3.Connection], _T], write: bool = True) -> _T:
        """Runs ``body`` in one transaction, retrying while the file is locked.

        ``body`` must only touch the database (it may run more than once):
        everything it did is rolled back before a retry or an error.
        """
        deadline = time.monotonic() + self.timeout
        delay = 0.005
        while True:
            conn: sqlite3.Connection | None = None
            try:
                conn = self._connection()
                # IMMEDIATE takes the write lock up front: a deferred
                # transaction that reads and then writes can fail with BUSY
                # mid-way in WAL mode, without SQLite's busy handler helping.
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                result = body(conn)
                conn.execute("COMMIT")
                return result
            except sqlite3.Error as err:
                if conn is not None and conn.in_transaction:
                    try:
                        conn.rollback()
                    except sqlite3.Error:
                        pass  # The original error is the one worth reporting.
                if _is_busy(err) and time.monotonic() < deadline:
                    # Jitter keeps processes that collided from colliding again.
                    time.sleep(delay * (0.5 + random.random()))
                    delay = min(delay * 2, 0.1)
                    continue
                raise self._error(err) from err
            except BaseException:
                # Anything else (a payload that cannot be encoded, a
                # KeyboardInterrupt) must not leave the write lock held.
                if conn is not None and conn.in_transaction:
                    try:
                        conn.rollback()
                    except sqlite3.Error:
                        pass
                raise

    def _error(self, err: sqlite3.Error) -> BackendError:
        code = _primary_code(err)
        if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
            cause = f"it stayed locked by other processes for more than {self.timeout:g}s"
        else:
            cause = _HINTS.get(code or 0, "SQLite failed")
        return BackendError(f"SQLite database {self.path}: {cause} ({err}); nothing was changed")

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        version = _schema_version(conn)
        if version == SCHEMA_VERSION:
            return
        self._refuse_newer(version)
        # No tables yet, or an older version to migrate. Only now take the
        # write lock, so that opening a read-only file that is already set up
        # still works for reading.
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")
        # Read again under the lock: another process may have created or
        # migrated the tables meanwhile.
        version = _schema_version(conn)
        self._refuse_newer(version)
        if version is None:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(
                "INSERT INTO alligator_meta (key, value) VALUES ('schema_version', ?), ('seq', 0)",
                (SCHEMA_VERSION,),
            )
            return
        while version < SCHEMA_VERSION:
            if version not in _MIGRATIONS:
                raise BackendError(f"SQLite database {self.path} has an unknown schema version {version}")
            for statement in _MIGRATIONS[version]:
                conn.execute(statement)
            version += 1
        conn.execute("UPDATE alligator_meta SET value = ? WHERE key = 'schema_version'", (version,))

    def _refuse_newer(self, version: int | None) -> None:
        if version is not None and version > SCHEMA_VERSION:
            raise BackendError(
                f"SQLite database {self.path} has schema version {version}, written by a newer "
                f"alligator-sqlite; this one knows versions up to {SCHEMA_VERSION}: upgrade alligator-sqlite"
            )

    # -- shared steps ------------------------------------------------------

    @staticmethod
    def _next_seqs(conn: sqlite3.Connection, count: int) -> int:
        """Draws ``count`` sequence numbers; returns the first."""
        row = conn.execute(
            "UPDATE alligator_meta SET value = value + ? WHERE key = 'seq' RETURNING value", (count,)
        ).fetchone()
        return int(row[0]) - count + 1

    def _finish(
        self, conn: sqlite3.Connection, rows: Sequence[tuple[str, str]], status: int, now: float
    ) -> None:
        conn.executemany(
            "INSERT OR REPLACE INTO alligator_finished (queue, task_id, status, finished_at) "
            "VALUES (?, ?, ?, ?)",
            [(queue, task_id, status, now) for queue, task_id in rows],
        )
        self._purge_finished(conn, now)

    def _purge_finished(self, conn: sqlite3.Connection, now: float) -> None:
        interval = min(self.status_ttl / 10, 60.0)
        if self._last_purge is None or abs(now - self._last_purge) >= interval:
            # One index range scan, done now and then rather than on every
            # ack: status() checks the age itself, so this only saves space.
            # abs(): an injected test clock may run behind the real one.
            conn.execute("DELETE FROM alligator_finished WHERE finished_at < ?", (now - self.status_ttl,))
            self._last_purge = now

    def _bury(
        self,
        conn: sqlite3.Connection,
        queue: str,
        rows: Sequence[tuple[int, str]],
        now: float,
        delivered: bool,
    ) -> None:
        """Moves task rows to the dead letters, by ``rowid``, with a reason each.

        The payload is copied as stored, whatever it holds (it may be huge or
        not UTF-8), and the task id need not be readable either. With blob
        I/O the letter is inserted with ``zeroblob(size)`` as its payload and
        the bytes copied a piece at a time, so a huge payload never sits in
        memory whole; otherwise SQL copies it (and SQLite loads it).
        ``delivered`` counts one more delivery: the row was reserved in this
        very step and found unreadable.
        """
        if not rows:
            return
        first = self._next_seqs(conn, len(rows))
        finished: list[tuple[bytes, bytes | str, int, float]] = []
        for n, (rowid, reason) in enumerate(rows):
            # raw_queue: the queue's name as stored (bytes); `queue` is kept for retention.
            raw_queue, task_id, attempts = self._letter_head(conn, rowid, delivered)
            finished.append((raw_queue, task_id, FAILED, now))
            head = (raw_queue, task_id, reason, attempts, now, first + n)
            if sys.version_info >= (3, 11) and _BLOB_IO:
                with conn.blobopen("alligator_tasks", "payload", rowid, readonly=True) as source:
                    size = len(source)
                    # VALUES, not INSERT ... SELECT: SQLite materializes a
                    # zeroblob that comes through a SELECT.
                    letter = conn.execute(
                        "INSERT OR REPLACE INTO alligator_dead "
                        "(queue, task_id, reason, attempts, failed_at, seq, payload) "
                        "VALUES (CAST(? AS TEXT), CAST(? AS TEXT), ?, ?, ?, ?, zeroblob(?))",
                        (*head, size),
                    ).lastrowid
                    assert letter is not None
                    with conn.blobopen("alligator_dead", "payload", letter) as target:
                        for _ in range(0, size, _COPY_CHUNK):
                            target.write(source.read(_COPY_CHUNK))
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO alligator_dead "
                    "(queue, task_id, reason, attempts, failed_at, seq, payload) "
                    "SELECT CAST(? AS TEXT), CAST(? AS TEXT), ?, ?, ?, ?, payload "
                    "FROM alligator_tasks WHERE rowid = ?",
                    (*head, rowid),
                )
        conn.executemany(
            "INSERT OR REPLACE INTO alligator_finished (queue, task_id, status, finished_at) "
            "VALUES (CAST(? AS TEXT), CAST(? AS TEXT), ?, ?)",
            finished,
        )
        conn.executemany("DELETE FROM alligator_tasks WHERE rowid = ?", [(rowid,) for rowid, _ in rows])
        self._purge_finished(conn, now)
        self._retain(conn, queue, now)

    def _retain(self, conn: sqlite3.Connection, queue: str, now: float) -> None:
        """Drops the queue's dead letters past :attr:`dead_letter_ttl`, then the oldest over the cap.

        Cheap enough for every dead letter written: only the oldest letter
        is read unless it expired; then the expired ones are looked for among
        the oldest ``_RETAIN_BATCH`` (a backlog goes a batch per letter
        written). Counting reads the ``(queue, seq)`` index.
        """
        horizon = now - self.dead_letter_ttl
        oldest = conn.execute(
            "SELECT failed_at FROM alligator_dead WHERE queue = ? ORDER BY seq LIMIT 1", (queue,)
        ).fetchone()
        if oldest is not None and oldest[0] < horizon:
            expired = conn.execute(
                "SELECT rowid FROM (SELECT rowid, failed_at FROM alligator_dead WHERE queue = ? "
                "ORDER BY seq LIMIT ?) WHERE failed_at < ?",
                (queue, _RETAIN_BATCH, horizon),
            ).fetchall()
            self._drop_dead(conn, [rowid for (rowid,) in expired])
        (count,) = conn.execute("SELECT count(*) FROM alligator_dead WHERE queue = ?", (queue,)).fetchone()
        if count > self.max_dead_letters:
            oldest = conn.execute(
                "SELECT rowid FROM alligator_dead WHERE queue = ? ORDER BY seq LIMIT ?",
                (queue, count - max(self.max_dead_letters, 0)),
            ).fetchall()
            self._drop_dead(conn, [rowid for (rowid,) in oldest])

    @staticmethod
    def _drop_dead(conn: sqlite3.Connection, rowids: Sequence[int]) -> int:
        """Deletes dead letters by ``rowid``, and their FAILED statuses; returns how many."""
        params = [(rowid,) for rowid in rowids]
        conn.executemany(
            "DELETE FROM alligator_finished WHERE status = ? AND (queue, task_id) IN "
            "(SELECT queue, task_id FROM alligator_dead WHERE rowid = ?)",
            [(FAILED, rowid) for rowid in rowids],
        )
        return conn.executemany("DELETE FROM alligator_dead WHERE rowid = ?", params).rowcount

    def _letter_head(
        self, conn: sqlite3.Connection, rowid: int, delivered: bool
    ) -> tuple[bytes, bytes | str, int]:
        """The queue, task id and attempts a task row's dead letter is written with.

        An id over :attr:`max_task_id_bytes` is cut to that many bytes inside
        SQLite (``substr``), so the whole id never reaches Python; the cut id is
        decoded leniently (C8). A short id is kept as its stored bytes, valid
        UTF-8 or not. Attempts that are not a sane count are taken as 0 (C9).
        """
        max_id = self.max_task_id_bytes
        queue, attempts = conn.execute(
            f"SELECT CAST(queue AS BLOB), {_ATTEMPTS_COLUMN} + ? FROM alligator_tasks WHERE rowid = ?",
            (int(delivered), rowid),
        ).fetchone()
        id_size, id_head = self._id_size_and_head(conn, rowid, max_id)
        task_id: bytes | str = id_head.decode("utf-8", "replace") if id_size > max_id else id_head
        return bytes(queue), task_id, int(attempts)

    @staticmethod
    def _id_size_and_head(conn: sqlite3.Connection, rowid: int, max_id: int) -> tuple[int, bytes]:
        """A task row's id size in bytes and its first ``max_id`` bytes, never the whole of a huge id.

        Blob I/O reads the size from the row header and only the bytes asked
        for; otherwise SQL measures and cuts it (SQLite loads it, once per
        statement).
        """
        if sys.version_info >= (3, 11) and _BLOB_IO:
            with conn.blobopen("alligator_tasks", "task_id", rowid, readonly=True) as blob:
                return len(blob), blob.read(max_id)
        (size,) = conn.execute(
            "SELECT length(CAST(task_id AS BLOB)) FROM alligator_tasks WHERE rowid = ?", (rowid,)
        ).fetchone()
        (head,) = conn.execute(
            "SELECT substr(CAST(task_id AS BLOB), 1, ?) FROM alligator_tasks WHERE rowid = ?", (max_id, rowid)
        ).fetchone()
        return int(size), bytes(head or b"")  # substr() of an empty blob is NULL

    def _corrupt_reason(self, conn: sqlite3.Connection, rowid: int, field: str) -> str:
        """The C9 reason for a row whose ``field`` holds no valid number: its value, shortened."""
        assert field in _NUMBER_FIELDS  # the name goes into SQL text
        kind, value = conn.execute(
            f"SELECT typeof({field}), CASE WHEN typeof({field}) IN ('text', 'blob') "
            f"THEN substr(CAST({field} AS BLOB), 1, ?) ELSE {field} END "
            "FROM alligator_tasks WHERE rowid = ?",
            (_SHOWN_CHARS * 4 + 1, rowid),
        ).fetchone()
        return f"record is corrupt: {field} is {_shown(value, text=kind == 'text')}"

    @staticmethod
    def _read_payload(
        conn: sqlite3.Connection, rowid: int, max_bytes: int, small: bytes | None
    ) -> tuple[int, bytes | None]:
        """A task row's payload size and bytes; None for bytes over ``max_bytes``, left unread.

        ``small`` is the row's ``_SMALL_PAYLOAD`` column: when set, that is the payload.
        """
        if small is not None:
            return len(small), small
        if sys.version_info >= (3, 11) and _BLOB_IO:
            with conn.blobopen("alligator_tasks", "payload", rowid, readonly=True) as blob:
                size = len(blob)
                return size, (blob.read() if size <= max_bytes else None)
        row = conn.execute(
            f"SELECT {_PAYLOAD_COLUMNS} FROM alligator_tasks WHERE rowid = ?", (max_bytes, rowid)
        ).fetchone()
        return int(row[0]), row[1]

    @staticmethod
    def _letter_payload(conn: sqlite3.Connection, rowid: int, max_bytes: int) -> bytes:
        """The first ``max_bytes`` bytes of a dead letter's payload."""
        if sys.version_info >= (3, 11) and _BLOB_IO:
            with conn.blobopen("alligator_dead", "payload", rowid, readonly=True) as blob:
                return blob.read(max_bytes)
        row = conn.execute(
            "SELECT substr(CAST(payload AS BLOB), 1, ?) FROM alligator_dead WHERE rowid = ?",
            (max_bytes, rowid),
        ).fetchone()
        return bytes(row[0] or b"")  # substr() of an empty blob is NULL

    # -- producing -------------------------------------------------------

    def push(self, queue: str, task_id: str, payload: str, delay: float = 0.0) -> bool:
        """Adds a task to the end of a queue; see :meth:`~alligator.backend.Backend.push`."""
        return self.push_many(queue, [(task_id, payload, delay)]) == 1

    def push_many(self, queue: str, items: Sequence[tuple[str, str, float]]) -> int:
        """Adds many tasks in one transaction; see :meth:`~alligator.backend.Backend.push_many`.

        Returns:
            How many were added (ids already in the queue, dead letters
            included, are skipped).

        Raises:
            ValueError: A delay is NaN or infinite, or a payload or id
                cannot be encoded as UTF-8 (a lone surrogate); nothing is
                added.
        """
        if not items:
            return 0
        for _, _, delay in items:
            _check_delay(delay)

        def body(conn: sqlite3.Connection) -> int:
            now = self.now()
            first = self._next_seqs(conn, len(items))
            rows = [
                (queue, task_id, payload.encode("utf-8"), now + max(delay, 0.0), first + n, queue, task_id)
                for n, (task_id, payload, delay) in enumerate(items)
            ]
            # Ids are unique across live tasks and dead letters alike: a dead
            # letter's id must not be taken while the letter may be requeued.
            cursor = conn.executemany(
                "INSERT OR IGNORE INTO alligator_tasks (queue, task_id, payload, due, seq) "
                "SELECT ?, ?, ?, ?, ? "
                "WHERE NOT EXISTS (SELECT 1 FROM alligator_dead WHERE queue = ? AND task_id = ?)",
                rows,
            )
            added = cursor.rowcount
            # A re-pushed id starts afresh: forget how it finished last time
            # (but keep FAILED for an id refused because it is a dead letter).
            forgotten = [(queue, task_id, queue, task_id) for task_id, _, _ in items]
            conn.executemany(
                "DELETE FROM alligator_finished WHERE queue = ? AND task_id = ? "
                "AND NOT EXISTS (SELECT 1 FROM alligator_dead WHERE queue = ? AND task_id = ?)",
                forgotten,
            )
            # Its old result too: finished() must not hand out last time's value.
            conn.executemany(
                "DELETE FROM alligator_results WHERE queue = ? AND task_id = ? "
                "AND NOT EXISTS (SELECT 1 FROM alligator_dead WHERE queue = ? AND task_id = ?)",
                forgotten,
            )
            return added

        return self._run(body)

    # -- consuming -------------------------------------------------------

    def reserve(
        self, queue: str, lease_seconds: float, limit: int = 1, timeout: float = 0.0
    ) -> list[Reservation]:
        """Reserves up to ``limit`` due tasks in one transaction.

        See :meth:`~alligator.backend.Backend.reserve`.

        Returns at once (``blocking_reserve`` is False): ``timeout`` is ignored.
        A record over :attr:`~alligator.backend.Backend.max_payload_bytes`,
        or whose payload or id is not valid UTF-8, is dead-lettered in the
        same transaction instead; further due tasks are then read to fill
        ``limit``.
        """
        if limit < 1:
            return []
        return self._run(lambda conn: self._reserve_in(conn, queue, lease_seconds, limit, self.now()))

    def reserve_first(
        self, queues: Sequence[str], lease_seconds: float, limit: int = 1, timeout: float = 0.0
    ) -> tuple[str, list[Reservation]]:
        """Reserves from the first of ``queues`` with due work, in one transaction.

        See :meth:`~alligator.backend.Backend.reserve_first`. The queues are
        tried in priority order inside one write transaction, as
        :meth:`reserve` tries one (unreadable records of a queue tried on
        the way are dead-lettered as reserve would), so a worker with
        several queues takes the write lock once per call, not once per
        queue. When none has due work and ``timeout`` is positive, it naps
        (:meth:`~alligator.backend.Backend.wait_for_work`: SQLite cannot
        be woken by another process) and tries once more; one queue is
        simply :meth:`reserve`.

        Returns:
            The queue the tasks came from and the reservations; ``("", [])``
            when none had work.
        """
        if len(queues) == 1:
            return queues[0], self.reserve(queues[0], lease_seconds, limit, timeout)
        if limit < 1 or not queues:
            return "", []

        def body(conn: sqlite3.Connection) -> tuple[str, list[Reservation]]:
            now = self.now()
            for queue in queues:
                taken = self._reserve_in(conn, queue, lease_seconds, limit, now)
                if taken:
                    return queue, taken
            return "", []

        found = self._run(body)
        if found[1] or timeout <= 0:
            return found
        self.wait_for_work(queues, timeout)
        return self._run(body)

    def _reserve_in(
        self, conn: sqlite3.Connection, queue: str, lease_seconds: float, limit: int, now: float
    ) -> list[Reservation]:
        """Reserves up to ``limit`` due tasks of one queue inside the caller's write transaction."""
        max_bytes = self.max_payload_bytes
        max_id = self.max_task_id_bytes
        taken: list[Reservation] = []
        corrupt = conn.execute(CORRUPT_DUE_SQL, (queue, math.inf, _CORRUPT_PER_RESERVE)).fetchall()
        self._bury(
            conn,
            queue,
            [(rowid, self._corrupt_reason(conn, rowid, field)) for rowid, field in corrupt],
            now,
            True,
        )
        for _ in range(_MAX_RESERVE_ROUNDS):
            wanted = limit - len(taken)
            # Waiting tasks whose time came and reserved ones whose lease
            # lapsed both have due <= now: one index range scan finds them.
            rows = conn.execute(RESERVE_SQL, (max_id, max_bytes, queue, now, wanted)).fetchall()
            leases: list[tuple[float, int, str, int]] = []
            unreadable: list[tuple[int, str]] = []
            for rowid, raw_id, attempts, failures, small, bad_field in rows:
                try:
                    if bad_field is not None:
                        raise _Unreadable(self._corrupt_reason(conn, rowid, bad_field))
                    if raw_id is None:
                        size = self._id_size_and_head(conn, rowid, max_id)[0]
                        raise _Unreadable(f"task id is {size} bytes, over the limit of {max_id}")
                    task_id = _decode_task_id(raw_id)
                    size, raw = self._read_payload(conn, rowid, max_bytes, small)
                    payload = _decode_payload(size, raw, max_bytes)
                except _Unreadable as unreadable_record:
                    unreadable.append((rowid, str(unreadable_record)))
                    continue
                reservation = Reservation(task_id, payload, uuid.uuid4().hex, attempts + 1, failures)
                taken.append(reservation)
                leases.append((now + lease_seconds, reservation.attempts, reservation.receipt, rowid))
            conn.executemany(
                "UPDATE alligator_tasks SET due = ?, attempts = ?, receipt = ? WHERE rowid = ?", leases
            )
            self._bury(conn, queue, unreadable, now, delivered=True)
            # Read on only to replace rows just dead-lettered, and only when
            # the leases just taken cannot come due again in this step.
            if not unreadable or len(rows) < wanted or len(taken) >= limit or lease_seconds <= 0:
                break
        return taken

    def ack(self, queue: str, task_id: str, receipt: str) -> bool:
        """Finishes a reserved task; see :meth:`~alligator.backend.Backend.ack`."""
        return self.ack_many(queue, [(task_id, receipt)]) == 1

    def ack_many(self, queue: str, items: Sequence[tuple[str, str]]) -> int:
        """Acks many ``(task_id, receipt)`` pairs in one transaction.

        See :meth:`~alligator.backend.Backend.ack_many`.

        Returns:
            How many acks took effect (stale receipts change nothing).
        """
        return self._ack(queue, [(task_id, receipt, None, 0.0) for task_id, receipt in items])

    def ack_results(self, queue: str, acks: Sequence[Ack]) -> int:
        """Acks many tasks and keeps their results, all in one transaction.

        See :meth:`~alligator.backend.Backend.ack_results`. Each result is
        written in the transaction that acks its task (the same one
        :meth:`ack_many` would run: no transaction is added per task), as
        UTF-8 bytes, with the time it expires on the backend's clock. A
        result whose ``result_ttl`` is not positive is not kept (it would be
        expired at once). Results that expired are deleted by later acks.

        Raises:
            ValueError: A ``result_ttl`` is NaN; nothing is acked.

        Returns:
            How many acks took effect (a stale receipt keeps no result).
        """
        for ack in acks:
            if math.isnan(ack.result_ttl):
                raise ValueError(f"a result_ttl must be a number of seconds, not {ack.result_ttl!r}")
        return self._ack(
            queue,
            [
                # surrogatepass: a result that UTF-8 cannot encode is kept as
                # it comes, and finished() then says it is not valid UTF-8;
                # the task still succeeded, so its ack must not fail.
                (
                    a.task_id,
                    a.receipt,
                    None if a.result is None else a.result.encode("utf-8", "surrogatepass"),
                    a.result_ttl,
                )
                for a in acks
            ],
        )

    def _ack(self, queue: str, items: Sequence[tuple[str, str, bytes | None, float]]) -> int:
        """Acks ``(task_id, receipt, result, result_ttl)`` items in one transaction, keeping the results."""
        if not items:
            return 0

        def body(conn: sqlite3.Connection) -> int:
            now = self.now()
            done: list[tuple[str, str]] = []
            kept: list[tuple[str, str, float, float, bytes]] = []
            for task_id, receipt, result, ttl in items:
                # due > now: a lease that ended is ended everywhere, re-reserved or not.
                cursor = conn.execute(
                    "DELETE FROM alligator_tasks WHERE queue = ? AND task_id = ? AND receipt = ? AND due > ?",
                    (queue, task_id, receipt, now),
                )
                if cursor.rowcount:
                    done.append((queue, task_id))
                    if result is not None and ttl > 0:
                        kept.append((queue, task_id, now, now + ttl, result))
            if done:
                self._finish(conn, done, SUCCESS, now)
                self._trim_results(conn, now)
            if kept:
                # OR REPLACE: a result replaces an older one of the same id.
                conn.executemany(
                    "INSERT OR REPLACE INTO alligator_results "
                    "(queue, task_id, finished_at, expires_at, result) VALUES (?, ?, ?, ?, ?)",
                    kept,
                )
            return len(done)

        return self._run(body)

    @staticmethod
    def _trim_results(conn: sqlite3.Connection, now: float) -> None:
        """Deletes some results that expired, and a few whose expiry is no number at all.

        Run by every ack that takes effect, results or not, so expired
        results go even once none are kept any more: a seek in the
        ``expires_at`` index, deleting at most ``_TRIM_BATCH`` rows, so a
        backlog (a burst of results expiring together) is spread over many
        acks instead of holding the write lock for one long delete.
        finished() checks the expiry itself, so this only saves space. A
        hand-written expiry that is not a number (text, a blob) sorts after
        every number: a seek to +inf finds such rows.
        """
        conn.execute(
            "DELETE FROM alligator_results WHERE rowid IN "
            "(SELECT rowid FROM alligator_results WHERE expires_at <= ? LIMIT ?)",
            (now, _TRIM_BATCH),
        )
        conn.execute(
            "DELETE FROM alligator_results WHERE rowid IN (SELECT rowid FROM alligator_results "
            "WHERE expires_at >= ? AND typeof(expires_at) != 'real' LIMIT ?)",
            (math.inf, _CORRUPT_PER_RESERVE),
        )

    def release(
        self, queue: str, task_id: str, receipt: str, delay: float = 0.0, attempted: bool = True
    ) -> bool:
        """Hands a reserved task back, due after ``delay``; see :meth:`~alligator.backend.Backend.release`.

        ``attempted=True`` adds one to the task's failures; ``False`` takes
        this delivery off its attempts instead.

        Raises:
            ValueError: ``delay`` is NaN or infinite; nothing changes.
        """
        _check_delay(delay)

        def body(conn: sqlite3.Connection) -> bool:
            now = self.now()
            seq = self._next_seqs(conn, 1)
            # The counts as read (clamped): a huge hand-written one must not
            # overflow into a REAL, which C9 would then call corrupt.
            cursor = conn.execute(
                "UPDATE alligator_tasks SET due = ?, seq = ?, receipt = NULL, "
                f"attempts = {_ATTEMPTS_COLUMN} - ?, failures = {_FAILURES_COLUMN} + ? "
                "WHERE queue = ? AND task_id = ? AND receipt = ? AND due > ?",
                (
                    now + max(delay, 0.0),
                    seq,
                    int(not attempted),
                    int(attempted),
                    queue,
                    task_id,
                    receipt,
                    now,
                ),
            )
            return cursor.rowcount == 1

        return self._run(body)

    def extend(self, queue: str, task_id: str, receipt: str, lease_seconds: float) -> bool:
        """Moves a held lease's end to ``now + lease_seconds``.

        See :meth:`~alligator.backend.Backend.extend`.
        """
        return self.extend_many(queue, [(task_id, receipt)], lease_seconds)[0]

    def extend_many(self, queue: str, items: Sequence[tuple[str, str]], lease_seconds: float) -> list[bool]:
        """Extends many leases in one transaction; see :meth:`~alligator.backend.Backend.extend_many`.

        Returns:
            One flag per item: False where the lease was lost or had run out.
        """
        if not items:
            return []

        def body(conn: sqlite3.Connection) -> list[bool]:
            now = self.now()
            flags = []
            for task_id, receipt in items:
                cursor = conn.execute(
                    "UPDATE alligator_tasks SET due = ? "
                    "WHERE queue = ? AND task_id = ? AND receipt = ? AND due > ?",
                    (now + lease_seconds, queue, task_id, receipt, now),
                )
                flags.append(cursor.rowcount == 1)
            return flags

        return self._run(body)

    def dead_letter(self, queue: str, task_id: str, receipt: str, reason: str) -> bool:
        """Moves a reserved task to the dead letters; see :meth:`~alligator.backend.Backend.dead_letter`."""

        def body(conn: sqlite3.Connection) -> bool:
            now = self.now()
            row = conn.execute(
                "SELECT rowid FROM alligator_tasks "
                "WHERE queue = ? AND task_id = ? AND receipt = ? AND due > ?",
                (queue, task_id, receipt, now),
            ).fetchone()
            if row is None:
                return False
            self._bury(conn, queue, [(row[0], reason)], now, delivered=False)
            return True

        return self._run(body)

    # -- inspecting and managing ----------------------------------------

    def get(self, queue: str, task_id: str, lease_seconds: float) -> Reservation | None:
        """Reserves one named waiting or delayed task; see :meth:`~alligator.backend.Backend.get`."""

        def body(conn: sqlite3.Connection) -> Reservation | None:
            now = self.now()
            max_bytes = self.max_payload_bytes
            # A row with a corrupt due is taken too (receipt IS NULL), to be
            # buried; one with a receipt and a corrupt due is reserve's to bury.
            row = conn.execute(
                f"SELECT rowid, {_COUNT_COLUMNS}, {_SMALL_PAYLOAD}, {_CORRUPT_COLUMN} FROM alligator_tasks "
                "WHERE queue = ? AND task_id = ? AND (receipt IS NULL OR due <= ?)",
                (max_bytes, queue, task_id, now),
            ).fetchone()
            if row is None:
                return None
            rowid, attempts, failures, small, bad_field = row
            try:
                if bad_field is not None:
                    raise _Unreadable(self._corrupt_reason(conn, rowid, bad_field))
                id_size = len(task_id.encode("utf-8", "surrogatepass"))
                if id_size > self.max_task_id_bytes:
                    raise _Unreadable(
                        f"task id is {id_size} bytes, over the limit of {self.max_task_id_bytes}"
                    )
                payload = _decode_payload(*self._read_payload(conn, rowid, max_bytes, small), max_bytes)
            except _Unreadable as unreadable:
                self._bury(conn, queue, [(rowid, str(unreadable))], now, delivered=True)
                return None
            reservation = Reservation(task_id, payload, uuid.uuid4().hex, attempts + 1, failures)
            conn.execute(
                "UPDATE alligator_tasks SET due = ?, attempts = ?, receipt = ? WHERE rowid = ?",
                (now + lease_seconds, reservation.attempts, reservation.receipt, rowid),
            )
            return reservation

        return self._run(body)

    def peek(self, queue: str, task_id: str) -> str | None:
        """Reads a waiting, delayed or reserved task's payload; see :meth:`~alligator.backend.Backend.peek`.

        Returns:
            The payload, or None when the id is not in the queue's tasks or
            its payload is over the limit or not UTF-8 (such a payload is
            not read into Python).
        """

        def body(conn: sqlite3.Connection) -> str | None:
            max_bytes = self.max_payload_bytes
            row = conn.execute(
                f"SELECT rowid, {_SMALL_PAYLOAD} FROM alligator_tasks WHERE queue = ? AND task_id = ?",
                (max_bytes, queue, task_id),
            ).fetchone()
            if row is None:
                return None
            try:
                return _decode_payload(*self._read_payload(conn, row[0], max_bytes, row[1]), max_bytes)
            except _Unreadable:
                return None

        return self._run(body, write=False)

    def cancel(self, queue: str, task_id: str) -> bool:
        """Removes a waiting or delayed task; see :meth:`~alligator.backend.Backend.cancel`."""

        def body(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "DELETE FROM alligator_tasks "
                "WHERE queue = ? AND task_id = ? AND (receipt IS NULL OR due <= ?)",
                (queue, task_id, self.now()),
            )
            return cursor.rowcount == 1

        return self._run(body)

    def status(self, queue: str, task_id: str) -> int | None:
        """Tells where a task is; see :meth:`~alligator.backend.Backend.status`."""

        def body(conn: sqlite3.Connection) -> int | None:
            now = self.now()
            # Compared in SQL, as a number only when it is one: a hand-written
            # due that is not (C9) reads as WAITING until reserve buries it.
            row = conn.execute(
                "SELECT typeof(due) = 'real' AND abs(due) <= 1.7976931348623157e308 AND due > ?, receipt "
                "FROM alligator_tasks WHERE queue = ? AND task_id = ?",
                (now, queue, task_id),
            ).fetchone()
            if row is not None:
                later, receipt = row
                if later:
                    return RUNNING if receipt is not None else DELAYED
                # A lapsed lease is due again, exactly like a waiting task.
                return WAITING
            # What finished() says, so a kept result or a dead letter keeps its status.
            found = self._finished_in(conn, queue, task_id, now)
            if found is not None:
                return found.status
            if conn.execute(
                "SELECT 1 FROM alligator_dead WHERE queue = ? AND task_id = ?", (queue, task_id)
            ).fetchone():
                return None  # a dead letter past its time, not dropped yet
            row = conn.execute(
                "SELECT status FROM alligator_finished WHERE queue = ? AND task_id = ? AND finished_at >= ?",
                (queue, task_id, now - self.status_ttl),
            ).fetchone()
            return None if row is None else int(row[0])

        # A read transaction: the lookups see the same snapshot, so a task
        # moving from one table to another in between is never missed.
        return self._run(body, write=False)

    def finished(self, queue: str, task_id: str) -> Finished | None:
        """Reads what the file remembers of a finished task, in one read transaction.

        See :meth:`~alligator.backend.Backend.finished`. A result is measured
        in SQL (``length()``) and selected only when within
        :attr:`~alligator.backend.Backend.max_payload_bytes`, so a huge one
        never reaches Python. Rows anyone could have written cannot make it
        raise: a time that is not a finite number is taken as unknown (an
        expiry as already past), a result that is not valid UTF-8 or too long
        is withheld with the reason.
        """

        return self._run(lambda conn: self._finished_in(conn, queue, task_id, self.now()), write=False)

    def _finished_in(self, conn: sqlite3.Connection, queue: str, task_id: str, now: float) -> Finished | None:
        """What :meth:`finished` says, read in the caller's transaction."""
        key = (queue, task_id)
        if conn.execute("SELECT 1 FROM alligator_tasks WHERE queue = ? AND task_id = ?", key).fetchone():
            return None  # waiting, delayed or running (again)
        dead = conn.execute(
            f"SELECT substr(CAST(reason AS BLOB), 1, ?), {_finite('failed_at')}, "
            "coalesce(failed_at < ?, 0) FROM alligator_dead WHERE queue = ? AND task_id = ?",
            (self.max_payload_bytes, now - self.dead_letter_ttl, *key),
        ).fetchone()
        if dead is not None:
            # Past its time a letter is gone for every reader, dropped yet or not.
            return None if dead[2] else Finished(task_id, FAILED, None, _lenient(dead[0]), dead[1])
        status = conn.execute(
            f"SELECT {_finite('finished_at')} FROM alligator_finished "
            f"WHERE queue = ? AND task_id = ? AND status = ? AND {_finite('finished_at')} >= ?",
            (*key, SUCCESS, now - self.status_ttl),
        ).fetchone()
        kept = conn.execute(
            f"SELECT {_finite('finished_at')}, {_RESULT_COLUMNS} FROM alligator_results "
            f"WHERE queue = ? AND task_id = ? AND {_LIVE}",
            (self.max_payload_bytes, *key, now),
        ).fetchone()
        if kept is None:
            return None if status is None else Finished(task_id, SUCCESS, None, None, status[0])
        finished_at, size, raw = kept
        if finished_at is None and status is not None:
            finished_at = status[0]
        result: str | None = None
        reason: str | None = None
        if size > self.max_payload_bytes:
            reason = f"result is {size} bytes, over the limit of {self.max_payload_bytes}"
        else:
            try:
                result = bytes(raw or b"").decode("utf-8")
            except UnicodeDecodeError:
                reason = "result is not valid UTF-8"
        return Finished(task_id, SUCCESS, result, reason, finished_at)

    def succeeded(self, queue: str, offset: int = 0, limit: int = 100) -> list[Finished]:
        """Lists one page of a queue's succeeded tasks in one read; see :meth:`.Backend.succeeded`.

        The SUCCESS statuses of ``alligator_finished`` (a push of the same id
        deletes its row, so a listed task is never live), newest first, each
        with its live result, measured in SQL as :meth:`finished` measures it.
        """
        check_window(offset, limit)
        if limit == 0:
            return []

        def body(conn: sqlite3.Connection) -> list[Finished]:
            now = self.now()
            acked = _finite("f.finished_at")
            horizon = now - self.status_ttl
            rows = conn.execute(
                f"SELECT substr(CAST(f.task_id AS BLOB), 1, ?), {acked}, r.rowid IS NOT NULL, "
                f"{_RESULT_COLUMNS} FROM alligator_finished AS f LEFT JOIN alligator_results AS r "
                f"ON r.queue = f.queue AND r.task_id = f.task_id AND {_LIVE} "
                f"WHERE f.queue = ? AND f.status = ? AND {acked} >= ? "
                "ORDER BY f.finished_at DESC, CAST(f.task_id AS BLOB) DESC LIMIT ? OFFSET ?",
                (self.max_task_id_bytes, self.max_payload_bytes, now, queue, SUCCESS, horizon, limit, offset),
            ).fetchall()
            return [self._succeeded_row(*row) for row in rows]

        return self._run(body, write=False)

    def _succeeded_row(
        self, task_id: bytes, acked: float, kept: int, size: int, raw: bytes | None
    ) -> Finished:
        """One row of :meth:`succeeded`: the result handed out, or withheld with the reason."""
        if not kept:
            return Finished(_lenient(task_id), SUCCESS, None, None, acked)
        if size > self.max_payload_bytes:
            reason = f"result is {size} bytes, over the limit of {self.max_payload_bytes}"
            return Finished(_lenient(task_id), SUCCESS, None, reason, acked)
        try:
            return Finished(_lenient(task_id), SUCCESS, bytes(raw or b"").decode("utf-8"), None, acked)
        except UnicodeDecodeError:
            return Finished(_lenient(task_id), SUCCESS, None, "result is not valid UTF-8", acked)

    def wait_finished(self, queue: str, task_id: str, timeout: float) -> Finished | None:
        """Waits up to ``timeout`` seconds (wall clock) for a task to finish, reading only after commits.

        See :meth:`~alligator.backend.Backend.wait_finished`. SQLite cannot
        wake a process when another one commits (``waits_for_finish`` is
        False), so this polls, but cheaply: every few milliseconds (backing
        off to 50 ms) it asks ``PRAGMA data_version``, which changes only
        when another connection committed, and reads :meth:`finished` only
        then. A task can only become finished through a commit (an ack or a
        dead letter), so nothing is missed, and an idle wait costs no read
        transactions.

        Returns:
            As :meth:`finished`, as soon as it is not None; None at the timeout.
        """
        deadline = time.monotonic() + max(timeout, 0.0)
        pause = 0.005
        seen: int | None = None
        while True:
            version = self._run(_data_version, write=False)
            if version != seen:
                # Read the version first: a commit landing between the two
                # reads changes it again, so the next look reads once more.
                seen = version
                found = self.finished(queue, task_id)
                if found is not None:
                    return found
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.05)

    def len(self, queue: str) -> int:
        """Counts the waiting and delayed tasks of a queue; see :meth:`~alligator.backend.Backend.len`."""

        def body(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT count(*) FROM alligator_tasks WHERE queue = ? AND (receipt IS NULL OR due <= ?)",
                (queue, self.now()),
            ).fetchone()
            return int(row[0])

        return self._run(body, write=False)

    def dead_letters(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        """Lists up to ``limit`` dead letters, oldest first.

        See :meth:`~alligator.backend.Backend.dead_letters`.
        """

        def body(conn: sqlite3.Connection) -> list[DeadLetter]:
            self._retain(conn, queue, self.now())
            # Bytes, cut to the limit, decoded leniently: a letter dead-lettered
            # for being huge or not UTF-8 can still be listed.
            rows = conn.execute(
                "SELECT rowid, substr(CAST(task_id AS BLOB), 1, ?), CAST(reason AS BLOB), "
                "attempts, failed_at FROM alligator_dead WHERE queue = ? ORDER BY seq LIMIT ?",
                (self.max_task_id_bytes, queue, max(limit, 0)),
            ).fetchall()
            return [
                DeadLetter(
                    _lenient(task_id),
                    _lenient(self._letter_payload(conn, rowid, self.max_payload_bytes)),
                    _lenient(reason),
                    attempts,
                    failed_at,
                )
                for rowid, task_id, reason, attempts, failed_at in rows
            ]

        return self._run(body)  # a write: letters past their time are dropped first

    def requeue(self, queue: str, task_id: str) -> bool:
        """Moves a dead letter back to the end of its queue, due now, its counts reset.

        See :meth:`~alligator.backend.Backend.requeue`.

        Returns:
            True if requeued; False, changing nothing, if there is no such
            dead letter or the id is live in the queue.
        """

        def body(conn: sqlite3.Connection) -> bool:
            key = (queue, task_id)
            dead = conn.execute("SELECT 1 FROM alligator_dead WHERE queue = ? AND task_id = ?", key)
            if dead.fetchone() is None:
                return False
            live = conn.execute("SELECT 1 FROM alligator_tasks WHERE queue = ? AND task_id = ?", key)
            if live.fetchone() is not None:
                # Only a hand-written row can be live and dead at once (push
                # refuses a dead letter's id). Keep both: overwriting the
                # live task or dropping the letter would lose one.
                return False
            # Copied in SQL: the payload stays exactly as stored.
            conn.execute(
                "INSERT INTO alligator_tasks (queue, task_id, payload, due, seq) "
                "SELECT queue, task_id, payload, ?, ? FROM alligator_dead WHERE queue = ? AND task_id = ?",
                (self.now(), self._next_seqs(conn, 1), queue, task_id),
            )
            conn.execute("DELETE FROM alligator_dead WHERE queue = ? AND task_id = ?", key)
            conn.execute("DELETE FROM alligator_finished WHERE queue = ? AND task_id = ?", key)
            conn.execute("DELETE FROM alligator_results WHERE queue = ? AND task_id = ?", key)
            return True

        return self._run(body)

    def queues(self) -> list[str]:
        """Lists the queues holding a task or dead letter; see :meth:`~alligator.backend.Backend.queues`."""

        def body(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT DISTINCT CAST(queue AS BLOB) FROM alligator_tasks "
                "UNION SELECT DISTINCT CAST(queue AS BLOB) FROM alligator_dead"
            ).fetchall()
            return sorted(_lenient(name) for (name,) in rows)

        return self._run(body, write=False)

    def finished_queues(self) -> list[str]:
        """Lists the queues remembering a finished task; see :meth:`.Backend.finished_queues`."""

        def body(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT DISTINCT CAST(queue AS BLOB) FROM alligator_finished "
                "UNION SELECT DISTINCT CAST(queue AS BLOB) FROM alligator_results"
            ).fetchall()
            return sorted(_lenient(name) for (name,) in rows)

        return self._run(body, write=False)

    def counts(self, queue: str) -> QueueCounts:
        """Counts a queue's tasks per state in one read; see :meth:`~alligator.backend.Backend.counts`."""

        def body(conn: sqlite3.Connection) -> QueueCounts:
            now = self.now()
            waiting, delayed, running = conn.execute(
                "SELECT coalesce(sum(due <= ?), 0), coalesce(sum(receipt IS NULL AND due > ?), 0), "
                "coalesce(sum(receipt IS NOT NULL AND due > ?), 0) FROM alligator_tasks WHERE queue = ?",
                (now, now, now, queue),
            ).fetchone()
            # Letters past their time are not counted: listing would drop them.
            (dead,) = conn.execute(
                "SELECT count(*) FROM alligator_dead WHERE queue = ? AND coalesce(failed_at < ?, 0) = 0",
                (queue, now - self.dead_letter_ttl),
            ).fetchone()
            return QueueCounts(int(waiting), int(delayed), int(running), int(dead))

        return self._run(body, write=False)

    def tasks(self, queue: str, state: str, offset: int = 0, limit: int = 100) -> list[TaskInfo]:
        """Lists one page of a queue's tasks in one state; see :meth:`~alligator.backend.Backend.tasks`.

        Payloads are cut to the limit in SQL, so no more than that reaches Python.
        """
        check_page(state, offset, limit)
        max_bytes = self.max_payload_bytes

        def body(conn: sqlite3.Connection) -> list[TaskInfo]:
            if state == "dead":
                self._retain(conn, queue, self.now())
                rows = conn.execute(
                    "SELECT rowid, CAST(task_id AS BLOB), attempts, CAST(reason AS BLOB), failed_at "
                    "FROM alligator_dead WHERE queue = ? ORDER BY seq LIMIT ? OFFSET ?",
                    (queue, limit, offset),
                ).fetchall()
                return [
                    TaskInfo(
                        _lenient(task_id),
                        state,
                        _lenient(self._letter_payload(conn, rowid, max_bytes)),
                        int(attempts),
                        0,
                        None,
                        _lenient(reason),
                        float(failed_at),
                    )
                    for rowid, task_id, attempts, reason, failed_at in rows
                ]
            rows = conn.execute(
                f"SELECT CAST(task_id AS BLOB), substr(CAST(payload AS BLOB), 1, ?), {_COUNT_COLUMNS}, due "
                f"FROM alligator_tasks WHERE queue = ? AND {_STATE_WHERE[state]} "
                "ORDER BY due, seq LIMIT ? OFFSET ?",
                (max_bytes, queue, self.now(), limit, offset),
            ).fetchall()
            return [
                TaskInfo(_lenient(task_id), state, _lenient(payload), attempts, failures, float(due))
                for task_id, payload, attempts, failures, due in rows
            ]

        # Listing dead letters drops those past their time first: a write.
        return self._run(body, write=state == "dead")

    def delete_dead(self, queue: str, task_id: str) -> bool:
        """Deletes one dead letter; see :meth:`~alligator.backend.Backend.delete_dead`."""

        def body(conn: sqlite3.Connection) -> bool:
            rows = conn.execute(
                "SELECT rowid FROM alligator_dead WHERE queue = ? AND task_id = ?", (queue, task_id)
            ).fetchall()
            return self._drop_dead(conn, [rowid for (rowid,) in rows]) == 1

        return self._run(body)

    def purge_dead(self, queue: str) -> int:
        """Deletes a queue's dead letters in one transaction.

        See :meth:`~alligator.backend.Backend.purge_dead`.
        """

        def body(conn: sqlite3.Connection) -> int:
            conn.execute(
                "DELETE FROM alligator_finished WHERE queue = ? AND status = ? AND task_id IN "
                "(SELECT task_id FROM alligator_dead WHERE queue = ?)",
                (queue, FAILED, queue),
            )
            return conn.execute("DELETE FROM alligator_dead WHERE queue = ?", (queue,)).rowcount

        return self._run(body)

    def requeue_all(self, queue: str) -> int:
        """Requeues every dead letter in one transaction, in the order they failed.

        See :meth:`~alligator.backend.Backend.requeue_all`: a letter whose id
        is live (a hand-written row) stays.
        """

        def body(conn: sqlite3.Connection) -> int:
            rows = conn.execute(
                "SELECT d.rowid FROM alligator_dead AS d WHERE d.queue = ? AND NOT EXISTS "
                "(SELECT 1 FROM alligator_tasks AS t WHERE t.queue = d.queue AND t.task_id = d.task_id) "
                "ORDER BY d.seq",
                (queue,),
            ).fetchall()
            if not rows:
                return 0
            now, first = self.now(), self._next_seqs(conn, len(rows))
            # Copied in SQL, as requeue() does: each payload stays exactly as stored.
            conn.executemany(
                "INSERT INTO alligator_tasks (queue, task_id, payload, due, seq) "
                "SELECT queue, task_id, payload, ?, ? FROM alligator_dead WHERE rowid = ?",
                [(now, first + n, rowid) for n, (rowid,) in enumerate(rows)],
            )
            conn.executemany(
                "DELETE FROM alligator_finished WHERE (queue, task_id) IN "
                "(SELECT queue, task_id FROM alligator_dead WHERE rowid = ?)",
                rows,
            )
            conn.executemany("DELETE FROM alligator_dead WHERE rowid = ?", rows)
            return len(rows)

        return self._run(body)

    # -- live workers ----------------------------------------------------

    def heartbeat(self, worker_id: str, record: str, ttl: float) -> None:
        """Writes or refreshes a worker's record, in one transaction that also bounds the registry.

        See :meth:`~alligator.backend.Backend.heartbeat`. The record expires
        ``ttl`` seconds from now on the backend's clock; in the same
        transaction the expired records are deleted (one range scan of the
        ``expires_at`` index), then, while more than
        :attr:`~alligator.backend.Backend.max_workers` remain, those with the
        oldest heartbeats (hand-written ones whose heartbeat is no number
        first).

        Raises:
            ValueError: ``ttl`` is NaN; nothing is written.
        """
        if math.isnan(ttl):
            raise ValueError(f"a ttl must be a number of seconds, not {ttl!r}")
        data = record.encode("utf-8", "surrogatepass")

        def body(conn: sqlite3.Connection) -> None:
            now = self.now()
            conn.execute(
                "INSERT OR REPLACE INTO alligator_workers (worker_id, heartbeat_at, expires_at, seq, record) "
                "VALUES (?, ?, ?, ?, ?)",
                (worker_id, now, now + ttl, self._next_seqs(conn, 1), data),
            )
            conn.execute("DELETE FROM alligator_workers WHERE expires_at <= ?", (now,))
            # Expiries that are no number (text, a blob) sort after +inf.
            conn.execute(
                "DELETE FROM alligator_workers WHERE expires_at >= ? AND typeof(expires_at) != 'real'",
                (math.inf,),
            )
            (count,) = conn.execute("SELECT count(*) FROM alligator_workers").fetchone()
            if count > self.max_workers:
                conn.execute(
                    "DELETE FROM alligator_workers WHERE rowid IN (SELECT rowid FROM alligator_workers "
                    f"ORDER BY {_finite('heartbeat_at')} IS NOT NULL, heartbeat_at, seq LIMIT ?)",
                    (count - max(self.max_workers, 0),),
                )

        self._run(body)

    def forget_worker(self, worker_id: str) -> bool:
        """Removes a worker's record; see :meth:`~alligator.backend.Backend.forget_worker`.

        Returns:
            True if it had a live (unexpired) record.
        """

        def body(conn: sqlite3.Connection) -> bool:
            live = conn.execute(
                f"SELECT {_LIVE} FROM alligator_workers WHERE worker_id = ?",
                (self.now(), worker_id),
            ).fetchone()
            conn.execute("DELETE FROM alligator_workers WHERE worker_id = ?", (worker_id,))
            return bool(live is not None and live[0])

        return self._run(body)

    def worker_records(self) -> list[tuple[str, str]]:
        """Lists the live workers' records, oldest heartbeat first, in one read.

        See :meth:`~alligator.backend.Backend.worker_records`. At most
        :attr:`~alligator.backend.Backend.max_workers`, those with the
        newest heartbeats. A row anyone could have written never makes it
        raise: one whose expiry or heartbeat is no finite number is not
        live; an id over :attr:`~alligator.backend.Backend.max_task_id_bytes`
        or a record over :attr:`~alligator.backend.Backend.max_payload_bytes`
        is measured in SQL and never read; either not valid UTF-8 is
        skipped.
        """

        def body(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            rows = conn.execute(
                "SELECT raw_id, raw_record FROM (SELECT heartbeat_at, seq, "
                "CASE WHEN length(CAST(worker_id AS BLOB)) <= ? THEN CAST(worker_id AS BLOB) END AS raw_id, "
                "CASE WHEN (CASE WHEN typeof(record) = 'blob' THEN length(record) "
                "ELSE length(CAST(record AS BLOB)) END) <= ? THEN CAST(record AS BLOB) END AS raw_record "
                f"FROM alligator_workers WHERE {_LIVE} "
                f"AND {_finite('heartbeat_at')} IS NOT NULL "
                "ORDER BY heartbeat_at DESC, seq DESC LIMIT ?) ORDER BY heartbeat_at, seq",
                (self.max_task_id_bytes, self.max_payload_bytes, self.now(), max(self.max_workers, 0)),
            ).fetchall()
            found: list[tuple[str, str]] = []
            for raw_id, raw_record in rows:
                if raw_id is None or raw_record is None:
                    continue  # over a limit (or NULL)
                try:
                    found.append((bytes(raw_id).decode("utf-8"), bytes(raw_record).decode("utf-8")))
                except UnicodeDecodeError:
                    continue
            return found

        return self._run(body, write=False)

    # -- pausing ---------------------------------------------------------

    def set_paused(self, kind: str, name: str, paused: bool) -> bool:
        """Pauses or resumes one queue or function in one transaction; see :meth:`.Backend.set_paused`."""
        check_target(kind, name)

        def body(conn: sqlite3.Connection) -> bool:
            if not paused:
                return (
                    conn.execute(
                        "DELETE FROM alligator_paused WHERE kind = ? AND name = ?", (kind, name)
                    ).rowcount
                    > 0
                )
            if conn.execute(
                "SELECT 1 FROM alligator_paused WHERE kind = ? AND name = ?", (kind, name)
            ).fetchone():
                return False
            (count,) = conn.execute("SELECT count(*) FROM alligator_paused").fetchone()
            if count >= self.max_pauses:
                raise ValueError(f"this store keeps at most {self.max_pauses} pauses; resume some first")
            conn.execute("INSERT INTO alligator_paused (kind, name) VALUES (?, ?)", (kind, name))
            return True

        return self._run(body)

    def paused(self) -> list[tuple[str, str]]:
        """Lists the pauses in one read; see :meth:`.Backend.paused`.

        A name over :data:`~alligator.pausing.MAX_PAUSE_NAME_BYTES` is
        measured in SQL and never read; rows of another kind are not read.
        """

        def body(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            rows = conn.execute(
                "SELECT kind, CASE WHEN length(CAST(name AS BLOB)) <= ? THEN CAST(name AS BLOB) END "
                "FROM alligator_paused WHERE kind IN ('queue', 'function') ORDER BY kind, name LIMIT ?",
                (MAX_PAUSE_NAME_BYTES, self.max_pauses),
            ).fetchall()
            found = []
            for kind, raw in rows:
                try:
                    found.append((kind, bytes(raw).decode("utf-8")))
                except (TypeError, UnicodeDecodeError):
                    continue  # over the limit (NULL), or not UTF-8
            return listed(found, self.max_pauses)

        return self._run(body, write=False)

    # -- deployment checks -----------------------------------------------

    def diagnose(self) -> list[tuple[str, str, str]]:
        """Checks the file's journal mode, writes, file system and disk space; see :mod:`.diagnosis`.

        Returns:
            ``(level, problem, what_to_do)`` findings; ``what_to_do`` is empty
            for an ``"ok"`` one.

        Raises:
            BackendError: The file cannot be read.
        """
        try:
            return diagnosis.diagnose(self.path, min(self.timeout, 5.0))
        except sqlite3.Error as err:
            raise self._error(err) from err

    def drop_all(self, queue: str) -> None:
        """Deletes everything a queue holds; see :meth:`~alligator.backend.Backend.drop_all`."""

        def body(conn: sqlite3.Connection) -> None:
            for table in ("alligator_tasks", "alligator_dead", "alligator_finished", "alligator_results"):
                conn.execute(f"DELETE FROM {table} WHERE queue = ?", (queue,))

        self._run(body)


def _check_delay(delay: float) -> None:
    if not math.isfinite(delay):
        raise ValueError(f"a delay must be a finite number of seconds, not {delay!r}")


class _Unreadable(Exception):
    """A stored record that must not be handed out; its message is the dead letter's reason."""


def _decode_payload(size: int, raw: bytes | None, max_bytes: int) -> str:
    """Decodes a payload read as bytes (None when it was left unread for its size).

    Raises:
        _Unreadable: It is over the limit, or not valid UTF-8.
    """
    if size > max_bytes:
        raise _Unreadable(f"payload is {size} bytes, over the limit of {max_bytes}")
    try:
        return (raw or b"").decode("utf-8")
    except UnicodeDecodeError:
        raise _Unreadable("payload is not valid UTF-8") from None


def _shown(value: object, text: bool) -> str:
    """A stored value as a dead letter's reason shows it: its repr, at most about 40 characters."""
    if isinstance(value, bytes):
        if text:
            shown = value.decode("utf-8", "replace")
            return repr(shown[:_SHOWN_CHARS]) + ("..." if len(shown) > _SHOWN_CHARS else "")
        return repr(value[:_SHOWN_CHARS]) + ("..." if len(value) > _SHOWN_CHARS else "")
    return repr(value)


def _decode_task_id(raw_id: bytes) -> str:
    try:
        return raw_id.decode("utf-8")
    except UnicodeDecodeError:
        raise _Unreadable("task id is not valid UTF-8") from None


def _lenient(value: bytes | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return value.decode("utf-8", "replace")


def _data_version(conn: sqlite3.Connection) -> int:
    """SQLite's count of commits by other connections, as this connection saw them."""
    (version,) = conn.execute("PRAGMA data_version").fetchone()
    return int(version)


def _schema_version(conn: sqlite3.Connection) -> int | None:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alligator_meta'"
    ).fetchone()
    if exists is None:
        return None
    row = conn.execute("SELECT value FROM alligator_meta WHERE key = 'schema_version'").fetchone()
    return None if row is None else int(row[0])


def _primary_code(err: sqlite3.Error) -> int | None:
    code = getattr(err, "sqlite_errorcode", None)  # Python 3.11+
    if isinstance(code, int):
        return code & 0xFF
    message = str(err).lower()
    if "locked" in message:
        return _SQLITE_BUSY
    if "readonly" in message or "read-only" in message:
        return 8
    if "full" in message:
        return 13
    return None


def _is_busy(err: sqlite3.Error) -> bool:
    return _primary_code(err) in (_SQLITE_BUSY, _SQLITE_LOCKED)
