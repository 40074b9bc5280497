"""The systems the bench measures: each fills its queue, starts its worker, and times the drain."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from harness import (
    BIN,
    DB_BARE,
    DB_DRAMATIQ,
    DB_HUEY,
    DB_TASKIQ,
    ENQUEUE_CHUNK,
    ENQUEUE_ROUNDS,
    HERE,
    QUEUE,
    WORKLOADS,
    Harness,
    Result,
    rate,
    timed,
)


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
        ("no flags", [], {}),
    ]
    # What a user types: the store and the one module allowed, nothing else
    # (the default log level, no --max-tasks). Without --queue it consumes
    # the default queue (named "all"), so its tasks are put there.
    no_flags = [str(BIN / "latergator"), dsn, "--allow", "bench_tasks"]
    default_gator = Gator(dsn)
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
                filler = default_gator if label == "no flags" else gator
                with filler.batch(**options) as filling:
                    for _ in range(n):
                        filling.task(func)
                if label == "no flags":
                    # Its RSS is not in the per-process figure: it may start several processes.
                    seconds, _ = h.drain(no_flags, lambda: unfinished(default_gator), n, False)
                elif label == "processes 2":
                    # The supervisor keeps its children going: time until the
                    # store holds no task, then stop it.
                    seconds, peak = h.drain([*worker, *extra], lambda: unfinished(gator), n, False)
                else:
                    command = [*worker, *extra, "--max-tasks", str(n)]
                    seconds, peak = h.drain(command, lambda: gator.len(), n, True)
                rates.append(rate(n, seconds))
                if label == "no flags":
                    pass
                elif label == "processes 2":
                    parent = h.last_parent_rss / 2**20
                    result.supervisor_rss_mib = max(result.supervisor_rss_mib or 0.0, parent)
                else:
                    peaks.append(peak)
            result.drains[(workload, label)] = statistics.median(rates)
    result.drain_1 = result.drains.get(("noop", "c=1"))
    result.drain_defaults = result.drains.get(("noop", "defaults"))
    reset()
    # One worker process (--max-tasks: no supervisor), so its RSS is one process's.
    one_process = [*worker, "--max-tasks", str(10**9)]
    delay, peak = h.idle_start(one_process, lambda key: gator.task(bench_tasks.stamp, key) and None)
    result.idle_start_ms, result.peak_rss_mib = delay, max([*peaks, peak]) / 2**20
    result.notes.append(
        "defaults: --queue bench --log-level WARNING --max-tasks N and nothing else (one process, "
        "4 threads); "
        "no flags: `latergator DSN --allow bench_tasks`"
    )
    gator.backend.close()
    default_gator.backend.close()
    return result


def bench_huey(h: Harness, n: int, sqlite: bool = False) -> Result:
    """Huey with its defaults (one worker thread), on Redis or (``sqlite``) as SqliteHuey."""
    import importlib

    name = "huey_sqlite_app" if sqlite else "huey_app"
    huey_app = importlib.import_module(name)
    result = Result("SqliteHuey (1 thread)" if sqlite else "Huey (RedisHuey, 1 thread)")

    def reset() -> None:
        if sqlite:
            huey_app.huey.flush()
        else:
            h.flush(DB_HUEY)

    singles = []
    for _ in range(h.args.repeat):
        reset()
        singles.append(rate(n, timed(lambda: [huey_app.noop() for _ in range(n)])))
    result.enqueue = statistics.median(singles)
    consumer = [str(BIN / "huey_consumer"), f"{name}.huey", "-w", "1", "-k", "thread", "-q"]
    peaks = []
    for workload in WORKLOADS:
        rates = []
        for _ in range(h.args.repeat):
            reset()
            for _ in range(n):
                getattr(huey_app, workload)()
            seconds, peak = h.drain(consumer, huey_app.huey.pending_count, n, False)
            rates.append(rate(n, seconds))
            peaks.append(peak)
        result.drains[(workload, "c=1")] = result.drains[(workload, "defaults")] = statistics.median(rates)
    result.drain_1 = result.drain_defaults = result.drains[("noop", "c=1")]
    reset()
    delay, peak = h.idle_start(consumer, lambda key: huey_app.stamp(key) and None)
    result.idle_start_ms, result.peak_rss_mib = delay, max([*peaks, peak]) / 2**20
    result.notes.append("defaults = 1 worker thread; idle polling backs off up to 10 s")
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


def bench_taskiq(h: Harness, n: int) -> Result:
    """taskiq with the ``taskiq worker`` command's defaults (2 processes, 100 async tasks each)."""
    import taskiq_app

    result = Result("taskiq (ListQueueBroker)")
    # One loop for every send: the broker's async connections belong to it.
    loop = asyncio.new_event_loop()

    def reset() -> None:
        h.flush(DB_TASKIQ)
        h.stamps.delete(taskiq_app.FINISHED_KEY)

    def remaining() -> int:
        return n - int(h.stamps.get(taskiq_app.FINISHED_KEY) or 0)

    async def send(task: Any, count: int) -> None:
        for _ in range(count):
            await task.kiq()

    singles = []
    for _ in range(h.args.repeat):
        reset()
        singles.append(rate(n, timed(lambda: loop.run_until_complete(send(taskiq_app.noop, n)))))
    result.enqueue = statistics.median(singles)
    command = [str(BIN / "taskiq"), "worker", "taskiq_app:broker", "--app-dir", str(HERE)]
    peaks = []
    for workload in WORKLOADS:
        rates = []
        for _ in range(h.args.repeat):
            reset()
            loop.run_until_complete(send(getattr(taskiq_app, workload), n))
            seconds, peak = h.drain(command, remaining, n, False)
            rates.append(rate(n, seconds))
            peaks.append(peak)
        result.drains[(workload, "defaults")] = statistics.median(rates)
    result.drain_defaults = result.drains[("noop", "defaults")]
    reset()
    delay, peak = h.idle_start(command, lambda key: loop.run_until_complete(send_stamp(taskiq_app, key)))
    result.idle_start_ms, result.peak_rss_mib = delay, max([*peaks, peak]) / 2**20
    result.notes.append("defaults: 2 processes x 100 async tasks (RSS summed over its processes)")
    loop.close()
    return result


async def send_stamp(app: Any, key: str) -> None:
    await app.stamp.kiq(key)


def bench_alone(h: Harness, n: int) -> Result:
    """The round-trip task's body called ``n`` times in a loop: no queue, the ceiling for that workload."""
    import bench_tasks

    result = Result("round trip alone, no queue")
    rates = [
        rate(n, timed(lambda: [bench_tasks.roundtrip() for _ in range(n)])) for _ in range(h.args.repeat)
    ]
    result.drains[("roundtrip", "c=1")] = statistics.median(rates)
    result.notes.append("the roundtrip task's own body in a loop, in this process: the ceiling")
    return result


def sqlite_reset(path: Path) -> Callable[[], None]:
    """Empties Alligator's SQLite store at ``path``."""

    def reset() -> None:
        from alligator import Gator

        Gator(f"sqlite:///{path}", queue_name=QUEUE).drop_all()

    return reset
