"""Finding which queue holds a task, for the subcommands that take a task id.

Task ids are made unique (``uuid4``), so ``alligator show DSN ID`` needs no
``--queue``, as ``celery result ID`` and ``rq`` need none: the queue is
looked up. The store keeps each task under its queue, so the lookup asks
:meth:`~alligator.backend.Backend.status` in each queue it can name: the
default queue ``all``, every queue :meth:`~alligator.capabilities.Inspection.queues`
lists (those holding a live task or a dead letter), every queue
:meth:`~alligator.capabilities.ResultListing.finished_queues` lists (those remembering
a finished task: where every task finished, the queue is in no other
listing) and every queue a live worker consumes. One round trip per queue,
bounded by the number of queues; ``--queue`` skips the lookup.
"""

from __future__ import annotations

import argparse

from alligator import store_defaults
from alligator.admin import Admin
from alligator.constants import ALL
from alligator.text import printable


def candidate_queues(admin: Admin) -> list[str]:
    """The queues a lookup by id asks, in order, each once: ``all``, the listed ones, the workers'.

    On a store that can list neither its queues nor its workers that is
    ``all`` alone: ``--queue`` names any other.
    """
    names = [ALL, *admin.queues()]
    # Where every task finished, the queue is in no listing above.
    names += store_defaults.finished_queues(admin.backend)
    return list(dict.fromkeys(names))


def queues_holding(admin: Admin, task_id: str) -> list[str]:
    """The queues whose :meth:`~alligator.backend.Backend.status` knows ``task_id``."""
    return [queue for queue in candidate_queues(admin) if admin.backend.status(queue, task_id) is not None]


class Ambiguous(Exception):
    """The id is known in more than one queue (ids set by hand with ``task_id=`` may repeat)."""


def task_queue(admin: Admin, args: argparse.Namespace) -> str:
    """The queue a subcommand about one task acts in: ``--queue`` when given, else the one holding it.

    Returns:
        The queue; ``all`` when no queue knows the id (the caller then says
        "no task", naming no queue it did not look in).

    Raises:
        Ambiguous: More than one queue knows the id; the message names them.
    """
    if args.queue is not None:
        return str(args.queue)
    found = queues_holding(admin, args.task_id)
    if len(found) > 1:
        names = ", ".join(repr(printable(name)) for name in found)
        raise Ambiguous(f"task {printable(args.task_id)!r} is in several queues ({names}): give --queue")
    return found[0] if found else ALL


def looked_where(args: argparse.Namespace, queue: str) -> str:
    """How a "no task" message names where it looked: the queue given, or every queue."""
    return f"queue {printable(queue)!r}" if args.queue is not None else "any queue"
