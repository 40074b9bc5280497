"""Worker processes pinned one to a CPU, or free to move: drains side by side on this machine.

Run it with ``python bench/pinning.py`` (the bench's environment, Redis on
127.0.0.1:6379). For each workload (a no-op task, a task making one Redis
round trip) it fills the default queue with ``--tasks`` tasks and times
``latergator DSN --allow bench_tasks --processes N`` (N: the CPUs usable, at
least 2), pinned (the default) and with ``--no-cpu-pinning``, until the store
holds no task; the two take turns within each round, each figure is the
median of ``--repeat`` rounds, and the ratio is pinned over unpinned. See
``docs/worker.md`` (one CPU per process) for why pinning helps.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from defaults import drain
from harness import BIN, DB_ALLIGATOR, Harness, drain_parser, precompile, rate

#: The two ways compared: name, extra flags.
WAYS = (("pinned", []), ("unpinned", ["--no-cpu-pinning"]))


def main(argv: list[str] | None = None) -> int:
    parser = drain_parser(__doc__.splitlines()[0], repeat=3)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--workloads", nargs="*", default=["noop", "roundtrip"])
    args = parser.parse_args(argv)
    import bench_tasks

    from alligator import Gator
    from alligator.cpus import usable_cpus

    h = Harness(args)
    precompile()
    processes = max(2, usable_cpus().count)
    dsn = h.url(DB_ALLIGATOR)
    gator = Gator(dsn)
    base = [str(BIN / "latergator"), dsn, "--allow", "bench_tasks", "--log-level", "WARNING"]
    base += ["--processes", str(processes), "--concurrency", str(args.threads)]
    rates: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeat):
        for workload in args.workloads:
            for name, flags in WAYS:
                h.flush(DB_ALLIGATOR)
                with gator.batch() as filling:
                    for _ in range(args.tasks):
                        filling.task(getattr(bench_tasks, workload))
                seconds, _, _ = drain(h, [*base, *flags], gator, args.tasks)
                rates.setdefault((workload, name), []).append(rate(args.tasks, seconds))
    h.flush(DB_ALLIGATOR)
    shape = f"{processes} processes x {args.threads} threads"
    print(f"{usable_cpus().describe()}; {shape}; median of {args.repeat}")
    print("| workload | pinned tasks/s | unpinned tasks/s | pinned / unpinned |")
    print("| --- | ---: | ---: | ---: |")
    for workload in args.workloads:
        pinned, unpinned = (statistics.median(rates[(workload, name)]) for name, _ in WAYS)
        print(f"| {workload} | {pinned:,.0f} | {unpinned:,.0f} | {pinned / unpinned:.2f}x |")
    gator.backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
