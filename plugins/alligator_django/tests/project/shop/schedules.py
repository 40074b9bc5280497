"""The test project's schedules: Django tasks, run by `manage.py latergator --schedules shop.schedules`."""

from alligator import Schedule
from shop import tasks

SCHEDULES = [
    Schedule("sums", tasks.add, every=1, args=(2, 3)),
    Schedule("in-order", tasks.record, every=1, args=("/dev/null", "tick")),
]
