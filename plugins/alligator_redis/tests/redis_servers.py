"""Private ``redis-server`` processes for tests: free ports, start, stop, SIGKILL, clusters.

The Redis plugin's tests and the reliability proofs both start servers of
their own (to stop, restart or kill them, or to build a cluster with
:func:`start_cluster`); this is the one helper they import. It needs
``redis-server`` on ``PATH`` (and ``redis-cli`` for a cluster).

Example::

    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        backend = RedisBackend(server.url(3))
        ...
    finally:
        server.stop()
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import redis

#: How long a server may take to answer after it was started (a busy machine).
START_DEADLINE = 30.0


def free_port(bus: bool = False) -> int:
    """Returns a loopback port nobody listens on.

    Args:
        bus: Also require port + 10000 to be free (a cluster node's bus port).

    Raises:
        RuntimeError: No such port was found in 100 tries.
    """
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if not bus:
            return port
        if port + 10000 > 65535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port found")


def answers(url: str) -> bool:
    """Whether a Redis server answers PING at ``url`` within about a second."""
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


class RedisServer:
    """A private ``redis-server`` on a loopback port, that a test may stop, kill and start again.

    It keeps its port and directory across restarts. Nothing is saved on its
    own (``--save ""``); :meth:`stop` with ``save=True`` writes a snapshot
    first, so :meth:`start` brings the data back, and ``extra`` arguments
    such as ``--appendonly yes`` keep what they keep. Its log is
    ``redis.log`` in its directory.
    """

    def __init__(self, workdir: Path, *extra: str, port: int | None = None) -> None:
        """Prepares a server; nothing runs until :meth:`start`.

        Args:
            workdir: Its directory (created on start).
            *extra: More ``redis-server`` arguments.
            port: Its port; a free one when None.
        """
        self.workdir = workdir
        self.port = port or free_port()
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        """The DSN of one of its databases."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        """Starts it and waits until it answers.

        Raises:
            RuntimeError: It exited, or did not answer within :data:`START_DEADLINE` seconds.
        """
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir)]
        args += ["--save", "", *self.extra]
        with open(self.workdir / "redis.log", "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_DEADLINE
        while not answers(self.url()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"redis-server on port {self.port} did not start (see {self.workdir}/redis.log)"
                )
            time.sleep(0.02)

    def stop(self, save: bool = False) -> None:
        """Stops it with SIGTERM, after a snapshot when ``save``."""
        if self.process is None:
            return
        if save:
            client = redis.Redis.from_url(self.url())
            try:
                client.save()
            finally:
                client.close()
        self.process.terminate()
        self.process.wait(10)
        self.process = None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save; only what was fsynced survives."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.process = None


def start_cluster(
    workdir: Path, masters: int = 3, replicas: int = 0, node_timeout_ms: int = 5000, extra: Sequence[str] = ()
) -> list[RedisServer]:
    """Starts a Redis Cluster on loopback ports and waits until every node agrees it is whole.

    Args:
        workdir: Where each node keeps its files (a folder per port).
        masters: How many masters share the 16384 slots.
        replicas: Replicas per master.
        node_timeout_ms: ``cluster-node-timeout``: how long a node may be
            silent before the others fail it over.
        extra: More ``redis-server`` arguments for every node.

    Returns:
        The nodes, masters first (as ``redis-cli --cluster create`` assigns
        them); the caller stops them.

    Raises:
        RuntimeError: The cluster did not come together within
            :data:`START_DEADLINE` seconds.
    """
    count = masters * (1 + replicas)
    ports: list[int] = []
    while len(ports) < count:
        port = free_port(bus=True)
        if port not in ports:
            ports.append(port)
    servers = [
        RedisServer(
            workdir / str(port),
            # A new replica copies its master at once, not after the default 5 s.
            "--repl-diskless-sync-delay",
            "0",
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            f"nodes-{port}.conf",
            "--cluster-node-timeout",
            str(node_timeout_ms),
            *extra,
            port=port,
        )
        for port in ports
    ]
    try:
        for server in servers:
            server.start()
        create = ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports)]
        subprocess.run(
            [*create, "--cluster-replicas", str(replicas), "--cluster-yes"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            timeout=60,
        )
        deadline = time.monotonic() + START_DEADLINE
        for port in ports:
            client = redis.Redis(port=port, decode_responses=True)
            try:
                while not _whole(client, masters * replicas):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the cluster node on {port} never saw the whole cluster")
                    time.sleep(0.1)
            finally:
                client.close()
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers


def _whole(client: redis.Redis, replicas: int) -> bool:
    """Whether a node sees cluster_state ok and every replica attached, and, if it is a
    replica, has copied its master (a replica that never synced cannot take over)."""
    if client.cluster("info").get("cluster_state") != "ok":
        return False
    nodes = client.cluster("nodes")
    if sum(1 for node in nodes.values() if "slave" in str(node.get("flags", "")).split(",")) != replicas:
        return False
    replication = client.info("replication")
    return replication.get("role") != "slave" or replication.get("master_link_status") == "up"
