"""``latergator``: the worker command.

Example::

    $ latergator sqlite:///tasks.db --allow myapp.tasks --concurrency 4

Signing secrets come from ``ALLIGATOR_SECRET`` only, never the command line
(where ``ps`` would show them).

It exits 0 after a SIGTERM or SIGINT once the tasks in hand are finished
(tasks reserved ahead but not started are handed back), or after
``--max-tasks``; 2 on a bad argument or DSN.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from alligator.constants import ALL
from alligator.exceptions import AlligatorException
from alligator.gator import DEFAULT_LEASE_SECONDS, DEFAULT_MAX_DELIVERIES, Gator
from alligator.workers import Worker


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def _count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {text}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    """Returns the argument parser of ``latergator``."""
    parser = argparse.ArgumentParser(
        prog="latergator",
        description="Run an Alligator worker: take tasks off a queue and run them.",
    )
    parser.add_argument("dsn", help="the queue store, e.g. sqlite:///tasks.db or redis://localhost:6379/0")
    parser.add_argument("--queue", default=ALL, help="the queue to consume (default: %(default)s)")
    parser.add_argument(
        "--max-tasks", type=_count(0), default=0, help="stop after N tasks (default: 0, never)"
    )
    parser.add_argument(
        "--concurrency", type=_count(1), default=1, help="tasks run at once, in threads (default: 1)"
    )
    parser.add_argument(
        "--lease-seconds",
        type=_positive_float,
        default=DEFAULT_LEASE_SECONDS,
        help="lease on each task, renewed while it runs (default: %(default)s)",
    )
    parser.add_argument(
        "--max-deliveries",
        type=_count(1),
        default=DEFAULT_MAX_DELIVERIES,
        help="dead-letter a task after this many deliveries that never finished (default: %(default)s)",
    )
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="MODULE",
        help="run tasks of this module and its submodules (repeatable; also ALLIGATOR_ALLOW); "
        "tasks of modules not allowed are dead-lettered unimported",
    )
    parser.add_argument(
        "--max-payload-bytes",
        type=_count(1),
        default=None,
        help="dead-letter payloads larger than this, unread (default: 262144)",
    )
    parser.add_argument(
        "--nap-time", type=_positive_float, default=0.1, help="seconds to sleep on an empty queue"
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="logging level"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the worker command; returns its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        gator = Gator(
            args.dsn, queue_name=args.queue, allow=args.allow, max_payload_bytes=args.max_payload_bytes
        )
    except (AlligatorException, ValueError) as err:
        parser.exit(2, f"latergator: error: {err}\n")
    worker = Worker(
        gator,
        max_tasks=args.max_tasks,
        concurrency=args.concurrency,
        lease_seconds=args.lease_seconds,
        max_deliveries=args.max_deliveries,
        nap_time=args.nap_time,
    )
    worker.run_forever()
    gator.backend.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
