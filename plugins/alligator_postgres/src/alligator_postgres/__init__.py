"""The PostgreSQL backend: many workers on many machines, and tasks enqueued inside your own transaction.

``Gator("postgresql://app:secret@db.internal/app")`` keeps its queues in a
few tables prefixed ``alligator_`` of that database (created, and later
migrated, the first time a backend connects). Any libpq connection string
works, ``postgres://`` too, with libpq's options in the query string
(``?sslmode=require``, ``?options=-csearch_path%3Dqueues`` to keep the
tables in a schema of their own). A DSN libpq cannot read is refused with
:class:`~alligator.exceptions.InvalidDSNError`; a missing database or a
refused password raises
:class:`~alligator.exceptions.PermanentBackendError` (a worker stops and
says why); a server that is down, or restarting, raises
:class:`~alligator.exceptions.BackendError` from the calls that need it,
and the next call reconnects on its own.

How it keeps the contract:

* **Concurrency.** Reserve is one statement: ``SELECT ... ORDER BY due, seq
  LIMIT n FOR UPDATE SKIP LOCKED`` for each priority the queue holds, from
  the highest down (walked one index probe each), inside an ``UPDATE`` that
  takes the leases. Two workers never take the same row and never wait on
  each other's locks. Push, a batch of pushes, a batch of acks with their
  results, release and a batch of extends are one statement each too, one
  round trip each.
* **Time.** Due times and lease ends are compared with the database
  server's clock (``statement_timestamp()``), read inside each statement,
  so workers on machines whose clocks disagree still agree on every lease.
  An injected test clock (:attr:`~alligator.backend.Backend.clock`) is
  passed into the statements instead.
* **Waking.** A trigger notifies the channel ``alligator_work`` with the
  queue's name whenever a task becomes waiting (push, release, requeue);
  idle workers wait on ``LISTEN`` on a connection of their own, without
  polling, and wake at the end of the next delay or lease, which nothing
  notifies. Acks and dead letters notify ``alligator_done``, which wakes
  :meth:`~PostgresBackend.wait_finished`. PostgreSQL sends a notification
  when its transaction commits and never when it rolls back.
* **Enqueue in your transaction.** :meth:`~PostgresBackend.push_in` runs
  the push statement through a connection you hold (psycopg 3 or
  psycopg2, or Django's ``django.db.connection``), inside your open
  transaction: ``with gator.options(connection=conn) as opts:
  opts.task(...)``. The task exists when you commit, never if you roll
  back or crash first. A unique task's key is claimed there too
  (:meth:`~PostgresBackend.push_unique_in`), and tasks with a priority
  written there (:meth:`~PostgresBackend.push_prioritized_in`).
* **Records anyone could have written.** The numbers are typed columns
  with CHECK constraints (a due time that is not finite, a negative count,
  cannot be stored); payloads, reasons, results and worker records are
  ``bytea``, measured with ``octet_length()`` in SQL and read only within
  :attr:`~alligator.backend.Backend.max_payload_bytes`. A payload over the
  limit or not UTF-8, or an id over
  :attr:`~alligator.backend.Backend.max_task_id_bytes`, is leased by the
  reserve statement like any other row, then moved to the dead letters by
  its receipt before reserve returns.
* **Unique keys, schedules, limits** (:mod:`~alligator_postgres.unique`,
  :mod:`~alligator_postgres.scheduling`, :mod:`~alligator_postgres.limiting`):
  each step is one transaction that first takes an advisory lock on its key
  (a key has no row to lock before its first push), reads the key's record
  with the server's clock once, and writes what the core's rule decides.
* **Connections.** Each backend instance keeps a small pool: a call borrows
  a connection, runs its statement or transaction in it and gives it back
  (at most 8 idle are kept), so a worker process holds about one connection
  per thread working at once, plus one per thread waiting on ``LISTEN``.

The schema (version 2): ``alligator_meta(key, value)``, the sequence
``alligator_seq`` (FIFO among tasks due at once), ``alligator_tasks(queue,
task_id, due, seq, attempts, failures, receipt, payload, priority)`` with the
index ``(queue, priority DESC, due, seq)`` reserve reads, ``alligator_dead``
(with each letter's priority), ``alligator_finished``,
``alligator_results``, ``alligator_workers``, ``alligator_paused``,
``alligator_unique_keys``, ``alligator_schedule_ticks``, the four limit
tables ``alligator_limit_rates``, ``_bookings``, ``_slots`` and
``_waiters``, the function ``alligator_now`` and the trigger
``alligator_tasks_notify``. A new database gets ``sql/schema.sql`` (version
1) and then every migration; one with an older ``schema_version`` is
migrated in place by ``sql/migrate_N.sql`` (version 1 to 2 adds priority,
unique keys, schedules and limits); one written by a newer release is
refused. Every statement is in the package's ``sql`` folder, read by
:mod:`alligator_postgres.queries`; :mod:`alligator_postgres.diagnosis`
holds ``doctor``'s checks.
"""

from __future__ import annotations

from alligator_postgres.backend import PostgresBackend
from alligator_postgres.schema import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "PostgresBackend"]
__version__ = "1.0.0"
