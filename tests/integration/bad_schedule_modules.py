"""A schedule module whose second schedule is refused: latergator must stop at start, naming it."""

from __future__ import annotations

from sample_tasks import noop

from alligator import Schedule

SCHEDULES = [
    Schedule("fine", noop, every=60),
    Schedule("typo", noop, cron="0 25 * * *"),
]
