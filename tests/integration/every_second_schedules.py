"""One schedule ticking every second, for the latergator test that watches it run."""

from __future__ import annotations

from sample_tasks import noop

from alligator import Schedule

SCHEDULES = [Schedule("every-second", noop, every=1)]
