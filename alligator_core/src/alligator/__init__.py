"""Alligator: simple offline task queues for Python.

Any importable function becomes a task::

    from alligator import Gator

    gator = Gator("sqlite:///tasks.db")
    gator.task(send_post_email, user.pk, post.pk)

and ``latergator sqlite:///tasks.db`` runs it in another process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alligator.gator import Batch, Gator, Options
from alligator.tasks import Task
from alligator.workers import Worker

if TYPE_CHECKING:
    from alligator.schedules import Schedule

__all__ = ["Batch", "Gator", "Options", "Schedule", "Task", "Worker", "__version__"]


def __getattr__(name: str) -> Any:
    # Imported on first use: croniter is not needed by a process without schedules.
    if name == "Schedule":
        from alligator.schedules import Schedule

        return Schedule
    raise AttributeError(f"module 'alligator' has no attribute {name!r}")


__version__ = "1.0.0.dev0"
