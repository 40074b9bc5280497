"""Alligator: simple offline task queues for Python.

Any importable function becomes a task::

    from alligator import Gator

    gator = Gator("sqlite:///tasks.db")
    gator.task(send_post_email, user.pk, post.pk)

and ``latergator sqlite:///tasks.db`` runs it in another process.
"""

from __future__ import annotations

from alligator.gator import Batch, Gator, Options
from alligator.tasks import Task
from alligator.workers import Worker

__all__ = ["Batch", "Gator", "Options", "Task", "Worker", "__version__"]
__version__ = "1.0.0.dev0"
