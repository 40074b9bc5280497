"""Throughput, latency and memory of Alligator's workers, beside Huey's and Dramatiq's.

Run it with ``nox -s bench`` (or ``python bench/run.py`` in an environment with
the core, the plugins, huey, dramatiq[redis] and psutil), with Redis on
127.0.0.1:6379 (``--redis`` to change). Each system gets its own Redis db,
flushed before every run:

* enqueue: one producer puts ``--tasks`` no-op tasks on the queue, one call at
  a time (and, for Alligator, in one ``gator.batch()``);
* drain: one worker process (started on the filled queue) takes them all off;
  the clock runs from its first task to its last, median of ``--repeat``
  runs, at concurrency 1 and with each worker's defaults;
* workloads: each drain runs twice, with a no-op task and with a task making
  one Redis round trip of its own; Alligator's also with results off, and
  under ``--processes 2`` (timed until the store holds no task), with the
  supervisor's own RSS;
* idle start: the median delay from enqueueing a task to a worker that sat
  idle starting it;
* peak RSS of the worker process (with its children, for Dramatiq's forks).

The bare redis-py loop (LPUSH then RPOP of the same payload) is the ceiling.
"""

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
DB_ALLIGATOR, DB_HUEY, DB_DRAMATIQ, DB_BARE, DB_STAMPS = 5, 6, 7, 8, 9
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
    #: Alligator "c=1, results off" and "processes 2".
    drains: dict[tuple[str, str], float] = field(default_factory=dict)
    supervisor_rss_mib: float | None = None
    idle_start_ms: float | None = None
    peak_rss_mib: float | None = None
    notes: list[str] = field(default_factory=list)


#: What the worker processes import. Installers such as uv leave them without
#: bytecode, and with PYTHONDONTWRITEBYTECODE set every worker would compile
#: them at start: slower, and ~15 MiB more peak RSS than a deployment has.
WORKER_PACKAGES = ["alligator", "alligator_redis", "alligator_sqlite", "stevedore", "redis"]
WORKER_PACKAGES += ["huey", "dramatiq", "prometheus_client", "bench_tasks", "huey_app", "dramatiq_app"]


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
        os.environ.update(
            {k: self.env[k] for k in ("BENCH_STAMPS_URL", "BENCH_HUEY_URL", "BENCH_DRAMATIQ_URL")}
        )
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
        proc = subprocess.Popen(command, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ps = psutil.Process(proc.pid)
        peak = 0
        self.last_parent_rss = 0
        started = finished = 0.0
        deadline = time.monotonic() + self.args.drain_timeout
        try:
            while time.monotonic() < deadline:
                peak = max(peak, tree_rss(ps))
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
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"worker {command} died:\n{err[-2000:]}")
                time.sleep(0.002)
            else:
                raise RuntimeError(f"worker {command} did not drain {total} tasks in time")
        finally:
            stop(proc)
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


# -- the systems -------------------------------------------------------------


def unfinished(gator: Any) -> int:
    """Tasks the store still holds: waiting, delayed or running (reserved, not acked)."""
    counts = gator.counts()
    return int(counts.waiting + counts.delayed + counts.running)


def bench_bare(h: Harness, n: int) -> Result:
    import bench_tasks

    from alligator import Task

    task = Task()
    task.to_call(bench_tasks.noop)
    payload = task.serialize()
    client = redis.Redis.from_url(h.url(DB_BARE))
    result = Result("bare redis-py (LPUSH / RPOP)")
    pushes, pops = [], []
    for _ in range(h.args.repeat):
        h.flush(DB_BARE)
        pushes.append(rate(n, timed(lambda: [client.lpush("bare", payload) for _ in range(n)])))
        pops.append(rate(n, timed(lambda: [client.rpop("bare") for _ in range(n)])))
    result.enqueue = statistics.median(pushes)
    result.drain_1 = result.drain_defaults = statistics.median(pops)
    result.drains[("noop", "c=1")] = result.drain_1
    result.notes.append("in-process loops, no worker: the ceiling")
    client.close()
    return result


def bench_alligator(h: Harness, n: int, name: str, dsn: str, reset: Callable[[], None]) -> Result:
    import bench_tasks

    from alligator import Gator

    result = Result(name)
    gator = Gator(dsn, queue_name=QUEUE)

    def one_at_a_time() -> None:
        for _ in range(n):
            gator.task(bench_tasks.noop)

    def batch() -> None:
        with gator.batch() as b:
            for _ in range(n):
                b.task(bench_tasks.noop)

    probe = gator.task_class()
    probe.to_call(bench_tasks.noop)
    payload = probe.serialize()
    backend = gator.backend

    bare_client = redis.Redis.from_url(h.url(DB_BARE))
    chunk = min(n, ENQUEUE_CHUNK)

    def bare_lpush() -> None:
        for _ in range(chunk):
            bare_client.lpush("bare", payload)

    def singles_chunk() -> None:
        for _ in range(chunk):
            gator.task(bench_tasks.noop)

    def backend_chunk() -> None:
        # The same pushes without building tasks: what the core adds is the rest.
        for i in range(chunk):
            backend.push(QUEUE, f"bare-{i}", payload)

    # The machines this runs on are shared and their speed drifts by 2x within
    # seconds: each round times every variant back to back, and the ratios
    # are medians of per-round ratios, so drift slows both sides alike.
    singles, batches, raw, bares = [], [], [], []
    for _ in range(ENQUEUE_ROUNDS):
        h.flush(DB_BARE)
        bares.append(rate(chunk, timed(bare_lpush)))
        reset()
        singles.append(rate(chunk, timed(singles_chunk)))
        reset()
        raw.append(rate(chunk, timed(backend_chunk)))
        reset()
        batches.append(rate(n, timed(batch)))
    result.enqueue, result.enqueue_batch = statistics.median(singles), statistics.median(batches)
    result.enqueue_backend = statistics.median(raw)
    result.vs_bare = statistics.median(s / b for s, b in zip(singles, bares, strict=True))
    result.backend_vs_bare = statistics.median(r / b for r, b in zip(raw, bares, strict=True))
    result.batch_vs_single = statistics.median(b / s for b, s in zip(batches, singles, strict=True))
    h.flush(DB_BARE)
    bare_client.close()
    result.notes.append(
        f"backend.push alone (task already serialized): {result.enqueue_backend:,.0f}/s; "
        f"gator.task builds, checks and serializes a Task first"
    )

    worker = [str(BIN / "latergator"), dsn, "--queue", QUEUE, "--log-level", "WARNING"]
    peaks = []
    variants: list[tuple[str, list[str], dict[str, Any]]] = [
        ("c=1", ["--concurrency", "1"], {}),
        ("c=1, results off", ["--concurrency", "1"], {"store_result": False}),
        ("defaults", [], {}),
        ("processes 2", ["--processes", "2"], {}),
    ]
    for workload in WORKLOADS:
        func = getattr(bench_tasks, workload)
        for label, extra, options in variants:
            if label == "processes 2" and not h.supports_processes:
                continue
            if options and not h.supports_results:
                continue
            rates = []
            for _ in range(h.args.repeat):
                reset()
                with gator.batch(**options) as filling:
                    for _ in range(n):
                        filling.task(func)
                if label == "processes 2":
                    # The supervisor keeps its children going: time until the
                    # store holds no task, then stop it.
                    seconds, peak = h.drain([*worker, *extra], lambda: unfinished(gator), n, False)
                else:
                    command = [*worker, *extra, "--max-tasks", str(n)]
                    seconds, peak = h.drain(command, lambda: gator.len(), n, True)
                rates.append(rate(n, seconds))
                if label == "processes 2":
                    parent = h.last_parent_rss / 2**20
                    result.supervisor_rss_mib = max(result.supervisor_rss_mib or 0.0, parent)
                else:
                    peaks.append(peak)
            result.drains[(workload, label)] = statistics.median(rates)
    result.drain_1 = result.drains.get(("noop", "c=1"))
    result.drain_defaults = result.drains.get(("noop", "defaults"))
    reset()
    delay, peak = h.idle_start(worker, lambda key: gator.task(bench_tasks.stamp, key) and None)
    result.idle_start_ms, result.peak_rss_mib = delay, max([*peaks, peak]) / 2**20
    result.notes.append("defaults: concurrency 1, prefetch 32")
    gator.backend.close()
    return result


def bench_huey(h: Harness, n: int) -> Result:
    import huey_app

    result = Result("Huey (RedisHuey, 1 thread)")
    client = redis.Redis.from_url(h.url(DB_HUEY))
    singles = []
    for _ in range(h.args.repeat):
        h.flush(DB_HUEY)
        singles.append(rate(n, timed(lambda: [huey_app.noop() for _ in range(n)])))
    result.enqueue = statistics.median(singles)
    consumer = [str(BIN / "huey_consumer"), "huey_app.huey", "-w", "1", "-k", "thread", "-q"]
    peaks = []
    for workload in WORKLOADS:
        rates = []
        for _ in range(h.args.repeat):
            h.flush(DB_HUEY)
            for _ in range(n):
                getattr(huey_app, workload)()
            seconds, peak = h.drain(consumer, huey_app.huey.pending_count, n, False)
            rates.append(rate(n, seconds))
            peaks.append(peak)
        result.drains[(workload, "c=1")] = result.drains[(workload, "defaults")] = statistics.median(rates)
    result.drain_1 = result.drain_defaults = result.drains[("noop", "c=1")]
    h.flush(DB_HUEY)
    delay, peak = h.idle_start(consumer, lambda key: huey_app.stamp(key) and None)
    result.idle_start_ms, result.peak_rss_mib = delay, max([*peaks, peak]) / 2**20
    result.notes.append("defaults = 1 worker thread; idle polling backs off up to 10 s")
    client.close()
    return result


def bench_dramatiq(h: Harness, n: int) -> Result:
    import dramatiq_app

    result = Result("Dramatiq (RedisBroker)")
    client = redis.Redis.from_url(h.url(DB_DRAMATIQ))

    def remaining() -> int:
        return int(client.llen("dramatiq:default") + client.hlen("dramatiq:default.msgs"))

    singles = []
    for _ in range(h.args.repeat):
        h.flush(DB_DRAMATIQ)
        singles.append(rate(n, timed(lambda: [dramatiq_app.noop.send() for _ in range(n)])))
    result.enqueue = statistics.median(singles)
    base = [str(BIN / "dramatiq"), "dramatiq_app", "--path", str(HERE)]
    peaks = []
    for workload in WORKLOADS:
        actor = getattr(dramatiq_app, workload)
        for label, extra in (("c=1", ["--processes", "1", "--threads", "1"]), ("defaults", [])):
            rates = []
            for _ in range(h.args.repeat):
                h.flush(DB_DRAMATIQ)
                for _ in range(n):
                    actor.send()
                seconds, peak = h.drain(base + extra, remaining, n, False)
                rates.append(rate(n, seconds))
                peaks.append(peak)
            result.drains[(workload, label)] = statistics.median(rates)
    result.drain_1 = result.drains[("noop", "c=1")]
    result.drain_defaults = result.drains[("noop", "defaults")]
    h.flush(DB_DRAMATIQ)
    delay, peak = h.idle_start(base, lambda key: dramatiq_app.stamp.send(key) and None)
    result.idle_start_ms, result.peak_rss_mib = delay, max([*peaks, peak]) / 2**20
    result.notes.append("defaults: 2 processes x 8 threads (RSS summed over its processes)")
    client.close()
    return result


# -- the report --------------------------------------------------------------


def fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    if value == float("inf"):
        return "timeout"
    return f"{value:,.{digits}f}"


def report(results: list[Result], n: int) -> None:
    print(f"\n{n:,} tasks per run; rates in tasks/s (median of runs), idle start in ms, RSS in MiB\n")
    head = [
        "system",
        "enqueue 1-by-1",
        "enqueue batch",
        "drain c=1",
        "drain defaults",
        "idle start",
        "peak RSS",
    ]
    rows = [
        [
            r.name,
            fmt(r.enqueue),
            fmt(r.enqueue_batch),
            fmt(r.drain_1),
            fmt(r.drain_defaults),
            fmt(r.idle_start_ms, 1),
            fmt(r.peak_rss_mib, 1),
        ]
        for r in results
    ]
    widths = [max(len(str(row[i])) for row in [head, *rows]) for i in range(len(head))]
    for row in [head, ["-" * w for w in widths], *rows]:
        print(
            "  ".join(
                str(cell).ljust(w) if i == 0 else str(cell).rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    print()
    for r in results:
        for note in r.notes:
            print(f"  {r.name}: {note}")

    labels = sorted({label for r in results for (_, label) in r.drains})
    for workload in WORKLOADS:
        print(f"\ndrain, {workload} task (tasks/s, median of runs):")
        head2 = ["system", *labels]
        rows2 = [[r.name, *(fmt(r.drains.get((workload, label))) for label in labels)] for r in results]
        widths2 = [max(len(str(row[i])) for row in [head2, *rows2]) for i in range(len(head2))]
        for row in [head2, ["-" * w for w in widths2], *rows2]:
            print(
                "  ".join(
                    str(c).ljust(w) if i == 0 else str(c).rjust(w)
                    for i, (c, w) in enumerate(zip(row, widths2, strict=True))
                )
            )

    by = {r.name.split(" (")[0]: r for r in results}
    ours = by.get("Alligator Redis")
    huey, dramatiq = by.get("Huey"), by.get("Dramatiq")
    checks: list[tuple[str, float | None, float, str]] = []
    if ours and ours.vs_bare:
        checks.append(("enqueue 1-by-1 vs bare LPUSH (paired runs)", ours.vs_bare, 0.9, "x"))
    if ours and ours.backend_vs_bare:
        checks.append(("(backend.push alone vs bare LPUSH)", ours.backend_vs_bare, 0.9, "x"))
    if ours and ours.batch_vs_single:
        checks.append(("batch enqueue vs 1-by-1 (paired runs)", ours.batch_vs_single, 10.0, "x"))

    def ratio(
        a: Result | None, a_key: tuple[str, str], b: Result | None, b_key: tuple[str, str]
    ) -> float | None:
        if a is None or b is None or a_key not in a.drains or b_key not in b.drains:
            return None
        return a.drains[a_key] / b.drains[b_key]

    for workload in WORKLOADS:
        checks.append(
            (
                f"{workload}: drain c=1 vs Huey",
                ratio(ours, (workload, "c=1"), huey, (workload, "c=1")),
                2.0,
                "x",
            )
        )
        checks.append(
            (
                f"{workload}: drain defaults vs Dramatiq defaults",
                ratio(ours, (workload, "defaults"), dramatiq, (workload, "defaults")),
                1.5,
                "x",
            )
        )
        checks.append(
            (
                f"{workload}: --processes 2 vs one process",
                ratio(ours, (workload, "processes 2"), ours, (workload, "defaults")),
                1.6,
                "x",
            )
        )
        checks.append(
            (
                f"{workload}: results on vs off (c=1)",
                ratio(ours, (workload, "c=1"), ours, (workload, "c=1, results off")),
                0.9,
                "x",
            )
        )
    if ours and ours.supervisor_rss_mib is not None:
        checks.append(("supervisor's own RSS (MiB, at most)", ours.supervisor_rss_mib, 15.0, "<="))
    if ours and ours.idle_start_ms is not None:
        checks.append(("idle start (ms, at most)", ours.idle_start_ms, 10.0, "<="))
    if ours and ours.peak_rss_mib is not None:
        checks.append(("worker peak RSS (MiB, at most)", ours.peak_rss_mib, 35.0, "<="))
    print("\nTargets (Alligator Redis):")
    for label, value, target, kind in checks:
        if value is None:
            continue
        met = value <= target if kind == "<=" else value >= target
        shown = f"{value:.2f}" + ("x" if kind == "x" else "")
        wanted = f">= {target:g}x" if kind == "x" else f"<= {target:g}"
        print(f"  {label:<44} {shown:>9}  (target {wanted}): {'met' if met else 'MISSED'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000, help="tasks per run (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure, median taken (default: 3)")
    parser.add_argument("--probes", type=int, default=9, help="idle-start probes (default: 9)")
    parser.add_argument("--probe-timeout", type=float, default=3.0, help="give up a probe after (s)")
    parser.add_argument("--drain-timeout", type=float, default=120.0, help="give up a drain after (s)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379", help="Redis server (no db)")
    parser.add_argument(
        "--only", nargs="*", default=["bare", "redis", "sqlite", "huey", "dramatiq"], help="systems to run"
    )
    args = parser.parse_args(argv)
    h = Harness(args)
    precompile()
    n = args.tasks
    results: list[Result] = []
    started = time.monotonic()

    if "bare" in args.only:
        results.append(bench_bare(h, n))
    if "redis" in args.only:
        dsn = h.url(DB_ALLIGATOR)
        results.append(bench_alligator(h, n, "Alligator Redis", dsn, lambda: h.flush(DB_ALLIGATOR)))
    if "sqlite" in args.only:
        try:
            import alligator_sqlite  # noqa: F401
        except ImportError:
            print("alligator-sqlite is not installed: skipping it", file=sys.stderr)
        else:
            tmp = tempfile.mkdtemp(prefix="alligator-bench-")
            path = Path(tmp) / "bench.db"

            def reset_sqlite() -> None:
                from alligator import Gator

                Gator(f"sqlite:///{path}", queue_name=QUEUE).drop_all()

            results.append(bench_alligator(h, n, "Alligator SQLite", f"sqlite:///{path}", reset_sqlite))
    if "huey" in args.only:
        results.append(bench_huey(h, n))
    if "dramatiq" in args.only:
        results.append(bench_dramatiq(h, n))
    for db in (DB_ALLIGATOR, DB_HUEY, DB_DRAMATIQ, DB_BARE, DB_STAMPS):
        h.flush(db)
    report(results, n)
    print(f"\n(took {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
