"""What the SQLite tests share besides fixtures: the environment of the processes they start.

A plain module (``pytest.ini`` puts this folder on the tests' path), so one
pytest run can collect every test tree.
"""

from __future__ import annotations

import os
from pathlib import Path

TESTS_DIR = str(Path(__file__).resolve().parent)


def subprocess_env() -> dict[str, str]:
    """The environment for worker and producer processes: ``sqlite_tasks`` importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (TESTS_DIR, env.get("PYTHONPATH", "")) if p)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # Workers only run tasks of modules they are told to allow.
    env["ALLIGATOR_ALLOW"] = "sqlite_tasks"
    return env
