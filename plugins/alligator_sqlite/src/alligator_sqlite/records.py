"""Reading stored records that anyone could have written, without letting them make a read fail.

Payloads and task ids are read as bytes and decoded here, so a record that
is not valid UTF-8 cannot make the whole read fail. Python 3.11+ has
SQLite's incremental blob I/O: a payload's size is then read from the row
header, and a payload over the limit is never loaded, not even by SQLite.
Without it the size is measured in SQL: the payload never reaches Python,
but SQLite loads it once to measure it. The bytes read are decoded by the
core's :func:`alligator.reasons.decode`, and a record that must not be
handed out raises :class:`alligator.reasons.Unreadable`, whose message is
its dead letter's reason (every reason's text is in :mod:`alligator.reasons`).
"""

from __future__ import annotations

import sqlite3
import sys

from alligator import reasons
from alligator_sqlite import queries

__all__ = [
    "CORRUPT_DUE_SQL",
    "corrupt_reason",
    "id_size_and_head",
    "lenient",
    "letter_head",
    "letter_payload",
    "read_payload",
]

# Each use is spelt `sys.version_info >= (3, 11) and records._BLOB_IO` so
# that mypy, checking for 3.10, knows blobopen exists where it is called;
# tests turn _BLOB_IO off to prove the SQL way.
_BLOB_IO = sys.version_info >= (3, 11)
#: The query each reserve runs first: a queue's rows whose due is no finite
#: number, found with one index seek (see ``corrupt_due_rows`` in queries.sql).
CORRUPT_DUE_SQL = queries.CORRUPT_DUE_ROWS
# How many characters of a corrupt value a dead letter's reason shows.
_SHOWN_CHARS = 40
# The query reading each stored number that may be corrupt, by the name the
# reserve_due query's last column gives.
_CORRUPT_VALUE = {
    "due": queries.CORRUPT_DUE,
    "seq": queries.CORRUPT_SEQ,
    "attempts": queries.CORRUPT_ATTEMPTS,
    "failures": queries.CORRUPT_FAILURES,
    "priority": queries.CORRUPT_PRIORITY,
}


def lenient(value: bytes | str | None) -> str:
    """A stored text decoded leniently, for listings: bad bytes become U+FFFD, NULL the empty string.

    Args:
        value: The stored value.

    Returns:
        It as text.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return value.decode("utf-8", "replace")


def _shown(value: object, text: bool) -> str:
    """A stored value as a dead letter's reason shows it: its repr, at most about 40 characters."""
    if isinstance(value, bytes):
        if text:
            shown = value.decode("utf-8", "replace")
            return repr(shown[:_SHOWN_CHARS]) + ("..." if len(shown) > _SHOWN_CHARS else "")
        return repr(value[:_SHOWN_CHARS]) + ("..." if len(value) > _SHOWN_CHARS else "")
    return repr(value)


def corrupt_reason(conn: sqlite3.Connection, rowid: int, field: str) -> str:
    """The C9 reason for a task row whose ``field`` holds no valid number: its value, shortened.

    Args:
        conn: The connection, inside a transaction.
        rowid: The task row.
        field: ``due``, ``seq``, ``attempts`` or ``failures``.

    Returns:
        :data:`alligator.reasons.CORRUPT` with the field and its value.
    """
    kind, value = conn.execute(
        _CORRUPT_VALUE[field], {"max_bytes": _SHOWN_CHARS * 4 + 1, "rowid": rowid}
    ).fetchone()
    return reasons.corrupt(field, _shown(value, text=kind == "text"))


def id_size_and_head(conn: sqlite3.Connection, rowid: int, max_id: int) -> tuple[int, bytes]:
    """A task row's id size in bytes and its first ``max_id`` bytes, never the whole of a huge id.

    Blob I/O reads the size from the row header and only the bytes asked
    for; otherwise SQL measures and cuts it (SQLite loads it, once per
    statement).

    Args:
        conn: The connection, inside a transaction.
        rowid: The task row.
        max_id: How many bytes of the id to read at most.

    Returns:
        The size and the bytes.
    """
    if sys.version_info >= (3, 11) and _BLOB_IO:
        with conn.blobopen("alligator_tasks", "task_id", rowid, readonly=True) as blob:
            return len(blob), blob.read(max_id)
    (size,) = conn.execute(queries.TASK_ID_SIZE, {"rowid": rowid}).fetchone()
    (head,) = conn.execute(queries.TASK_ID_HEAD, {"max_id": max_id, "rowid": rowid}).fetchone()
    return int(size), bytes(head or b"")  # substr() of an empty blob is NULL


def letter_head(
    conn: sqlite3.Connection, rowid: int, delivered: bool, max_id: int
) -> tuple[bytes, bytes | str, int]:
    """The queue, task id and attempts a task row's dead letter is written with.

    An id over ``max_id`` bytes is cut to that many bytes inside SQLite
    (``substr``), so the whole id never reaches Python; the cut id is
    decoded leniently (C8). A short id is kept as its stored bytes, valid
    UTF-8 or not. Attempts that are not a sane count are taken as 0 (C9).

    Args:
        conn: The connection, inside a transaction.
        rowid: The task row.
        delivered: Whether to count one more delivery (the row was reserved
            in this very step).
        max_id: The longest task id kept whole, in bytes.

    Returns:
        The queue's stored bytes, the task id (bytes, or text when cut) and the attempts.
    """
    queue, attempts = conn.execute(
        queries.LETTER_HEAD, {"delivered": int(delivered), "rowid": rowid}
    ).fetchone()
    id_size, id_head = id_size_and_head(conn, rowid, max_id)
    task_id: bytes | str = id_head.decode("utf-8", "replace") if id_size > max_id else id_head
    return bytes(queue), task_id, int(attempts)


def read_payload(
    conn: sqlite3.Connection, rowid: int, max_bytes: int, small: bytes | None
) -> tuple[int, bytes | None]:
    """A task row's payload size and bytes; None for bytes over ``max_bytes``, left unread.

    Args:
        conn: The connection, inside a transaction.
        rowid: The task row.
        max_bytes: The limit.
        small: The payload column of ``reserve_due`` (or ``get_task``,
            ``peek_task``): when set, that is the payload.

    Returns:
        The size and the bytes (None when over the limit).
    """
    if small is not None:
        return len(small), small
    if sys.version_info >= (3, 11) and _BLOB_IO:
        with conn.blobopen("alligator_tasks", "payload", rowid, readonly=True) as blob:
            size = len(blob)
            return size, (blob.read() if size <= max_bytes else None)
    row = conn.execute(queries.PAYLOAD_SIZE_AND_BYTES, {"max_bytes": max_bytes, "rowid": rowid}).fetchone()
    return int(row[0]), row[1]


def letter_payload(conn: sqlite3.Connection, rowid: int, max_bytes: int) -> bytes:
    """The first ``max_bytes`` bytes of a dead letter's payload.

    Args:
        conn: The connection, inside a transaction.
        rowid: The dead letter's row.
        max_bytes: How many bytes to read at most.

    Returns:
        The bytes.
    """
    if sys.version_info >= (3, 11) and _BLOB_IO:
        with conn.blobopen("alligator_dead", "payload", rowid, readonly=True) as blob:
            return blob.read(max_bytes)
    row = conn.execute(queries.LETTER_PAYLOAD_HEAD, {"max_bytes": max_bytes, "rowid": rowid}).fetchone()
    return bytes(row[0] or b"")  # substr() of an empty blob is NULL
