"""The bench's harness: starts a worker command on a filled queue and times it."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import redis

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
BIN = Path(sys.executable).parent

# Dbs no test uses (tests: 3 and 11), so a benchmark never flushes a test's queue.
DB_ALLIGATOR, DB_HUEY, DB_DRAMATIQ, DB_BARE, DB_STAMPS, DB_TASKIQ = 5, 6, 7, 8, 9, 12
ALL_DBS = (DB_ALLIGATOR, DB_HUEY, DB_DRAMATIQ, DB_BARE, DB_STAMPS, DB_TASKIQ)
QUEUE = "bench"
#: Enqueue figures: rounds of (bare LPUSH, gator.task, backend.push) of this
#: many calls each, plus one whole batch.
ENQUEUE_CHUNK = 1000
ENQUEUE_ROUNDS = 9
#: The drained workloads: a no-op, and a task making one Redis round trip of
#: its own (as a real task touching a store does).
WORKLOADS = ("noop", "roundtrip")


@dataclass
class Result:
    """What one system achieved; None where it was not measured."""

    name: str
    enqueue: float | None = None
    enqueue_batch: float | None = None
    enqueue_backend: float | None = None
    vs_bare: float | None = None
    backend_vs_bare: float | None = None
    batch_vs_single: float | None = None
    drain_1: float | None = None
    drain_defaults: float | None = None
    #: Drain rates by (workload, variant): "c=1", "defaults", and for
    #: Alligator "c=1, results off", "no flags" and "processes 2".
    drains: dict[tuple[str, str], float] = field(default_factory=dict)
    #: Alligator's enqueue rate over this system's, median of paired rounds (Procrastinate).
    vs_peer: float | None = None
    supervisor_rss_mib: float | None = None
    idle_start_ms: float | None = None
    peak_rss_mib: float | None = None
    notes: list[str] = field(default_factory=list)


#: What the worker processes import. Installers such as uv leave them without
#: bytecode, and with PYTHONDONTWRITEBYTECODE set every worker would compile
#: them at start: slower, and ~15 MiB more peak RSS than a deployment has.
WORKER_PACKAGES = ["alligator", "alligator_redis", "alligator_sqlite", "stevedore", "redis"]
WORKER_PACKAGES += ["huey", "dramatiq", "taskiq", "taskiq_redis", "prometheus_client", "bench_tasks"]
WORKER_PACKAGES += ["huey_app", "huey_sqlite_app", "dramatiq_app", "taskiq_app"]
WORKER_PACKAGES += ["alligator_postgres", "psycopg", "procrastinate", "procrastinate_app"]


def drain_parser(description: str, repeat: int) -> argparse.ArgumentParser:
    """A parser with the options every drain script takes, those :class:`Harness` reads among them."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=repeat)
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    return parser


def precompile() -> None:
    """Writes the bytecode of everything the workers import, as pip does."""
    import compileall
    import importlib.util

    for name in WORKER_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        if origin.name == "__init__.py":
            compileall.compile_dir(str(origin.parent), quiet=1, workers=0)
        else:
            compileall.compile_file(str(origin), quiet=1)


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def timed(func: Callable[[], Any]) -> float:
    started = time.perf_counter()
    func()
    return time.perf_counter() - started


#: How often a drain asks the store how many tasks are left (the timing's resolution).
POLL_EVERY = 0.005
#: How often a drain reads the workers' RSS (a peak; RSS moves slowly).
RSS_EVERY = 0.05


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        total += proc.memory_info().rss
        for child in proc.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return total


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Harness:
    """Runs a worker command against a filled queue and times the drain."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.redis_base = args.redis.rstrip("/")
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = os.pathsep.join([str(HERE), self.env.get("PYTHONPATH", "")])
        # Alligator workers refuse tasks of modules not allowed.
        self.env["ALLIGATOR_ALLOW"] = "bench_tasks"
        self.env["BENCH_STAMPS_URL"] = self.url(DB_STAMPS)
        self.env["BENCH_HUEY_URL"] = self.url(DB_HUEY)
        self.env["BENCH_DRAMATIQ_URL"] = self.url(DB_DRAMATIQ)
        self.env["BENCH_TASKIQ_URL"] = self.url(DB_TASKIQ)
        self.tmp = Path(tempfile.mkdtemp(prefix="alligator-bench-"))
        self.env["BENCH_SQLITEHUEY_PATH"] = str(self.tmp / "huey.db")
        os.environ.update({k: v for k, v in self.env.items() if k.startswith("BENCH_")})
        self.stamps = redis.Redis.from_url(self.url(DB_STAMPS))
        #: Peak RSS of the last drained command's own process, without its children.
        self.last_parent_rss = 0
        helptext = subprocess.run(
            [str(BIN / "latergator"), "--help"], capture_output=True, text=True, env=self.env
        ).stdout
        self.supports_processes = "--processes" in helptext
        from alligator import Gator

        try:
            Gator("locmem://bench-probe").options(store_result=False)
            self.supports_results = True
        except TypeError:
            self.supports_results = False

    def url(self, db: int) -> str:
        return f"{self.redis_base}/{db}"

    def flush(self, db: int) -> None:
        client = redis.Redis.from_url(self.url(db))
        client.flushdb()
        client.close()

    def drain(
        self,
        command: list[str],
        remaining: Callable[[], int],
        total: int,
        exits_when_done: bool,
    ) -> tuple[float, int]:
        """Starts the worker on a queue holding ``total`` tasks; returns (seconds, peak RSS)."""
        # A file, not a pipe: a worker logging each task at its default level
        # would fill a pipe nobody reads and stall.
        errors = tempfile.TemporaryFile()
        proc = subprocess.Popen(command, env=self.env, stdout=subprocess.DEVNULL, stderr=errors)
        ps = psutil.Process(proc.pid)
        peak = 0
        self.last_parent_rss = 0
        started = finished = 0.0
        deadline = time.monotonic() + self.args.drain_timeout
        rss_at = 0.0
        try:
            while time.monotonic() < deadline:
                if time.monotonic() >= rss_at:
                    # Reading every process's RSS costs ~2 ms of CPU (psutil
                    # walks /proc): done every RSS_EVERY only, or the bench
                    # itself would take a good part of a core from the workers.
                    peak = max(peak, tree_rss(ps))
                    rss_at = time.monotonic() + RSS_EVERY
                left = remaining()
                if left < total:
                    # Once work started: latergator --processes first runs as
                    # a full latergator, then execs the bare supervisor.
                    try:
                        self.last_parent_rss = max(self.last_parent_rss, ps.memory_info().rss)
                    except psutil.Error:
                        pass
                now = time.perf_counter()
                if not started and left < total:
                    started = now
                if exits_when_done:
                    if proc.poll() is not None:
                        finished = now
                        break
                elif left == 0:
                    finished = now
                    break
                if proc.poll() is not None:
                    errors.seek(0)
                    err = errors.read().decode(errors="replace")
                    raise RuntimeError(f"worker {command} died:\n{err[-2000:]}")
                time.sleep(POLL_EVERY)
            else:
                raise RuntimeError(f"worker {command} did not drain {total} tasks in time")
        finally:
            stop(proc)
            errors.close()
        return finished - started, peak

    def idle_start(self, command: list[str], enqueue: Callable[[str], None]) -> tuple[float, int]:
        """Median delay (ms) from enqueue to an idle worker starting the task; and peak RSS."""
        proc = subprocess.Popen(command, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ps = psutil.Process(proc.pid)
        delays: list[float] = []
        peak = 0
        try:
            # The worker must be up and idle before the first probe.
            key = f"warm-{uuid.uuid4().hex}"
            enqueue(key)
            deadline = time.monotonic() + 30
            while self.stamps.get(key) is None and time.monotonic() < deadline:
                time.sleep(0.01)
            for _ in range(self.args.probes):
                time.sleep(0.3)  # idle: any poll backoff has kicked in
                key = f"probe-{uuid.uuid4().hex}"
                sent = time.time()
                enqueue(key)
                limit = time.monotonic() + self.args.probe_timeout
                while (value := self.stamps.get(key)) is None and time.monotonic() < limit:
                    time.sleep(0.0005)
                peak = max(peak, tree_rss(ps))
                delays.append((float(value) - sent) * 1000 if value is not None else float("inf"))
        finally:
            stop(proc)
        return statistics.median(delays), peak
