"""The supervisor's command line: how ``latergator --processes N`` starts it, and its own arguments."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .loop import Supervisor

if TYPE_CHECKING:  # pragma: no cover
    import argparse

    from alligator.cpus import Choice

log = logging.getLogger("alligator.supervisor")


def run_from_command(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    argv: list[str],
    replace: bool,
    choice: Choice | None = None,
) -> int:
    """Runs ``latergator ... --processes N`` as a supervisor.

    Args:
        parser: latergator's parser (for its errors).
        args: The parsed arguments.
        argv: The arguments as given; each child gets them as they are (a
            child started by a supervisor runs as a worker, ignoring
            ``--processes``, and takes ``--max-tasks-per-child`` as its
            ``--max-tasks``).
        replace: Replace this process (``exec``) with a bare interpreter
            running the supervisor, so it does not carry what latergator
            imported; False when called from Python (tests).
        choice: The processes and threads chosen (:func:`alligator.cpus.choose`),
            for the start line; None: ``args.processes`` (1 if not given).

    Returns:
        The supervisor's exit status.
    """
    if args.max_tasks:
        parser.error("--max-tasks counts one worker's tasks; with --processes use --max-tasks-per-child")
    if choice is not None:
        processes = choice.processes
        chosen = choice.describe("worker process")
    else:
        processes = args.processes if args.processes is not None else 1
        chosen = ""
    own = ["--processes", str(processes), "--log-level", args.log_level, "--log-format", args.log_format]
    if chosen:
        own += ["--chosen", chosen]
    pinned = choice.pinned if choice is not None else ()
    if pinned:
        own += ["--cpus", ",".join(map(str, pinned))]
    if args.max_tasks_per_child:
        own += ["--max-tasks-per-child", str(args.max_tasks_per_child)]
    metrics_port = getattr(args, "metrics_port", None)
    if metrics_port is not None:
        own += ["--metrics-port", str(metrics_port)]
    # Each child gets the arguments as given: under a supervisor latergator
    # runs as a worker, ignoring --processes.
    children = list(argv)
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__main__.py")
    if replace and sys.executable and os.path.isfile(here):
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            os.execv(sys.executable, [sys.executable, "-I", "-S", here, *own, "--", *children])
        except OSError as err:  # pragma: no cover - then it supervises from here, only bigger
            print(
                f"latergator: could not start a bare supervisor ({err}); supervising from here",
                file=sys.stderr,
            )
    supervisor = Supervisor(
        children, processes, args.max_tasks_per_child, metrics_port=metrics_port, cpus=pinned
    )
    supervisor.log_level, supervisor.log_format = args.log_level, args.log_format
    supervisor.chosen = chosen
    from alligator import logs

    logs.configure(args.log_level, args.log_format)
    return supervisor.run()


def _configure_logging(level: str, log_format: str) -> None:
    """latergator's log formats, without importing the package (logs.py needs only the standard library)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_alligator_logs",
        os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "logs.py"),
    )
    assert spec is not None and spec.loader is not None
    logs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(logs)
    logs.configure(level, log_format)


def main(argv: Sequence[str] | None = None) -> int:
    """The supervisor's own command line, as latergator starts it.

    ``[--processes N] [--max-tasks-per-child N] [--log-level L] [--log-format F] [--chosen TEXT]
    [--cpus 0,1] -- CHILD ARGS...`` (``--chosen``: what its start line says it runs, and why;
    ``--cpus``: the CPU each slot's process is pinned to),
    or ``--settle ORDER`` (a JSON object: see
    :func:`~alligator.supervisor.settle_killed`). Parsed by
    hand: argparse would cost the supervisor memory for a line only latergator writes.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--settle"]:
        from alligator import logs

        from .settle import settle_killed

        order = json.loads(args[1])
        logs.configure(order.get("log_level", "INFO"), order.get("log_format", "text"))
        outcome = settle_killed(order)
        log.info("task %s, killed for its time limit, settled: %s", order["task_id"], outcome)
        return 0
    split = args.index("--") if "--" in args else len(args)
    own = dict(zip(args[:split:2], args[1:split:2], strict=True))
    _configure_logging(own.get("--log-level", "INFO"), own.get("--log-format", "text"))
    supervisor = Supervisor(
        args[split + 1 :],
        int(own.get("--processes", "1")),
        int(own.get("--max-tasks-per-child", "0")),
        metrics_port=int(own["--metrics-port"]) if "--metrics-port" in own else None,
        cpus=tuple(int(cpu) for cpu in own["--cpus"].split(",")) if own.get("--cpus") else (),
    )
    supervisor.log_level = own.get("--log-level", "INFO")
    supervisor.log_format = own.get("--log-format", "text")
    supervisor.chosen = own.get("--chosen", "")
    return supervisor.run()
