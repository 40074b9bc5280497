"""The tables' version, creating them in a new database and migrating older ones.

A database without the tables gets ``sql/schema.sql`` (the tables of version
1) and then every migration, so a new store and a migrated one are the same
tables, made by the same statements. One with an older ``schema_version`` is
migrated in place, one version at a time, by ``sql/migrate_N.sql`` (from N to
N + 1). Either way it is one transaction, under an advisory lock, so that
processes starting at once create or migrate once, and a migration that
fails leaves the older tables as they were.
A database written by a newer release (a higher ``schema_version``) is
refused with a clear error rather than misread.
"""

from __future__ import annotations

from typing import Any

import psycopg

from alligator.exceptions import BackendError
from alligator_postgres import queries

__all__ = ["FIRST_VERSION", "SCHEMA_VERSION", "ensure_schema", "schema_version"]

#: The version of the tables this release writes and understands.
SCHEMA_VERSION = 2
#: The version ``sql/schema.sql`` creates; the migrations take it on from there.
FIRST_VERSION = 1

# Read when this module is imported, so a missing file fails then.
_SCHEMA = queries.statements("schema.sql")
#: Migrations from each older schema version to the next: version 1 to 2
#: adds per-task priority, unique keys, schedule ticks and limits.
MIGRATIONS: dict[int, list[str]] = {
    version: queries.statements(f"migrate_{version}.sql") for version in range(FIRST_VERSION, SCHEMA_VERSION)
}


def ensure_schema(conn: psycopg.Connection[Any]) -> bool:
    """Creates the tables, or migrates older ones, through an autocommit connection.

    The usual case (the tables are current) is one read. Otherwise a
    session advisory lock is taken first and the tables read again in a
    transaction begun after it (so the catalog seen is the one the last
    creator committed), then created or migrated in that transaction.

    Returns:
        True when the tables were created now (a new, empty store).

    Raises:
        BackendError: The tables were written by a newer release, or have a
            version no migration starts from, or the database is not UTF-8.
    """
    with conn.transaction():
        version = schema_version(conn)
    if version == SCHEMA_VERSION:
        return False
    _refuse_newer(version)
    conn.execute(queries.SCHEMA_LOCK)
    try:
        with conn.transaction():
            created = _create_or_migrate(conn)
    except BaseException:
        # Never pool a connection that may still hold the lock: closing it frees it.
        conn.close()
        raise
    conn.execute(queries.SCHEMA_UNLOCK)
    return created


def _create_or_migrate(conn: psycopg.Connection[Any]) -> bool:
    (encoding,) = conn.execute(queries.SERVER_ENCODING).fetchone() or ("",)
    if encoding != "UTF8":
        raise BackendError(
            f"the PostgreSQL database's encoding is {encoding}, not UTF8: task ids and queue names "
            "must round-trip; create the database WITH ENCODING 'UTF8'"
        )
    version = schema_version(conn)
    _refuse_newer(version)
    created = version is None
    if version is None:
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.execute(queries.INSERT_META, {"version": FIRST_VERSION})
        version = FIRST_VERSION
    while version < SCHEMA_VERSION:
        if version not in MIGRATIONS:
            raise BackendError(f"the PostgreSQL tables have an unknown schema version {version}")
        for statement in MIGRATIONS[version]:
            conn.execute(statement)
        version += 1
    conn.execute(queries.SET_SCHEMA_VERSION, {"version": version})
    return created


def _refuse_newer(version: int | None) -> None:
    if version is not None and version > SCHEMA_VERSION:
        raise BackendError(
            f"the PostgreSQL tables have schema version {version}, written by a newer "
            f"alligator-postgres; this one knows versions up to {SCHEMA_VERSION}: upgrade alligator-postgres"
        )


def schema_version(conn: psycopg.Connection[Any]) -> int | None:
    """The tables' schema version: None when there are none yet."""
    row = conn.execute(queries.META_TABLE_EXISTS).fetchone()
    if row is None or not row[0]:
        return None
    found = conn.execute(queries.READ_SCHEMA_VERSION).fetchone()
    return None if found is None else int(found[0])
