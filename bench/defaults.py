"""How many processes and threads ``latergator`` should start by default: drains on this machine.

Run it with ``python bench/defaults.py`` (the bench's environment, Redis on
127.0.0.1:6379). For each workload (a no-op task, a task making one Redis
round trip) and each ``--processes`` in {1, the CPUs usable} times each
``--concurrency`` in {1, 2, 4, 8}, it fills the default queue with
``--tasks`` tasks and times ``latergator DSN --allow bench_tasks`` (one
process: ``--max-tasks``, which runs no supervisor; more: ``--processes``) until the store holds no
task; the configurations take turns within each round, and each figure is the
median of ``--repeat`` rounds. It also reports the largest RSS of any one
worker process seen during the drains, and what ``latergator`` with no
tuning flag chooses here (its start line).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psutil
from harness import BIN, DB_ALLIGATOR, POLL_EVERY, RSS_EVERY, Harness, drain_parser, precompile, rate, stop
from systems import unfinished


def worker_rss(proc: psutil.Process) -> int:
    """The largest RSS among the command's process and its children (the workers)."""
    biggest = 0
    try:
        for each in [proc, *proc.children(recursive=True)]:
            try:
                biggest = max(biggest, each.memory_info().rss)
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return biggest


def drain(h: Harness, command: list[str], gator: object, total: int) -> tuple[float, int, str]:
    """Times ``command`` from its first task until the store holds none.

    Returns:
        Seconds, the peak RSS of one of its processes, and its start lines.
    """
    errors = tempfile.TemporaryFile()
    proc = subprocess.Popen(command, env=h.env, stdout=subprocess.DEVNULL, stderr=errors)
    ps = psutil.Process(proc.pid)
    peak, started = 0, 0.0
    deadline = time.monotonic() + h.args.drain_timeout
    rss_at = 0.0
    try:
        while time.monotonic() < deadline:
            if time.monotonic() >= rss_at:
                peak = max(peak, worker_rss(ps))  # ~2 ms of CPU: not every poll (see harness.RSS_EVERY)
                rss_at = time.monotonic() + RSS_EVERY
            left = unfinished(gator)
            now = time.perf_counter()
            if not started and left < total:
                started = now
            if left == 0 or (proc.poll() == 0 and unfinished(gator) == 0):
                errors.seek(0)
                head = errors.read(20000).decode(errors="replace")
                return now - started, peak, "\n".join(x for x in head.splitlines() if "starting" in x)
            if proc.poll() is not None and not (proc.returncode == 0 and unfinished(gator) == 0):
                errors.seek(0)
                raise RuntimeError(f"{command} died: {errors.read().decode(errors='replace')[-2000:]}")
            time.sleep(POLL_EVERY)
        raise RuntimeError(f"{command} did not drain {total} tasks in time")
    finally:
        stop(proc)
        errors.close()


def main(argv: list[str] | None = None) -> int:
    parser = drain_parser(__doc__.splitlines()[0], repeat=3)
    parser.add_argument("--threads", type=int, nargs="*", default=[1, 2, 4, 8])
    parser.add_argument("--processes", type=int, nargs="*", default=None)
    parser.add_argument("--workloads", nargs="*", default=["noop", "roundtrip"])
    parser.add_argument("--log-level", default=None, help="pass --log-level (default: none, INFO)")
    args = parser.parse_args(argv)
    import bench_tasks

    from alligator import Gator
    from alligator.cpus import usable_cpus

    h = Harness(args)
    precompile()
    usable = usable_cpus().count
    processes = args.processes or sorted({1, usable})
    dsn = h.url(DB_ALLIGATOR)
    gator = Gator(dsn)
    base = [str(BIN / "latergator"), dsn, "--allow", "bench_tasks"]
    if args.log_level:
        base += ["--log-level", args.log_level]
    start_lines = ""
    # (0, 0): no tuning flag at all, what latergator chooses by itself.
    configs = [(p, t) for p in processes for t in args.threads] + [(0, 0)]
    rates: dict[tuple[str, int, int], list[float]] = {}
    peaks: dict[tuple[int, int], int] = {}
    for _ in range(args.repeat):
        for workload in args.workloads:
            func = getattr(bench_tasks, workload)
            for p, t in configs:
                h.flush(DB_ALLIGATOR)
                with gator.batch() as filling:
                    for _ in range(args.tasks):
                        filling.task(func)
                # One process and no supervisor: --max-tasks (it then exits when done).
                flags = ["--processes", str(p)] if p > 1 else ["--max-tasks", str(args.tasks)] if p else []
                flags += ["--concurrency", str(t)] if t else []
                seconds, peak, start_lines = drain(h, [*base, *flags], gator, args.tasks)
                rates.setdefault((workload, p, t), []).append(rate(args.tasks, seconds))
                peaks[(p, t)] = max(peaks.get((p, t), 0), peak)
    h.flush(DB_ALLIGATOR)
    print(f"{usable_cpus().describe()}; {args.tasks} tasks, median of {args.repeat}")
    print(
        "| processes x threads | "
        + " | ".join(f"{w} tasks/s" for w in args.workloads)
        + " | max RSS/process |"
    )
    print("| --- | " + " | ".join("---:" for _ in args.workloads) + " | ---: |")
    for p, t in configs:
        cells = [f"{statistics.median(rates[(w, p, t)]):,.0f}" for w in args.workloads]
        name = f"{p} x {t}" if p else "no flags"
        print(f"| {name} | " + " | ".join(cells) + f" | {peaks[(p, t)] / 2**20:.1f} MiB |")
    print("\nwith no flags:", start_lines, sep="\n")
    gator.backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
