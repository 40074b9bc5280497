"""Helpers of the first-hour tests: a project directory and a real ``latergator`` process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

#: The console script of the environment running the tests, as a user runs it.
LATERGATOR_SCRIPT = Path(sys.executable).parent / "latergator"


def latergator_command() -> list[str]:
    """Returns the argv that starts ``latergator`` the way a user does.

    The installed console script when there is one; otherwise ``python -I``
    (which, like the script, puts neither the working directory nor
    ``PYTHONPATH`` on ``sys.path``) calling the same entry point.
    """
    if LATERGATOR_SCRIPT.exists():
        return [str(LATERGATOR_SCRIPT)]
    return [sys.executable, "-I", "-c", "import sys; from alligator.cli import main; sys.exit(main())"]


def clean_env(**extra: str) -> dict[str, str]:
    """Returns the environment of a user's shell: no PYTHONPATH, no allow list from the tests."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "ALLIGATOR_"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def write(path: Path, text: str) -> Path:
    """Writes dedented ``text`` to ``path``, creating its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def run_latergator(
    args: list[str], cwd: Path, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    """Runs ``latergator ARGS`` in ``cwd`` to completion (give it ``--max-tasks``)."""
    return subprocess.run(
        [*latergator_command(), *args],
        cwd=cwd,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def enqueue(project: Path, dsn: str, module: str, function: str, *args: object) -> str:
    """Queues ``module.function(*args)`` from a process started in ``project``, as a web app would.

    Returns:
        The task id.
    """
    script = (
        "import sys, importlib\n"
        "from alligator import Gator\n"
        f"func = getattr(importlib.import_module({module!r}), {function!r})\n"
        f"gator = Gator({dsn!r}, allow=[{module!r}])\n"
        f"print(gator.task(func, *{list(args)!r}).task_id)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=project,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
