"""Task functions of the supervisor's proofs (``test_processes.py``); they write the same ledger.

Kept apart from the tests so a worker process imports only this (and
``reliability_tasks``), not pytest.
"""

from __future__ import annotations

import time

from reliability_tasks import _begin


def stubborn(key: str, seconds: float) -> None:
    """Ignores its time limit: whatever is raised into it, it sleeps on, in C code.

    ``time.sleep`` holds the thread in C, where no exception raised into the
    thread is seen; one that does land (between two sleeps) is swallowed.
    Only killing its process stops it.
    """
    _begin(key)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            time.sleep(max(0.0, deadline - time.monotonic()))
        except BaseException:  # swallowing it is the point
            pass
