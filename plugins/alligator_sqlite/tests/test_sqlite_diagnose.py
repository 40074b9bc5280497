"""``SqliteBackend.diagnose()``: the journal mode, writes, the file system and the disk space.

The read-only file and the full disk are real: a file made immutable (root
ignores mode bits) and a small tmpfs filled to the last byte (see
``disk_faults``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_raw
from disk_faults import fill, immutable, small_tmpfs

from alligator.exceptions import BackendError
from alligator_sqlite import SqliteBackend, diagnosis


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[SqliteBackend]:
    backend = SqliteBackend(f"sqlite:///{tmp_path}/tasks.db")
    yield backend
    backend.close()


def _tables(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return sorted(row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
    finally:
        conn.close()


def test_diagnose_finds_a_wal_file_on_a_local_disk_fine(
    backend: SqliteBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(diagnosis, "_read_mounts", lambda: "/dev/sda1 / ext4 rw,relatime 0 0\n")
    findings = backend.diagnose()
    assert [level for level, _, _ in findings] == ["ok", "ok", "ok", "ok"]
    journal, write, where, space = (problem for _, problem, _ in findings)
    assert "journal mode is WAL" in journal
    assert write.endswith("accepts a write (rolled back)")
    assert "local file system (ext4, mounted at /)" in where
    assert "free on its disk" in space


def test_diagnose_reports_a_file_not_in_wal_mode_and_leaves_it_so(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    backend = SqliteBackend(f"sqlite:///{path}")
    backend.close()
    conn = sqlite_raw.connect(path)
    assert conn.execute("PRAGMA journal_mode = DELETE").fetchone() == ("delete",)
    try:
        [journal, _, _, _] = backend.diagnose()
        level, problem, what_to_do = journal
        assert level == "error"
        assert "journal mode is DELETE, not WAL" in problem and str(path) in problem
        assert "PRAGMA journal_mode=WAL" in what_to_do
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",), "diagnose changes nothing"
    finally:
        conn.close()


MOUNTS = """\
/dev/sda1 / ext4 rw,relatime 0 0
proc /proc proc rw,nosuid 0 0
server:/export {parent} {fstype} rw,vers=4.2 0 0
/dev/sdb1 {parent}/local\\040disk ext4 rw 0 0
"""


@pytest.mark.parametrize(
    "fstype",
    ["nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "fuse.sshfs", "glusterfs", "ceph", "lustre", "afs"],
)
def test_diagnose_reports_a_file_on_a_network_file_system(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fstype: str
) -> None:
    backend = SqliteBackend(f"sqlite:///{tmp_path}/tasks.db")
    mounts = MOUNTS.format(parent=tmp_path.resolve().parent, fstype=fstype)
    monkeypatch.setattr(diagnosis, "_read_mounts", lambda: mounts)
    try:
        [journal, _, where, _] = backend.diagnose()
    finally:
        backend.close()
    assert journal[0] == "ok"
    level, problem, what_to_do = where
    assert level == "error"
    assert f"network file system ({fstype}, mounted at {tmp_path.resolve().parent})" in problem
    assert "locking is not reliable" in problem
    assert "Redis" in what_to_do


def test_diagnose_takes_the_longest_mount_point_holding_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tmp_path / "local disk"  # under an nfs mount, but on a local disk of its own
    local.mkdir()
    backend = SqliteBackend(f"sqlite:///{local}/tasks.db")
    mounts = MOUNTS.format(parent=tmp_path.resolve(), fstype="nfs4")
    monkeypatch.setattr(diagnosis, "_read_mounts", lambda: mounts)
    try:
        where = backend.diagnose()[2]
    finally:
        backend.close()
    assert where == (
        "ok",
        f"{local}/tasks.db: on a local file system (ext4, mounted at {local.resolve()})",
        "",
    )


def test_diagnose_without_a_mounts_file_says_it_did_not_check(
    backend: SqliteBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(diagnosis, "MOUNTS_FILE", "/nonexistent/mounts")
    where = backend.diagnose()[2]
    assert where[0] == "ok" and "not checked" in where[1]


def test_diagnose_warns_of_a_database_in_memory(backend: SqliteBackend) -> None:
    # No DSN opens one (parse_dsn refuses ":memory:"); a subclass or a
    # changed path could.
    backend.path = ":memory:"
    [(level, problem, what_to_do)] = backend.diagnose()
    assert level == "warning"
    assert "in memory" in problem
    assert "sqlite:////" in what_to_do


def test_diagnose_raises_when_the_file_cannot_be_read(tmp_path: Path) -> None:
    backend = SqliteBackend(f"sqlite:///{tmp_path}/tasks.db")
    backend.close()
    (tmp_path / "tasks.db").unlink()
    for extra in ("tasks.db-wal", "tasks.db-shm"):
        (tmp_path / extra).unlink(missing_ok=True)
    (tmp_path / "tasks.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(BackendError, match="not an SQLite database"):
        backend.diagnose()


def test_a_file_that_cannot_be_written_is_an_error_and_a_writable_one_is_left_as_it_was(
    backend: SqliteBackend, tmp_path: Path
) -> None:
    path = tmp_path / "tasks.db"
    backend.push("q", "t1", "payload")
    tables = _tables(path)
    [_, write, _, _] = backend.diagnose()
    assert write == ("ok", f"{path}: accepts a write (rolled back)", "")
    assert _tables(path) == tables, "the probe's table was rolled back"
    backend.close()  # an open connection keeps writing through the -wal file
    with immutable([path]):
        with pytest.raises(BackendError, match="read-only"):
            backend.push("q", "t2", "payload")
        [journal, write, _, _] = backend.diagnose()
    assert journal[0] == "ok", "the file reads fine"
    level, problem, what_to_do = write
    assert level == "error"
    assert problem.startswith(f"{path}: the store refuses writes (attempt to write a readonly database)")
    assert "chattr -i" in what_to_do
    assert _tables(path) == tables
    assert backend.len("q") == 1


def test_a_full_disk_is_an_error(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "small", "8m") as disk:
        backend = SqliteBackend(f"sqlite:///{disk}/tasks.db")
        try:
            backend.push("q", "t1", "payload")
            [_, _, _, space] = backend.diagnose()
            assert space[0] == "warning", "8 MiB free is less than the 64 MiB doctor asks for"
            assert "free on its disk" in space[1]
            fill(disk)
            with pytest.raises(BackendError, match="disk is full"):
                backend.push_many("q", [(f"t{n}", "x" * 1000, 0.0) for n in range(2, 2000)])
            [_, _, _, space] = backend.diagnose()
        finally:
            backend.close()
    level, problem, what_to_do = space
    assert level == "error"
    assert problem.startswith(f"{disk}/tasks.db: only 0 bytes free on its disk, less than the 3.9 MiB")
    assert "free space on the disk holding" in what_to_do
