"""Makes the helper task module importable here and in the worker processes the tests start."""

from __future__ import annotations

import os
import sys
from pathlib import Path

TESTS_DIR = str(Path(__file__).resolve().parent)
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)


def subprocess_env() -> dict[str, str]:
    """The environment for worker and producer processes: ``sqlite_tasks`` importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (TESTS_DIR, env.get("PYTHONPATH", "")) if p)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # Workers only run tasks of modules they are told to allow.
    env["ALLIGATOR_ALLOW"] = "sqlite_tasks"
    return env
