"""The checks of :meth:`alligator_sqlite.SqliteBackend.diagnose`, for ``alligator doctor``.

Each check reads the file through a plain connection of its own, which
(unlike the backend's) does not turn WAL on, so it reports the file as it is
and changes nothing:

- **journal mode**: not WAL is an error (readers and the writer block each
  other, and another program may have switched it back);
- **writes**: a write transaction is begun, a table created and the whole
  rolled back: a file that cannot be written (read-only, immutable, on a
  read-only mount) is an error, as every enqueue, reservation and heartbeat
  would fail;
- **file system**: the one mounted at the longest mount point of
  ``/proc/self/mounts`` that holds the file; a network file system is an
  error, as SQLite's locking is not reliable there;
- **disk space**: the free space of that file system against what the store
  needs: less than the write-ahead log grows to between two checkpoints is
  an error (writes fail or are about to), less than :data:`MIN_FREE_BYTES`
  or the size of the database is a warning. No free inode is an error too.
"""

from __future__ import annotations

import os
import re
import sqlite3

from alligator.text import human_bytes
from alligator_sqlite import queries

#: Where the file system check reads the mounted file systems.
MOUNTS_FILE = "/proc/self/mounts"
#: File system types reported as network ones, where SQLite's locking (and
#: the shared memory of WAL) cannot be relied on.
NETWORK_FILE_SYSTEMS = frozenset(
    ("nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "fuse.sshfs", "glusterfs", "ceph", "lustre", "afs")
)
#: Free bytes below which the disk space check warns, whatever the database's size.
MIN_FREE_BYTES = 64 * 1024 * 1024
#: Pages of write-ahead log SQLite lets pile up before a checkpoint, when a connection does not say.
DEFAULT_WAL_PAGES = 1000
#: SQLite's primary result codes for "another connection holds the lock".
_BUSY_CODES = (5, 6)

Finding = tuple[str, str, str]


def diagnose(path: str, timeout: float) -> list[Finding]:
    """Runs every check on the database file at ``path``.

    Args:
        path: The file.
        timeout: Seconds to wait for the write lock (other writers hold it briefly).

    Returns:
        ``(level, problem, what_to_do)`` findings; ``what_to_do`` is empty for
        an ``"ok"`` one.

    Raises:
        sqlite3.Error: The file cannot be opened or read.
    """
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    try:
        (mode,) = conn.execute(queries.READ_JOURNAL_MODE).fetchone()
        files = [str(row[2] or "") for row in conn.execute(queries.DATABASE_LIST) if row[1] == "main"]
        mode = str(mode).lower()
        if mode == "memory" or files == [""]:
            return [
                (
                    "warning",
                    f"{path}: the database is in memory: its tasks are lost when the process ends "
                    "and no other process sees them",
                    "Use a file: sqlite:////absolute/path/tasks.db",
                )
            ]  # no file, so no write to check and no file system
        findings = [_journal(path, mode), _write(conn, path, timeout)]
        (page_size,) = conn.execute(queries.READ_PAGE_SIZE).fetchone()
        (wal_pages,) = conn.execute(queries.READ_WAL_AUTOCHECKPOINT).fetchone()
    finally:
        conn.close()
    findings.append(file_system(path))
    findings.append(disk_space(path, int(page_size) * (int(wal_pages) or DEFAULT_WAL_PAGES)))
    return findings


def _journal(path: str, mode: str) -> Finding:
    if mode == "wal":
        return ("ok", f"{path}: journal mode is WAL", "")
    return (
        "error",
        f"{path}: journal mode is {mode.upper()}, not WAL: workers and producers block "
        "each other, and reads wait for every write",
        "Keep the file on a local disk in a writable directory, make sure no other "
        f"program sets another journal mode, then run: sqlite3 {path} 'PRAGMA journal_mode=WAL'",
    )


def _write(conn: sqlite3.Connection, path: str, timeout: float) -> Finding:
    """Begins a write transaction, creates a table, rolls back: nothing is left in the file."""
    try:
        conn.execute(queries.BEGIN_WRITE)
        try:
            conn.execute(queries.CREATE_PROBE_TABLE)
        finally:
            # Some errors (a full disk, an I/O error) end the transaction on their own.
            if conn.in_transaction:
                conn.execute(queries.ROLLBACK)
    except sqlite3.Error as err:
        code = getattr(err, "sqlite_errorcode", None)
        if (isinstance(code, int) and code & 0xFF in _BUSY_CODES) or "locked" in str(err).lower():
            return (
                "warning",
                f"{path}: the write lock stayed taken for more than {timeout:g}s: a long write transaction "
                "holds it, and workers and producers wait as long",
                "find the program holding a transaction open on the file (fuser, lsof) and end it",
            )
        return (
            "error",
            f"{path}: the store refuses writes ({err}): every enqueue, reservation and heartbeat fails",
            "make the file, its -wal and -shm files and its directory writable by the user of the workers "
            "and producers (and not immutable: lsattr, chattr -i; not on a read-only mount), and free "
            "disk space if it is full",
        )
    return ("ok", f"{path}: accepts a write (rolled back)", "")


def file_system(path: str) -> Finding:
    """Says which file system holds the file, an error when it is a network one."""
    mounts = _read_mounts()
    if mounts is None:
        return ("ok", f"{path}: file system not checked (no /proc/self/mounts here)", "")
    where = os.path.realpath(path)
    best: tuple[str, str] | None = None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point, fstype = _unescape_mount(fields[1]), fields[2]
        inside = point == "/" or where == point or where.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best[0])):
            best = (point, fstype)  # a later mount over the same point hides the earlier
    if best is None:
        return ("ok", f"{path}: no mount point found for it in /proc/self/mounts", "")
    point, fstype = best
    if fstype.lower() in NETWORK_FILE_SYSTEMS:
        return (
            "error",
            f"{path} is on a network file system ({fstype}, mounted at {point}): SQLite's "
            "locking is not reliable there, so two workers can take the same task or corrupt the "
            "file, and WAL needs memory shared by every process using the file",
            "Move the file to a local disk of the one machine that runs the workers and producers, "
            "or use Redis (redis://...) to share queues between machines",
        )
    return ("ok", f"{path}: on a local file system ({fstype}, mounted at {point})", "")


def disk_space(path: str, wal_bytes: int) -> Finding:
    """Compares the free space where the file lives with what the store needs.

    Args:
        path: The database file.
        wal_bytes: How large the write-ahead log grows between two checkpoints.
    """
    directory = os.path.dirname(os.path.abspath(path))
    try:
        stats = os.statvfs(directory)
    except (OSError, AttributeError) as err:  # no statvfs on Windows
        return ("ok", f"{path}: free disk space not checked ({err})", "")
    free = stats.f_bavail * stats.f_frsize
    size = sum(_size(path + suffix) for suffix in ("", "-wal", "-shm"))
    what_to_do = (
        f"free space on the disk holding {directory} (or move the file to a larger one): "
        "a full disk fails every enqueue, reservation, acknowledgement and heartbeat"
    )
    if stats.f_files and not stats.f_favail:
        return ("error", f"{path}: the file system holding it has no free inode left", what_to_do)
    if free < wal_bytes:
        return (
            "error",
            f"{path}: only {human_bytes(free)} free on its disk, less than the {human_bytes(wal_bytes)} its "
            "write-ahead log grows to between checkpoints: writes fail or are about to",
            what_to_do,
        )
    if free < max(MIN_FREE_BYTES, size):
        return (
            "warning",
            f"{path}: only {human_bytes(free)} free on its disk (the database takes {human_bytes(size)}): "
            "a growing backlog will fill it",
            what_to_do,
        )
    return (
        "ok",
        f"{path}: {human_bytes(free)} free on its disk (the database takes {human_bytes(size)})",
        "",
    )


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _read_mounts() -> str | None:
    """The text of ``/proc/self/mounts``, or None where there is none (not Linux)."""
    try:
        with open(MOUNTS_FILE, encoding="utf-8", errors="replace") as mounts:
            return mounts.read()
    except OSError:
        return None


def _unescape_mount(point: str) -> str:
    """Decodes the octal escapes (``\\040`` for a space) of a mount point in ``/proc/self/mounts``."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), point)
