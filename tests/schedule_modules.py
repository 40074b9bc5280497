"""Schedule modules the tests load by name, good and bad (each a SCHEDULES of its own)."""

from __future__ import annotations

from sample_tasks import add, noop

from alligator import Schedule

#: Two schedules, as ``latergator --schedules schedule_modules`` loads them.
SCHEDULES = [
    Schedule("adds", add, every=60, args=(1, 2)),
    Schedule("nightly", noop, cron="0 3 * * *", timezone="Europe/Paris", queue="night"),
]
