"""glibc malloc arenas: a worker process keeps to two, as the supervisor's children do.

glibc gives each thread that allocates an arena of its own (up to eight per
CPU), and each arena keeps the memory its thread freed for that thread
alone. A worker's threads (tasks, dispatch, acks, leases) rarely allocate at
once, so more than two arenas only hold freed memory apart: with four task
threads that was ~1.2 MiB of a worker process's RSS (issue 20).

The supervisor sets ``MALLOC_ARENA_MAX`` in its children's environment
(:data:`~alligator.supervisor.loop.MALLOC_ARENAS`); glibc reads it only when
a process starts, so a worker started otherwise (one process, as with
``--max-tasks``) sets the same limit with ``mallopt`` before its threads
start. An operator's own ``MALLOC_ARENA_MAX`` or ``glibc.malloc.arena_max``
tunable wins, and other C libraries are left alone.
"""

from __future__ import annotations

import os
import sys

from alligator.supervisor.loop import MALLOC_ARENAS

#: ``mallopt``'s parameter for the most arenas (glibc's ``M_ARENA_MAX``).
M_ARENA_MAX = -8


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Keeps this process to ``arenas`` glibc malloc arenas, unless its environment chose.

    Call it before the process starts threads: a thread keeps the arena it
    was given.

    Args:
        arenas: The most arenas (at least 1).

    Returns:
        Whether the limit was set: False on a C library other than glibc,
        or when ``MALLOC_ARENA_MAX`` or the ``glibc.malloc.arena_max``
        tunable is set (the operator's choice stands).
    """
    if "MALLOC_ARENA_MAX" in os.environ or "arena_max" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    if not sys.platform.startswith("linux") or not _glibc():
        return False
    # Imported here: ctypes is needed for this one call, and only here.
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, max(1, arenas)))


def _glibc() -> bool:
    """Whether this process runs on glibc (musl has no arenas to limit)."""
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (ValueError, OSError):
        return False
