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
* **Task ids over** :attr:`~alligator.backend.Backend.max_task_id_bytes` (1024 bytes by
  default) are measured in SQL (``length(CAST(task_id AS BLOB))``) and never
  selected into Python: such a row is dead-lettered under its id cut to the
  limit (``substr``, or blob I/O on 3.11+), decoded leniently, with the
  reason :data:`alligator.reasons.TOO_LARGE` gives. ``dead_letters()`` never lists
  a longer id either.
* **Stored numbers that are not numbers.** A row whose ``due``, ``seq``,
  ``attempts`` or ``failures`` holds text, a blob, an infinity or (for the
  integers) a fraction is dead-lettered by the next reserve (or get) that
  meets it, alone, with the reason :data:`alligator.reasons.CORRUPT` gives (the value
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
  process when another one commits (``blocking_reserve`` is False, and it
  claims neither ``Waking`` nor ``ResultWaiting``): the core's short
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

The schema (version 5), in tables prefixed ``alligator_`` so the file can be
shared with an application's own tables:

* ``alligator_meta(key, value)``: ``schema_version`` and ``seq`` (the
  counter: a push takes its value as it stands, release, requeue and the
  dead letters draw the next, and tasks with the same ``seq`` and ``due``
  are in ``rowid`` order, the order they were inserted in).
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
* ``alligator_unique_keys(queue, key, holder, mode, until)`` (version 5):
  the unique keys held (see :mod:`alligator_sqlite.unique`).
* ``alligator_schedule_ticks(queue, name, last_tick, about)`` (version 5):
  each schedule's last enqueued tick (see :meth:`SqliteBackend.push_tick`).
* ``alligator_limit_rates``, ``alligator_limit_bookings``,
  ``alligator_limit_slots`` and ``alligator_limit_waiters`` (version 5):
  rate limits and concurrency slots per key (see :mod:`alligator_sqlite.limiting`).

An older file is migrated in place when it is opened, in one transaction,
one version at a time: version 1 to 2 adds the ``failures`` column (every
count starting at 0) and rebuilds ``alligator_dead`` with the payload last;
version 2 to 3 adds the results and workers tables, leaving every row as it
is; version 3 to 4 adds the paused table, empty; version 4 to 5 adds the
unique keys', the schedule ticks' and the four limit tables, empty. A file written by a newer
release (a higher ``schema_version``) is refused with a clear error rather
than misread.

Where things are: :mod:`alligator_sqlite.dsn` reads the DSN;
:mod:`alligator_sqlite.schema` creates and migrates the tables;
``store.py`` holds the connections, the transactions and the steps several
operations share; ``records.py`` reads records anyone could have written;
the operations are in ``consuming.py``, ``inspecting.py``,
``registry.py`` and ``scheduling.py``, mixed into :class:`SqliteBackend` in ``backend.py``; and
:mod:`alligator_sqlite.diagnosis` checks a deployment. Every SQL statement
is in the package's ``sql`` folder (``queries.sql``, each query under its
name, and ``schema.sql`` and ``migrate_N.sql``), read by
:mod:`alligator_sqlite.queries`.
"""

from __future__ import annotations

from alligator_sqlite import queries
from alligator_sqlite.backend import SqliteBackend
from alligator_sqlite.dsn import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT
from alligator_sqlite.dsn import parse_dsn as parse_dsn
from alligator_sqlite.schema import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "SqliteBackend"]
__version__ = "1.0.0"

#: The query reserve() runs: the due tasks of a queue, oldest first
#: (``reserve_due`` in ``sql/queries.sql``).
RESERVE_SQL = queries.RESERVE_DUE
#: The query each reserve runs first: a queue's rows whose due is no finite
#: number (``corrupt_due_rows`` in ``sql/queries.sql``).
CORRUPT_DUE_SQL = queries.CORRUPT_DUE_ROWS
