"""latergator, the worker command, run as a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from alligator.cli import build_parser

HERE = Path(__file__).parent


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    env["ALLIGATOR_ALLOW"] = "sample_tasks"
    return env


def _wait_for(predicate, seconds: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def test_parser_takes_the_documented_flags() -> None:
    args = build_parser().parse_args(
        ["sqlite:///x.db", "--queue", "q", "--max-tasks", "5", "--concurrency", "3", "--lease-seconds", "7.5"]
    )
    assert (args.dsn, args.queue, args.max_tasks, args.concurrency, args.lease_seconds) == (
        "sqlite:///x.db",
        "q",
        5,
        3,
        7.5,
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nosuch://x"], "no Alligator backend handles the scheme 'nosuch'"),
        (["not-a-dsn"], "is not a DSN"),
        (["locmem://", "--concurrency", "0"], "must be at least 1"),
        (["locmem://", "--lease-seconds", "-1"], "must be positive"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(argv: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "alligator", *argv], capture_output=True, text=True, timeout=60, env=_env()
    )
    assert done.returncode == 2
    assert message in done.stderr


def test_sigterm_finishes_the_task_in_hand_and_exits_0(tmp_path: Path) -> None:
    started, finished = tmp_path / "started", tmp_path / "finished"
    script = textwrap.dedent(
        f"""
        import sys
        from alligator import Gator, Worker
        import sample_tasks
        gator = Gator("locmem://")
        gator.task(sample_tasks.touch, {str(started)!r})
        gator.task(sample_tasks.touch, {str(finished)!r}, 1.0)
        gator.task(sample_tasks.touch, {str(tmp_path / "never")!r})
        # One thread: the third task waits for the second, which is in hand at the signal.
        sys.argv = ["latergator", "locmem://", "--concurrency", "1"]
        from alligator.cli import main
        sys.exit(main())
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True, env=_env())
    _wait_for(started.exists)
    time.sleep(0.2)  # the second task is now sleeping
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert finished.exists(), "the task in hand must finish before the worker exits"
    assert not (tmp_path / "never").exists(), "no new task starts after SIGTERM"
    assert "starting" in stderr and "received SIGTERM" in stderr and "stopping after 2 task(s)" in stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_idle_latergator_exits_0_on_signal(sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "alligator", "locmem://"], stderr=subprocess.PIPE, text=True, env=_env()
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert "starting" in line
    proc.send_signal(sig)
    _, rest = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "stopping after 0 task(s)" in rest
