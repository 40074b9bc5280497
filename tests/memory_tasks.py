"""The task of the worker-memory test: it reports which modules its worker process loaded."""

from __future__ import annotations

import atexit
import sys


def report_modules_at_exit(path: str) -> None:
    """Writes the names in ``sys.modules`` to ``path``, one a line, as the worker process exits.

    At exit, not now: what the worker imports after its last task (as its
    threads end) counts too.
    """

    def write() -> None:
        with open(path, "w", encoding="utf-8") as out:
            out.write("\n".join(sorted(sys.modules)))

    atexit.register(write)
