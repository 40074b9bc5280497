"""The schedule the exactly-once proofs run: ``every=2``, into the queue named by ``PROOF_TICK_QUEUE``.

Loaded by real ``latergator --schedules proof_schedules`` processes; the
queue comes from the environment so each test has its own.
"""

from __future__ import annotations

import os

from reliability_tasks import record

from alligator import Schedule

SCHEDULES = [
    Schedule(
        "proof-every-2",
        record,
        every=2,
        args=("tick",),
        queue=os.environ.get("PROOF_TICK_QUEUE", "proof-ticks"),
        missed=os.environ.get("PROOF_MISSED", "last"),
    )
]
