"""The checks of :meth:`alligator_postgres.PostgresBackend.diagnose`, for ``alligator doctor``.

What loses or stalls tasks on PostgreSQL:

- **writes**: a row is written in a transaction that is then rolled back: a
  database that refuses writes (read-only, a hot standby, no privilege) is
  an error, as every enqueue, reservation and heartbeat would fail;
- **durability**: ``fsync = off`` is an error (a crash of the machine can
  corrupt the database and lose committed tasks); ``synchronous_commit =
  off`` a warning (the last commits before a crash are lost: tasks a
  producer was told were enqueued);
- **indexes**: an index of the schema that is missing (dropped by hand, or
  left invalid by a failed ``CREATE INDEX CONCURRENTLY``) is an error:
  reserve would scan the whole table for every task;
- **connections**: in use against ``max_connections`` (less the reserved
  ones): above :data:`CONNECTION_WARNING` of it a warning, as a worker that
  cannot connect stalls, and each worker process holds one connection per
  thread in use plus one that listens;
- **long transactions**: a transaction open longer than
  :data:`LONG_TRANSACTION_SECONDS` (or a prepared one left behind) is a
  warning: it holds back the vacuum of every table, the queue's included,
  whose dead rows then pile up and slow every reserve;
- **dead rows**: the tasks table holding more dead row versions than live
  ones (and more than :data:`DEAD_ROWS_WARNING`) is a warning: vacuum is
  not keeping up.
"""

from __future__ import annotations

from typing import Any

import psycopg

from alligator_postgres import queries

#: The indexes reserve, retention, expiry, unique keys, schedules and limits need, by name.
INDEXES = (
    "alligator_tasks_pkey",
    "alligator_tasks_due",
    "alligator_dead_pkey",
    "alligator_dead_seq",
    "alligator_finished_pkey",
    "alligator_finished_at",
    "alligator_results_pkey",
    "alligator_results_expires",
    "alligator_workers_pkey",
    "alligator_workers_expires",
    "alligator_unique_keys_pkey",
    "alligator_unique_keys_until",
    "alligator_schedule_ticks_pkey",
    "alligator_limit_rates_pkey",
    "alligator_limit_rates_tat",
    "alligator_limit_bookings_pkey",
    "alligator_limit_slots_pkey",
    "alligator_limit_waiters_pkey",
)
#: Share of the usable connections in use above which doctor warns.
CONNECTION_WARNING = 0.8
#: Seconds a transaction may stay open before doctor warns that it holds back vacuum.
LONG_TRANSACTION_SECONDS = 300.0
#: Dead row versions in the tasks table (when also more than its live rows) above which doctor warns.
DEAD_ROWS_WARNING = 100_000

Finding = tuple[str, str, str]


def diagnose(
    conn: psycopg.Connection[Any], where: str, long_seconds: float = LONG_TRANSACTION_SECONDS
) -> list[Finding]:
    """Runs every check through ``conn`` (autocommit; left idle).

    Args:
        conn: A connection to the store's database.
        where: The server, for the messages (no password).
        long_seconds: How old a transaction must be to be reported.

    Returns:
        ``(level, problem, what_to_do)`` findings; ``what_to_do`` is empty for
        an ``"ok"`` one.
    """
    settings = dict(conn.execute(queries.SETTINGS).fetchall())
    findings = [_write(conn, where), *_durability(settings, where), _indexes(conn, where)]
    findings.append(_connections(conn, settings, where))
    findings.extend(_long_transactions(conn, where, long_seconds))
    findings.extend(_dead_rows(conn, where))
    return findings


def loss_risks(conn: psycopg.Connection[Any], where: str) -> list[tuple[str, str]]:
    """The settings that lose committed tasks: ``fsync`` or ``synchronous_commit`` off."""
    settings = dict(conn.execute(queries.SETTINGS).fetchall())
    return [
        ("no-persistence", problem) for level, problem, _ in _durability(settings, where) if level != "ok"
    ]


def _write(conn: psycopg.Connection[Any], where: str) -> Finding:
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(queries.PROBE_WRITE)
    except psycopg.Error as err:
        return (
            "error",
            f"{where}: the database refuses a write ({str(err).strip()}): "
            "no task can be enqueued or reserved",
            "Point the DSN at the primary, and grant the user INSERT, UPDATE and DELETE "
            "on the alligator_ tables",
        )
    return ("ok", f"{where}: the database accepts writes (probe rolled back)", "")


def _durability(settings: dict[str, str], where: str) -> list[Finding]:
    if settings.get("fsync") == "off":
        return [
            (
                "error",
                f"{where}: fsync is off: a crash of the machine can corrupt the database "
                "and lose committed tasks",
                "Set fsync = on in postgresql.conf",
            )
        ]
    if settings.get("synchronous_commit") == "off":
        return [
            (
                "warning",
                f"{where}: synchronous_commit is off: the last tasks enqueued before a server crash are lost",
                "Set synchronous_commit = on (the default) for the queue's database or user",
            )
        ]
    return [("ok", f"{where}: commits are durable (fsync and synchronous_commit on)", "")]


def _indexes(conn: psycopg.Connection[Any], where: str) -> Finding:
    present = {name for (name,) in conn.execute(queries.PRESENT_INDEXES).fetchall()}
    missing = [name for name in INDEXES if name not in present]
    if missing:
        return (
            "error",
            f"{where}: the index(es) {', '.join(missing)} are missing: every reserve scans the whole table",
            "Recreate them as sql/schema.sql of alligator_postgres writes them (or restore the schema)",
        )
    return ("ok", f"{where}: every index of the queue's tables is present", "")


def _connections(conn: psycopg.Connection[Any], settings: dict[str, str], where: str) -> Finding:
    usable = int(settings.get("max_connections", "100")) - int(
        settings.get("superuser_reserved_connections", "3")
    )
    row = conn.execute(queries.CONNECTIONS_IN_USE).fetchone()
    used = int(row[0]) if row else 0
    if used >= CONNECTION_WARNING * usable:
        return (
            "warning",
            f"{where}: {used} of {usable} connections are in use: workers that cannot connect stall",
            "Raise max_connections, run fewer worker threads or processes, "
            "or put PgBouncer (session mode) in front",
        )
    return ("ok", f"{where}: {used} of {usable} connections in use", "")


def _long_transactions(conn: psycopg.Connection[Any], where: str, seconds: float) -> list[Finding]:
    findings: list[Finding] = []
    for pid, database, state, age in conn.execute(queries.LONG_TRANSACTIONS, {"seconds": seconds}).fetchall():
        findings.append(
            (
                "warning",
                f"{where}: a transaction has been open {age:.0f}s "
                f"(pid {pid}, database {database!r}, {state}): "
                "it holds back the vacuum of the queue's tables, whose dead rows pile up and slow reserve",
                "Commit or end it (SELECT pg_terminate_backend(pid)); "
                "set idle_in_transaction_session_timeout",
            )
        )
    count, age = conn.execute(queries.PREPARED_TRANSACTIONS).fetchone() or (0, None)
    if count:
        findings.append(
            (
                "warning",
                f"{where}: {count} prepared transaction(s) left behind (the oldest {age or 0:.0f}s): "
                "they hold back vacuum until committed or rolled back",
                "Finish each with COMMIT PREPARED or ROLLBACK PREPARED (see pg_prepared_xacts)",
            )
        )
    if not findings:
        findings.append(("ok", f"{where}: no transaction older than {seconds:.0f}s holds back vacuum", ""))
    return findings


def _dead_rows(conn: psycopg.Connection[Any], where: str) -> list[Finding]:
    row = conn.execute(queries.DEAD_TUPLES).fetchone()
    if row is None:
        return []
    live, dead = int(row[0]), int(row[1])
    if dead > DEAD_ROWS_WARNING and dead > live:
        return [
            (
                "warning",
                f"{where}: alligator_tasks holds {dead} dead row versions for {live} live ones: "
                "vacuum is not keeping up, and reserve slows",
                "Look for long transactions; lower autovacuum_vacuum_scale_factor on alligator_tasks",
            )
        ]
    return []
