"""The PostgreSQL servers the tests use: the machine's shared one, and private clusters to restart.

The shared server is found at ``ALLIGATOR_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432``). The tests never touch a database
they did not create: each session makes ``alligator_test_<pid>`` databases
of its own and drops them at the end. A test that must stop or restart the
server starts a private cluster (``initdb`` and ``pg_ctl`` of the installed
PostgreSQL) on a free port in a temporary directory, as the ``postgres``
user when run as root.

A plain module (``pytest.ini`` puts this folder on the tests' path).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

#: The shared server, without a database.
SERVER_URL = os.environ.get("ALLIGATOR_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")


def answers(url: str = SERVER_URL) -> bool:
    """Whether a server answers at ``url`` (its ``postgres`` database)."""
    try:
        with psycopg.connect(f"{url}/postgres", connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def create_database(url: str = SERVER_URL, prefix: str = "alligator_test") -> str:
    """Creates a database of our own on the server; returns its DSN."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{url}/postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(sql.Identifier(name))
        )
    return f"{url}/{name}"


def drop_database(dsn: str) -> None:
    """Drops a database :func:`create_database` made, ending its sessions first."""
    url, _, name = dsn.rpartition("/")
    assert name.startswith("alligator_"), f"refusing to drop {name!r}: not one of ours"
    with psycopg.connect(f"{url}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def database(url: str = SERVER_URL) -> Iterator[str]:
    """A database of our own for the block; dropped afterwards."""
    dsn = create_database(url)
    try:
        yield dsn
    finally:
        drop_database(dsn)


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found: install PostgreSQL's server package")
    return path


class PrivateCluster:
    """A PostgreSQL cluster of our own on a free port, to stop and start at will."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="alligator-pg-")
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}"
        self._as_root = os.geteuid() == 0
        if self._as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(_bin("initdb"), "-D", f"{self.dir}/data", "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def _run(self, *args: str) -> None:
        command = ["runuser", "-u", "postgres", "--", *args] if self._as_root else list(args)
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)

    def start(self) -> None:
        """Starts the server and waits until it takes connections."""
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._run(
            _bin("pg_ctl"), "-D", f"{self.dir}/data", "-l", f"{self.dir}/log", "-o", options, "-w", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        """Stops the server (``fast``: ends sessions; ``immediate``: as a crash would)."""
        self._run(_bin("pg_ctl"), "-D", f"{self.dir}/data", "-m", mode, "-w", "stop")

    def remove(self) -> None:
        """Stops the server if it runs and deletes its files."""
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def new_schema(dsn: str) -> tuple[str, str]:
    """Creates a schema of our own in the database; returns a DSN whose search_path is it, and its name.

    The backend creates its tables in the first schema of the search path,
    so each test gets tables of its own at the cost of a ``CREATE SCHEMA``
    rather than a ``CREATE DATABASE``.
    """
    name = f"alligator_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    return f"{dsn}?options=-csearch_path%3D{name}", name


def drop_schema(dsn: str, name: str) -> None:
    """Drops a schema :func:`new_schema` made, with everything in it."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
