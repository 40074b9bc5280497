"""The task of the worker-memory test: it reports which modules its worker process loaded."""

from __future__ import annotations

import atexit
import sys


def report_modules_at_exit(path: str) -> None:
    """Writes the names in ``sys.modules`` to ``path``, one a line, as the worker process exits.

    At exit, not now: what the worker imports after its last task (as its
    threads end) counts too. Each Lua script of the Redis backend whose file
    the process read is written too, as ``lua:NAME`` (one without ``read``
    was read when its module was imported).
    """

    def write() -> None:
        names = sorted(sys.modules)
        for module in list(sys.modules.values()):
            if getattr(module, "__name__", "").startswith("alligator_redis"):
                for value in vars(module).values():
                    if type(value).__name__ == "Script" and getattr(value, "read", True):
                        names.append(f"lua:{value.name}")
        with open(path, "w", encoding="utf-8") as out:
            out.write("\n".join(names))

    atexit.register(write)
