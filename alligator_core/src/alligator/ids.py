"""New task ids: 128 random bits from the operating system, as 32 hex digits.

The bits come from ``os.urandom`` (the OS's CSPRNG, as ``uuid4`` uses),
read for :data:`IDS_PER_READ` ids at a time: one ``getrandom`` call a task
cost a producer about 0.6 us, and, since the call lets go of the GIL, it let
a thread running tiny tasks keep the GIL from the worker's dispatch thread
for a whole batch (CPython's GIL gives a waiting thread its turn only when
the running one has not switched for a whole switch interval). A forked
child starts with an empty pool: it must never hand out its parent's ids.
"""

from __future__ import annotations

import os

#: Ids drawn from one read of the OS's random source.
IDS_PER_READ = 64

_POOL: list[str] = []


def new_task_id() -> str:
    """Returns a new task id: 32 lowercase hex digits, 128 random bits (as a UUID4 carries).

    Safe from any thread (``list.pop`` is atomic) and across ``fork``.
    """
    try:
        return _POOL.pop()
    except IndexError:
        digits = os.urandom(16 * IDS_PER_READ).hex()
        _POOL.extend(digits[i : i + 32] for i in range(32, len(digits), 32))
        return digits[:32]


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_POOL.clear)
