"""Private ``redis-server`` processes for the tests: free ports, start, stop."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import redis


def free_port(bus: bool = False) -> int:
    """Returns a loopback port nobody listens on (and port + 10000, for a cluster bus)."""
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
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


class RedisServer:
    """A private ``redis-server`` on a loopback port, that a test may stop and start.

    Nothing is saved on its own, but :meth:`stop` saves a snapshot first (the
    default) so :meth:`start` brings the data back, as a server restarted with
    persistence would.
    """

    def __init__(self, workdir: Path, port: int | None = None, *extra: str) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.workdir), *self.extra]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not answers(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not start")
            time.sleep(0.02)

    def stop(self, save: bool = True) -> None:
        if self.process is None:
            return
        if save:
            client = redis.Redis.from_url(self.url)
            try:
                client.save()
            finally:
                client.close()
        self.process.terminate()
        self.process.wait(10)
        self.process = None
