"""Is ``latergator`` as fast as the same worker started from Python? Drains of one filled queue, side by side.

Run it with ``python bench/cli_vs_python.py`` (the bench's environment, Redis
on 127.0.0.1:6379; ``--redis`` for another). Each round fills the default
queue with ``--tasks`` tasks and times, in turn, from the first task to the
store holding none:

* ``python``: ``Worker(Gator(DSN), concurrency=1, max_tasks=N).run_forever()``
  in a fresh interpreter (``python -c``), nothing else configured;
* ``latergator``: ``latergator DSN --allow bench_tasks --concurrency 1
  --log-level WARNING --max-tasks N`` (one process, no supervisor);
* ``supervised``: the same under ``--processes 1`` (a supervisor and one
  child; timed until the store holds no task).

Each figure is the median of ``--repeat`` rounds, for the no-op task and the
task making one Redis round trip. On a busy machine those rates swing;
``--cpu`` instead runs ``python`` and ``latergator`` to completion on 200 and
on 5,000 tasks and reads the CPU time each process used (``wait4``): the
difference over 4,800 is the CPU per task, the rest start-up.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from defaults import drain
from harness import BIN, DB_ALLIGATOR, Harness, drain_parser, precompile, rate

PYTHON_WORKER = (
    "import sys; from alligator import Gator, Worker; "
    "gator = Gator(sys.argv[1], allow=['bench_tasks']); "
    "Worker(gator, concurrency=1, max_tasks=int(sys.argv[2])).run_forever()"
)


def main(argv: list[str] | None = None) -> int:
    parser = drain_parser(__doc__.splitlines()[0], repeat=5)
    parser.add_argument("--cpu", action="store_true", help="CPU per task and at start-up instead of rates")
    args = parser.parse_args(argv)
    import bench_tasks

    from alligator import Gator

    h = Harness(args)
    precompile()
    dsn = h.url(DB_ALLIGATOR)
    gator = Gator(dsn)
    n = str(args.tasks)
    cli = [
        str(BIN / "latergator"),
        dsn,
        "--allow",
        "bench_tasks",
        "--concurrency",
        "1",
        "--log-level",
        "WARNING",
    ]
    commands = {
        "python": [sys.executable, "-c", PYTHON_WORKER, dsn, n],
        "latergator": [*cli, "--max-tasks", n],
        "supervised": [*cli, "--processes", "1"],
    }
    if args.cpu:
        return cpu_per_task(h, gator, dsn, cli, args.repeat)
    rates: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeat):
        for workload in ("noop", "roundtrip"):
            for name, command in commands.items():
                h.flush(DB_ALLIGATOR)
                with gator.batch() as filling:
                    for _ in range(args.tasks):
                        filling.task(getattr(bench_tasks, workload))
                seconds, _, _ = drain(h, command, gator, args.tasks)
                rates.setdefault((workload, name), []).append(rate(args.tasks, seconds))
    h.flush(DB_ALLIGATOR)
    print(f"{args.tasks} tasks, concurrency 1, median of {args.repeat} (all rounds in tasks/s)")
    for (workload, name), values in rates.items():
        rounds = ", ".join(f"{value:,.0f}" for value in values)
        print(f"{workload:9} {name:10} {statistics.median(values):8,.0f}   ({rounds})")
    gator.backend.close()
    return 0


def cpu_per_task(h: Harness, gator: Any, dsn: str, cli: list[str], repeat: int) -> int:
    """Prints the CPU each command used at start-up and per task (medians of ``repeat``)."""
    import bench_tasks

    used: dict[tuple[str, str, int], list[float]] = {}
    for _ in range(repeat):
        for workload in ("noop", "roundtrip"):
            for n in (200, 5000):
                commands = {
                    "python": [sys.executable, "-c", PYTHON_WORKER, dsn, str(n)],
                    "latergator": [*cli, "--max-tasks", str(n)],
                }
                for name, command in commands.items():
                    h.flush(DB_ALLIGATOR)
                    with gator.batch() as filling:
                        for _ in range(n):
                            filling.task(getattr(bench_tasks, workload))
                    proc = subprocess.Popen(
                        command, env=h.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                    )
                    _, _, usage = os.wait4(proc.pid, 0)
                    proc.returncode = 0  # reaped here
                    used.setdefault((workload, name, n), []).append(usage.ru_utime + usage.ru_stime)
    h.flush(DB_ALLIGATOR)
    for workload in ("noop", "roundtrip"):
        for name in ("python", "latergator"):
            small = statistics.median(used[(workload, name, 200)])
            big = statistics.median(used[(workload, name, 5000)])
            per_task = (big - small) / 4800 * 1e6
            print(
                f"{workload:9} {name:10} start-up + 200 tasks: {small * 1000:5.0f} ms CPU; "
                f"per task: {per_task:5.1f} µs"
            )
    gator.backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
