"""The tables' version, creating them in a new file and migrating an older one.

A new file gets ``sql/schema.sql``. An older file is migrated in place when
it is opened, in one transaction, one version at a time: from version N to
N + 1 by ``sql/migrate_N.sql``. A file written by a newer release (a higher
``schema_version``) is refused with a clear error rather than misread.
"""

from __future__ import annotations

import sqlite3

from alligator.exceptions import BackendError
from alligator_sqlite import queries

__all__ = ["SCHEMA_VERSION", "check_schema", "schema_version"]

#: The version of the tables this release writes and understands.
SCHEMA_VERSION = 5

# Read when this module is imported, so a missing file fails then.
_SCHEMA = queries.statements("schema.sql")
# Migrations from each older schema version to the next.
_MIGRATIONS = {version: queries.statements(f"migrate_{version}.sql") for version in (1, 2, 3, 4)}


def check_schema(conn: sqlite3.Connection, path: str) -> None:
    """Creates the tables, or migrates older ones, inside the caller's read transaction.

    Args:
        conn: A connection inside a read transaction (``BEGIN``); when the
            tables must be created or migrated, it is committed and a write
            transaction begun, which the caller commits.
        path: The file's path, for the error messages.

    Raises:
        BackendError: The file was written by a newer release, or has a
            version no migration starts from.
    """
    version = schema_version(conn)
    if version == SCHEMA_VERSION:
        return
    _refuse_newer(path, version)
    # No tables yet, or an older version to migrate. Only now take the
    # write lock, so that opening a read-only file that is already set up
    # still works for reading.
    conn.execute(queries.COMMIT)
    conn.execute(queries.BEGIN_WRITE)
    # Read again under the lock: another process may have created or
    # migrated the tables meanwhile.
    version = schema_version(conn)
    _refuse_newer(path, version)
    if version is None:
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.execute(queries.INSERT_META, {"version": SCHEMA_VERSION})
        return
    while version < SCHEMA_VERSION:
        if version not in _MIGRATIONS:
            raise BackendError(f"SQLite database {path} has an unknown schema version {version}")
        for statement in _MIGRATIONS[version]:
            conn.execute(statement)
        version += 1
    conn.execute(queries.SET_SCHEMA_VERSION, {"version": version})


def _refuse_newer(path: str, version: int | None) -> None:
    if version is not None and version > SCHEMA_VERSION:
        raise BackendError(
            f"SQLite database {path} has schema version {version}, written by a newer "
            f"alligator-sqlite; this one knows versions up to {SCHEMA_VERSION}: upgrade alligator-sqlite"
        )


def schema_version(conn: sqlite3.Connection) -> int | None:
    """The file's schema version.

    Args:
        conn: An open connection.

    Returns:
        The ``schema_version`` in ``alligator_meta``, or None when there is
        no such table or row (a new file).
    """
    exists = conn.execute(queries.META_TABLE_EXISTS).fetchone()
    if exists is None:
        return None
    row = conn.execute(queries.READ_SCHEMA_VERSION).fetchone()
    return None if row is None else int(row[0])
